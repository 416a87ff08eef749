/* The results directory of `rasa test nlu` (rasa/nlu/test.py run_evaluation): the same
 * file names, keys and shapes, with SVG charts in place of the PNGs, plus junit.xml and
 * metrics.txt for GitLab. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nlu/eval-internal.h"
#include "nlu/model-internal.h"
#include "util/cleanup.h"

const char cd_nlu_eval_extractor[] = CD_NLU_EXTRACTOR;

static int mkdir_p(const char *dir, cd_error_t *err)
{
    char *p = strdup(dir);
    if (!p)
        return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "out of memory");
    for (char *s = p + 1;; s++) {
        if (*s == '/' || !*s) {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0777) < 0 && errno != EEXIST) {
                int e = errno;
                free(p);
                return cd_error(err, CD_ERR_SYSTEM, e, "create directory `%s`: %s", dir,
                                strerror(e));
            }
            *s = c;
            if (!c)
                break;
        }
    }
    free(p);
    return 0;
}

/* Write text (taken: freed here) to dir/name. NULL text means its builder ran out of memory. */
static int write_text(const char *dir, const char *name, char *text, cd_error_t *err)
{
    cleanup_free char *owned = text;
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
        return cd_error(err, CD_ERR_USAGE, ENAMETOOLONG, "output path `%s/%s` too long", dir,
                        name);
    if (!owned)
        return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "write `%s`: out of memory", path);
    FILE *f = fopen(path, "we");
    if (!f)
        return cd_error(err, CD_ERR_SYSTEM, errno, "write `%s`: %s", path, strerror(errno));
    size_t len = strlen(owned);
    bool ok = fwrite(owned, 1, len, f) == len;
    ok &= fclose(f) == 0;
    if (!ok)
        return cd_error(err, CD_ERR_SYSTEM, errno, "write `%s`: %s", path, strerror(errno));
    return 0;
}

/* json.dumps(obj, ensure_ascii=False, indent=2), as rasa.shared.utils.io writes JSON. */
static int write_json_new(const char *dir, const char *name, json_t *obj, cd_error_t *err)
{
    if (!obj)
        return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "build `%s`: out of memory", name);
    char *s = json_dumps(obj, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(obj);
    return write_text(dir, name, s, err);
}

int cd_nlu_cv_write(const char *dir, const cd_nlu_cv_result *r, cd_error_t *err)
{
    return write_json_new(dir, "cross_validation.json", cd_nlu_cv_json(r), err);
}

static json_t *gold_entity_json(const cd_nlu_entity *e)
{
    /* rasa/shared/nlu/training_data/util.py build_entity: start, end, value, entity
     * [, role][, group]. */
    json_t *o = json_pack("{s:i, s:i, s:s, s:s}", "start", e->start, "end", e->end, "value",
                          e->value ? e->value : "", "entity", e->entity ? e->entity : "");
    if (o && e->role)
        json_object_set_new(o, "role", json_string(e->role));
    if (o && e->group)
        json_object_set_new(o, "group", json_string(e->group));
    return o;
}

static json_t *pred_entity_json(const cd_nlu_entity *e)
{
    /* As the parse result carries it (CRFEntityExtractor's entity dict). */
    json_t *o = json_pack("{s:s, s:i, s:i, s:f}", "entity", e->entity ? e->entity : "",
                          "start", e->start, "end", e->end, "confidence_entity", e->confidence);
    if (!o)
        return NULL;
    if (e->role)
        json_object_set_new(o, "role", json_string(e->role));
    if (e->group)
        json_object_set_new(o, "group", json_string(e->group));
    json_object_set_new(o, "value", json_string(e->value ? e->value : ""));
    json_object_set_new(o, "extractor", json_string(CD_NLU_EXTRACTOR));
    return o;
}

static json_t *entity_case_json(const cd_nlu_eval_item *it)
{
    json_t *g = json_array(), *p = json_array();
    for (size_t i = 0; i < it->gold->n_entities; i++)
        json_array_append_new(g, gold_entity_json(&it->gold->entities[i]));
    for (size_t i = 0; i < it->n_entities; i++)
        json_array_append_new(p, pred_entity_json(&it->entities[i]));
    return json_pack("{s:s, s:o, s:o}", "text", it->gold->text, "entities", g,
                     "predicted_entities", p);
}

