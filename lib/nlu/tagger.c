/* Averaged structured perceptron over BILOU tags (Collins 2002), Viterbi decoding restricted
 * to valid BILOU sequences and to the labels annotated with the utterance's intent. Weights
 * exist only for (feature, tag) pairs seen in the gold data (as CRFsuite does by default),
 * which keeps the model small; transitions are dense. */
#include "nlu/tagger.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nlu/archive-io.h"
#include "nlu/features-vocab.h"
#include "nlu/tagger-features.h"

#define MAGIC_TAG "CDNLUTG1"
#define SEP_ROLE '\x1e'
#define SEP_GROUP '\x1f'
#define MAX_LABELS 4000 /* tags fit in uint16 */
#define VW 4            /* floats per vector in the max-plus loops */

struct cd_nlu_tagger {
    char **labels;
    size_t n_labels;
    int T; /* 1 + 4 * n_labels: O, then B I L U per label */
    size_t n_intents;
    uint8_t *allowed; /* n_intents × n_labels: label seen with that intent */
    uint64_t *fh;     /* feature hashes */
    size_t n_feat;
    struct tg_slot {
        uint64_t h;
        uint32_t idx; /* feature index + 1, 0 = empty */
    } *slot;          /* open addressing, one cache line per lookup */
    size_t cap;
    uint32_t *off; /* pairs of feature f: [off[f], off[f+1]) */
    uint16_t *ptag;
    float *pw;
    size_t n_pairs;
    float *trans, *start, *end; /* trans[cur * T + prev] */
    cd_nlu_tg_patterns pat;
    cd_nlu_vocab syn; /* lowercased synonym text → index in syn_val */
    char **syn_val;
};

enum { K_O = -1, K_B = 0, K_I = 1, K_L = 2, K_U = 3 };
static int kind(int t)
{
    return t == 0 ? K_O : (t - 1) % 4;
}
static int label_of(int t)
{
    return (t - 1) / 4;
}
static int entering(int t)
{
    int k = kind(t);
    return k == K_O || k == K_B || k == K_U;
}
static int exiting(int t)
{
    int k = kind(t);
    return k == K_O || k == K_L || k == K_U;
}

/* ---- feature table ---------------------------------------------------------------------- */

static int table_build(cd_nlu_tagger *t)
{
    free(t->slot);
    t->cap = 16;
    while (t->cap < t->n_feat * 4 + 16)
        t->cap *= 2;
    t->slot = calloc(t->cap, sizeof(*t->slot));
    if (!t->slot)
        return -1;
    for (size_t f = 0; f < t->n_feat; f++) {
        size_t i = t->fh[f] & (t->cap - 1);
        while (t->slot[i].idx) {
            if (t->slot[i].h == t->fh[f])
                return -2; /* a feature twice: only a corrupt file does that */
            i = (i + 1) & (t->cap - 1);
        }
        t->slot[i] = (struct tg_slot){t->fh[f], (uint32_t)f + 1};
    }
    return 0;
}

static long table_find(const cd_nlu_tagger *t, uint64_t h)
{
    for (size_t i = h & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        const struct tg_slot *s = &t->slot[i];
        if (!s->idx)
            return -1;
        if (s->h == h)
            return (long)s->idx - 1;
    }
}

/* index of h, adding it (first-seen order) when new; -1 on OOM */
static long table_add(cd_nlu_tagger *t, uint64_t h, size_t *fh_cap)
{
    long id = t->cap ? table_find(t, h) : -1;
    if (id >= 0)
        return id;
    if (t->n_feat + 1 > *fh_cap) {
        size_t c = *fh_cap ? *fh_cap * 2 : 1 << 16;
        uint64_t *p = realloc(t->fh, c * sizeof(*p));
        if (!p)
            return -1;
        t->fh = p;
        *fh_cap = c;
    }
    t->fh[t->n_feat++] = h;
    if (t->n_feat * 2 > t->cap)
        return table_build(t) ? -1 : (long)t->n_feat - 1;
    size_t i = h & (t->cap - 1);
    while (t->slot[i].idx)
        i = (i + 1) & (t->cap - 1);
    t->slot[i] = (struct tg_slot){h, (uint32_t)t->n_feat};
    return (long)t->n_feat - 1;
}

/* ---- decoding --------------------------------------------------------------------------- */

typedef struct {
    float *em;    /* n × T emissions */
    float *delta; /* n × T: best score of a path ending in (i, tag) */
    float *beta;  /* n × T: best score of the rest of a path from (i, tag), for confidences */
    int16_t *back;
    int *active, n_active;
    int *ent, n_ent, *ext, n_ext; /* active tags that may start / may end an entity span */
    float *xs;                    /* scores of the exiting tags at the previous token */
    float *tx;  /* n_ent × n_ext: trans[ent[a]][ext[b]], contiguous for the max-plus loops */
    float *txt; /* the same transposed, for the backward pass */
    int *y;
    size_t cap_n; /* tokens the n × T buffers hold, for cap_t tags */
    size_t cap_t; /* tags the per-tag buffers (active, ent, ext, xs) hold */
} dec_ws;

static void ws_done(dec_ws *w)
{
    free(w->em);
    free(w->delta);
    free(w->beta);
    free(w->back);
    free(w->active);
    free(w->ent);
    free(w->ext);
    free(w->xs);
    free(w->tx);
    free(w->txt);
    free(w->y);
    memset(w, 0, sizeof(*w));
}

/* Grows the workspace to n tokens of T tags. The thread-local workspace outlives models (one
 * process decodes with several, e.g. cross-validation folds), so capacities are kept per
 * dimension and every buffer is reallocated when either n or T grows. */
static int ws_reserve(dec_ws *w, size_t n, int T)
{
    size_t t = (size_t)T;
    if (t > w->cap_t) {
        int *ac = realloc(w->active, t * sizeof(int));
        if (ac)
            w->active = ac;
        int *en = realloc(w->ent, t * sizeof(int));
        if (en)
            w->ent = en;
        int *ex = realloc(w->ext, t * sizeof(int));
        if (ex)
            w->ext = ex;
        float *xs = realloc(w->xs, (t + VW) * sizeof(float));
        if (xs)
            w->xs = xs;
        float *tx = realloc(w->tx, t * (t + VW) * sizeof(float));
        if (tx)
            w->tx = tx;
        float *txt = realloc(w->txt, t * (t + VW) * sizeof(float));
        if (txt)
            w->txt = txt;
        if (!ac || !en || !ex || !xs || !tx || !txt)
            return -1;
        w->cap_t = t;
        w->cap_n = 0; /* the n × T buffers are too small for the new T */
    }
    if (n <= w->cap_n)
        return 0;
    size_t c = n + 8;
    float *em = realloc(w->em, c * t * sizeof(float));
    if (em)
        w->em = em;
    float *de = realloc(w->delta, c * t * sizeof(float));
    if (de)
        w->delta = de;
    float *be = realloc(w->beta, c * t * sizeof(float));
    if (be)
        w->beta = be;
    int16_t *bk = realloc(w->back, c * t * sizeof(int16_t));
    if (bk)
        w->back = bk;
    int *y = realloc(w->y, c * sizeof(int));
    if (y)
        w->y = y;
    if (!em || !de || !be || !bk || !y)
        return -1;
    w->cap_n = c;
    return 0;
}

