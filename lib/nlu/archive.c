/* The model archive: a tar.gz (libarchive) with metadata.json and one binary file per
 * component. Written reproducibly: fixed entry order, mtime = the training time, uid/gid 0,
 * no owner names, gzip without a timestamp. Loading checks every byte it uses. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>
#include <nettle/sha2.h>

#include "nlu/archive-io.h"
#include "nlu/model-internal.h"
#include "util/limits.h"
#include "util/strbuf.h"

#define F_META "metadata.json"
#define F_FEAT "components/features.bin"
#define F_CLF "components/intent_classifier.bin"
#define F_TAG "components/entity_tagger.bin"
#define MAGIC_FEAT "CDNLUFT2"
#define MAGIC_CLF "CDNLUIC2"

/* ---- component files ---------------------------------------------------------------- */

static void feat_save(const cd_nlu_featurizer *f, cd_nlu_wbuf *w)
{
    cd_nlu_w_bytes(w, MAGIC_FEAT, 8);
    cd_nlu_w_u32(w, (uint32_t)f->wmin);
    cd_nlu_w_u32(w, (uint32_t)f->wmax);
    cd_nlu_w_u32(w, (uint32_t)f->cmin);
    cd_nlu_w_u32(w, (uint32_t)f->cmax);
    cd_nlu_w_u32(w, (uint32_t)f->sublinear);
    cd_nlu_w_str(w, f->stemmer, strlen(f->stemmer));
    cd_nlu_w_f64(w, f->word_weight);
    cd_nlu_w_f64(w, f->char_weight);
    cd_nlu_w_u32(w, (uint32_t)f->vocab.n);
    for (size_t i = 0; i < f->vocab.n; i++) {
        size_t len;
        const char *k = cd_nlu_vocab_key(&f->vocab, i, &len);
        cd_nlu_w_str(w, k, len);
        cd_nlu_w_f64(w, f->idf[i]);
    }
}

static int feat_load(cd_nlu_featurizer *f, const unsigned char *buf, size_t len, const char *name,
                     cd_error_t *err)
{
    cd_nlu_rbuf r = {buf, len, false};
    const unsigned char *mg = cd_nlu_r_bytes(&r, 8);
    if (!mg || memcmp(mg, MAGIC_FEAT, 8))
        return cd_error(err, CD_ERR_DATA, 0, "%s: %s is not a features file", name, F_FEAT);
    f->wmin = (int)cd_nlu_r_u32(&r);
    f->wmax = (int)cd_nlu_r_u32(&r);
    f->cmin = (int)cd_nlu_r_u32(&r);
    f->cmax = (int)cd_nlu_r_u32(&r);
    f->sublinear = (int)cd_nlu_r_u32(&r);
    uint32_t sl = cd_nlu_r_count(&r, 1);
    const unsigned char *st = cd_nlu_r_bytes(&r, sl);
    if (r.bad || sl >= sizeof(f->stemmer) || (st && memchr(st, 0, sl)))
        return cd_error(err, CD_ERR_DATA, 0, "%s: %s: bad header", name, F_FEAT);
    memcpy(f->stemmer, st ? (const char *)st : "", sl);
    f->stemmer[sl] = 0;
    if (sl && !cd_nlu_stemmer_known(f->stemmer))
        return cd_error(err, CD_ERR_DATA, 0, "%s: the model stems words with Snowball's `%s`, "
                        "which this build does not have", name, f->stemmer);
    f->word_weight = cd_nlu_r_f64(&r);
    f->char_weight = cd_nlu_r_f64(&r);
    uint32_t n = cd_nlu_r_count(&r, 12);
    if (r.bad || f->wmin < 0 || f->wmax > 8 || f->wmin > f->wmax || f->cmin < 0 ||
        f->cmax > 16 || f->cmin > f->cmax || !isfinite(f->word_weight) ||
        !isfinite(f->char_weight))
        return cd_error(err, CD_ERR_DATA, 0, "%s: %s: bad header", name, F_FEAT);
    f->idf = malloc((n ? n : 1) * sizeof(double));
    if (!f->idf)
        return cd_error(err, CD_ERR_SYSTEM, 0, "out of memory loading %s", name);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t kl = cd_nlu_r_count(&r, 1);
        const unsigned char *k = cd_nlu_r_bytes(&r, kl);
        double idf = cd_nlu_r_f64(&r);
        if (r.bad || !isfinite(idf))
            return cd_error(err, CD_ERR_DATA, 0, "%s: %s: truncated or corrupt at entry %u",
                            name, F_FEAT, i);
        if (!kl || (k[0] != 'w' && k[0] != 'c'))
            return cd_error(err, CD_ERR_DATA, 0, "%s: %s: bad n-gram at entry %u", name,
                            F_FEAT, i);
        long id = cd_nlu_vocab_add(&f->vocab, (const char *)k, kl);
        if (id < 0)
            return cd_error(err, CD_ERR_SYSTEM, 0, "out of memory loading %s", name);
        if ((uint32_t)id != i)
            return cd_error(err, CD_ERR_DATA, 0, "%s: %s: duplicate n-gram at entry %u", name,
                            F_FEAT, i);
        f->idf[i] = idf;
    }
    if (r.left)
        return cd_error(err, CD_ERR_DATA, 0, "%s: %s: %zu unexpected trailing bytes", name,
                        F_FEAT, r.left);
    return 0;
}

