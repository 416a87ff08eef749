/* cd_nlu_data_check: the data-set level checks of `conductor-nlu validate`. Rasa's own
 * (rasa-formats.md §1.7): one text under several intents, intents/entities with fewer than 2
 * examples; ours on top: exact duplicates, one-intent data, the same span text annotated as
 * different entities, entity spans cut inside a word or overlapping, synonym conflicts once
 * lowercased (Rasa's EntitySynonymMapper lowercases), synonym chains, regexes that do not
 * compile. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nlu/data-internal.h"
#include "nlu/utf8.h"
#include "util/strbuf.h"

#define W CD_NLU_DIAG_WARNING
#define E CD_NLU_DIAG_ERROR
#define I CD_NLU_DIAG_INFO
#define MAX_LISTED 5 /* intents/places listed in one message */

typedef struct {
    cd_nlu_data *d;
    size_t cap; /* d->diags capacity is unknown here: grow from n_diags */
    cd_error_t *err;
} chk_t;

static int oom(cd_error_t *err)
{
    return cd_error(err, CD_ERR_SYSTEM, 0, "out of memory");
}

#define DIAG_AT(c, lv, ex, code, ...)                                                          \
    (cd_nlu_data_add_diag((c)->d, &(c)->cap, lv, (ex) ? (ex)->file : NULL,                     \
                          (ex) ? (ex)->line : 0, (ex) ? (ex)->col : 0, code, __VA_ARGS__) < 0  \
         ? oom((c)->err)                                                                        \
         : 0)

/* Examples built by hand (not by the loader) may lack an intent. */
static const char *iname(const cd_nlu_example *ex)
{
    return ex->intent ? ex->intent : "";
}

static char *lower_dup(const char *s)
{
    char *r = strdup(s);
    for (char *p = r; p && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return r;
}

/* --- intents and duplicate texts ------------------------------------------------------- */

static int check_texts(chk_t *c)
{
    cd_nlu_data *d = c->d;
    size_t n = d->n_examples;
    cd_nlu_strmap by_text = {0}, by_intent = {0};
    size_t *next = malloc((n ? n : 1) * sizeof(size_t)), *count = calloc(n ? n : 1, sizeof(size_t));
    size_t *tail = malloc((n ? n : 1) * sizeof(size_t));
    int rc = 0;
    if (!next || !count || !tail) {
        rc = oom(c->err);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        cd_nlu_example *ex = &d->examples[i];
        bool ins;
        size_t *head = cd_nlu_strmap_put(&by_text, ex->text, i, &ins);
        size_t *ic = cd_nlu_strmap_put(&by_intent, iname(ex), i, NULL);
        if (!head || !ic) {
            rc = oom(c->err);
            goto out;
        }
        count[*ic]++; /* counted at the intent's first example */
        next[i] = SIZE_MAX;
        if (ins)
            tail[i] = i;
        else
            next[tail[*head]] = i, tail[*head] = i;
    }
    /* same text: several intents (Rasa's warning) or a plain duplicate (Rasa drops it) */
    for (size_t i = 0; i < n && rc == 0; i++) {
        cd_nlu_example *ex = &d->examples[i];
        if (*cd_nlu_strmap_get(&by_text, ex->text) != i || next[i] == SIZE_MAX)
            continue;
        cd_strbuf intents = CD_STRBUF_INIT;
        size_t n_int = 1;
        rc = cd_strbuf_printf(&intents, "`%s`", iname(ex));
        for (size_t k = next[i]; k != SIZE_MAX && rc == 0; k = next[k]) {
            cd_nlu_example *o = &d->examples[k];
            bool seen = false;
            for (size_t j = i; j != k && !seen; j = next[j])
                seen = !strcmp(iname(&d->examples[j]), iname(o));
            if (seen) {
                if (!strcmp(iname(o), iname(ex)))
                    rc = DIAG_AT(c, I, o, "duplicate-example",
                                 "duplicate example `%.200s` of intent `%s` (first at %s:%d); "
                                 "Rasa keeps one",
                                 o->text, iname(o), ex->file ? ex->file : "?", ex->line);
                continue;
            }
            if (++n_int <= MAX_LISTED)
                rc = cd_strbuf_printf(&intents, ", `%s` (%s:%d)", iname(o),
                                      o->file ? o->file : "?", o->line);
        }
        if (rc == 0 && n_int > MAX_LISTED)
            rc = cd_strbuf_printf(&intents, " and %zu more", n_int - MAX_LISTED);
        if (rc == 0 && n_int > 1)
            rc = DIAG_AT(c, W, ex, "ambiguous-example",
                         "the example `%.200s` is labelled with %zu different intents: %s; each "
                         "message should appear with one intent",
                         ex->text, n_int, cd_strbuf_str(&intents));
        else if (rc < 0)
            rc = oom(c->err);
        cd_strbuf_done(&intents);
    }
    size_t n_intents = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        cd_nlu_example *ex = &d->examples[i];
        if (*cd_nlu_strmap_get(&by_intent, iname(ex)) != i)
            continue;
        n_intents++;
        if (count[i] < 2)
            rc = DIAG_AT(c, W, ex, "few-examples",
                         "intent `%s` has only %zu training example; minimum is 2, training may "
                         "fail",
                         iname(ex), count[i]);
    }
    if (rc == 0 && n_intents == 1)
        rc = DIAG_AT(c, W, &d->examples[0], "single-intent",
                     "the data has one intent (`%s`): an intent classifier needs at least 2",
                     d->examples[0].intent);
out:
    free(next);
    free(count);
    free(tail);
    cd_nlu_strmap_done(&by_text);
    cd_nlu_strmap_done(&by_intent);
    return rc;
}