/* the tags usable for an intent (all labels when intent < 0) */
static void set_active(const cd_nlu_tagger *t, int intent, dec_ws *w)
{
    w->n_active = 0;
    w->active[w->n_active++] = 0;
    for (size_t l = 0; l < t->n_labels; l++)
        if (intent < 0 || t->allowed[(size_t)intent * t->n_labels + l])
            for (int k = 0; k < 4; k++)
                w->active[w->n_active++] = 1 + 4 * (int)l + k;
    w->n_ent = w->n_ext = 0;
    for (int a = 0; a < w->n_active; a++) {
        if (entering(w->active[a]))
            w->ent[w->n_ent++] = w->active[a];
        if (exiting(w->active[a]))
            w->ext[w->n_ext++] = w->active[a];
    }
}

/* emissions for n tokens whose feature indices are fi[off[i]..off[i+1]) */
static void emissions(const cd_nlu_tagger *t, const uint32_t *fi, const size_t *off, size_t n,
                      dec_ws *w)
{
    size_t T = (size_t)t->T;
    memset(w->em, 0, n * T * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        float *e = w->em + i * T;
        for (size_t k = off[i]; k < off[i + 1]; k++) {
            uint32_t f = fi[k];
            for (uint32_t p = t->off[f]; p < t->off[f + 1]; p++)
                e[t->ptag[p]] += t->pw[p];
        }
    }
}

/* ---- max-plus over rows padded to whole vectors -------------------------------------------- */

/* GCC/Clang vector extensions: SIMD where the target has it, plain code elsewhere */
typedef float vf __attribute__((vector_size(VW * sizeof(float))));
typedef int32_t vi __attribute__((vector_size(VW * sizeof(float))));

static size_t padded(size_t n)
{
    return (n + VW - 1) / VW * VW;
}

/* max over k < n of a[k] + b[k]; n a multiple of VW, padding -INFINITY (never NaN: the rows
 * hold finite weights) */
static float maxplus(const float *a, const float *b, size_t n)
{
    vf m;
    for (int k = 0; k < VW; k++)
        m[k] = -INFINITY;
    for (size_t k = 0; k < n; k += VW) {
        vf x, y;
        memcpy(&x, a + k, sizeof(x));
        memcpy(&y, b + k, sizeof(y));
        vf s = x + y;
        vi gt = s > m;
        m = (vf)((gt & (vi)s) | (~gt & (vi)m));
    }
    float best = m[0];
    for (int k = 1; k < VW; k++)
        best = m[k] > best ? m[k] : best;
    return best;
}

/* The transitions from the exiting to the entering active tags, gathered once per utterance
 * (training changes them between utterances) into rows padded with -INFINITY, so the
 * per-token loops are whole-vector max-plus products. */
static void gather_transitions(const cd_nlu_tagger *t, dec_ws *w)
{
    size_t T = (size_t)t->T, ne = (size_t)w->n_ent, nx = (size_t)w->n_ext;
    size_t nep = padded(ne), nxp = padded(nx);
    for (size_t a = 0; a < ne; a++) {
        const float *tr = t->trans + (size_t)w->ent[a] * T;
        for (size_t b = 0; b < nx; b++)
            w->txt[b * nep + a] = w->tx[a * nxp + b] = tr[w->ext[b]];
        for (size_t b = nx; b < nxp; b++)
            w->tx[a * nxp + b] = -INFINITY;
    }
    for (size_t b = 0; b < nx; b++)
        for (size_t a = ne; a < nep; a++)
            w->txt[b * nep + a] = -INFINITY;
}

static void viterbi(const cd_nlu_tagger *t, size_t n, dec_ws *w)
{
    size_t T = (size_t)t->T;
    const int *A = w->active, *E = w->ent, *X = w->ext;
    int na = w->n_active, ne = w->n_ent, nx = w->n_ext;
    size_t nxp = padded((size_t)nx);
    gather_transitions(t, w);
    for (int a = 0; a < na; a++) {
        int tg = A[a];
        w->delta[tg] = entering(tg) ? w->em[tg] + t->start[tg] : -INFINITY;
        w->back[tg] = -1;
    }
    float *xs_score = w->xs;
    for (size_t i = 1; i < n; i++) {
        const float *dp = w->delta + (i - 1) * T;
        float *d = w->delta + i * T;
        int16_t *bk = w->back + i * T;
        const float *e = w->em + i * T;
        for (int b = 0; b < nx; b++)
            xs_score[b] = dp[X[b]];
        for (size_t b = (size_t)nx; b < nxp; b++)
            xs_score[b] = -INFINITY;
        /* into O, B or U: from O, L or U; the first best, as a scalar scan would pick */
        for (int a = 0; a < ne; a++) {
            int tg = E[a];
            const float *tr = w->tx + (size_t)a * nxp;
            float best = maxplus(xs_score, tr, nxp);
            int arg = 0;
            while (arg < nx - 1 && xs_score[arg] + tr[arg] != best)
                arg++;
            d[tg] = best + e[tg];
            bk[tg] = (int16_t)X[arg];
        }
        /* into I or L of a label: from its B or I */
        for (int a = 0; a < na; a++) {
            int tg = A[a];
            if (entering(tg))
                continue;
            const float *tr = t->trans + (size_t)tg * T;
            int b0 = 1 + 4 * label_of(tg);
            float s0 = dp[b0] + tr[b0], s1 = dp[b0 + 1] + tr[b0 + 1];
            d[tg] = (s1 > s0 ? s1 : s0) + e[tg];
            bk[tg] = (int16_t)(s1 > s0 ? b0 + 1 : b0);
        }
    }
    const float *dl = w->delta + (n - 1) * T;
    float best = -INFINITY;
    int arg = 0;
    for (int b = 0; b < nx; b++) {
        float s = dl[X[b]] + t->end[X[b]];
        if (s > best) {
            best = s;
            arg = X[b];
        }
    }
    for (size_t i = n; i-- > 0;) {
        w->y[i] = arg;
        if (i)
            arg = w->back[i * T + (size_t)arg];
    }
}