static void clf_save(const cd_nlu_classifier *c, cd_nlu_wbuf *w)
{
    cd_nlu_w_bytes(w, MAGIC_CLF, 8);
    cd_nlu_w_u32(w, (uint32_t)c->n_classes);
    cd_nlu_w_u32(w, (uint32_t)c->n_feat);
    cd_nlu_w_u32(w, (uint32_t)c->prob_mode);
    cd_nlu_w_f64(w, c->scale);
    cd_nlu_w_u32(w, (uint32_t)c->n_rows);
    for (int f = 0; f < c->n_feat; f++)
        cd_nlu_w_u32(w, c->row[f]);
    size_t n = (size_t)(c->n_rows + 1) * (size_t)c->n_classes;
    for (size_t i = 0; i < n; i++)
        cd_nlu_w_f32(w, c->w[i]);
}

static int clf_load(cd_nlu_classifier *c, const unsigned char *buf, size_t len, const char *name,
                    size_t n_classes, size_t n_feat, cd_error_t *err)
{
    cd_nlu_rbuf r = {buf, len, false};
    const unsigned char *mg = cd_nlu_r_bytes(&r, 8);
    if (!mg || memcmp(mg, MAGIC_CLF, 8))
        return cd_error(err, CD_ERR_DATA, 0, "%s: %s is not an intent classifier file", name,
                        F_CLF);
    uint32_t k = cd_nlu_r_u32(&r), nf = cd_nlu_r_u32(&r), pm = cd_nlu_r_u32(&r);
    c->scale = cd_nlu_r_f64(&r);
    if (r.bad || k != n_classes || nf != n_feat || pm > CD_CLF_LOGISTIC || !isfinite(c->scale))
        return cd_error(err, CD_ERR_DATA, 0,
                        "%s: %s does not match the metadata (%u classes, %u features)", name,
                        F_CLF, k, nf);
    uint32_t nr = cd_nlu_r_u32(&r);
    if (r.bad || nr > nf || r.left < (size_t)nf * 4)
        return cd_error(err, CD_ERR_DATA, 0, "%s: %s: %u weight rows for %u features", name,
                        F_CLF, nr, nf);
    size_t n = ((size_t)nr + 1) * k;
    if (r.left != (size_t)nf * 4 + n * 4)
        return cd_error(err, CD_ERR_DATA, 0, "%s: %s: %zu bytes of weights, expected %zu", name,
                        F_CLF, r.left - (size_t)nf * 4, n * 4);
    c->n_classes = (int)k;
    c->n_feat = (int)nf;
    c->n_rows = (int)nr;
    c->prob_mode = (int)pm;
    if (!(c->row = malloc(((size_t)nf + 1) * sizeof(*c->row))) ||
        !(c->w = malloc((n ? n : 1) * sizeof(float))))
        return cd_error(err, CD_ERR_SYSTEM, 0, "out of memory loading %s", name);
    for (uint32_t f = 0; f < nf; f++)
        if ((c->row[f] = cd_nlu_r_u32(&r)) >= nr)
            return cd_error(err, CD_ERR_DATA, 0,
                            "%s: %s: feature %u points at weight row %u of %u", name, F_CLF, f,
                            c->row[f], nr);
    c->row[nf] = nr; /* the bias */
    for (size_t i = 0; i < n; i++) {
        c->w[i] = cd_nlu_r_f32(&r);
        if (!isfinite(c->w[i]))
            return cd_error(err, CD_ERR_DATA, 0, "%s: %s: weight %zu is not a number", name,
                            F_CLF, i);
    }
    return 0;
}

