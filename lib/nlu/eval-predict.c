/* Predictions over labelled data, and the entity alignment of Rasa's evaluate_entities. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "nlu/eval.h"
#include "nlu/features-vocab.h"
#include "nlu/model-internal.h"
#include "nlu/tokenize.h"

static void entity_free_contents(cd_nlu_entity *e)
{
    free(e->value);
    free(e->entity);
    free(e->role);
    free(e->group);
}

static char *dup_or_null(const char *s, bool *fail)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *fail = true;
    return d;
}

int cd_nlu_eval_add(cd_nlu_eval_set *s, const cd_nlu_example *gold, const char *intent,
                    double confidence, const cd_nlu_entity *ents, size_t n_ents,
                    cd_error_t *err)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 256;
        cd_nlu_eval_item *ni = realloc(s->items, cap * sizeof(*ni));
        if (!ni)
            goto oom;
        s->items = ni;
        s->cap = cap;
    }
    cd_nlu_eval_item it = {.gold = gold, .confidence = confidence};
    bool fail = false;
    it.intent = strdup(intent ? intent : "");
    if (!it.intent)
        goto oom;
    if (n_ents) {
        it.entities = calloc(n_ents, sizeof(*it.entities));
        if (!it.entities) {
            free(it.intent);
            goto oom;
        }
        it.n_entities = n_ents;
        for (size_t i = 0; i < n_ents; i++) {
            cd_nlu_entity *d = &it.entities[i];
            d->start = ents[i].start;
            d->end = ents[i].end;
            d->confidence = ents[i].confidence;
            d->value = dup_or_null(ents[i].value, &fail);
            d->entity = dup_or_null(ents[i].entity, &fail);
            d->role = dup_or_null(ents[i].role, &fail);
            d->group = dup_or_null(ents[i].group, &fail);
        }
    }
    s->items[s->n++] = it;
    if (fail)
        goto oom;
    return 0;
oom:
    return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "record prediction: out of memory");
}

void cd_nlu_eval_set_done(cd_nlu_eval_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        for (size_t j = 0; j < s->items[i].n_entities; j++)
            entity_free_contents(&s->items[i].entities[j]);
        free(s->items[i].entities);
        free(s->items[i].intent);
    }
    free(s->items);
    memset(s, 0, sizeof(*s));
}

int cd_nlu_eval_move(cd_nlu_eval_set *to, cd_nlu_eval_set *from)
{
    if (to->n + from->n > to->cap) {
        size_t cap = to->n + from->n;
        cd_nlu_eval_item *ni = realloc(to->items, (cap ? cap : 1) * sizeof(*ni));
        if (!ni)
            return -1;
        to->items = ni;
        to->cap = cap;
    }
    /* the items change owner */
    memcpy(to->items + to->n, from->items, from->n * sizeof(*to->items));
    to->n += from->n;
    from->n = 0;
    return 0;
}