/* --- entities ------------------------------------------------------------------------- */

static bool word_byte(unsigned char ch)
{
    return isalnum(ch) || ch >= 0x80; /* non-ASCII letters count as word characters */
}

static int check_spans(chk_t *c, cd_nlu_example *ex)
{
    size_t len = strlen(ex->text);
    const cd_nlu_entity *reach = NULL;
    bool overlap_told = false;
    cd_utf8_cursor cs = {0, 0}, ce = {0, 0};
    for (size_t i = 0; i < ex->n_entities; i++) {
        cd_nlu_entity *e = &ex->entities[i];
        size_t b = cd_utf8_seek(ex->text, len, &cs, (size_t)e->start);
        size_t en = cd_utf8_seek(ex->text, len, &ce, (size_t)e->end);
        const unsigned char *t = (const unsigned char *)ex->text;
        if (en <= b)
            continue;
        if (isspace(t[b]) || isspace(t[en - 1])) {
            if (DIAG_AT(c, W, ex, "misaligned-entity",
                        "entity `%s` span `%.*s` starts or ends with whitespace", e->entity,
                        (int)(en - b), ex->text + b) < 0)
                return -1;
        } else if ((b > 0 && word_byte(t[b - 1]) && word_byte(t[b])) ||
                   (en < len && word_byte(t[en - 1]) && word_byte(t[en]))) {
            if (DIAG_AT(c, W, ex, "misaligned-entity",
                        "entity `%s` span `%.*s` starts or ends inside a word of `%.200s`: a "
                        "tokenizer cannot match it (Rasa's \"Misaligned entity annotation\")",
                        e->entity, (int)(en - b), ex->text + b, ex->text) < 0)
                return -1;
        }
        /* the loader keeps entities in order of start (annotations appear left to right;
         * JSON may not, then this check is best effort): compare with the furthest-reaching
         * earlier span, which keeps it linear */
        if (i > 0 && reach && e->start < reach->end && reach->start < e->end &&
            !(reach->start == e->start && reach->end == e->end) && !overlap_told) {
            if (DIAG_AT(c, W, ex, "overlapping-entities",
                        "entities `%s` and `%s` overlap in `%.200s`", reach->entity, e->entity,
                        ex->text) < 0)
                return -1;
            overlap_told = true;
        }
        if (!reach || e->end > reach->end)
            reach = e;
    }
    return 0;
}