/* ---- checksums ------------------------------------------------------------------------ */

/* metadata.json lists every component with its SHA-256: a flipped bit that still decodes to
 * plausible weights is caught here, not served as a model */
static void sha256_hex(const void *buf, size_t len, char out[65])
{
    struct sha256_ctx h;
    uint8_t d[SHA256_DIGEST_SIZE];
    sha256_init(&h);
    sha256_update(&h, len, buf);
    sha256_digest(&h, sizeof(d), d);
    for (int i = 0; i < SHA256_DIGEST_SIZE; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static int add_checksum(json_t *comps, const char *name, const void *buf, size_t len)
{
    char hex[65];
    sha256_hex(buf, len, hex);
    return json_object_set_new(comps, name, json_pack("{s:s, s:I}", "sha256", hex, "bytes",
                                                      (json_int_t)len));
}

static int verify(const json_t *meta, const char *name, const char *comp, const void *buf,
                  size_t len, cd_error_t *err)
{
    json_t *c = json_object_get(json_object_get(meta, "components"), comp);
    const char *want = json_string_value(json_object_get(c, "sha256"));
    if (!want)
        return cd_error(err, CD_ERR_DATA, 0, "%s: metadata.json has no checksum for %s", name,
                        comp);
    char hex[65];
    sha256_hex(buf, len, hex);
    if (strcmp(hex, want))
        return cd_error(err, CD_ERR_DATA, 0, "%s: %s is corrupt (SHA-256 mismatch)", name, comp);
    return 0;
}

/* ---- save ----------------------------------------------------------------------------- */

static int add_entry(struct archive *a, const char *path, const void *data, size_t len,
                     time_t mtime)
{
    struct archive_entry *e = archive_entry_new();
    if (!e)
        return -1;
    archive_entry_set_pathname(e, path);
    archive_entry_set_size(e, (la_int64_t)len);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_mtime(e, mtime, 0);
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
    int rc = archive_write_header(a, e) == ARCHIVE_OK &&
                     (len == 0 || archive_write_data(a, data, len) == (la_ssize_t)len)
                 ? 0
                 : -1;
    archive_entry_free(e);
    return rc;
}

static time_t meta_time(const cd_nlu_model *m)
{
    const char *s = json_string_value(json_object_get(m->meta, "trained_at"));
    struct tm tm = {0};
    if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm))
        return 0;
    return timegm(&tm);
}

