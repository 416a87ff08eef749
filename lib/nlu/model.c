/* Training and parsing: tokenizer → TF-IDF → LIBLINEAR intent classifier → fallback, and the
 * entity tagger. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <time.h>

#include <nettle/sha2.h>

#include "nlu/model-internal.h"
#include "nlu/utf8.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static long find_intent(char *const *intents, size_t n, const char *name)
{
    char *const *p = bsearch(&name, intents, n, sizeof(char *), cmp_str);
    return p ? (long)(p - intents) : -1;
}

/* the distinct intents of d, sorted */
static int collect_intents(const cd_nlu_data *d, cd_nlu_model *m, cd_error_t *err)
{
    const char **all = malloc((d->n_examples + 1) * sizeof(*all));
    if (!all)
        return cd_error(err, CD_ERR_SYSTEM, 0, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < d->n_examples; i++)
        if (d->examples[i].intent && *d->examples[i].intent)
            all[n++] = d->examples[i].intent;
    qsort(all, n, sizeof(*all), cmp_str);
    m->intents = calloc(n + 1, sizeof(char *));
    if (!m->intents) {
        free(all);
        return cd_error(err, CD_ERR_SYSTEM, 0, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        if (!i || strcmp(all[i], all[i - 1]))
            if (!(m->intents[m->n_intents++] = strdup(all[i]))) {
                free(all);
                return cd_error(err, CD_ERR_SYSTEM, 0, "out of memory");
            }
    free(all);
    if (m->n_intents < 2)
        return cd_error(err, CD_ERR_DATA, 0,
                        "training needs at least 2 intents with examples, the data has %zu",
                        m->n_intents);
    return 0;
}

static void init_featurizer(cd_nlu_featurizer *f, const cd_nlu_config *cfg)
{
    memset(f, 0, sizeof(*f));
    f->wmin = cfg->word_ngram_min;
    f->wmax = cfg->word_ngram_max;
    f->cmin = cfg->char_ngram_min;
    f->cmax = cfg->char_ngram_max;
    f->sublinear = cfg->sublinear_tf;
    snprintf(f->stemmer, sizeof(f->stemmer), "%s", cfg->stemmer);
    f->word_weight = 1.0;
    f->char_weight = 1.0;
}

static int copy_config(cd_nlu_config *dst, const cd_nlu_config *src)
{
    *dst = *src;
    dst->source_json = NULL;
    if (src->source_json && !(dst->source_json = strdup(src->source_json)))
        return -1;
    return 0;
}

int cd_nlu_share_threads(size_t n, int want, int max, size_t min_share)
{
    if (want < 1) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        want = cpus < 1 ? 1 : cpus > max ? max : (int)cpus;
    }
    int k = want < max ? want : max;
    while (k > 1 && n / (size_t)k < min_share)
        k--;
    return k < 1 ? 1 : k;
}

bool cd_nlu_beside(pthread_t *t, void *(*fn)(void *), void *arg)
{
    if (pthread_create(t, NULL, fn, arg) == 0)
        return true;
    fn(arg);
    return false;
}

/* The entity tagger needs only the tokens and intents, not the classifier: it trains on a
 * second thread while the main one fits TF-IDF and LIBLINEAR. Both are deterministic (the
 * tagger shuffles with its own seeded generator, LIBLINEAR with rand()), so the archive does
 * not depend on the scheduling, nor on whether the tagger ran first (tagger_beside false). */
typedef struct {
    const cd_nlu_data *d;
    const cd_nlu_tokens *toks;
    const int *y;
    size_t n_intents;
    int epochs;
    unsigned seed;
    cd_nlu_tagger *out;
    cd_error_t err;
} tagger_job;

static void *tagger_run(void *arg)
{
    tagger_job *j = arg;
    j->out = cd_nlu_tagger_train(j->d, j->toks, j->y, j->n_intents, j->epochs, j->seed, &j->err);
    cd_nlu_tagger_thread_done();
    return NULL;
}

/* Rows [from, to) of the classifier's training matrix. The first half is vectorised on a
 * helper thread while the main thread does the second: vectorising is on the path to
 * LIBLINEAR's (one-threaded) solve, the tagger thread only fills the other core. */
typedef struct {
    const cd_nlu_featurizer *f;
    const cd_nlu_tokens *xt;
    struct feature_node **rows;
    size_t from, to;
    int rc;
} rows_job;

static void *rows_run(void *arg)
{
    rows_job *j = arg;
    cd_nlu_feat_scratch s = {.sorted = 1};
    j->rc = 0;
    for (size_t i = j->from; i < j->to && !j->rc; i++) {
        long k = cd_nlu_feat_vector(j->f, &j->xt[i], &s);
        if (k < 0 || !(j->rows[i] = malloc(((size_t)k + 1) * sizeof(**j->rows))))
            j->rc = -1;
        else
            memcpy(j->rows[i], s.out, ((size_t)k + 1) * sizeof(**j->rows));
    }
    cd_nlu_feat_scratch_done(&s);
    return NULL;
}

static cd_nlu_model *train_model(const cd_nlu_data *d, const cd_nlu_config *cfg, unsigned seed,
                                 bool tagger_beside, cd_error_t *err)
{
    cd_nlu_config defaults;
    if (!cfg) {
        cd_nlu_config_default(&defaults);
        cfg = &defaults;
    }
    cd_nlu_model *m = calloc(1, sizeof(*m));
    cd_nlu_tokens *toks = NULL;
    int *y = NULL;
    struct feature_node **rows = NULL;
    size_t n = d->n_examples;
    int ok = 0;
    tagger_job tj = {0};
    pthread_t tid;
    bool threaded = false;
    if (!m || copy_config(&m->cfg, cfg)) {
        cd_error(err, CD_ERR_SYSTEM, 0, "out of memory");
        goto out;
    }
    if (collect_intents(d, m, err))
        goto out;
    toks = calloc(n + 1, sizeof(*toks));
    y = calloc(n + 1, sizeof(*y));
    rows = calloc(n + 1, sizeof(*rows));
    if (!toks || !y || !rows)
        goto oom;
    /* examples without an intent still train the tagger; the classifier skips them */
    size_t nx = 0;
    for (size_t i = 0; i < n; i++) {
        if (cd_nlu_tokenize(d->examples[i].text, &toks[i]))
            goto oom;
        const char *in = d->examples[i].intent;
        y[i] = in ? (int)find_intent(m->intents, m->n_intents, in) : -1;
    }
    tj = (tagger_job){d, toks, y, m->n_intents, m->cfg.tagger_epochs, seed, NULL, {0}};
    threaded = tagger_beside ? cd_nlu_beside(&tid, tagger_run, &tj) : (tagger_run(&tj), false);
    cd_nlu_tokens *xt = calloc(n + 1, sizeof(*xt));
    int *xy = calloc(n + 1, sizeof(*xy));
    if (!xt || !xy) {
        free(xt);
        free(xy);
        goto oom;
    }
    for (size_t i = 0; i < n; i++)
        if (y[i] >= 0) {
            xt[nx] = toks[i];
            xy[nx++] = y[i];
        }
    init_featurizer(&m->feat, &m->cfg);
    if (cd_nlu_feat_fit(&m->feat, xt, nx)) {
        free(xt);
        free(xy);
        goto oom;
    }
    rows_job half[2] = {{&m->feat, xt, rows, 0, nx / 2, 0}, {&m->feat, xt, rows, nx / 2, nx, 0}};
    pthread_t rt;
    /* a small set is not worth a thread */
    bool rthreaded = nx >= 1000 ? cd_nlu_beside(&rt, rows_run, &half[0]) : (rows_run(&half[0]), false);
    rows_run(&half[1]);
    if (rthreaded)
        pthread_join(rt, NULL);
    if (half[0].rc || half[1].rc) {
        free(xt);
        free(xy);
        goto oom;
    }
    free(xt);
    int rc = cd_nlu_clf_train(&m->clf, rows, true, xy, nx, (int)m->feat.vocab.n, (int)m->n_intents,
                              m->cfg.intent_solver, m->cfg.intent_c, seed, err);
    free(xy);
    if (rc)
        goto out;
    if (threaded) {
        pthread_join(tid, NULL);
        threaded = false;
    }
    m->tagger = tj.out;
    tj.out = NULL;
    if (tj.err.kind != CD_ERR_NONE) {
        cd_error(err, tj.err.kind, tj.err.errnum, "%s", cd_error_msg(&tj.err));
        goto out;
    }
    if (cd_nlu_model_build_meta(m, d, seed, err))
        goto out;
    ok = 1;
    goto out;
oom:
    cd_error(err, CD_ERR_SYSTEM, 0, "out of memory while training");
out:
    if (threaded) /* an early exit: the tagger still reads toks */
        pthread_join(tid, NULL);
    cd_nlu_tagger_free(tj.out);
    cd_error_clear(&tj.err);
    if (toks)
        for (size_t i = 0; i < n; i++)
            cd_nlu_tokens_done(&toks[i]);
    if (rows)
        for (size_t i = 0; i < n; i++)
            free(rows[i]);
    free(toks);
    free(rows);
    free(y);
    if (cfg == &defaults)
        cd_nlu_config_done(&defaults);
    if (!ok) {
        cd_nlu_model_free(m);
        return NULL;
    }
    return m;
}

cd_nlu_model *cd_nlu_train(const cd_nlu_data *d, const cd_nlu_config *cfg, unsigned seed,
                           cd_error_t *err)
{
    return train_model(d, cfg, seed, true, err);
}

cd_nlu_model *cd_nlu_train_tagger_first(const cd_nlu_data *d, const cd_nlu_config *cfg,
                                        unsigned seed, cd_error_t *err)
{
    return train_model(d, cfg, seed, false, err);
}

void cd_nlu_model_free(cd_nlu_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_intents; i++)
        free(m->intents[i]);
    free(m->intents);
    cd_nlu_feat_done(&m->feat);
    cd_nlu_clf_done(&m->clf);
    cd_nlu_tagger_free(m->tagger);
    cd_nlu_config_done(&m->cfg);
    json_decref(m->meta);
    free(m);
}

