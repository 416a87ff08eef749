/* cd_nlu_data_fingerprint: SHA-256 over a canonical form of the data. Each example, synonym,
 * regex pattern and lookup element becomes a length-prefixed record; records are sorted, so
 * file order, item order, formatting and annotation syntax do not change the result, while
 * any change of text, intent, entity (span, type, value, role, group) or synonym does. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/sha2.h>

#include "nlu/nlu.h"
#include "util/strbuf.h"

typedef struct {
    char *p;
    size_t len;
} rec_t;

static int field(cd_strbuf *sb, const char *s)
{
    /* length prefix instead of a separator: no string can fake a field boundary */
    size_t n = s ? strlen(s) : 0;
    unsigned char len[9] = {s ? 1 : 0};
    for (int i = 0; i < 8; i++)
        len[1 + i] = (unsigned char)(n >> (56 - 8 * i));
    if (cd_strbuf_add(sb, len, sizeof(len)) < 0)
        return -1;
    return n ? cd_strbuf_add(sb, s, n) : 0;
}

static int cmp_rec(const void *a, const void *b)
{
    const rec_t *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->p, y->p, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static int cmp_entity(const void *a, const void *b)
{
    const cd_nlu_entity *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    const char *xs[] = {x->entity, x->role, x->group, x->value};
    const char *ys[] = {y->entity, y->role, y->group, y->value};
    for (int i = 0; i < 4; i++) {
        int c = strcmp(xs[i] ? xs[i] : "", ys[i] ? ys[i] : "");
        if (c)
            return c;
    }
    return 0;
}

static int push(rec_t **v, size_t *n, size_t *cap, cd_strbuf *sb)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 256;
        rec_t *p = realloc(*v, c * sizeof(*p));
        if (!p)
            return -1;
        *v = p, *cap = c;
    }
    (*v)[*n].len = sb->len;
    (*v)[*n].p = cd_strbuf_take(sb);
    if (!(*v)[*n].p)
        return -1;
    (*n)++;
    return 0;
}

static int example_rec(const cd_nlu_example *ex, cd_strbuf *sb)
{
    if (cd_strbuf_addc(sb, 'E') < 0 || field(sb, ex->text) < 0 || field(sb, ex->intent) < 0 ||
        field(sb, ex->response_key) < 0)
        return -1;
    cd_nlu_entity *e = NULL;
    if (ex->n_entities) {
        if (!(e = malloc(ex->n_entities * sizeof(*e))))
            return -1;
        memcpy(e, ex->entities, ex->n_entities * sizeof(*e));
        qsort(e, ex->n_entities, sizeof(*e), cmp_entity);
    }
    int rc = 0;
    for (size_t i = 0; i < ex->n_entities && rc == 0; i++)
        rc = cd_strbuf_printf(sb, "%d:%d", e[i].start, e[i].end) < 0 ||
                     field(sb, e[i].entity) < 0 || field(sb, e[i].value) < 0 ||
                     field(sb, e[i].role) < 0 || field(sb, e[i].group) < 0
                 ? -1
                 : 0;
    free(e);
    return rc;
}

int cd_nlu_data_fingerprint(const cd_nlu_data *d, char out[65], cd_error_t *err)
{
    rec_t *v = NULL;
    size_t n = 0, cap = 0;
    cd_strbuf sb = CD_STRBUF_INIT;
    int rc = 0;
    for (size_t i = 0; i < d->n_examples && rc == 0; i++)
        rc = example_rec(&d->examples[i], &sb) < 0 || push(&v, &n, &cap, &sb) < 0 ? -1 : 0;
    for (size_t i = 0; i < d->n_synonyms && rc == 0; i++)
        rc = cd_strbuf_addc(&sb, 'S') < 0 || field(&sb, d->synonyms[i].text) < 0 ||
                     field(&sb, d->synonyms[i].value) < 0 || push(&v, &n, &cap, &sb) < 0
                 ? -1
                 : 0;
    for (int k = 0; k < 2 && rc == 0; k++) {
        const cd_nlu_pattern_set *ps = k ? d->lookups : d->regexes;
        size_t nps = k ? d->n_lookups : d->n_regexes;
        for (size_t i = 0; i < nps && rc == 0; i++)
            for (size_t j = 0; j < ps[i].n_items && rc == 0; j++)
                rc = cd_strbuf_addc(&sb, k ? 'L' : 'R') < 0 || field(&sb, ps[i].name) < 0 ||
                             field(&sb, ps[i].items[j]) < 0 || push(&v, &n, &cap, &sb) < 0
                         ? -1
                         : 0;
    }
    if (rc == 0) {
        qsort(v, n, sizeof(*v), cmp_rec);
        struct sha256_ctx ctx;
        sha256_init(&ctx);
        for (size_t i = 0; i < n; i++) {
            uint8_t len[8];
            for (int b = 0; b < 8; b++)
                len[b] = (uint8_t)((uint64_t)v[i].len >> (56 - 8 * b));
            sha256_update(&ctx, sizeof(len), len);
            sha256_update(&ctx, v[i].len, (const uint8_t *)v[i].p);
        }
        uint8_t dig[SHA256_DIGEST_SIZE];
        sha256_digest(&ctx, sizeof(dig), dig);
        for (size_t i = 0; i < sizeof(dig); i++)
            snprintf(out + 2 * i, 3, "%02x", dig[i]);
    } else {
        cd_error(err, CD_ERR_SYSTEM, 0, "fingerprint: out of memory");
    }
    for (size_t i = 0; i < n; i++)
        free(v[i].p);
    free(v);
    cd_strbuf_done(&sb);
    return rc;
}