int cd_nlu_model_save(const cd_nlu_model *m, const char *path, cd_error_t *err)
{
    cd_nlu_wbuf wf = {0}, wc = {0};
    unsigned char *tag = NULL;
    size_t tag_len = 0;
    char *meta = NULL;
    struct archive *a = NULL;
    int rc = -1;
    json_t *mj = NULL, *comps = NULL;
    feat_save(&m->feat, &wf);
    clf_save(&m->clf, &wc);
    if (m->tagger && cd_nlu_tagger_save(m->tagger, &tag, &tag_len, err))
        goto out;
    if (wf.oom || wc.oom || !(mj = json_deep_copy(m->meta)) || !(comps = json_object()) ||
        add_checksum(comps, F_FEAT, wf.buf, wf.len) || add_checksum(comps, F_CLF, wc.buf, wc.len) ||
        (tag && add_checksum(comps, F_TAG, tag, tag_len)) ||
        json_object_set(mj, "components", comps) ||
        !(meta = json_dumps(mj, JSON_INDENT(2) | JSON_SORT_KEYS))) {
        json_decref(mj);
        json_decref(comps);
        cd_error(err, CD_ERR_SYSTEM, 0, "out of memory saving the model");
        goto out;
    }
    json_decref(mj);
    json_decref(comps);
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        cd_error(err, CD_ERR_USAGE, 0, "model path too long: %s", path);
        goto out;
    }
    time_t mt = meta_time(m);
    a = archive_write_new();
    if (!a || archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
        archive_write_set_format_ustar(a) != ARCHIVE_OK ||
        archive_write_set_options(a, "gzip:!timestamp,gzip:compression-level=1") != ARCHIVE_OK) {
        cd_error(err, CD_ERR_SYSTEM, 0, "libarchive: %s",
                 a ? archive_error_string(a) : "out of memory");
        goto out;
    }
    if (archive_write_open_filename(a, tmp) != ARCHIVE_OK) {
        cd_error(err, CD_ERR_USAGE, archive_errno(a), "cannot write %s: %s", tmp,
                 archive_error_string(a));
        goto out;
    }
    if (add_entry(a, F_META, meta, strlen(meta), mt) ||
        add_entry(a, F_FEAT, wf.buf, wf.len, mt) || add_entry(a, F_CLF, wc.buf, wc.len, mt) ||
        (tag && add_entry(a, F_TAG, tag, tag_len, mt)) || archive_write_close(a) != ARCHIVE_OK) {
        cd_error(err, CD_ERR_SYSTEM, archive_errno(a), "writing %s: %s", tmp,
                 archive_error_string(a) ? archive_error_string(a) : "failed");
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, path)) {
        cd_error(err, CD_ERR_USAGE, errno, "cannot rename %s to %s: %s", tmp, path,
                 strerror(errno));
        unlink(tmp);
        goto out;
    }
    rc = 0;
out:
    if (a)
        archive_write_free(a);
    free(wf.buf);
    free(wc.buf);
    free(tag);
    free(meta);
    return rc;
}

/* ---- load ----------------------------------------------------------------------------- */

typedef struct {
    unsigned char *meta, *feat, *clf, *tag;
    size_t meta_len, feat_len, clf_len, tag_len;
    bool rasa2; /* fingerprint.json: a Rasa 2.x model */
} entries_t;

static void entries_done(entries_t *e)
{
    free(e->meta);
    free(e->feat);
    free(e->clf);
    free(e->tag);
}

