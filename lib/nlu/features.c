#include "nlu/features.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The gram callback: in fit mode it adds to the vocabulary, in vector mode it looks up. */
typedef struct {
    cd_nlu_featurizer *fit; /* non-NULL while fitting */
    const cd_nlu_featurizer *f;
    cd_nlu_feat_scratch *s;
} gram_ctx;

static int push_id(cd_nlu_feat_scratch *s, long id)
{
    if (s->n == s->cap) {
        size_t c = s->cap ? s->cap * 2 : 256;
        long *p = realloc(s->ids, c * sizeof(*p));
        if (!p)
            return -1;
        s->ids = p;
        s->cap = c;
    }
    s->ids[s->n++] = id;
    return 0;
}

/* Fitting adds the gram; vectorising only records its hash (see resolve). */
static int gram(gram_ctx *c, const char *g, size_t len)
{
    if (!c->fit)
        return push_id(c->s, (long)cd_nlu_vocab_hash(g, len));
    long id = cd_nlu_vocab_add(&c->fit->vocab, g, len);
    return id < 0 ? -1 : push_id(c->s, id);
}

/* hashes → ids, dropping unknown grams: all slots are prefetched first, so the cache misses
 * of a few hundred lookups overlap (this was ~10% of a parse) */
static void resolve(const cd_nlu_featurizer *f, cd_nlu_feat_scratch *s)
{
    for (size_t i = 0; i < s->n; i++)
        cd_nlu_vocab_prefetch(&f->vocab, (uint64_t)s->ids[i]);
    size_t m = 0, n_word = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (i == s->n_word)
            n_word = m;
        long id = cd_nlu_vocab_find_hash(&f->vocab, (uint64_t)s->ids[i]);
        if (id >= 0) {
            if (f->idf) /* merge() reads it next */
                __builtin_prefetch(&f->idf[id]);
            s->ids[m++] = id;
        }
    }
    s->n_word = s->n_word >= s->n ? m : n_word;
    s->n = m;
}

static int reserve_gram(cd_nlu_feat_scratch *s, size_t need)
{
    if (need <= s->gram_cap)
        return 0;
    size_t c = s->gram_cap ? s->gram_cap : 256;
    while (c < need)
        c *= 2;
    char *p = realloc(s->gram, c);
    if (!p)
        return -1;
    s->gram = p;
    s->gram_cap = c;
    return 0;
}

/* markers around the sentence for n-grams of 2 or more words: "\x02 set" (starts with set) and
 * "alarm \x03" (ends with alarm) tell commands from questions better than the words alone
 * (cross-validated: HWU64 +0.2 points); control characters never occur in a token */
static const char BOS[] = "\x02", EOS[] = "\x03";

static int word_grams(gram_ctx *c, const cd_nlu_tokens *t)
{
    const cd_nlu_featurizer *f = c->f;
    cd_nlu_feat_scratch *s = c->s;
    if (f->wmax <= 0 || t->n == 0)
        return 0;
    const char *const *words = cd_nlu_feat_words(f, t, s);
    if (!words)
        return -1;
    size_t len_all = 2;
    for (size_t i = 0; i < t->n; i++)
        len_all += strlen(words[i]) + 1;
    if (reserve_gram(s, len_all + 4))
        return -1;
    /* position p in the padded sentence: 0 = BOS, 1..n the words, n + 1 = EOS */
    size_t padded = t->n + 2;
    for (int n = f->wmin; n <= f->wmax && n > 0; n++) {
        size_t first = n == 1 ? 1 : 0, last = n == 1 ? t->n : padded - (size_t)n;
        for (size_t p = first; p + (size_t)n <= padded && p <= last; p++) {
            size_t len = 0;
            s->gram[len++] = 'w';
            for (size_t k = p; k < p + (size_t)n; k++) {
                const char *w = k == 0 ? BOS : k == t->n + 1 ? EOS : words[k - 1];
                size_t wl = strlen(w);
                if (k > p)
                    s->gram[len++] = ' ';
                memcpy(s->gram + len, w, wl);
                len += wl;
            }
            if (gram(c, s->gram, len))
                return -1;
        }
    }
    return 0;
}

/* sklearn's _char_wb_ngrams: for each word w, ' ' + w + ' ', every n-gram; a padded word
 * shorter than n gives itself once. */
