/* Fuzz the Rasa NLU JSON loader, then everything that runs on loaded data: the validate
 * checks (regex translation included), the fingerprint and a subset view. */
#include <stdlib.h>

#include "fuzz/fuzz.h"
#include "nlu/nlu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cd_nlu_data d;
    cd_error_t err = {0};
    if (cd_nlu_data_load_mem("fuzz.json", data, size, CD_NLU_LOAD_KEEP_ON_ERROR, &d, &err) == 0) {
        cd_nlu_data_check(&d, &err);
        char fp[65];
        cd_nlu_data_fingerprint(&d, fp, &err);
        size_t idx[] = {0, d.n_examples - 1};
        cd_nlu_data sub;
        if (cd_nlu_data_subset(&d, idx, 2, &sub, &err) == 0) {
            cd_nlu_data_fingerprint(&sub, fp, &err);
            cd_nlu_data_done(&sub);
        }
    }
    cd_nlu_data_done(&d);
    cd_error_clear(&err);
    return 0;
}