typedef struct {
    char *key;        /* owned */
    size_t count;
    cd_nlu_example *first;
} ent_count;

static int check_entities(chk_t *c)
{
    cd_nlu_data *d = c->d;
    cd_nlu_strmap by_key = {0}, by_span = {0};
    ent_count *keys = NULL, *spans = NULL;
    size_t n_keys = 0, n_spans = 0, cap_keys = 0, cap_spans = 0;
    int rc = 0;
    for (size_t i = 0; i < d->n_examples && rc == 0; i++) {
        cd_nlu_example *ex = &d->examples[i];
        if ((rc = check_spans(c, ex)) < 0)
            break;
        size_t len = strlen(ex->text);
        cd_utf8_cursor cs = {0, 0}, ce = {0, 0};
        for (size_t k = 0; k < ex->n_entities && rc == 0; k++) {
            cd_nlu_entity *e = &ex->entities[k];
            /* Rasa counts (entity, role, group) for MIN_EXAMPLES_PER_ENTITY; the span key
             * is lowercased text + entity for the consistency check */
            size_t b = cd_utf8_seek(ex->text, len, &cs, (size_t)e->start);
            size_t en = cd_utf8_seek(ex->text, len, &ce, (size_t)e->end);
            char *span = strndup(ex->text + b, en - b), *lspan = span ? lower_dup(span) : NULL;
            char *key = NULL, *skey = NULL;
            free(span);
            if (!lspan || asprintf(&key, "%s\x1f%s\x1f%s", e->entity, e->role ? e->role : "",
                                   e->group ? e->group : "") < 0 ||
                asprintf(&skey, "%s\x1f%s", lspan, e->entity) < 0) {
                free(lspan);
                free(key);
                rc = oom(c->err);
                break;
            }
            free(lspan);
            struct {
                cd_nlu_strmap *m;
                ent_count **v;
                size_t *n, *cap;
                char *k;
            } t[2] = {{&by_key, &keys, &n_keys, &cap_keys, key},
                      {&by_span, &spans, &n_spans, &cap_spans, skey}};
            for (int j = 0; j < 2 && rc == 0; j++) {
                size_t *slot = cd_nlu_strmap_get(t[j].m, t[j].k);
                if (slot) {
                    (*t[j].v)[*slot].count++;
                    free(t[j].k);
                    continue;
                }
                if (*t[j].n == *t[j].cap) {
                    size_t nc = *t[j].cap ? *t[j].cap * 2 : 64;
                    ent_count *p = realloc(*t[j].v, nc * sizeof(*p));
                    if (!p) {
                        free(t[j].k);
                        if (j == 0)
                            free(t[1].k);
                        rc = oom(c->err);
                        break;
                    }
                    *t[j].v = p, *t[j].cap = nc;
                }
                (*t[j].v)[*t[j].n] = (ent_count){t[j].k, 1, ex};
                if (!cd_nlu_strmap_put(t[j].m, t[j].k, *t[j].n, NULL)) {
                    free(t[j].k);
                    if (j == 0)
                        free(t[1].k);
                    rc = oom(c->err);
                    break;
                }
                (*t[j].n)++;
            }
        }
    }
    for (size_t i = 0; i < n_keys && rc == 0; i++) {
        if (keys[i].count >= 2)
            continue;
        char *ent = keys[i].key, *role = strchr(ent, '\x1f'), *group = strchr(role + 1, '\x1f');
        *role++ = 0, *group++ = 0;
        rc = DIAG_AT(c, W, keys[i].first, "few-examples",
                     "entity `%s`%s%s%s%s%s has only 1 training example; minimum is 2, training "
                     "may fail",
                     ent, *role ? " role `" : "", role, *role ? "`" : "",
                     *group ? " group " : "", group);
    }
    /* same span text under different entity types: sorted by text via the first key */
    cd_nlu_strmap by_text = {0};
    for (size_t i = 0; i < n_spans && rc == 0; i++) {
        char *sep = strchr(spans[i].key, '\x1f');
        *sep = 0; /* key becomes the lowercased text; entity follows */
        size_t *first = cd_nlu_strmap_put(&by_text, spans[i].key, i, NULL);
        if (!first) {
            rc = oom(c->err);
            break;
        }
        if (*first == i)
            continue;
        ent_count *f = &spans[*first];
        rc = DIAG_AT(c, W, spans[i].first, "inconsistent-entity",
                     "`%s` is annotated as entity `%s` here (%zu×) but as `%s` at %s:%d (%zu×)",
                     spans[i].key, sep + 1, spans[i].count, f->key + strlen(f->key) + 1,
                     f->first->file ? f->first->file : "?", f->first->line, f->count);
    }
    cd_nlu_strmap_done(&by_text);
    for (size_t i = 0; i < n_keys; i++)
        free(keys[i].key);
    for (size_t i = 0; i < n_spans; i++)
        free(spans[i].key);
    free(keys);
    free(spans);
    cd_nlu_strmap_done(&by_key);
    cd_nlu_strmap_done(&by_span);
    return rc;
}