/* ---- training ------------------------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *label_string(const cd_nlu_entity *e)
{
    size_t n = strlen(e->entity) + (e->role ? strlen(e->role) + 1 : 0) +
               (e->group ? strlen(e->group) + 1 : 0) + 1;
    char *s = malloc(n);
    if (!s)
        return NULL;
    char *q = stpcpy(s, e->entity);
    if (e->role) {
        *q++ = SEP_ROLE;
        q = stpcpy(q, e->role);
    }
    if (e->group) {
        *q++ = SEP_GROUP;
        stpcpy(q, e->group);
    }
    return s;
}

static long find_label(const cd_nlu_tagger *t, const char *s)
{
    char *const *p = bsearch(&s, t->labels, t->n_labels, sizeof(char *), cmp_str);
    return p ? (long)(p - t->labels) : -1;
}

/* gold BILOU tags of one example */
static void gold_tags(const cd_nlu_tagger *t, const cd_nlu_example *ex, const cd_nlu_tokens *tok,
                      int *y)
{
    for (size_t i = 0; i < tok->n; i++)
        y[i] = 0;
    for (size_t k = 0; k < ex->n_entities; k++) {
        const cd_nlu_entity *e = &ex->entities[k];
        size_t a = tok->n, b = 0;
        for (size_t i = 0; i < tok->n; i++)
            if (tok->tok[i].start < e->end && tok->tok[i].end > e->start) {
                if (a == tok->n)
                    a = i;
                b = i;
            }
        if (a == tok->n)
            continue;
        bool free_span = true;
        for (size_t i = a; i <= b; i++)
            free_span &= y[i] == 0;
        char *ls = label_string(e);
        long l = ls ? find_label(t, ls) : -1;
        free(ls);
        if (!free_span || l < 0)
            continue;
        int base = 1 + 4 * (int)l;
        if (a == b)
            y[a] = base + K_U;
        else
            for (size_t i = a; i <= b; i++)
                y[i] = base + (i == a ? K_B : i == b ? K_L : K_I);
    }
}

static int collect_labels(cd_nlu_tagger *t, const cd_nlu_data *d)
{
    size_t total = 0;
    for (size_t i = 0; i < d->n_examples; i++)
        total += d->examples[i].n_entities;
    char **all = calloc(total + 1, sizeof(char *));
    if (!all)
        return -1;
    size_t n = 0;
    int rc = -1;
    for (size_t i = 0; i < d->n_examples; i++)
        for (size_t k = 0; k < d->examples[i].n_entities; k++)
            if (d->examples[i].entities[k].entity &&
                !(all[n++] = label_string(&d->examples[i].entities[k])))
                goto out;
    qsort(all, n, sizeof(char *), cmp_str);
    t->labels = calloc(n + 1, sizeof(char *));
    if (!t->labels)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (!i || strcmp(all[i], t->labels[t->n_labels - 1])) {
            t->labels[t->n_labels++] = all[i];
            all[i] = NULL;
        }
    rc = 0;
out:
    for (size_t i = 0; i < n; i++)
        free(all[i]);
    free(all);
    return rc;
}

static int copy_patterns(cd_nlu_tg_patterns *p, const cd_nlu_data *d)
{
    p->re = calloc(d->n_regexes + 1, sizeof(*p->re));
    p->lk = calloc(d->n_lookups + 1, sizeof(*p->lk));
    if (!p->re || !p->lk)
        return -1;
    for (size_t i = 0; i < d->n_regexes; i++, p->n_re++) {
        const cd_nlu_pattern_set *s = &d->regexes[i];
        cd_nlu_tg_regex *r = &p->re[i];
        if (!(r->name = strdup(s->name)) || !(r->pats = calloc(s->n_items + 1, sizeof(char *))))
            return -1;
        for (size_t k = 0; k < s->n_items; k++, r->n++)
            if (!(r->pats[k] = strdup(s->items[k])))
                return -1;
    }
    for (size_t i = 0; i < d->n_lookups; i++, p->n_lk++) {
        const cd_nlu_pattern_set *s = &d->lookups[i];
        cd_nlu_tg_lookup *l = &p->lk[i];
        if (!(l->name = strdup(s->name)) || !(l->items = calloc(s->n_items + 1, sizeof(char *))))
            return -1;
        for (size_t k = 0; k < s->n_items; k++) {
            /* stored as the lowercased tokens joined by one space: what matching compares */
            cd_nlu_tokens tk;
            if (cd_nlu_tokenize(s->items[k], &tk))
                return -1;
            size_t len = 1;
            for (size_t j = 0; j < tk.n; j++)
                len += strlen(tk.tok[j].lower) + 1;
            char *q = l->items[l->n] = malloc(len);
            if (!q) {
                cd_nlu_tokens_done(&tk);
                return -1;
            }
            *q = 0;
            for (size_t j = 0; j < tk.n; j++) {
                if (j)
                    *q++ = ' ';
                q = stpcpy(q, tk.tok[j].lower);
            }
            cd_nlu_tokens_done(&tk);
            if (*l->items[l->n])
                l->n++;
            else
                free(l->items[l->n]);
        }
    }
    return cd_nlu_tg_patterns_prepare(p);
}

static char *lower_str(const char *s)
{
    size_t n = strlen(s);
    char *o = malloc(n * 3 + 1), *q = o;
    if (!o)
        return NULL;
    for (size_t b = 0; b < n;) {
        int adv;
        uint32_t c = cd_nlu_decode_cp((const unsigned char *)s + b, n - b, &adv);
        q += cd_nlu_encode_cp(cd_nlu_lower_cp(c), q);
        b += (size_t)adv;
    }
    *q = 0;
    return o;
}

static int add_synonym(cd_nlu_tagger *t, const char *text, const char *value, size_t *cap)
{
    char *k = lower_str(text);
    if (!k)
        return -1;
    size_t kl = strlen(k);
    long id = cd_nlu_vocab_add(&t->syn, k, kl);
    free(k);
    if (id < 0)
        return -1;
    if ((size_t)id >= *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        char **p = realloc(t->syn_val, c * sizeof(*p));
        if (!p)
            return -1;
        memset(p + *cap, 0, (c - *cap) * sizeof(*p));
        t->syn_val = p;
        *cap = c;
    }
    free(t->syn_val[id]); /* a later definition wins, as in Rasa */
    return (t->syn_val[id] = strdup(value)) ? 0 : -1;
}