const json_t *cd_nlu_model_metadata(const cd_nlu_model *m)
{
    return m->meta;
}

/* ---- metadata ---------------------------------------------------------------------------- */

/* trained_at must not be the wall clock (same inputs → same bytes): SOURCE_DATE_EPOCH when
 * set (reproducible-builds.org), else the newest modification time of the data files. */
static time_t training_time(const cd_nlu_data *d)
{
    const char *sde = getenv("SOURCE_DATE_EPOCH");
    if (sde && *sde) {
        char *end;
        long long v = strtoll(sde, &end, 10);
        if (!*end && v >= 0)
            return (time_t)v;
    }
    time_t t = 0;
    for (size_t i = 0; i < d->n_files; i++) {
        struct stat st;
        if (d->files[i] && !stat(d->files[i], &st) && st.st_mtime > t)
            t = st.st_mtime;
    }
    return t;
}

int cd_nlu_model_build_meta(cd_nlu_model *m, const cd_nlu_data *d, unsigned seed,
                            cd_error_t *err)
{
    char fp[65];
    if (cd_nlu_data_fingerprint(d, fp, err))
        return -1;
    json_t *cfg = cd_nlu_config_to_json(&m->cfg);
    char *cfg_s = cfg ? json_dumps(cfg, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
    if (!cfg_s) {
        json_decref(cfg);
        return cd_error(err, CD_ERR_SYSTEM, 0, "out of memory");
    }
    /* the model id names the inputs (data, config, seed, format), so it is reproducible */
    struct sha256_ctx h;
    uint8_t dig[SHA256_DIGEST_SIZE];
    char id[33], seed_s[32];
    snprintf(seed_s, sizeof(seed_s), "|%u|%d|", seed, CD_NLU_MODEL_FORMAT_VERSION);
    sha256_init(&h);
    sha256_update(&h, strlen(fp), (const uint8_t *)fp);
    sha256_update(&h, strlen(seed_s), (const uint8_t *)seed_s);
    sha256_update(&h, strlen(cfg_s), (const uint8_t *)cfg_s);
    sha256_digest(&h, sizeof(dig), dig);
    for (int i = 0; i < 16; i++)
        snprintf(id + 2 * i, 3, "%02x", dig[i]);
    free(cfg_s);

    time_t t = training_time(d);
    struct tm tm;
    char when[32];
    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);

    json_t *intents = json_array();
    for (size_t i = 0; i < m->n_intents; i++)
        json_array_append_new(intents, json_string(m->intents[i]));
    json_t *entities = m->tagger ? cd_nlu_tagger_labels_json(m->tagger) : json_array();
    size_t n_ent = 0;
    for (size_t i = 0; i < d->n_examples; i++)
        n_ent += d->examples[i].n_entities;
    json_decref(m->meta);
    m->meta = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:I, s:o, s:{s:o, s:o}, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}}",
                        "format", CD_NLU_MODEL_FORMAT,
                        "format_version", CD_NLU_MODEL_FORMAT_VERSION,
                        "version", CD_VERSION,
                        "trained_at", when,
                        "model_id", id,
                        "fingerprint", fp,
                        "seed", (json_int_t)seed,
                        "config", cfg,
                        "labels", "intents", intents, "entities", entities,
                        "counts",
                        "examples", (json_int_t)d->n_examples,
                        "intents", (json_int_t)m->n_intents,
                        "entity_annotations", (json_int_t)n_ent,
                        "synonyms", (json_int_t)d->n_synonyms,
                        "regexes", (json_int_t)d->n_regexes,
                        "lookups", (json_int_t)d->n_lookups,
                        "features", (json_int_t)m->feat.vocab.n);
    if (!m->meta)
        return cd_error(err, CD_ERR_SYSTEM, 0, "cannot build the model metadata");
    /* per-intent training examples: the report's paper trail shows them beside the scores */
    json_t *per_intent = json_object();
    for (size_t k = 0; per_intent && k < m->n_intents; k++) {
        json_int_t c = 0;
        for (size_t i = 0; i < d->n_examples; i++)
            if (d->examples[i].intent && strcmp(d->examples[i].intent, m->intents[k]) == 0)
                c++;
        json_object_set_new(per_intent, m->intents[k], json_integer(c));
    }
    json_object_set_new(m->meta, "intent_examples", per_intent);
    if (m->tagger)
        json_object_set_new(json_object_get(m->meta, "counts"), "tagger_features",
                            json_integer((json_int_t)cd_nlu_tagger_n_features(m->tagger)));
    return 0;
}