/* --- synonyms, regexes ----------------------------------------------------------------- */

static int check_synonyms(chk_t *c)
{
    cd_nlu_data *d = c->d;
    cd_nlu_strmap lower = {0}, texts = {0};
    char **lk = calloc(d->n_synonyms ? d->n_synonyms : 1, sizeof(char *));
    int rc = lk ? 0 : oom(c->err);
    for (size_t i = 0; i < d->n_synonyms && rc == 0; i++)
        if (!cd_nlu_strmap_put(&texts, d->synonyms[i].text, i, NULL))
            rc = oom(c->err);
    for (size_t i = 0; i < d->n_synonyms && rc == 0; i++) {
        cd_nlu_synonym *s = &d->synonyms[i];
        if (!(lk[i] = lower_dup(s->text))) {
            rc = oom(c->err);
            break;
        }
        size_t *f = cd_nlu_strmap_put(&lower, lk[i], i, NULL);
        if (!f) {
            rc = oom(c->err);
            break;
        }
        if (*f != i && strcmp(d->synonyms[*f].value, s->value) != 0)
            rc = cd_nlu_data_add_diag(d, &c->cap, W, NULL, 0, 0, "synonym-conflict",
                                      "synonyms `%s` -> `%s` and `%s` -> `%s` clash once "
                                      "lowercased (Rasa's synonym mapper lowercases)",
                                      d->synonyms[*f].text, d->synonyms[*f].value, s->text,
                                      s->value) < 0
                     ? oom(c->err)
                     : 0;
        size_t *chain = cd_nlu_strmap_get(&texts, s->value);
        if (rc == 0 && chain && *chain != i &&
            strcmp(d->synonyms[*chain].value, s->value) != 0)
            rc = cd_nlu_data_add_diag(d, &c->cap, W, NULL, 0, 0, "synonym-chain",
                                      "synonym `%s` -> `%s`, but `%s` is itself a synonym of "
                                      "`%s`: synonyms are not applied twice",
                                      s->text, s->value, s->value, d->synonyms[*chain].value) < 0
                     ? oom(c->err)
                     : 0;
    }
    for (size_t i = 0; lk && i < d->n_synonyms; i++)
        free(lk[i]);
    free(lk);
    cd_nlu_strmap_done(&lower);
    cd_nlu_strmap_done(&texts);
    return rc;
}