static int collect_synonyms(cd_nlu_tagger *t, const cd_nlu_data *d)
{
    size_t cap = 0;
    /* values annotated inline first, the synonyms section last (it wins) */
    for (size_t i = 0; i < d->n_examples; i++) {
        const cd_nlu_example *ex = &d->examples[i];
        for (size_t k = 0; k < ex->n_entities; k++) {
            const cd_nlu_entity *e = &ex->entities[k];
            size_t b0 = 0, b1 = 0, len = strlen(ex->text);
            /* the annotated text: code points → bytes */
            size_t cp = 0;
            for (size_t b = 0; b <= len; cp++) {
                if ((int)cp == e->start)
                    b0 = b;
                if ((int)cp == e->end) {
                    b1 = b;
                    break;
                }
                if (b == len)
                    break;
                int adv;
                cd_nlu_decode_cp((const unsigned char *)ex->text + b, len - b, &adv);
                b += (size_t)adv;
            }
            if (!e->value || b1 <= b0)
                continue;
            char *txt = strndup(ex->text + b0, b1 - b0);
            if (!txt)
                return -1;
            int same = !strcmp(txt, e->value);
            int r = same ? 0 : add_synonym(t, txt, e->value, &cap);
            free(txt);
            if (r)
                return -1;
        }
    }
    for (size_t i = 0; i < d->n_synonyms; i++)
        if (add_synonym(t, d->synonyms[i].text, d->synonyms[i].value, &cap))
            return -1;
    return 0;
}

typedef struct {
    uint32_t *fi; /* feature indices of every token of every example */
    size_t *tok_off;  /* token j of the corpus: fi[tok_off[j] .. tok_off[j+1]) */
    size_t *ex_tok;   /* example i: tokens ex_tok[i] .. ex_tok[i+1] */
    int *gold;        /* per corpus token */
} corpus;