static int read_entries(struct archive *a, const char *name, entries_t *out, cd_error_t *err)
{
    struct archive_entry *e;
    size_t total = 0;
    for (;;) {
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            return 0;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
            return cd_error(err, CD_ERR_DATA, 0, "%s: not a readable tar.gz model archive: %s",
                            name, archive_error_string(a) ? archive_error_string(a) : "corrupt");
        const char *p = archive_entry_pathname(e);
        if (!p)
            continue;
        if (!strncmp(p, "./", 2))
            p += 2;
        unsigned char **dst = NULL;
        size_t *dlen = NULL;
        if (!strcmp(p, F_META))
            dst = &out->meta, dlen = &out->meta_len;
        else if (!strcmp(p, F_FEAT))
            dst = &out->feat, dlen = &out->feat_len;
        else if (!strcmp(p, F_CLF))
            dst = &out->clf, dlen = &out->clf_len;
        else if (!strcmp(p, F_TAG))
            dst = &out->tag, dlen = &out->tag_len;
        else if (!strcmp(p, "fingerprint.json"))
            out->rasa2 = true;
        if (!dst || archive_entry_filetype(e) != AE_IFREG)
            continue; /* other entries are not ours: skipped, not read */
        if (*dst)
            return cd_error(err, CD_ERR_DATA, 0, "%s: %s appears twice", name, p);
        la_int64_t sz = archive_entry_size(e);
        if (sz < 0 || (uint64_t)sz > CD_MAX_MODEL_ENTRY || total + (size_t)sz > CD_MAX_MODEL_ENTRY)
            return cd_error(err, CD_ERR_DATA, 0, "%s: %s is too large (%lld bytes)", name, p,
                            (long long)sz);
        total += (size_t)sz;
        *dst = malloc((size_t)sz + 1);
        if (!*dst)
            return cd_error(err, CD_ERR_SYSTEM, 0, "out of memory loading %s", name);
        la_ssize_t got = 0;
        while (got < sz) {
            la_ssize_t k = archive_read_data(a, *dst + got, (size_t)(sz - got));
            if (k < 0)
                return cd_error(err, CD_ERR_DATA, 0, "%s: %s: %s", name, p,
                                archive_error_string(a) ? archive_error_string(a) : "corrupt");
            if (k == 0)
                return cd_error(err, CD_ERR_DATA, 0, "%s: %s is truncated", name, p);
            got += k;
        }
        (*dst)[sz] = 0;
        *dlen = (size_t)sz;
    }
}

static int check_meta(cd_nlu_model *m, const entries_t *e, const char *name, cd_error_t *err)
{
    if (e->rasa2 && !e->meta)
        return cd_error(err, CD_ERR_DATA, 0,
                        "%s: a Rasa 2.x model (fingerprint.json), not a conductor-nlu model", name);
    if (!e->meta)
        return cd_error(err, CD_ERR_DATA, 0, "%s: no metadata.json: not a conductor-nlu model",
                        name);
    json_error_t je;
    m->meta = json_loadb((const char *)e->meta, e->meta_len, JSON_REJECT_DUPLICATES, &je);
    if (!m->meta || !json_is_object(m->meta))
        return cd_error(err, CD_ERR_DATA, 0, "%s: metadata.json:%d:%d: %s", name, je.line,
                        je.column, m->meta ? "not an object" : je.text);
    const char *fmt = json_string_value(json_object_get(m->meta, "format"));
    if (!fmt) {
        if (json_object_get(m->meta, "rasa_open_source_version"))
            return cd_error(err, CD_ERR_DATA, 0,
                            "%s: a Rasa model archive, not a conductor-nlu model", name);
        return cd_error(err, CD_ERR_DATA, 0, "%s: metadata.json has no `format`: not a "
                                             "conductor-nlu model", name);
    }
    if (strcmp(fmt, CD_NLU_MODEL_FORMAT))
        return cd_error(err, CD_ERR_DATA, 0, "%s: format `%s` is not %s", name, fmt,
                        CD_NLU_MODEL_FORMAT);
    json_t *fv = json_object_get(m->meta, "format_version");
    if (!json_is_integer(fv) || json_integer_value(fv) != CD_NLU_MODEL_FORMAT_VERSION)
        return cd_error(err, CD_ERR_DATA, 0,
                        "%s: model format version %lld is not supported (this build reads %d); "
                        "retrain the model", name,
                        json_is_integer(fv) ? (long long)json_integer_value(fv) : -1LL,
                        CD_NLU_MODEL_FORMAT_VERSION);
    if (cd_nlu_config_from_json(json_object_get(m->meta, "config"), &m->cfg, err))
        return cd_error_wrap(err, "%s", name);
    json_t *in = json_object_get(json_object_get(m->meta, "labels"), "intents");
    if (!json_is_array(in) || json_array_size(in) < 2)
        return cd_error(err, CD_ERR_DATA, 0, "%s: metadata.json: labels.intents must list at "
                                             "least 2 intents", name);
    m->n_intents = 0;
    m->intents = calloc(json_array_size(in) + 1, sizeof(char *));
    if (!m->intents)
        return cd_error(err, CD_ERR_SYSTEM, 0, "out of memory loading %s", name);
    for (size_t i = 0; i < json_array_size(in); i++) {
        const char *s = json_string_value(json_array_get(in, i));
        if (!s || (i && strcmp(m->intents[i - 1], s) >= 0))
            return cd_error(err, CD_ERR_DATA, 0,
                            "%s: metadata.json: labels.intents must be sorted unique strings",
                            name);
        if (!(m->intents[m->n_intents++] = strdup(s)))
            return cd_error(err, CD_ERR_SYSTEM, 0, "out of memory loading %s", name);
    }
    return 0;
}