/* ---- parsing ---------------------------------------------------------------------------- */

static int cmp_score(const void *a, const void *b)
{
    const cd_nlu_intent_score *x = a, *y = b;
    if (x->confidence != y->confidence)
        return x->confidence < y->confidence ? 1 : -1;
    return strcmp(x->name, y->name);
}

/* per-thread scratch: parsing stays thread-safe without allocating it every call */
static __thread cd_nlu_feat_scratch tls_scratch;

void cd_nlu_thread_done(void)
{
    cd_nlu_feat_scratch_done(&tls_scratch);
    memset(&tls_scratch, 0, sizeof(tls_scratch));
    cd_nlu_clf_thread_done();
    cd_nlu_tagger_thread_done();
}

int cd_nlu_parse(const cd_nlu_model *m, const char *text, cd_nlu_parse_result *out,
                 cd_error_t *err)
{
    memset(out, 0, sizeof(*out));
    size_t bad;
    if (!cd_utf8_valid(text, strlen(text), &bad))
        return cd_error(err, CD_ERR_DATA, 0, "text is not valid UTF-8 (byte %zu)", bad);
    cd_nlu_tokens t = {0};
    cd_nlu_feat_scratch *s = &tls_scratch;
    cd_nlu_intent_score *all = NULL;
    double *dec = NULL;
    int rc = -1;
    if (!(out->text = strdup(text)) || cd_nlu_tokenize(text, &t) ||
        cd_nlu_feat_vector(&m->feat, &t, s) < 0 ||
        !(dec = malloc(m->n_intents * sizeof(*dec))) ||
        !(all = malloc(m->n_intents * sizeof(*all))))
        goto oom;
    cd_nlu_clf_decision(&m->clf, s->out, dec);
    cd_nlu_clf_probs(&m->clf, dec);
    /* the best CD_NLU_RANKING_LENGTH by insertion: cheaper than sorting every intent */
    size_t k = 0;
    for (size_t i = 0; i < m->n_intents; i++) {
        cd_nlu_intent_score sc = {m->intents[i], dec[i]};
        if (k == CD_NLU_RANKING_LENGTH && cmp_score(&sc, &all[k - 1]) >= 0)
            continue;
        size_t j = k < CD_NLU_RANKING_LENGTH ? k++ : k - 1;
        while (j > 0 && cmp_score(&sc, &all[j - 1]) < 0) {
            all[j] = all[j - 1];
            j--;
        }
        all[j] = sc;
    }
    if (!(out->ranking = calloc(k + 1, sizeof(*out->ranking))))
        goto oom;
    for (size_t i = 0; i < k; i++) {
        out->ranking[i].confidence = all[i].confidence;
        if (!(out->ranking[i].name = strdup(all[i].name)))
            goto oom;
        out->n_ranking++;
    }
    long best = find_intent(m->intents, m->n_intents, all[0].name);
    out->intent.confidence = all[0].confidence;
    if (!(out->intent.name = strdup(all[0].name)))
        goto oom;
    if (cd_nlu_fallback_apply(&m->cfg, out))
        goto oom;
    if (m->tagger && t.n &&
        cd_nlu_tagger_tag(m->tagger, text, &t, (int)best, &out->entities, &out->n_entities, err))
        goto out;
    rc = 0;
    goto out;
oom:
    cd_error(err, CD_ERR_SYSTEM, 0, "out of memory while parsing");
out:
    cd_nlu_tokens_done(&t);
    free(dec);
    free(all);
    if (rc)
        cd_nlu_parse_result_done(out);
    return rc;
}