static uint64_t xs(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* features of the whole corpus, the feature table and the (feature, gold tag) pairs; linear
 * time (no sorting of the corpus' millions of feature occurrences) */
static int build_corpus(cd_nlu_tagger *t, const cd_nlu_data *d, const cd_nlu_tokens *toks,
                        const int *intent, corpus *c)
{
    size_t n = d->n_examples, ntok = 0, T = (size_t)t->T;
    for (size_t i = 0; i < n; i++)
        ntok += toks[i].n;
    cd_nlu_tg_feats f = {0};
    size_t nh = 0, cap = 0, fh_cap = 0;
    uint32_t *cnt = NULL, *stamp = NULL;
    uint16_t *tags = NULL;
    int rc = -1;
    c->tok_off = malloc((ntok + 1) * sizeof(size_t));
    c->ex_tok = malloc((n + 1) * sizeof(size_t));
    c->gold = malloc((ntok + 1) * sizeof(int));
    if (!c->tok_off || !c->ex_tok || !c->gold)
        goto out;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        c->ex_tok[i] = j;
        if (cd_nlu_tg_features(&t->pat, d->examples[i].text, &toks[i], intent[i], &f))
            goto out;
        if (nh + f.n > cap) {
            size_t nc = cap ? cap : 1 << 16;
            while (nc < nh + f.n)
                nc *= 2;
            uint32_t *p = realloc(c->fi, nc * sizeof(*p));
            if (!p)
                goto out;
            c->fi = p;
            cap = nc;
        }
        gold_tags(t, &d->examples[i], &toks[i], c->gold + j);
        for (size_t k = 0; k < toks[i].n; k++, j++)
            c->tok_off[j] = nh + f.off[k];
        for (size_t k = 0; k < f.n; k++) {
            long id = table_add(t, f.h[k], &fh_cap);
            if (id < 0)
                goto out;
            c->fi[nh + k] = (uint32_t)id;
        }
        nh += f.n;
    }
    c->ex_tok[n] = j;
    c->tok_off[j] = nh;
    /* counting sort of the occurrences' gold tags by feature, then unique tags per feature */
    size_t nf = t->n_feat;
    cnt = calloc(nf + 1, sizeof(*cnt));
    tags = malloc((nh + 1) * sizeof(*tags));
    stamp = calloc(T, sizeof(*stamp));
    t->off = calloc(nf + 1, sizeof(uint32_t));
    if (!cnt || !tags || !stamp || !t->off)
        goto out;
    for (size_t k = 0; k < nh; k++)
        cnt[c->fi[k] + 1]++;
    for (size_t k = 0; k < nf; k++)
        cnt[k + 1] += cnt[k];
    for (size_t tk = 0; tk < j; tk++)
        for (size_t k = c->tok_off[tk]; k < c->tok_off[tk + 1]; k++)
            tags[cnt[c->fi[k]]++] = (uint16_t)c->gold[tk];
    /* cnt[f] is now the end of feature f's run; its start is cnt[f - 1] (0 for f = 0) */
    size_t nq = 0;
    for (size_t fe = 0; fe < nf; fe++) {
        size_t s0 = fe ? cnt[fe - 1] : 0, s1 = cnt[fe];
        size_t first = nq;
        for (size_t k = s0; k < s1; k++)
            if (stamp[tags[k]] != fe + 1) {
                stamp[tags[k]] = (uint32_t)fe + 1;
                tags[nq++] = tags[k]; /* nq <= k: compacting in place is safe */
            }
        /* ascending tags within a feature: a deterministic, cache-friendly order */
        for (size_t a = first + 1; a < nq; a++)
            for (size_t b = a; b > first && tags[b - 1] > tags[b]; b--) {
                uint16_t x = tags[b];
                tags[b] = tags[b - 1];
                tags[b - 1] = x;
            }
        t->off[fe + 1] = (uint32_t)nq;
    }
    t->n_pairs = nq;
    t->ptag = malloc((nq + 1) * sizeof(uint16_t));
    t->pw = calloc(nq + 1, sizeof(float));
    if (!t->ptag || !t->pw)
        goto out;
    memcpy(t->ptag, tags, nq * sizeof(uint16_t));
    rc = 0;
out:
    free(cnt);
    free(tags);
    free(stamp);
    cd_nlu_tg_feats_done(&f);
    return rc;
}

static long pair_index(const cd_nlu_tagger *t, uint32_t f, int tag)
{
    for (uint32_t p = t->off[f]; p < t->off[f + 1]; p++)
        if (t->ptag[p] == tag)
            return p;
    return -1;
}

/* Drops the (feature, tag) pairs the training never moved from zero and the features left
 * without pairs: they add nothing to any score, and on SNIPS they are over half of the
 * model, so the saved file, the feature table and every parse's lookups shrink. */
static int prune(cd_nlu_tagger *t)
{
    size_t nq = 0, nf = 0, b = 0;
    for (size_t f = 0; f < t->n_feat; f++) {
        size_t e = t->off[f + 1], first = nq;
        for (size_t p = b; p < e; p++)
            if (t->pw[p] != 0) {
                t->ptag[nq] = t->ptag[p];
                t->pw[nq++] = t->pw[p];
            }
        if (nq > first) { /* nf <= f: the bounds still to be read are untouched */
            t->fh[nf] = t->fh[f];
            t->off[nf++] = (uint32_t)first;
        }
        b = e;
    }
    t->off[nf] = (uint32_t)nq;
    t->n_feat = nf;
    t->n_pairs = nq;
    return table_build(t);
}

cd_nlu_tagger *cd_nlu_tagger_train(const cd_nlu_data *d, const cd_nlu_tokens *toks,
                                   const int *intent, size_t n_intents, int epochs,
                                   unsigned seed, cd_error_t *err)
{
    size_t n_ent = 0;
    for (size_t i = 0; i < d->n_examples; i++)
        n_ent += d->examples[i].n_entities;
    if (!n_ent || epochs <= 0)
        return NULL;
    cd_nlu_tagger *t = calloc(1, sizeof(*t));
    corpus c = {0};
    dec_ws ws = {0};
    double *uw = NULL, *ut = NULL;
    size_t *order = NULL;
    int ok = 0;
    if (!t || collect_labels(t, d) || copy_patterns(&t->pat, d) || collect_synonyms(t, d))
        goto oom;
    if (t->n_labels > MAX_LABELS) {
        cd_error(err, CD_ERR_DATA, 0, "too many entity labels (%zu, at most %d)", t->n_labels,
                 MAX_LABELS);
        goto out;
    }
    t->T = 1 + 4 * (int)t->n_labels;
    size_t T = (size_t)t->T;
    t->n_intents = n_intents;
    t->allowed = calloc(n_intents * t->n_labels + 1, 1);
    t->trans = calloc(T * T, sizeof(float));
    t->start = calloc(T, sizeof(float));
    t->end = calloc(T, sizeof(float));
    if (!t->allowed || !t->trans || !t->start || !t->end || build_corpus(t, d, toks, intent, &c))
        goto oom;
    for (size_t i = 0; i < d->n_examples; i++)
        if (intent[i] >= 0)
            for (size_t j = c.ex_tok[i]; j < c.ex_tok[i + 1]; j++)
                if (c.gold[j])
                    t->allowed[(size_t)intent[i] * t->n_labels + (size_t)label_of(c.gold[j])] = 1;
    /* averaging (Daumé's trick): u accumulates step × update; average = w − u / steps */
    size_t nt = T * T + 2 * T;
    uw = calloc(t->n_pairs + 1, sizeof(double));
    ut = calloc(nt, sizeof(double));
    order = malloc((d->n_examples + 1) * sizeof(size_t));
    if (!uw || !ut || !order)
        goto oom;
    for (size_t i = 0; i < d->n_examples; i++)
        order[i] = i;
    uint64_t rng = 0x9E3779B97F4A7C15ull ^ seed;
    double step = 1;
    float *tw[3] = {t->trans, t->start, t->end};
    for (int ep = 0; ep < epochs; ep++) {
        for (size_t i = d->n_examples; i > 1; i--) {
            size_t k = (size_t)(xs(&rng) % i);
            size_t tmp = order[i - 1];
            order[i - 1] = order[k];
            order[k] = tmp;
        }
        for (size_t oi = 0; oi < d->n_examples; oi++, step++) {
            size_t i = order[oi];
            size_t j0 = c.ex_tok[i], n = c.ex_tok[i + 1] - j0;
            if (!n)
                continue;
            if (ws_reserve(&ws, n, t->T))
                goto oom;
            set_active(t, intent[i], &ws);
            emissions(t, c.fi, c.tok_off + j0, n, &ws);
            viterbi(t, n, &ws);
            const int *g = c.gold + j0, *y = ws.y;
            bool same = true;
            for (size_t k = 0; k < n; k++)
                same &= g[k] == y[k];
            if (same)
                continue;
            for (size_t k = 0; k < n; k++) {
                if (g[k] != y[k])
                    for (size_t q = c.tok_off[j0 + k]; q < c.tok_off[j0 + k + 1]; q++) {
                        long pg = pair_index(t, c.fi[q], g[k]), py = pair_index(t, c.fi[q], y[k]);
                        if (pg >= 0) {
                            t->pw[pg] += 1;
                            uw[pg] += step;
                        }
                        if (py >= 0) {
                            t->pw[py] -= 1;
                            uw[py] -= step;
                        }
                    }
                /* transitions: trans[cur][prev], start[first], end[last] */
                size_t ig = k ? (size_t)g[k] * T + (size_t)g[k - 1] : T * T + (size_t)g[k];
                size_t iy = k ? (size_t)y[k] * T + (size_t)y[k - 1] : T * T + (size_t)y[k];
                if (ig != iy) {
                    *(ig < T * T ? &tw[0][ig] : &tw[1][ig - T * T]) += 1;
                    ut[ig] += step;
                    *(iy < T * T ? &tw[0][iy] : &tw[1][iy - T * T]) -= 1;
                    ut[iy] -= step;
                }
            }
            if (g[n - 1] != y[n - 1]) {
                t->end[g[n - 1]] += 1;
                ut[T * T + T + (size_t)g[n - 1]] += step;
                t->end[y[n - 1]] -= 1;
                ut[T * T + T + (size_t)y[n - 1]] -= step;
            }
        }
    }
    for (size_t p = 0; p < t->n_pairs; p++)
        t->pw[p] = (float)(t->pw[p] - uw[p] / step);
    for (size_t k = 0; k < T * T; k++)
        t->trans[k] = (float)(t->trans[k] - ut[k] / step);
    for (size_t k = 0; k < T; k++) {
        t->start[k] = (float)(t->start[k] - ut[T * T + k] / step);
        t->end[k] = (float)(t->end[k] - ut[T * T + T + k] / step);
    }
    if (prune(t))
        goto oom;
    ok = 1;
    goto out;
oom:
    cd_error(err, CD_ERR_SYSTEM, 0, "out of memory training the entity tagger");
out:
    free(c.fi);
    free(c.tok_off);
    free(c.ex_tok);
    free(c.gold);
    free(uw);
    free(ut);
    free(order);
    ws_done(&ws);
    if (!ok) {
        cd_nlu_tagger_free(t);
        return NULL;
    }
    return t;
}

/* ---- tagging ----------------------------------------------------------------------------- */

/* per-thread scratch: parsing is thread-safe and does not allocate per call */
static __thread dec_ws tls_ws;
static __thread cd_nlu_tg_feats tls_feats;
static __thread uint32_t *tls_fi;
static __thread size_t tls_fi_cap;

void cd_nlu_tagger_thread_done(void)
{
    ws_done(&tls_ws);
    cd_nlu_tg_feats_done(&tls_feats);
    memset(&tls_feats, 0, sizeof(tls_feats));
    free(tls_fi);
    tls_fi = NULL;
    tls_fi_cap = 0;
}

static int add_entity(const cd_nlu_tagger *t, const char *text, const cd_nlu_tokens *tok,
                      size_t a, size_t b, int label, double conf, cd_nlu_entity **out, size_t *n)
{
    cd_nlu_entity *p = realloc(*out, (*n + 1) * sizeof(*p));
    if (!p)
        return -1;
    *out = p;
    cd_nlu_entity *e = &p[*n];
    memset(e, 0, sizeof(*e));
    e->start = tok->tok[a].start;
    e->end = tok->tok[b].end;
    e->confidence = conf;
    const char *ls = t->labels[label];
    const char *r = strchr(ls, SEP_ROLE), *g = strchr(ls, SEP_GROUP);
    size_t el = r ? (size_t)(r - ls) : g ? (size_t)(g - ls) : strlen(ls);
    e->entity = strndup(ls, el);
    if (r)
        e->role = strndup(r + 1, g ? (size_t)(g - r - 1) : strlen(r + 1));
    if (g)
        e->group = strdup(g + 1);
    e->value = strndup(text + tok->tok[a].bstart, tok->tok[b].bend - tok->tok[a].bstart);
    (*n)++;
    if (!e->entity || !e->value || (r && !e->role) || (g && !e->group))
        return -1;
    if (t->syn.n) { /* EntitySynonymMapper: lowercased value → canonical value */
        char *low = lower_str(e->value);
        if (!low)
            return -1;
        long id = cd_nlu_vocab_find(&t->syn, low, strlen(low));
        free(low);
        if (id >= 0) {
            char *v = strdup(t->syn_val[id]);
            if (!v)
                return -1;
            free(e->value);
            e->value = v;
        }
    }
    return 0;
}

/* The backward half of max-marginals: beta[i][tag] = best score of any valid continuation
 * after (i, tag), transitions and emissions of tokens > i and the end score included; for
 * i >= first only (the confidences need the entities' tokens, the first one from there). */
static void backward(const cd_nlu_tagger *t, size_t n, size_t first, dec_ws *w)
{
    size_t T = (size_t)t->T;
    const int *A = w->active, *E = w->ent;
    int na = w->n_active, ne = w->n_ent;
    float *bl = w->beta + (n - 1) * T, *v = w->xs; /* xs is free after viterbi */
    size_t nep = padded((size_t)ne);
    for (int a = 0; a < na; a++)
        bl[A[a]] = exiting(A[a]) ? t->end[A[a]] : -INFINITY;
    for (size_t i = n - 1; i-- > first;) {
        const float *bn = w->beta + (i + 1) * T, *en = w->em + (i + 1) * T;
        float *b = w->beta + i * T;
        for (int k = 0; k < ne; k++)
            v[k] = en[E[k]] + bn[E[k]];
        for (size_t k = (size_t)ne; k < nep; k++)
            v[k] = -INFINITY;
        /* from an exiting tag: next is O, B or U (row bx of txt: its transitions to those) */
        for (int bx = 0; bx < w->n_ext; bx++)
            b[w->ext[bx]] = maxplus(w->txt + (size_t)bx * nep, v, nep);
        /* from B or I: next is I or L of the same label */
        for (int a = 0; a < na; a++) {
            int tg = A[a];
            if (exiting(tg))
                continue;
            int i0 = 1 + 4 * label_of(tg) + K_I;
            float s0 = t->trans[(size_t)i0 * T + (size_t)tg] + en[i0] + bn[i0];
            float s1 = t->trans[(size_t)(i0 + 1) * T + (size_t)tg] + en[i0 + 1] + bn[i0 + 1];
            b[tg] = s1 > s0 ? s1 : s0;
        }
    }
}

/* Confidence of the chosen tag at token i: softmax over the active tags of their
 * max-marginals (the best whole valid path through each tag). The chosen tag has the largest,
 * so the confidence is its margin over the alternatives; perceptron scores, not CRF
 * marginals. */
static double token_conf(const cd_nlu_tagger *t, const dec_ws *w, size_t i)
{
    size_t T = (size_t)t->T;
    const float *d = w->delta + i * T, *b = w->beta + i * T;
    double mx = (double)d[w->y[i]] + (double)b[w->y[i]], sum = 0;
    for (int a = 0; a < w->n_active; a++) {
        int tg = w->active[a];
        double s = (double)d[tg] + (double)b[tg];
        if (s > -INFINITY)
            sum += exp(s - mx);
    }
    return sum > 0 ? 1.0 / sum : 0;
}

int cd_nlu_tagger_tag(const cd_nlu_tagger *t, const char *text, const cd_nlu_tokens *tok,
                      int intent, cd_nlu_entity **out, size_t *n, cd_error_t *err)
{
    if (!tok->n)
        return 0;
    if (intent >= (int)t->n_intents)
        intent = -1;
    if (intent >= 0) { /* an intent never annotated with entities: nothing to tag */
        bool any = false;
        for (size_t l = 0; l < t->n_labels && !any; l++)
            any = t->allowed[(size_t)intent * t->n_labels + l];
        if (!any)
            return 0;
    }
    dec_ws *w = &tls_ws;
    cd_nlu_tg_feats *f = &tls_feats;
    if (ws_reserve(w, tok->n, t->T) || cd_nlu_tg_features(&t->pat, text, tok, intent, f))
        return cd_error(err, CD_ERR_SYSTEM, 0, "out of memory tagging entities");
    if (f->n + 1 > tls_fi_cap) {
        size_t c = f->n + 256;
        uint32_t *p = realloc(tls_fi, c * sizeof(*p));
        if (!p)
            return cd_error(err, CD_ERR_SYSTEM, 0, "out of memory tagging entities");
        tls_fi = p;
        tls_fi_cap = c;
    }
    /* keep known features only, re-basing the offsets; every slot is prefetched first so the
     * table's cache misses overlap */
    for (size_t k = 0; k < f->n; k++)
        __builtin_prefetch(&t->slot[f->h[k] & (t->cap - 1)]);
    size_t m = 0;
    for (size_t i = 0; i < tok->n; i++) {
        size_t s = f->off[i];
        f->off[i] = m;
        for (size_t k = s; k < f->off[i + 1]; k++) {
            long id = table_find(t, f->h[k]);
            if (id >= 0) {
                __builtin_prefetch(&t->off[id]);
                tls_fi[m++] = (uint32_t)id;
            }
        }
    }
    f->off[tok->n] = m;
    for (size_t k = 0; k < m; k++) { /* the pairs emissions() reads, scattered like the slots */
        __builtin_prefetch(&t->ptag[t->off[tls_fi[k]]]);
        __builtin_prefetch(&t->pw[t->off[tls_fi[k]]]);
    }
    set_active(t, intent, w);
    emissions(t, tls_fi, f->off, tok->n, w);
    viterbi(t, tok->n, w);
    size_t first = 0;
    while (first < tok->n && w->y[first] == 0)
        first++;
    if (first < tok->n)
        backward(t, tok->n, first, w);
    for (size_t i = 0; i < tok->n; i++) {
        int y = w->y[i];
        if (kind(y) != K_B && kind(y) != K_U)
            continue;
        size_t j = i;
        if (kind(y) == K_B)
            while (j + 1 < tok->n && kind(w->y[j + 1]) != K_L)
                j++, (void)0;
        if (kind(y) == K_B && j + 1 < tok->n)
            j++;
        double conf = 1;
        for (size_t k = i; k <= j; k++) {
            double c = token_conf(t, w, k);
            if (c < conf)
                conf = c;
        }
        if (add_entity(t, text, tok, i, j, label_of(y), conf, out, n))
            return cd_error(err, CD_ERR_SYSTEM, 0, "out of memory tagging entities");
        i = j;
    }
    return 0;
}

/* ---- persistence -------------------------------------------------------------------------- */

static void w_cstr(cd_nlu_wbuf *w, const char *s)
{
    cd_nlu_w_str(w, s, strlen(s));
}

int cd_nlu_tagger_save(const cd_nlu_tagger *t, unsigned char **buf, size_t *len, cd_error_t *err)
{
    cd_nlu_wbuf w = {0};
    size_t T = (size_t)t->T;
    cd_nlu_w_bytes(&w, MAGIC_TAG, 8);
    cd_nlu_w_u32(&w, (uint32_t)t->n_labels);
    for (size_t l = 0; l < t->n_labels; l++)
        w_cstr(&w, t->labels[l]);
    cd_nlu_w_u32(&w, (uint32_t)t->n_intents);
    cd_nlu_w_bytes(&w, t->allowed, t->n_intents * t->n_labels);
    cd_nlu_w_u32(&w, (uint32_t)t->n_feat);
    cd_nlu_w_u32(&w, (uint32_t)t->n_pairs);
    for (size_t f = 0; f < t->n_feat; f++) {
        cd_nlu_w_u32(&w, (uint32_t)t->fh[f]);
        cd_nlu_w_u32(&w, (uint32_t)(t->fh[f] >> 32));
        cd_nlu_w_u32(&w, t->off[f + 1] - t->off[f]);
    }
    for (size_t p = 0; p < t->n_pairs; p++) {
        cd_nlu_w_u32(&w, t->ptag[p]);
        cd_nlu_w_f32(&w, t->pw[p]);
    }
    for (size_t k = 0; k < T * T; k++)
        cd_nlu_w_f32(&w, t->trans[k]);
    for (size_t k = 0; k < T; k++) {
        cd_nlu_w_f32(&w, t->start[k]);
        cd_nlu_w_f32(&w, t->end[k]);
    }
    cd_nlu_w_u32(&w, (uint32_t)t->pat.n_re);
    for (size_t i = 0; i < t->pat.n_re; i++) {
        w_cstr(&w, t->pat.re[i].name);
        cd_nlu_w_u32(&w, (uint32_t)t->pat.re[i].n);
        for (size_t k = 0; k < t->pat.re[i].n; k++)
            w_cstr(&w, t->pat.re[i].pats[k]);
    }
    cd_nlu_w_u32(&w, (uint32_t)t->pat.n_lk);
    for (size_t i = 0; i < t->pat.n_lk; i++) {
        w_cstr(&w, t->pat.lk[i].name);
        cd_nlu_w_u32(&w, (uint32_t)t->pat.lk[i].n);
        for (size_t k = 0; k < t->pat.lk[i].n; k++)
            w_cstr(&w, t->pat.lk[i].items[k]);
    }
    cd_nlu_w_u32(&w, (uint32_t)t->syn.n);
    for (size_t i = 0; i < t->syn.n; i++) {
        size_t kl;
        const char *k = cd_nlu_vocab_key(&t->syn, i, &kl);
        cd_nlu_w_str(&w, k, kl);
        w_cstr(&w, t->syn_val[i]);
    }
    if (w.oom) {
        free(w.buf);
        return cd_error(err, CD_ERR_SYSTEM, 0, "out of memory saving the entity tagger");
    }
    *buf = w.buf;
    *len = w.len;
    return 0;
}

/* a string of at most max bytes, no NUL inside, copied */
static char *r_str(cd_nlu_rbuf *r, size_t max)
{
    uint32_t n = cd_nlu_r_count(r, 1);
    const unsigned char *p = cd_nlu_r_bytes(r, n);
    if (!p || n > max || memchr(p, 0, n)) {
        r->bad = true;
        return NULL;
    }
    char *s = strndup((const char *)p, n);
    if (!s)
        r->bad = true;
    return s;
}

cd_nlu_tagger *cd_nlu_tagger_load(const unsigned char *buf, size_t len, size_t n_intents,
                                  cd_error_t *err)
{
    cd_nlu_rbuf r = {buf, len, false};
    cd_nlu_tagger *t = calloc(1, sizeof(*t));
    const char *what = "truncated or corrupt";
    if (!t) {
        cd_error(err, CD_ERR_SYSTEM, 0, "out of memory");
        return NULL;
    }
    const unsigned char *mg = cd_nlu_r_bytes(&r, 8);
    if (!mg || memcmp(mg, MAGIC_TAG, 8)) {
        what = "not an entity tagger file";
        goto bad;
    }
    uint32_t nl = cd_nlu_r_count(&r, 5);
    if (r.bad || !nl || nl > MAX_LABELS)
        goto bad;
    if (!(t->labels = calloc(nl, sizeof(char *))))
        goto bad;
    for (; t->n_labels < nl; t->n_labels++) {
        t->labels[t->n_labels] = r_str(&r, 4096);
        if (r.bad || !*t->labels[t->n_labels] ||
            (t->n_labels && strcmp(t->labels[t->n_labels - 1], t->labels[t->n_labels]) >= 0)) {
            what = "labels are not sorted unique strings";
            goto bad;
        }
    }
    t->T = 1 + 4 * (int)nl;
    size_t T = (size_t)t->T;
    uint32_t ni = cd_nlu_r_u32(&r);
    if (r.bad || ni != n_intents) {
        what = "intent count does not match the metadata";
        goto bad;
    }
    t->n_intents = ni;
    const unsigned char *al = cd_nlu_r_bytes(&r, (size_t)ni * nl);
    if (!al || !(t->allowed = malloc((size_t)ni * nl + 1)))
        goto bad;
    memcpy(t->allowed, al, (size_t)ni * nl);
    uint32_t nf = cd_nlu_r_count(&r, 12), np = cd_nlu_r_count(&r, 8);
    if (r.bad)
        goto bad;
    t->n_feat = nf;
    t->n_pairs = np;
    t->fh = malloc(((size_t)nf + 1) * sizeof(*t->fh));
    t->off = malloc(((size_t)nf + 1) * sizeof(*t->off));
    t->ptag = malloc(((size_t)np + 1) * sizeof(*t->ptag));
    t->pw = malloc(((size_t)np + 1) * sizeof(*t->pw));
    t->trans = malloc(T * T * sizeof(float));
    t->start = malloc(T * sizeof(float));
    t->end = malloc(T * sizeof(float));
    if (!t->fh || !t->off || !t->ptag || !t->pw || !t->trans || !t->start || !t->end) {
        what = "out of memory";
        goto bad;
    }
    t->off[0] = 0;
    for (size_t f = 0; f < nf; f++) {
        uint64_t lo = cd_nlu_r_u32(&r), hi = cd_nlu_r_u32(&r);
        uint32_t k = cd_nlu_r_u32(&r);
        t->fh[f] = lo | hi << 32;
        if (r.bad || !t->fh[f] || k > np - t->off[f]) {
            what = "feature table is corrupt";
            goto bad;
        }
        t->off[f + 1] = t->off[f] + k;
    }
    if (t->off[nf] != np) {
        what = "feature table does not add up";
        goto bad;
    }
    for (size_t p = 0; p < np; p++) {
        uint32_t tg = cd_nlu_r_u32(&r);
        t->pw[p] = cd_nlu_r_f32(&r);
        if (r.bad || tg >= T || !isfinite(t->pw[p])) {
            what = "weights are corrupt";
            goto bad;
        }
        t->ptag[p] = (uint16_t)tg;
    }
    for (size_t k = 0; k < T * T; k++)
        t->trans[k] = cd_nlu_r_f32(&r);
    for (size_t k = 0; k < T; k++) {
        t->start[k] = cd_nlu_r_f32(&r);
        t->end[k] = cd_nlu_r_f32(&r);
    }
    if (r.bad)
        goto bad;
    for (size_t k = 0; k < T * T; k++)
        if (!isfinite(t->trans[k]))
            goto bad;
    uint32_t nre = cd_nlu_r_count(&r, 8);
    if (r.bad || !(t->pat.re = calloc((size_t)nre + 1, sizeof(*t->pat.re))))
        goto bad;
    for (; t->pat.n_re < nre; t->pat.n_re++) {
        cd_nlu_tg_regex *x = &t->pat.re[t->pat.n_re];
        x->name = r_str(&r, 4096);
        uint32_t k = cd_nlu_r_count(&r, 4);
        if (r.bad || !(x->pats = calloc((size_t)k + 1, sizeof(char *))))
            goto bad;
        for (; x->n < k; x->n++)
            if (!(x->pats[x->n] = r_str(&r, 1 << 16)))
                goto bad;
    }
    uint32_t nlk = cd_nlu_r_count(&r, 8);
    if (r.bad || !(t->pat.lk = calloc((size_t)nlk + 1, sizeof(*t->pat.lk))))
        goto bad;
    for (; t->pat.n_lk < nlk; t->pat.n_lk++) {
        cd_nlu_tg_lookup *x = &t->pat.lk[t->pat.n_lk];
        x->name = r_str(&r, 4096);
        uint32_t k = cd_nlu_r_count(&r, 4);
        if (r.bad || !(x->items = calloc((size_t)k + 1, sizeof(char *))))
            goto bad;
        for (; x->n < k; x->n++)
            if (!(x->items[x->n] = r_str(&r, 1 << 16)))
                goto bad;
    }
    uint32_t ns = cd_nlu_r_count(&r, 8);
    if (r.bad || !(t->syn_val = calloc((size_t)ns + 1, sizeof(char *))))
        goto bad;
    for (uint32_t i = 0; i < ns; i++) {
        char *k = r_str(&r, 1 << 16);
        char *v = r_str(&r, 1 << 16);
        long id = k && v ? cd_nlu_vocab_add(&t->syn, k, strlen(k)) : -1;
        free(k);
        if (id != (long)i) {
            free(v);
            what = "synonyms are corrupt";
            goto bad;
        }
        t->syn_val[i] = v;
    }
    if (r.left) {
        what = "unexpected trailing bytes";
        goto bad;
    }
    int tb = table_build(t);
    if (tb == -2) {
        what = "a feature appears twice";
        goto bad;
    }
    if (tb || cd_nlu_tg_patterns_prepare(&t->pat)) {
        what = "out of memory";
        goto bad;
    }
    return t;
bad:
    cd_error(err, CD_ERR_DATA, 0, "%s", what);
    cd_nlu_tagger_free(t);
    return NULL;
}

void *cd_nlu_tagger_labels_json(const cd_nlu_tagger *t)
{
    json_t *a = json_array();
    for (size_t l = 0; l < t->n_labels; l++) {
        const char *ls = t->labels[l];
        size_t el = strcspn(ls, "\x1e\x1f");
        char *e = strndup(ls, el);
        bool dup = false;
        for (size_t k = 0; e && k < json_array_size(a); k++)
            dup |= !strcmp(json_string_value(json_array_get(a, k)), e);
        if (e && !dup)
            json_array_append_new(a, json_string(e));
        free(e);
    }
    return a;
}

size_t cd_nlu_tagger_n_features(const cd_nlu_tagger *t)
{
    return t->n_feat;
}

void cd_nlu_tagger_free(cd_nlu_tagger *t)
{
    if (!t)
        return;
    for (size_t l = 0; l < t->n_labels; l++)
        free(t->labels[l]);
    free(t->labels);
    free(t->allowed);
    free(t->fh);
    free(t->slot);
    free(t->off);
    free(t->ptag);
    free(t->pw);
    free(t->trans);
    free(t->start);
    free(t->end);
    cd_nlu_tg_patterns_done(&t->pat);
    if (t->syn_val)
        for (size_t i = 0; i < t->syn.n; i++)
            free(t->syn_val[i]);
    free(t->syn_val);
    cd_nlu_vocab_done(&t->syn);
    free(t);
}