cd_nlu_model *cd_nlu_model_load_mem(const void *buf, size_t len, const char *name,
                                    cd_error_t *err)
{
    cd_nlu_model *m = calloc(1, sizeof(*m));
    entries_t e = {0};
    struct archive *a = archive_read_new();
    int ok = 0;
    if (!m || !a) {
        cd_error(err, CD_ERR_SYSTEM, 0, "out of memory loading %s", name);
        goto out;
    }
    archive_read_support_filter_gzip(a);
    archive_read_support_format_tar(a);
    if (archive_read_open_memory(a, buf, len) != ARCHIVE_OK) {
        cd_error(err, CD_ERR_DATA, 0, "%s: not a tar.gz model archive: %s", name,
                 archive_error_string(a) ? archive_error_string(a) : "unrecognised format");
        goto out;
    }
    if (read_entries(a, name, &e, err) || check_meta(m, &e, name, err))
        goto out;
    if (!e.feat || !e.clf) {
        cd_error(err, CD_ERR_DATA, 0, "%s: incomplete model: %s missing", name,
                 !e.feat ? F_FEAT : F_CLF);
        goto out;
    }
    if (verify(m->meta, name, F_FEAT, e.feat, e.feat_len, err) ||
        verify(m->meta, name, F_CLF, e.clf, e.clf_len, err) ||
        (e.tag && verify(m->meta, name, F_TAG, e.tag, e.tag_len, err)))
        goto out;
    if (!e.tag && json_object_get(json_object_get(m->meta, "components"), F_TAG)) {
        cd_error(err, CD_ERR_DATA, 0, "%s: incomplete model: %s missing", name, F_TAG);
        goto out;
    }
    if (feat_load(&m->feat, e.feat, e.feat_len, name, err) ||
        clf_load(&m->clf, e.clf, e.clf_len, name, m->n_intents, m->feat.vocab.n, err))
        goto out;
    if (e.tag && !(m->tagger = cd_nlu_tagger_load(e.tag, e.tag_len, m->n_intents, err))) {
        cd_error_wrap(err, "%s: %s", name, F_TAG);
        goto out;
    }
    ok = 1;
out:
    if (a)
        archive_read_free(a);
    entries_done(&e);
    if (!ok) {
        cd_nlu_model_free(m);
        return NULL;
    }
    return m;
}

cd_nlu_model *cd_nlu_model_load(const char *path, cd_error_t *err)
{
    cd_strbuf sb = CD_STRBUF_INIT;
    if (cd_strbuf_read_file(&sb, path, CD_MAX_MODEL_ENTRY)) {
        int e = errno;
        cd_strbuf_done(&sb);
        return cd_error(err, e == E2BIG ? CD_ERR_DATA : CD_ERR_USAGE, e, "%s: %s", path,
                        e == E2BIG ? "model archive too large" : strerror(e)),
               NULL;
    }
    cd_nlu_model *m = cd_nlu_model_load_mem(sb.buf ? sb.buf : "", sb.len, path, err);
    cd_strbuf_done(&sb);
    return m;
}