static bool has_intent(const cd_nlu_eval_item *it)
{
    return it->gold->intent && *it->gold->intent;
}

/* Intent targets/predictions of the items that have a gold intent; returns the count. */
static size_t intent_pairs(const cd_nlu_eval_set *s, const char ***t, const char ***p)
{
    *t = calloc(s->n + 1, sizeof(char *));
    *p = calloc(s->n + 1, sizeof(char *));
    size_t k = 0;
    if (!*t || !*p)
        return 0;
    for (size_t i = 0; i < s->n; i++)
        if (has_intent(&s->items[i])) {
            (*t)[k] = s->items[i].gold->intent;
            (*p)[k++] = s->items[i].intent;
        }
    return k;
}

typedef struct {
    cd_nlu_report intents, entities;
    cd_nlu_entity_tokens tokens;
    bool distinct_intents; /* >= 2 gold intents: Rasa's should_eval_intents */
    bool extractor_active; /* some prediction has an entity */
} computed;

static void computed_done(computed *c)
{
    cd_nlu_report_done(&c->intents);
    cd_nlu_report_done(&c->entities);
    cd_nlu_entity_tokens_done(&c->tokens);
}

static int compute(const cd_nlu_eval_set *s, computed *c, cd_nlu_eval_summary *sum,
                   cd_error_t *err)
{
    memset(c, 0, sizeof(*c));
    memset(sum, 0, sizeof(*sum));
    sum->n_items = s->n;
    const char **t = NULL, **p = NULL;
    size_t k = intent_pairs(s, &t, &p);
    if (!t || !p) {
        free(t);
        free(p);
        return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "evaluate intents: out of memory");
    }
    for (size_t i = 1; i < k && !c->distinct_intents; i++)
        c->distinct_intents = strcmp(t[i], t[0]) != 0;
    int rc = cd_nlu_report_compute(t, p, k, NULL, &c->intents, err);
    free(t);
    free(p);
    if (rc < 0)
        return -1;
    if (k) {
        sum->has_intents = true;
        sum->accuracy = c->intents.accuracy;
        sum->f1 = c->intents.weighted_f1;
        sum->precision = c->intents.weighted_p;
        sum->macro_f1 = c->intents.macro_f1;
        for (size_t i = 0; i < s->n; i++)
            sum->n_intent_errors +=
                has_intent(&s->items[i]) && strcmp(s->items[i].gold->intent, s->items[i].intent);
    }

    bool gold_entities = false;
    for (size_t i = 0; i < s->n; i++) {
        gold_entities |= s->items[i].gold->n_entities > 0;
        c->extractor_active |= s->items[i].n_entities > 0;
    }
    if (gold_entities) {
        if (cd_nlu_entity_tokens_build(s, &c->tokens, err) < 0 ||
            cd_nlu_report_compute(c->tokens.targets, c->tokens.preds, c->tokens.n_tokens,
                                  CD_NLU_NO_ENTITY, &c->entities, err) < 0)
            return -1;
        sum->has_entities = true;
        sum->entity_accuracy = c->entities.accuracy;
        sum->entity_f1 = c->entities.weighted_f1;
        sum->entity_precision = c->entities.weighted_p;
        cd_nlu_entity_spans_score(s, &sum->spans);
    }
    return 0;
}

int cd_nlu_eval_summarize(const cd_nlu_eval_set *s, cd_nlu_eval_summary *out, cd_error_t *err)
{
    computed c;
    int rc = compute(s, &c, out, err);
    computed_done(&c);
    return rc;
}

