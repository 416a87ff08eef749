/* Cross-validation as `rasa test nlu --cross-validation` does it (rasa/nlu/test.py
 * cross_validate, generate_folds; rasa/model_testing.py perform_nlu_cross_validation), but
 * reproducible: the folds come from a seed instead of an unseeded StratifiedKFold. */
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Under a sanitizer, malloc is the sanitizer's: glibc's arenas are never set up, and
 * malloc_trim would set them up lazily from several fold threads at once (seen: a SEGV in
 * glibc's mtrim under ASan). Trim only when glibc's malloc is the one in use. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define CD_FOREIGN_MALLOC 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CD_FOREIGN_MALLOC 1
#endif

#include "nlu/eval.h"
#include "nlu/model-internal.h"

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int cmp_pstr(const void *a, const void *b)
{
    return strcmp(**(const char *const *const *)a, **(const char *const *const *)b);
}

/* sklearn StratifiedKFold (>= 0.22) with shuffle: sort the labels, deal them round-robin
 * to the folds to get per-class fold sizes (so remainders spread over folds), then shuffle
 * each class's fold numbers. */
int cd_nlu_folds_assign(const char *const *labels, size_t n, int k, unsigned seed, int *out,
                        cd_error_t *err)
{
    if (k < 2)
        return cd_error(err, CD_ERR_USAGE, 0, "cross-validation needs at least 2 folds");
    const char *const **order = malloc((n + 1) * sizeof(*order));
    int *folds = malloc((n + 1) * sizeof(int));
    if (!order || !folds) {
        free(order);
        free(folds);
        return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "assign folds: out of memory");
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        out[i] = -1;
        if (labels[i])
            order[m++] = &labels[i];
    }
    /* Stable order within a class: sort by label, then by position. */
    qsort(order, m, sizeof(*order), cmp_pstr);
    for (size_t a = 0; a < m;) {
        size_t b = a;
        while (b < m && !strcmp(*order[b], *order[a]))
            b++;
        /* Restore data order inside the class (qsort is not stable). */
        for (size_t x = a + 1; x < b; x++)
            for (size_t y = x; y > a && order[y] < order[y - 1]; y--) {
                const char *const *t = order[y];
                order[y] = order[y - 1];
                order[y - 1] = t;
            }
        a = b;
    }
    uint64_t rng = seed;
    for (size_t a = 0; a < m;) {
        size_t b = a;
        while (b < m && !strcmp(*order[b], *order[a]))
            b++;
        /* Positions a..b-1 of the sorted list are dealt to folds pos % k. */
        size_t c = 0;
        for (size_t pos = a; pos < b; pos++)
            folds[c++] = (int)(pos % (size_t)k);
        for (size_t i = c; i > 1; i--) {
            size_t j = (size_t)(splitmix(&rng) % i);
            int t = folds[i - 1];
            folds[i - 1] = folds[j];
            folds[j] = t;
        }
        for (size_t i = 0; i < c; i++)
            out[order[a + i] - labels] = folds[i];
        a = b;
    }
    free(order);
    free(folds);
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cd_nlu_cv_result_done(cd_nlu_cv_result *r)
{
    if (!r)
        return;
    free(r->train);
    free(r->test);
    free(r->ent_train);
    free(r->ent_test);
    for (size_t i = 0; i < r->n_dropped; i++)
        free(r->dropped[i]);
    free(r->dropped);
    memset(r, 0, sizeof(*r));
}

static void fold_metrics(const cd_nlu_eval_summary *s, cd_nlu_fold_metrics *in,
                         cd_nlu_fold_metrics *ent)
{
    *in = (cd_nlu_fold_metrics){s->accuracy, s->f1, s->precision};
    *ent = (cd_nlu_fold_metrics){s->entity_accuracy, s->entity_f1, s->entity_precision};
}

/* Evaluate model on view (examples idx[] of d), append to out, point gold at d. */
static int eval_view(const cd_nlu_model *m, const cd_nlu_data *d, const cd_nlu_data *view,
                     const size_t *idx, cd_nlu_eval_set *out, cd_error_t *err)
{
    size_t base = out->n;
    if (cd_nlu_eval_run(m, view, out, err) < 0)
        return -1;
    /* The view's example structs die with the view; the parent's live on. */
    for (size_t j = base; j < out->n; j++)
        out->items[j].gold = &d->examples[idx[j - base]];
    return 0;
}

typedef struct {
    const char *name;
    size_t count;
} intent_count;

static int cmp_ic(const void *a, const void *b)
{
    return strcmp(((const intent_count *)a)->name, ((const intent_count *)b)->name);
}

/* One fold: train on the other folds, predict both parts, summarise. */
typedef struct {
    const cd_nlu_data *d;
    const cd_nlu_config *cfg;
    const int *fold; /* per example, -1 = dropped */
    unsigned seed;
    int f;
    bool tagger_first; /* set by the pool when the fold is claimed */
    /* out */
    cd_nlu_eval_set test; /* held-out predictions, gold in d */
    cd_nlu_eval_summary s_tr, s_te;
    size_t ntr, nte;
    double train_s;
    int rc;
    cd_error_t err;
} fold_job;

static int run_fold(fold_job *j)
{
    const cd_nlu_data *d = j->d;
    size_t n = d->n_examples;
    size_t *tr = malloc((n + 1) * sizeof(size_t)), *te = malloc((n + 1) * sizeof(size_t));
    cd_nlu_data vtr = {0}, vte = {0};
    cd_nlu_eval_set etr = {0};
    cd_nlu_model *m = NULL;
    bool ok = tr && te;
    if (!ok)
        cd_error(&j->err, CD_ERR_SYSTEM, ENOMEM, "cross-validation: out of memory");
    for (size_t i = 0; ok && i < n; i++) {
        if (j->fold[i] < 0)
            continue;
        if (j->fold[i] == j->f)
            te[j->nte++] = i;
        else
            tr[j->ntr++] = i;
    }
    double ts = now_s();
    ok = ok && cd_nlu_data_subset(d, tr, j->ntr, &vtr, &j->err) == 0 &&
         cd_nlu_data_subset(d, te, j->nte, &vte, &j->err) == 0 &&
         (m = (j->tagger_first ? cd_nlu_train_tagger_first : cd_nlu_train)(&vtr, j->cfg, j->seed,
                                                                           &j->err)) != NULL;
    j->train_s = now_s() - ts;
    ok = ok && eval_view(m, d, &vtr, tr, &etr, &j->err) == 0 &&
         eval_view(m, d, &vte, te, &j->test, &j->err) == 0 &&
         cd_nlu_eval_summarize(&etr, &j->s_tr, &j->err) == 0 &&
         cd_nlu_eval_summarize(&j->test, &j->s_te, &j->err) == 0;
    cd_nlu_model_free(m);
    cd_nlu_eval_set_done(&etr);
    cd_nlu_data_done(&vtr);
    cd_nlu_data_done(&vte);
    free(tr);
    free(te);
#if defined(__GLIBC__) && !defined(CD_FOREIGN_MALLOC)
    /* Each of a fold's threads (the pool's, the tagger's, the row builders') may get its own
     * malloc arena, and conductor-nlu keeps freed memory (M_TRIM_THRESHOLD, for training's
     * sake): what a finished fold freed sat in arenas the next folds' threads did not use.
     * Handing it back here took a SNIPS CV with 2 folds at a time from 186-216 MB to 163-167
     * (HWU64 150 -> 125) at no measured cost (tests/bench/nlu/ab: CV CPU B/A 0.97-0.99). */
    malloc_trim(0);
#endif
    return j->rc = ok ? 0 : -1;
}

/* Folds are independent, so several train at once. One fold alone keeps about 1.5 CPUs busy
 * (its tagger and classifier train side by side, one finishes first; summaries are one
 * thread), so even on 2 CPUs two at a time save wall time (5 folds: SNIPS -20%, HWU64 -13%,
 * tests/bench/nlu/ab), and a machine with more CPUs gets one fold per CPU. Each fold's result
 * is the same as when run alone: the only shared state, rand() inside LIBLINEAR, is seeded and
 * used under a lock (cd_nlu_clf_train). Results are taken in fold order, so progress and
 * output keep it. */
#define CV_DEFAULT_MAX 4 /* each fold holds its own model and predictions in memory */

typedef struct {
    fold_job *jobs;
    int k, next, *done;
    int workers; /* folds that can run at once */
    pthread_mutex_t mu;
    pthread_cond_t cv;
} fold_pool;

/* claims and runs folds until none is left */
static void pool_work(fold_pool *p)
{
    for (;;) {
        pthread_mutex_lock(&p->mu);
        int f = p->next < p->k ? p->next++ : -1;
        pthread_mutex_unlock(&p->mu);
        if (f < 0)
            return;
        /* With folds side by side, the other folds fill the CPUs a fold's tagger thread would
         * use, and training the tagger first lowers the fold's peak: SNIPS CV, 2 at a time,
         * 168 -> 128 MB, 4 at a time 312 -> 245 (HWU64 122 -> 102); CPU the same, wall +0-5%
         * (the last fold runs alone on one thread; giving it its tagger thread back kept the
         * wall time but, overlapping the fold before it, its peak too: 156 MB). One fold at a
         * time: the tagger goes beside the classifier. Same models either way. */
        p->jobs[f].tagger_first = p->workers > 1;
        run_fold(&p->jobs[f]);
        pthread_mutex_lock(&p->mu);
        p->done[f] = 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
}

static void *pool_thread(void *arg)
{
    pool_work(arg);
    cd_nlu_thread_done(); /* the thread's parse scratch */
    return NULL;
}

int cd_nlu_cross_validate(const cd_nlu_data *d, const cd_nlu_config *cfg, int k, unsigned seed,
                          int jobs, cd_nlu_cv_progress progress, void *ctx,
                          cd_nlu_eval_set *preds, cd_nlu_cv_result *res, cd_error_t *err)
{
    memset(res, 0, sizeof(*res));
    if (k < 2)
        return cd_error(err, CD_ERR_USAGE, 0, "--folds must be at least 2 (got %d)", k);
    double t0 = now_s();
    size_t n = d->n_examples;
    intent_count *ic = calloc(n + 1, sizeof(*ic));
    const char **labels = calloc(n + 1, sizeof(char *));
    int *fold = calloc(n + 1, sizeof(int));
    fold_job *fj = calloc((size_t)k, sizeof(*fj));
    int *done = calloc((size_t)k, sizeof(int));
    res->folds = k;
    res->train = calloc((size_t)k, sizeof(*res->train));
    res->test = calloc((size_t)k, sizeof(*res->test));
    res->ent_train = calloc((size_t)k, sizeof(*res->ent_train));
    res->ent_test = calloc((size_t)k, sizeof(*res->ent_test));
    res->dropped = calloc(n + 1, sizeof(char *));
    int rc = -1, started = 0;
    pthread_t *tid = calloc((size_t)k, sizeof(*tid));
    fold_pool pool = {.jobs = fj, .k = k, .done = done};
    pthread_mutex_init(&pool.mu, NULL);
    pthread_cond_init(&pool.cv, NULL);
    if (!ic || !labels || !fold || !fj || !done || !tid || !res->train || !res->test ||
        !res->ent_train || !res->ent_test || !res->dropped) {
        cd_error(err, CD_ERR_SYSTEM, ENOMEM, "cross-validation: out of memory");
        goto out;
    }

    /* drop_intents_below_freq(data, cutoff=folds). */
    size_t n_ic = 0;
    for (size_t i = 0; i < n; i++)
        if (d->examples[i].intent && *d->examples[i].intent)
            ic[n_ic++].name = d->examples[i].intent;
    qsort(ic, n_ic, sizeof(*ic), cmp_ic);
    size_t u = 0;
    for (size_t i = 0; i < n_ic; i++) {
        if (u && !strcmp(ic[u - 1].name, ic[i].name)) {
            ic[u - 1].count++;
            continue;
        }
        ic[u++] = (intent_count){ic[i].name, 1};
    }
    size_t kept_intents = 0;
    for (size_t i = 0; i < u; i++) {
        if (ic[i].count >= (size_t)k) {
            kept_intents++;
            continue;
        }
        if (!(res->dropped[res->n_dropped++] = strdup(ic[i].name))) {
            cd_error(err, CD_ERR_SYSTEM, ENOMEM, "cross-validation: out of memory");
            goto out;
        }
    }
    if (kept_intents < 2) {
        cd_error(err, CD_ERR_DATA, 0,
                 "cross-validation needs at least 2 intents with %d or more examples; "
                 "the data has %zu",
                 k, kept_intents);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const char *in = d->examples[i].intent;
        intent_count key = {in, 0}, *hit = NULL;
        if (in && *in)
            hit = bsearch(&key, ic, u, sizeof(*ic), cmp_ic);
        labels[i] = hit && hit->count >= (size_t)k ? in : NULL;
        res->n_examples += labels[i] != NULL;
    }
    if (cd_nlu_folds_assign(labels, n, k, seed, fold, err) < 0)
        goto out;

    for (int f = 0; f < k; f++)
        fj[f] = (fold_job){.d = d, .cfg = cfg, .fold = fold, .seed = seed, .f = f};
    int want = jobs > 0 ? (jobs < k ? jobs : k)
                        : cd_nlu_share_threads((size_t)k, 0, CV_DEFAULT_MAX, 1);
    pool.workers = want; /* set before any worker starts */
    for (int i = 0; i < want; i++)
        started += pthread_create(&tid[started], NULL, pool_thread, &pool) == 0;
    res->parallel = started ? started : 1;
    if (!started) { /* no thread: the folds run here, one after the other */
        pool.workers = 1;
        pool_work(&pool);
    }
    rc = 0;
    for (int f = 0; f < k; f++) {
        pthread_mutex_lock(&pool.mu);
        while (!done[f])
            pthread_cond_wait(&pool.cv, &pool.mu);
        pthread_mutex_unlock(&pool.mu);
        fold_job *j = &fj[f];
        if (rc == 0 && j->rc < 0) {
            *err = j->err;
            j->err = (cd_error_t){0};
            cd_error_wrap(err, "cross-validation fold %d/%d", f + 1, k);
            rc = -1;
            pthread_mutex_lock(&pool.mu);
            pool.next = k; /* nothing new is started; the folds running finish */
            pthread_mutex_unlock(&pool.mu);
        }
        if (rc < 0) /* the folds still running are joined below, unclaimed ones never run */
            break;
        if (cd_nlu_eval_move(preds, &j->test) < 0) {
            rc = cd_error(err, CD_ERR_SYSTEM, ENOMEM, "record prediction: out of memory");
            break;
        }
        res->train_seconds += j->train_s;
        fold_metrics(&j->s_tr, &res->train[f], &res->ent_train[f]);
        fold_metrics(&j->s_te, &res->test[f], &res->ent_test[f]);
        res->has_entities |= j->s_te.has_entities;
        if (progress)
            progress(ctx, f + 1, k, j->ntr, j->nte, j->train_s, &res->test[f]);
    }
    res->total_seconds = now_s() - t0;
out:
    if (started) {
        pthread_mutex_lock(&pool.mu);
        pool.next = k;
        pthread_mutex_unlock(&pool.mu);
        for (int i = 0; i < started; i++)
            pthread_join(tid[i], NULL);
    }
    for (int f = 0; fj && f < k; f++) {
        cd_nlu_eval_set_done(&fj[f].test);
        cd_error_clear(&fj[f].err);
    }
    pthread_mutex_destroy(&pool.mu);
    pthread_cond_destroy(&pool.cv);
    free(fj);
    free(done);
    free(tid);
    free(ic);
    free(labels);
    free(fold);
    return rc;
}

static void print_metrics(FILE *f, const char *set, const cd_nlu_fold_metrics *m, int k)
{
    static const char *const names[] = {"Accuracy", "F1-score", "Precision"};
    for (int which = 0; which < 3; which++) {
        double sum = 0, sq = 0;
        for (int i = 0; i < k; i++) {
            double v = which == 0 ? m[i].accuracy : which == 1 ? m[i].f1 : m[i].precision;
            sum += v;
        }
        double mean = sum / k;
        for (int i = 0; i < k; i++) {
            double v = which == 0 ? m[i].accuracy : which == 1 ? m[i].f1 : m[i].precision;
            sq += (v - mean) * (v - mean);
        }
        /* np.std: population standard deviation. */
        fprintf(f, "%s %s: %.3f (%.3f)\n", set, names[which], mean, sqrt(sq / k));
    }
}

/* {"Accuracy": [..], "F1-score": [..], "Precision": [..]}: Rasa's metric names, one per fold */
static json_t *metrics_json(const cd_nlu_fold_metrics *m, int k)
{
    json_t *acc = json_array(), *f1 = json_array(), *pr = json_array();
    bool ok = acc && f1 && pr;
    for (int i = 0; ok && i < k; i++)
        ok = !json_array_append_new(acc, json_real(m[i].accuracy)) &&
             !json_array_append_new(f1, json_real(m[i].f1)) &&
             !json_array_append_new(pr, json_real(m[i].precision));
    if (!ok) {
        json_decref(acc);
        json_decref(f1);
        json_decref(pr);
        return NULL;
    }
    /* "o" steals the arrays, also when packing fails */
    return json_pack("{s:o, s:o, s:o}", "Accuracy", acc, "F1-score", f1, "Precision", pr);
}

/* sets o.test and o.train; 0 or -1 (out of memory) */
static int set_split(json_t *o, const cd_nlu_fold_metrics *test, const cd_nlu_fold_metrics *train,
                     int k)
{
    /* json_object_set_new takes the value also when it fails */
    json_t *te = metrics_json(test, k), *tr = metrics_json(train, k);
    int rc = json_object_set_new(o, "test", te) | json_object_set_new(o, "train", tr);
    return rc || !te || !tr ? -1 : 0;
}

json_t *cd_nlu_cv_json(const cd_nlu_cv_result *r)
{
    json_t *o = json_pack("{s:i}", "folds", r->folds);
    if (!o || set_split(o, r->test, r->train, r->folds)) {
        json_decref(o);
        return NULL;
    }
    if (r->has_entities) {
        json_t *e = json_object();
        bool bad = !e || set_split(e, r->ent_test, r->ent_train, r->folds);
        if (json_object_set_new(o, "entities", e) || bad) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

void cd_nlu_cv_print(FILE *f, const cd_nlu_cv_result *r)
{
    fprintf(f, "CV evaluation (n=%d)\n", r->folds);
    fprintf(f, "Intent evaluation results\n");
    print_metrics(f, "train", r->train, r->folds);
    print_metrics(f, "test", r->test, r->folds);
    if (r->has_entities) {
        fprintf(f, "Entity evaluation results\n");
        fprintf(f, "Entity extractor: %s\n", CD_NLU_EXTRACTOR);
        print_metrics(f, "train", r->ent_train, r->folds);
        fprintf(f, "Entity extractor: %s\n", CD_NLU_EXTRACTOR);
        print_metrics(f, "test", r->ent_test, r->folds);
    }
}