static int char_grams(gram_ctx *c, const cd_nlu_tokens *t)
{
    const cd_nlu_featurizer *f = c->f;
    cd_nlu_feat_scratch *s = c->s;
    if (f->cmax <= 0)
        return 0;
    size_t offs[258];
    for (size_t i = 0; i < t->n; i++) {
        const char *w = t->tok[i].lower;
        size_t wl = strlen(w);
        if (reserve_gram(s, wl + 8))
            return -1;
        char *p = s->gram + 1; /* gram[0] = 'c' prefix, then the padded word */
        s->gram[0] = 'c';
        p[0] = ' ';
        memcpy(p + 1, w, wl);
        p[wl + 1] = ' ';
        size_t plen = wl + 2;
        /* code point starts (bounded: long words are cut at 256 code points) */
        size_t ncp = 0;
        for (size_t b = 0; b < plen && ncp < 256; b++)
            if (((unsigned char)p[b] & 0xC0) != 0x80)
                offs[ncp++] = b;
        if (ncp == 256) {
            ncp = 255;
            plen = offs[255];
        }
        offs[ncp] = plen;
        for (int n = f->cmin; n <= f->cmax; n++) {
            if ((size_t)n >= ncp) { /* the whole padded word, once, and no longer n */
                if (gram(c, s->gram, plen + 1))
                    return -1;
                break;
            }
            for (size_t k = 0; k + (size_t)n <= ncp; k++) {
                /* write the prefix byte just before the gram, restoring it after */
                size_t b0 = offs[k], b1 = offs[k + (size_t)n];
                char *g = p + b0 - 1;
                char saved = *g;
                *g = 'c';
                int r = gram(c, g, b1 - b0 + 1);
                *g = saved;
                if (r)
                    return -1;
            }
        }
    }
    return 0;
}

/* word grams first, then char grams: s->n_word marks the boundary */
static int collect(gram_ctx *c, const cd_nlu_tokens *t)
{
    c->s->n = 0;
    if (word_grams(c, t))
        return -1;
    c->s->n_word = c->s->n;
    return char_grams(c, t);
}

/* Merge repeated ids of ids[from..to) into (id, tf-idf) nodes appended at out[*m]; a small
 * open-addressing table instead of a sort (parsing calls this for every utterance). Returns
 * the sum of squares of the values added, or -1 on OOM. */
static double merge(const cd_nlu_featurizer *f, cd_nlu_feat_scratch *s, size_t from, size_t to,
                    size_t *m)
{
    size_t cap = 64;
    while (cap < 2 * (to - from))
        cap *= 2;
    if (cap > s->tab_cap) {
        long *k = realloc(s->tab_id, cap * sizeof(*k));
        if (!k)
            return -1;
        s->tab_id = k;
        uint32_t *v = realloc(s->tab_pos, cap * sizeof(*v));
        if (!v)
            return -1;
        s->tab_pos = v;
        s->tab_cap = cap;
    }
    for (size_t i = 0; i < cap; i++)
        s->tab_id[i] = -1;
    size_t m0 = *m;
    for (size_t i = from; i < to; i++) {
        long id = s->ids[i];
        size_t h = ((uint64_t)id * 0x9E3779B97F4A7C15ull >> 20) & (cap - 1);
        while (s->tab_id[h] != -1 && s->tab_id[h] != id)
            h = (h + 1) & (cap - 1);
        if (s->tab_id[h] == id) {
            s->out[s->tab_pos[h]].value += 1;
            continue;
        }
        s->tab_id[h] = id;
        s->tab_pos[h] = (uint32_t)*m;
        s->out[*m].index = (int)id + 1;
        s->out[*m].value = 1;
        (*m)++;
    }
    double sq = 0;
    for (size_t i = m0; i < *m; i++) {
        double tf = s->out[i].value;
        if (f->sublinear && tf != 1) /* 1 + ln 1 = 1: most n-grams occur once */
            tf = 1.0 + log(tf);
        double v = tf * f->idf[s->out[i].index - 1];
        s->out[i].value = v;
        sq += v * v;
    }
    return sq;
}

/* LIBLINEAR wants ascending indices: an LSD radix sort by bytes (a vector holds ~100-300
 * nodes; qsort's callbacks were ~5% of training) through the scratch's spare buffer */