void cd_nlu_parse_result_done(cd_nlu_parse_result *r)
{
    free(r->text);
    free(r->intent.name);
    for (size_t i = 0; i < r->n_ranking; i++)
        free(r->ranking[i].name);
    free(r->ranking);
    for (size_t i = 0; i < r->n_entities; i++) {
        cd_nlu_entity *e = &r->entities[i];
        free(e->value);
        free(e->entity);
        free(e->role);
        free(e->group);
    }
    free(r->entities);
    memset(r, 0, sizeof(*r));
}

/* o[key] = v; false when o or v is NULL (out of memory, invalid UTF-8) or setting fails.
 * Takes v in every case (json_object_set_new releases it itself when it fails). */
static bool put(json_t *o, const char *key, json_t *v)
{
    if (!o) {
        json_decref(v);
        return false;
    }
    return v && json_object_set_new_nocheck(o, key, v) == 0;
}

static json_t *entity_json(const cd_nlu_entity *e)
{
    json_t *x = json_object();
    bool ok = put(x, "entity", json_string(e->entity)) &&
              put(x, "start", json_integer(e->start)) && put(x, "end", json_integer(e->end)) &&
              put(x, "confidence_entity", json_real(e->confidence)) &&
              put(x, "value", json_string(e->value)) &&
              put(x, "extractor", json_string(CD_NLU_EXTRACTOR)) &&
              (!e->role || put(x, "role", json_string(e->role))) &&
              (!e->group || put(x, "group", json_string(e->group)));
    if (!ok) {
        json_decref(x);
        return NULL;
    }
    return x;
}

