/* Fuzz the model archive loader (tar or tar.gz → metadata.json + binary components), then
 * parse a few utterances with whatever loaded. The corpus holds real small models, gzip'd and
 * plain tar (so mutations reach the component parsers past the gzip CRC), plus foreign and
 * broken archives. */
#include <stdlib.h>

#include "fuzz/fuzz.h"
#include "nlu/model-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cd_error_t err = {0};
    cd_nlu_model *m = cd_nlu_model_load_mem(data, size, "fuzz.tar.gz", &err);
    if (m) {
        static const char *texts[] = {"", "book a flight to Paris", "send 12345 from checking",
                                      "😀 ¿qué? big apple tomorrow"};
        for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
            cd_nlu_parse_result r;
            if (cd_nlu_parse(m, texts[i], &r, &err) == 0) {
                json_decref(cd_nlu_parse_result_json(&r));
                cd_nlu_parse_result_done(&r);
            }
            cd_error_clear(&err);
        }
    }
    cd_nlu_model_free(m);
    cd_error_clear(&err);
    return 0;
}