static int check_regexes(chk_t *c)
{
    cd_nlu_data *d = c->d;
    for (size_t i = 0; i < d->n_regexes; i++) {
        cd_nlu_pattern_set *ps = &d->regexes[i];
        for (size_t k = 0; k < ps->n_items; k++) {
            regex_t re;
            cd_error_t e = {0};
            if (cd_nlu_regex_compile(ps->items[k], REG_NOSUB, &re, &e) == 0) {
                regfree(&re);
                continue;
            }
            int rc = e.kind == CD_ERR_SYSTEM
                         ? oom(c->err)
                         : cd_nlu_data_add_diag(d, &c->cap, E, ps->file, ps->line, 1,
                                                "bad-regex", "regex `%s`: %s", ps->name,
                                                cd_error_msg(&e)) < 0
                               ? oom(c->err)
                               : 0;
            cd_error_clear(&e);
            if (rc < 0)
                return -1;
        }
    }
    return 0;
}

/* Rasa's verify_intents when a domain is among the data: an NLU intent missing from the
 * domain is an error, a domain intent without examples a warning (Rasa's default intents
 * excepted). */
static int check_domain(chk_t *c)
{
    cd_nlu_data *d = c->d;
    if (!d->n_domains)
        return 0;
    static const char *const defaults[] = {"restart", "back", "out_of_scope", "session_start",
                                           "nlu_fallback"};
    cd_nlu_strmap declared = {0}, used = {0};
    int rc = 0;
    for (size_t i = 0; i < d->n_domains && rc == 0; i++)
        for (size_t k = 0; k < d->domains[i].n_items && rc == 0; k++)
            if (!cd_nlu_strmap_put(&declared, d->domains[i].items[k], i, NULL))
                rc = oom(c->err);
    for (size_t i = 0; i < sizeof(defaults) / sizeof(*defaults) && rc == 0; i++)
        if (!cd_nlu_strmap_put(&declared, defaults[i], SIZE_MAX, NULL))
            rc = oom(c->err);
    for (size_t i = 0; i < d->n_examples && rc == 0; i++) {
        cd_nlu_example *ex = &d->examples[i];
        bool first;
        if (!cd_nlu_strmap_put(&used, iname(ex), i, &first)) {
            rc = oom(c->err);
            break;
        }
        if (first && !cd_nlu_strmap_get(&declared, iname(ex)))
            rc = DIAG_AT(c, E, ex, "intent-not-in-domain",
                         "intent `%s` is used in the NLU data but not listed in the domain "
                         "(%s:%d)",
                         iname(ex), d->domains[0].file ? d->domains[0].file : "?",
                         d->domains[0].line);
    }
    for (size_t i = 0; i < d->n_domains && rc == 0; i++)
        for (size_t k = 0; k < d->domains[i].n_items && rc == 0; k++) {
            const char *name = d->domains[i].items[k];
            bool dflt = false;
            for (size_t j = 0; j < sizeof(defaults) / sizeof(*defaults); j++)
                dflt |= !strcmp(defaults[j], name);
            if (!dflt && !cd_nlu_strmap_get(&used, name) &&
                cd_nlu_data_add_diag(d, &c->cap, W, d->domains[i].file, d->domains[i].line, 1,
                                     "intent-without-examples",
                                     "intent `%s` is listed in the domain but has no NLU "
                                     "examples",
                                     name) < 0)
                rc = oom(c->err);
        }
    cd_nlu_strmap_done(&declared);
    cd_nlu_strmap_done(&used);
    return rc;
}

int cd_nlu_data_check(cd_nlu_data *d, cd_error_t *err)
{
    if (d->borrowed)
        return cd_error(err, CD_ERR_USAGE, 0, "data check: not on a subset view");
    chk_t c = {d, d->n_diags, err};
    if (check_texts(&c) < 0 || check_entities(&c) < 0 || check_synonyms(&c) < 0 ||
        check_regexes(&c) < 0 || check_domain(&c) < 0)
        return -1;
    return 0;
}