/* appends r's entities from the from-th on to the array ents; -1 on OOM */
static int entities_json(json_t *ents, const cd_nlu_parse_result *r, size_t from)
{
    for (size_t i = from; i < r->n_entities; i++)
        if (json_array_append_new(ents, entity_json(&r->entities[i])))
            return -1;
    return 0;
}

/* Sets an entity object of entity_json's six keys to e in place (same key order, so the same
 * dump); -1 when x has other keys or e a role or group: the caller builds a new object. */
static int entity_set(json_t *x, const cd_nlu_entity *e)
{
    if (e->role || e->group || json_object_size(x) != 6)
        return -1;
    json_t *en = json_object_get(x, "entity"), *st = json_object_get(x, "start"),
           *ed = json_object_get(x, "end"), *cf = json_object_get(x, "confidence_entity"),
           *va = json_object_get(x, "value");
    if (!json_is_string(en) || !json_is_integer(st) || !json_is_integer(ed) || !json_is_real(cf) ||
        !json_is_string(va) || !json_object_get(x, "extractor"))
        return -1;
    return json_string_set(en, e->entity) || json_integer_set(st, e->start) ||
                   json_integer_set(ed, e->end) || json_real_set(cf, e->confidence) ||
                   json_string_set(va, e->value)
               ? -1
               : 0;
}