static int write_intent_cases(const char *dir, const cd_nlu_eval_set *s, bool want_errors,
                              cd_error_t *err)
{
    json_t *a = json_array();
    for (size_t i = 0; i < s->n; i++) {
        const cd_nlu_eval_item *it = &s->items[i];
        if (!has_intent(it) || (strcmp(it->gold->intent, it->intent) != 0) != want_errors)
            continue;
        json_array_append_new(a, json_pack("{s:s, s:s, s:{s:s, s:f}}", "text", it->gold->text,
                                           "intent", it->gold->intent, "intent_prediction",
                                           "name", it->intent, "confidence", it->confidence));
    }
    /* Rasa writes these files only when there is something in them. */
    if (!a || !json_array_size(a)) {
        json_decref(a);
        return 0;
    }
    return write_json_new(dir, want_errors ? "intent_errors.json" : "intent_successes.json", a,
                          err);
}

static int write_entity_cases(const char *dir, const cd_nlu_eval_set *s,
                              const cd_nlu_entity_tokens *tk, bool want_errors, cd_error_t *err)
{
    json_t *a = json_array();
    for (size_t i = 0; i < s->n; i++) {
        size_t from = i ? tk->item_end[i - 1] : 0, to = tk->item_end[i];
        bool pick = false;
        for (size_t j = from; j < to && !pick; j++) {
            bool same = !strcmp(tk->targets[j], tk->preds[j]);
            /* collect_incorrect_entity_predictions / collect_successful_...: any token
             * wrong, resp. any entity token right. */
            pick = want_errors ? !same : same && strcmp(tk->targets[j], CD_NLU_NO_ENTITY);
        }
        if (pick)
            json_array_append_new(a, entity_case_json(&s->items[i]));
    }
    if (!a || !json_array_size(a)) {
        json_decref(a);
        return 0;
    }
    return write_json_new(dir,
                          want_errors ? CD_NLU_EXTRACTOR "_errors.json"
                                      : CD_NLU_EXTRACTOR "_successes.json",
                          a, err);
}

int cd_nlu_eval_write(const char *dir, const cd_nlu_eval_set *s,
                      const cd_nlu_eval_write_opts *opts, cd_nlu_eval_summary *out,
                      cd_error_t *err)
{
    cd_nlu_eval_write_opts o = opts ? *opts : (cd_nlu_eval_write_opts){0};
    computed c;
    int rc = -1;
    if (compute(s, &c, out, err) < 0 || mkdir_p(dir, err) < 0)
        goto out;

    if (c.distinct_intents) {
        if (write_json_new(dir, "intent_report.json", cd_nlu_report_json(&c.intents), err) < 0)
            goto out;
        if (!o.no_errors && write_intent_cases(dir, s, true, err) < 0)
            goto out;
        if (o.successes && write_intent_cases(dir, s, false, err) < 0)
            goto out;
        if (!o.no_plot &&
            (write_text(dir, "intent_confusion_matrix.svg",
                        cd_nlu_svg_confusion(&c.intents, "Intent confusion matrix"), err) < 0 ||
             write_text(dir, "intent_histogram.svg",
                        cd_nlu_svg_histogram(s, "Intent prediction confidence distribution"),
                        err) < 0))
            goto out;
    }
    /* One report per extractor that predicted something (_get_active_entity_extractors). */
    if (out->has_entities && c.extractor_active) {
        if (write_json_new(dir, CD_NLU_EXTRACTOR "_report.json",
                           cd_nlu_report_json(&c.entities), err) < 0)
            goto out;
        if (!o.no_errors && write_entity_cases(dir, s, &c.tokens, true, err) < 0)
            goto out;
        if (o.successes && write_entity_cases(dir, s, &c.tokens, false, err) < 0)
            goto out;
        if (!o.no_plot && write_text(dir, CD_NLU_EXTRACTOR "_confusion_matrix.svg",
                                     cd_nlu_svg_confusion(&c.entities, "Entity confusion matrix "
                                                                       "(tokens)"),
                                     err) < 0)
            goto out;
    }
    if (write_text(dir, "junit.xml", cd_nlu_junit_xml(s, o.title), err) < 0)
        goto out;
    if (write_text(dir, "metrics.txt", cd_nlu_openmetrics(&c.intents, &c.entities, out), err) <
        0)
        goto out;
    rc = 0;
out:
    computed_done(&c);
    return rc;
}
