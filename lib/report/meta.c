/* Filling the paper trail from a model's metadata.json. Key names differ between our
 * archive and hand-made metadata, so several spellings are accepted; nothing is required. */
#include <string.h>

#include "report/report-internal.h"

static const char *str_of(const json_t *md, const char *const *keys)
{
    for (; *keys; keys++) {
        const char *s = json_string_value(json_object_get(md, *keys));
        if (s)
            return s;
    }
    return NULL;
}

void cd_report_meta_from_model(cd_report_meta *meta, const json_t *md)
{
    if (!meta || !json_is_object(md))
        return;
    static const char *const trained[] = {"trained_at", "train_time", NULL};
    static const char *const fp[] = {"data_fingerprint", "fingerprint", "training_data_fingerprint",
                                     NULL};
    static const char *const ver[] = {"conductor_version", "version", NULL};
    if (!meta->trained_at)
        meta->trained_at = str_of(md, trained);
    if (!meta->data_fingerprint) {
        meta->data_fingerprint = str_of(md, fp);
        /* {"fingerprint": {"data": "..."}} */
        const json_t *f = json_object_get(md, "fingerprint");
        if (!meta->data_fingerprint && json_is_object(f))
            meta->data_fingerprint = json_string_value(json_object_get(f, "data"));
    }
    if (!meta->conductor_version)
        meta->conductor_version = str_of(md, ver);
    if (!meta->config) {
        const json_t *c = json_object_get(md, "config");
        if (c)
            meta->config = c;
    }
    if (!meta->intent_counts) {
        static const char *const ck[] = {"intent_counts", "intent_examples", "counts", NULL};
        for (const char *const *k = ck; *k; k++) {
            const json_t *c = json_object_get(md, *k);
            /* {"counts": {"intents": {...}, "entities": {...}}} or a flat map */
            if (json_is_object(json_object_get(c, "intents")))
                c = json_object_get(c, "intents");
            else if (json_object_get(c, "examples"))
                continue; /* conductor-nlu's totals ({"examples": n, "intents": n, ...}) */
            if (json_is_object(c) && json_object_size(c)) {
                meta->intent_counts = c;
                break;
            }
        }
    }
}