/* ents (the previous line's entities) becomes r's: objects reused in place where they fit,
 * so a parse allocates no JSON objects for entities in the common case */
static int entities_update(json_t *ents, const cd_nlu_parse_result *r)
{
    size_t i = 0;
    for (; i < r->n_entities && i < json_array_size(ents); i++)
        if (entity_set(json_array_get(ents, i), &r->entities[i]) &&
            json_array_set_new(ents, i, entity_json(&r->entities[i])))
            return -1;
    while (json_array_size(ents) > r->n_entities)
        if (json_array_remove(ents, json_array_size(ents) - 1))
            return -1;
    return entities_json(ents, r, i);
}

/* Built with json_object_set_new rather than json_pack: parse output is the CLI's hot path
 * and json_pack's format parsing was ~10% of a `conductor-nlu parse` run. */
json_t *cd_nlu_parse_result_json(const cd_nlu_parse_result *r)
{
    json_t *o = json_object(), *intent = json_object(), *ents = json_array(),
           *ranking = json_array();
    bool ok = o && intent && ents && ranking;
    ok = ok && put(intent, "name", r->intent.name ? json_string(r->intent.name) : json_null()) &&
         put(intent, "confidence", json_real(r->intent.name ? r->intent.confidence : 0.0));
    ok = ok && entities_json(ents, r, 0) == 0;
    for (size_t i = 0; ok && i < r->n_ranking; i++) {
        json_t *x = json_object();
        ok = put(x, "name", json_string(r->ranking[i].name)) &&
             put(x, "confidence", json_real(r->ranking[i].confidence));
        ok = json_array_append_new(ranking, ok ? x : (json_decref(x), NULL)) == 0 && ok;
    }
    ok = ok && put(o, "text", json_string(r->text ? r->text : ""));
    /* put takes its value also when it fails, so each container is handed over exactly once */
    ok = put(o, "intent", ok ? intent : (json_decref(intent), NULL)) && ok;
    ok = put(o, "entities", ok ? ents : (json_decref(ents), NULL)) && ok;
    ok = put(o, "intent_ranking", ok ? ranking : (json_decref(ranking), NULL)) && ok;
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Values are set in place, so the keys keep their order and the dump is the one a new object
 * gives; only the entities are rebuilt (their number and keys vary). */
int cd_nlu_parse_result_json_update(json_t *o, const cd_nlu_parse_result *r)
{
    json_t *text = json_object_get(o, "text"), *intent = json_object_get(o, "intent"),
           *ents = json_object_get(o, "entities"), *rank = json_object_get(o, "intent_ranking");
    json_t *name = json_object_get(intent, "name"), *conf = json_object_get(intent, "confidence");
    if (!r->intent.name || !json_is_string(text) || !json_is_string(name) || !json_is_real(conf) ||
        !json_is_array(ents) || !json_is_array(rank) || json_array_size(rank) != r->n_ranking)
        return -1;
    if (json_string_set(text, r->text ? r->text : "") || json_string_set(name, r->intent.name) ||
        json_real_set(conf, r->intent.confidence) || entities_update(ents, r))
        return -1;
    for (size_t i = 0; i < r->n_ranking; i++) {
        json_t *x = json_array_get(rank, i);
        json_t *n = json_object_get(x, "name"), *c = json_object_get(x, "confidence");
        if (!json_is_string(n) || !json_is_real(c) || json_string_set(n, r->ranking[i].name) ||
            json_real_set(c, r->ranking[i].confidence))
            return -1;
    }
    return 0;
}