static int sort_nodes(cd_nlu_feat_scratch *s, size_t m, int max_index)
{
    if (m < 2)
        return 0;
    if (m > s->tmp_cap) {
        struct feature_node *p = realloc(s->tmp, m * sizeof(*p));
        if (!p)
            return -1;
        s->tmp = p;
        s->tmp_cap = m;
    }
    struct feature_node *a = s->out, *b = s->tmp;
    for (unsigned shift = 0; shift < 32 && (max_index >> shift) > 0; shift += 8) {
        size_t cnt[257] = {0};
        for (size_t i = 0; i < m; i++)
            cnt[((unsigned)a[i].index >> shift & 0xFF) + 1]++;
        for (int k = 0; k < 256; k++)
            cnt[k + 1] += cnt[k];
        for (size_t i = 0; i < m; i++)
            b[cnt[(unsigned)a[i].index >> shift & 0xFF]++] = a[i];
        struct feature_node *t = a;
        a = b;
        b = t;
    }
    if (a != s->out)
        memcpy(s->out, a, m * sizeof(*a));
    return 0;
}

int cd_nlu_feat_fit(cd_nlu_featurizer *f, const cd_nlu_tokens *docs, size_t n)
{
    cd_nlu_feat_scratch s = {0};
    gram_ctx c = {f, f, &s};
    /* document frequency without sorting each document's ids: last[id] = the last document
     * (+1) that counted id */
    size_t *df = NULL, *last = NULL, df_cap = 0;
    int rc = -1;
    for (size_t d = 0; d < n; d++) {
        if (collect(&c, &docs[d]))
            goto out;
        if (f->vocab.n > df_cap) {
            size_t cap = df_cap ? df_cap : 4096;
            while (cap < f->vocab.n)
                cap *= 2;
            size_t *p = realloc(df, cap * sizeof(*p));
            if (!p)
                goto out;
            df = p;
            size_t *q = realloc(last, cap * sizeof(*q));
            if (!q)
                goto out;
            last = q;
            memset(df + df_cap, 0, (cap - df_cap) * sizeof(*df));
            memset(last + df_cap, 0, (cap - df_cap) * sizeof(*last));
            df_cap = cap;
        }
        for (size_t i = 0; i < s.n; i++)
            if (last[s.ids[i]] != d + 1) {
                last[s.ids[i]] = d + 1;
                df[s.ids[i]]++;
            }
    }
    f->idf = malloc((f->vocab.n ? f->vocab.n : 1) * sizeof(double));
    if (!f->idf)
        goto out;
    for (size_t i = 0; i < f->vocab.n; i++)
        f->idf[i] = log((1.0 + (double)n) / (1.0 + (double)df[i])) + 1.0;
    rc = 0;
out:
    free(df);
    free(last);
    cd_nlu_feat_scratch_done(&s);
    return rc;
}

long cd_nlu_feat_vector(const cd_nlu_featurizer *f, const cd_nlu_tokens *t, cd_nlu_feat_scratch *s)
{
    gram_ctx c = {NULL, f, s};
    if (collect(&c, t))
        return -1;
    resolve(f, s);
    if (s->n + 1 > s->out_cap) {
        size_t cap = s->out_cap ? s->out_cap : 256;
        while (cap < s->n + 1)
            cap *= 2;
        struct feature_node *p = realloc(s->out, cap * sizeof(*p));
        if (!p)
            return -1;
        s->out = p;
        s->out_cap = cap;
    }
    size_t m = 0;
    double nw = merge(f, s, 0, s->n_word, &m);
    size_t mw = m;
    double nc = merge(f, s, s->n_word, s->n, &m);
    if (nw < 0 || nc < 0)
        return -1;
    /* each block to its own norm, as two hstacked TfidfVectorizers */
    double sw = nw > 0 ? f->word_weight / sqrt(nw) : 0, sc = nc > 0 ? f->char_weight / sqrt(nc) : 0;
    for (size_t i = 0; i < m; i++)
        s->out[i].value *= i < mw ? sw : sc;
    if (s->sorted && sort_nodes(s, m, (int)f->vocab.n + 1))
        return -1;
    s->out[m].index = -1;
    s->out[m].value = 0;
    return (long)m;
}

void cd_nlu_feat_scratch_done(cd_nlu_feat_scratch *s)
{
    cd_nlu_feat_stem_done(s);
    free(s->ids);
    free(s->gram);
    free(s->out);
    free(s->tab_id);
    free(s->tab_pos);
    free(s->tmp);
    memset(s, 0, sizeof(*s));
}

void cd_nlu_feat_done(cd_nlu_featurizer *f)
{
    cd_nlu_vocab_done(&f->vocab);
    free(f->idf);
    f->idf = NULL;
}
