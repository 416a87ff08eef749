/* The real data sets load as ../shared/data/README.md describes them (examples, intents,
 * entity types), every entity span holds its value (code-point offsets, emoji included),
 * and `validate`'s checks find no errors in any of them. */
#include <stdio.h>
#include <string.h>

#include "nlu/nlu.h"
#include "nlu/utf8.h"
#include "tap.h"

static size_t distinct(const cd_nlu_data *d, bool entities)
{
    size_t n = 0;
    const char *seen[256];
    for (size_t i = 0; i < d->n_examples; i++) {
        const cd_nlu_example *ex = &d->examples[i];
        for (size_t k = 0; k < (entities ? ex->n_entities : 1); k++) {
            const char *name = entities ? ex->entities[k].entity : ex->intent;
            bool found = false;
            for (size_t j = 0; j < n && !found; j++)
                found = !strcmp(seen[j], name);
            if (!found && n < 256)
                seen[n++] = name;
        }
    }
    return n;
}

/* An entity's value is exactly the text at [start, end), or the synonym of that text. */
static bool is_synonym(const cd_nlu_data *d, const char *text, size_t len, const char *value)
{
    for (size_t i = 0; i < d->n_synonyms; i++)
        if (strlen(d->synonyms[i].text) == len && !memcmp(d->synonyms[i].text, text, len))
            return !strcmp(d->synonyms[i].value, value);
    return false;
}

static size_t bad_spans(const cd_nlu_data *d)
{
    size_t bad = 0;
    for (size_t i = 0; i < d->n_examples; i++) {
        const cd_nlu_example *ex = &d->examples[i];
        size_t len = strlen(ex->text);
        for (size_t k = 0; k < ex->n_entities; k++) {
            const cd_nlu_entity *e = &ex->entities[k];
            size_t b = cd_utf8_offset(ex->text, len, (size_t)e->start);
            size_t en = cd_utf8_offset(ex->text, len, (size_t)e->end);
            if ((strlen(e->value) != en - b || memcmp(e->value, ex->text + b, en - b) != 0) &&
                !is_synonym(d, ex->text + b, en - b, e->value)) {
                if (bad++ < 3)
                    printf("# %s:%d: `%s` [%d,%d) is not `%s`\n", ex->file, ex->line, ex->text,
                           e->start, e->end, e->value);
            }
        }
    }
    return bad;
}

static bool has_non_bmp(const cd_nlu_data *d)
{
    for (size_t i = 0; i < d->n_examples; i++)
        for (const unsigned char *p = (const unsigned char *)d->examples[i].text; *p; p++)
            if (*p >= 0xF0 && d->examples[i].n_entities)
                return true;
    return false;
}

static void one(const char *rel, size_t examples, size_t intents, size_t entity_types,
                bool emoji)
{
    const char *path = tap_shared(rel);
    cd_nlu_data d;
    cd_error_t err = {0};
    const char *paths[] = {path};
    if (cd_nlu_data_load(paths, 1, &d, &err) < 0) {
        ok(0, "%s loads: %s", rel, cd_error_msg(&err));
        cd_error_clear(&err);
        return;
    }
    char name[256];
    snprintf(name, sizeof(name), "%s examples", rel);
    is_int(d.n_examples, examples, name);
    snprintf(name, sizeof(name), "%s intents", rel);
    is_int(distinct(&d, false), intents, name);
    if (entity_types) {
        snprintf(name, sizeof(name), "%s entity types", rel);
        is_int(distinct(&d, true), entity_types, name);
    }
    ok(bad_spans(&d) == 0, "%s: every entity span holds its value", rel);
    if (emoji)
        ok(has_non_bmp(&d), "%s has annotated examples with emoji/non-BMP text", rel);
    ok(cd_nlu_data_check(&d, &err) == 0, "%s: checks run", rel);
    is_int(cd_nlu_data_count_diags(&d, CD_NLU_DIAG_ERROR), 0, "no error diagnostics");
    cd_nlu_data_done(&d);
}

int main(void)
{
    FILE *f = fopen(tap_shared("data/README.md"), "r");
    if (!f)
        tap_skip_all("shared data not found at %s", tap_shared("data"));
    fclose(f);
    /* figures from ../shared/data/README.md */
    one("data/hwu64/train.yml", 9960, 64, 54, false);
    one("data/hwu64/test.yml", 1076, 64, 0, false);
    one("data/snips/train.yml", 13784, 7, 39, true);
    one("data/snips/test.yml", 700, 7, 0, false);
    one("data/braun2017/Chatbot/train.yml", 100, 2, 0, false);
    one("data/braun2017/Chatbot/test.yml", 106, 2, 0, false);
    one("data/braun2017/AskUbuntu/train.yml", 53, 5, 0, false);
    one("data/braun2017/AskUbuntu/test.yml", 109, 5, 0, false);
    one("data/braun2017/WebApplications/train.yml", 30, 8, 0, false);
    one("data/braun2017/WebApplications/test.yml", 59, 7, 0, false);
    one("data/bots/financial-demo/nlu.yml", 578, 17, 0, false);

    /* the whole tree at once: YAML, the legacy JSON, domain-less bots */
    cd_nlu_data d;
    cd_error_t err = {0};
    const char *all[] = {tap_shared("data")};
    ok(cd_nlu_data_load(all, 1, &d, &err) == 0, "all shared data loads: %s", cd_error_msg(&err));
    ok(d.n_files >= 18, "every data file read (%zu)", d.n_files);
    size_t json = 0;
    for (size_t i = 0; i < d.n_examples; i++)
        json += strstr(d.examples[i].file, ".json") != NULL;
    ok(json > 0, "demo-rasa.json contributes %zu examples", json);
    ok(d.n_regexes > 0 && d.n_synonyms > 0, "regexes and synonyms from the bots");
    char fp[65];
    ok(cd_nlu_data_fingerprint(&d, fp, &err) == 0, "fingerprint of everything");
    cd_nlu_data_done(&d);
    return tap_done();
}