/* examples [from, to) of d, appended to out in order */
static int eval_range(const cd_nlu_model *m, const cd_nlu_data *d, size_t from, size_t to,
                      cd_nlu_eval_set *out, cd_error_t *err)
{
    for (size_t i = from; i < to; i++) {
        const cd_nlu_example *ex = &d->examples[i];
        cd_nlu_parse_result pr = {0};
        if (cd_nlu_parse(m, ex->text, &pr, err) < 0)
            return cd_error_wrap(err, "parse example %zu", i + 1);
        /* Rasa reverts a FallbackClassifier prediction before scoring, so a low-confidence
         * but right intent still counts (fallback_classifier.undo_fallback_prediction). */
        const char *name = pr.intent.name;
        double conf = pr.intent.confidence;
        if (name && !strcmp(name, CD_NLU_FALLBACK_INTENT))
            for (size_t k = 0; k < pr.n_ranking; k++)
                if (pr.ranking[k].name && strcmp(pr.ranking[k].name, CD_NLU_FALLBACK_INTENT)) {
                    name = pr.ranking[k].name;
                    conf = pr.ranking[k].confidence;
                    break;
                }
        int rc = cd_nlu_eval_add(out, ex, name, conf, pr.entities, pr.n_entities, err);
        cd_nlu_parse_result_done(&pr);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* One share of the examples, parsed on a helper thread into its own set. */
typedef struct {
    const cd_nlu_model *m;
    const cd_nlu_data *d;
    size_t from, to;
    cd_nlu_eval_set set;
    cd_error_t err;
    int rc;
} eval_share;

static void *eval_share_thread(void *arg)
{
    eval_share *p = arg;
    p->rc = eval_range(p->m, p->d, p->from, p->to, &p->set, &p->err);
    cd_nlu_thread_done(); /* the thread's parse scratch */
    return NULL;
}

#define EVAL_MAX_THREADS 8
#define EVAL_MIN_SHARE 256 /* examples: below that a thread costs more than it saves */

/* Parses are independent and cd_nlu_parse is thread-safe: the examples are split into one
 * share per CPU, the first parsed here into out, the others on helper threads into their
 * own sets, which are then moved onto out in order. The predictions, and so every report,
 * are the same as from one thread; cross-validation, which predicts each training part as
 * well, spends about a third of its time here. */
int cd_nlu_eval_run(const cd_nlu_model *m, const cd_nlu_data *d, cd_nlu_eval_set *out,
                    cd_error_t *err)
{
    size_t n = d->n_examples;
    size_t k = (size_t)cd_nlu_share_threads(n, 0, EVAL_MAX_THREADS, EVAL_MIN_SHARE);
    if (k == 1)
        return eval_range(m, d, 0, n, out, err);
    eval_share sh[EVAL_MAX_THREADS] = {{0}};
    pthread_t tid[EVAL_MAX_THREADS];
    bool threaded[EVAL_MAX_THREADS] = {false};
    for (size_t i = 1; i < k; i++) {
        sh[i] = (eval_share){.m = m, .d = d, .from = n * i / k, .to = n * (i + 1) / k};
        threaded[i] = cd_nlu_beside(&tid[i], eval_share_thread, &sh[i]);
    }
    int rc = eval_range(m, d, 0, n / k, out, err);
    for (size_t i = 1; i < k; i++) {
        if (threaded[i])
            pthread_join(tid[i], NULL);
        if (rc == 0 && sh[i].rc < 0) { /* the first failure in example order is reported */
            if (err && !err->msg) {
                *err = sh[i].err;
                sh[i].err = (cd_error_t){0};
            }
            rc = -1;
        }
        if (rc == 0 && cd_nlu_eval_move(out, &sh[i].set) < 0)
            rc = cd_error(err, CD_ERR_SYSTEM, ENOMEM, "record prediction: out of memory");
        cd_error_clear(&sh[i].err);
        cd_nlu_eval_set_done(&sh[i].set);
    }
    return rc;
}

/* --- Tokens ------------------------------------------------------------------------------ */

size_t cd_nlu_eval_tokenize(const char *text, cd_nlu_token_span **out)
{
    cd_nlu_tokens t = {0};
    *out = NULL;
    if (cd_nlu_tokenize(text ? text : "", &t) < 0)
        return 0;
    cd_nlu_token_span *s = malloc((t.n + 1) * sizeof(*s));
    if (s)
        for (size_t i = 0; i < t.n; i++)
            s[i] = (cd_nlu_token_span){t.tok[i].start, t.tok[i].end};
    size_t n = s ? t.n : 0;
    cd_nlu_tokens_done(&t);
    *out = s;
    return n;
}

/* Rasa's determine_entity_for_token + _concat_entity_labels: the entity sharing the most
 * characters with the token (first on ties), labelled entity[.group][.role]; "no_entity"
 * when none overlaps. Written into *buf (grown as needed); its length, or -1 on OOM. */
static long token_label(cd_nlu_token_span tk, const cd_nlu_entity *ents, size_t n, char **buf,
                        size_t *cap)
{
    int best = -1, best_ov = 0;
    for (size_t i = 0; i < n; i++) {
        int lo = tk.start > ents[i].start ? tk.start : ents[i].start;
        int hi = tk.end < ents[i].end ? tk.end : ents[i].end;
        int ov = hi - lo;
        if (ov > best_ov) {
            best_ov = ov;
            best = (int)i;
        }
    }
    const cd_nlu_entity *e = best >= 0 ? &ents[best] : NULL;
    const char *part[3] = {CD_NLU_NO_ENTITY, NULL, NULL};
    if (e && e->entity && *e->entity) {
        part[0] = e->entity;
        part[1] = e->group && *e->group ? e->group : NULL;
        part[2] = e->role && *e->role ? e->role : NULL;
    }
    size_t len = 0, pl[3];
    for (int k = 0; k < 3; k++)
        len += part[k] ? (pl[k] = strlen(part[k])) + (k > 0) : 0;
    if (len + 1 > *cap) {
        char *b = realloc(*buf, len + 64);
        if (!b)
            return -1;
        *buf = b;
        *cap = len + 64;
    }
    char *o = *buf;
    for (int k = 0; k < 3; k++)
        if (part[k]) {
            if (k > 0)
                *o++ = '.';
            memcpy(o, part[k], pl[k]);
            o += pl[k];
        }
    *o = 0;
    return (long)len;
}

void cd_nlu_entity_tokens_done(cd_nlu_entity_tokens *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_labels; i++)
        free(t->labels[i]);
    free(t->labels);
    free(t->targets);
    free(t->preds);
    free(t->item_end);
    memset(t, 0, sizeof(*t));
}

/* the interned copy of label (len bytes) in t->labels, through ids; NULL on OOM */
static const char *intern(cd_nlu_entity_tokens *t, cd_nlu_vocab *ids, size_t *cap,
                          const char *label, size_t len)
{
    size_t before = ids->n;
    long id = cd_nlu_vocab_add(ids, label, len);
    if (id < 0)
        return NULL;
    if (ids->n == before)
        return t->labels[id];
    if (t->n_labels == *cap) {
        size_t nc = *cap ? 2 * *cap : 16;
        char **p = realloc(t->labels, nc * sizeof(*p));
        if (!p)
            return NULL;
        t->labels = p;
        *cap = nc;
    }
    if (!(t->labels[t->n_labels] = strndup(label, len)))
        return NULL;
    return t->labels[t->n_labels++];
}

int cd_nlu_entity_tokens_build(const cd_nlu_eval_set *s, cd_nlu_entity_tokens *out,
                               cd_error_t *err)
{
    cd_nlu_entity_tokens t = {0};
    cd_nlu_vocab ids = {0};
    size_t cap = 0, labels_cap = 0, buf_cap = 0;
    char *buf = NULL;
    t.item_end = calloc(s->n + 1, sizeof(size_t));
    if (!t.item_end)
        goto oom;
    t.n_items = s->n;
    for (size_t i = 0; i < s->n; i++) {
        const cd_nlu_eval_item *it = &s->items[i];
        cd_nlu_token_span *tk = NULL;
        size_t nt = cd_nlu_eval_tokenize(it->gold->text, &tk);
        if (t.n_tokens + nt > cap) {
            size_t nc = (cap ? 2 * cap : 1024) + nt;
            const char **a = realloc(t.targets, nc * sizeof(char *));
            if (a)
                t.targets = a;
            const char **b = realloc(t.preds, nc * sizeof(char *));
            if (b)
                t.preds = b;
            if (!a || !b) {
                free(tk);
                goto oom;
            }
            cap = nc;
        }
        for (size_t k = 0; k < nt; k++) {
            long len = token_label(tk[k], it->gold->entities, it->gold->n_entities, &buf,
                                   &buf_cap);
            const char *g = len < 0 ? NULL : intern(&t, &ids, &labels_cap, buf, (size_t)len);
            len = g ? token_label(tk[k], it->entities, it->n_entities, &buf, &buf_cap) : -1;
            const char *p = len < 0 ? NULL : intern(&t, &ids, &labels_cap, buf, (size_t)len);
            t.targets[t.n_tokens] = g;
            t.preds[t.n_tokens] = p;
            t.n_tokens++;
            if (!g || !p) {
                free(tk);
                goto oom;
            }
        }
        free(tk);
        t.item_end[i] = t.n_tokens;
    }
    cd_nlu_vocab_done(&ids);
    free(buf);
    *out = t;
    return 0;
oom:
    cd_nlu_vocab_done(&ids);
    free(buf);
    cd_nlu_entity_tokens_done(&t);
    return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "align entity predictions: out of memory");
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

void cd_nlu_entity_spans_score(const cd_nlu_eval_set *s, cd_nlu_span_score *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < s->n; i++) {
        const cd_nlu_eval_item *it = &s->items[i];
        const cd_nlu_example *g = it->gold;
        out->n_gold += (long)g->n_entities;
        out->n_pred += (long)it->n_entities;
        /* Each gold span matches at most one prediction. */
        unsigned char used[64] = {0};
        for (size_t a = 0; a < g->n_entities; a++)
            for (size_t b = 0; b < it->n_entities; b++) {
                if (b < 64 && used[b])
                    continue;
                const cd_nlu_entity *x = &g->entities[a], *y = &it->entities[b];
                if (x->start == y->start && x->end == y->end && same_str(x->entity, y->entity)) {
                    out->tp++;
                    if (b < 64)
                        used[b] = 1;
                    break;
                }
            }
    }
    out->precision = out->n_pred ? (double)out->tp / (double)out->n_pred : 0.0;
    out->recall = out->n_gold ? (double)out->tp / (double)out->n_gold : 0.0;
    double pr = out->precision + out->recall;
    out->f1 = pr > 0 ? 2 * out->precision * out->recall / pr : 0.0;
}
