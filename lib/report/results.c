/* Loading a results directory as `rasa test nlu` (or `conductor-nlu test`) writes it
 * (../shared/docs/rasa-formats.md §2). Every file is opened relative to the directory with
 * O_NOFOLLOW, so a job cannot point the publisher at a host file through a symlink. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report/report-internal.h"
#include "util/cleanup.h"
#include "util/limits.h"

void cd_report_warn(cd_report_results *r, const char *fmt, ...)
{
    if (r->n_warnings >= CD_REPORT_MAX_WARNINGS)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n >= 0)
        r->warnings[r->n_warnings++] = s;
}

cd_report_results *cd_report_results_new(const char *dir)
{
    cd_report_results *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->dir = strdup(dir ? dir : "");
    if (!r->dir) {
        free(r);
        return NULL;
    }
    return r;
}

void cd_report_table_done(cd_report_table *t)
{
    if (!t)
        return;
    free(t->name);
    free(t->rows);
    json_decref(t->json);
    json_decref(t->errors);
    memset(t, 0, sizeof(*t));
}

cd_report_results *cd_report_results_free(cd_report_results *r)
{
    if (!r)
        return NULL;
    cd_report_table_done(&r->intents);
    for (size_t i = 0; i < r->n_entities; i++)
        cd_report_table_done(&r->entities[i]);
    free(r->entities);
    if (r->response) {
        cd_report_table_done(r->response);
        free(r->response);
    }
    for (size_t i = 0; i < r->n_charts; i++) {
        free((char *)r->charts[i].name);
        free((char *)r->charts[i].path);
    }
    for (size_t i = 0; i < r->n_warnings; i++)
        free(r->warnings[i]);
    json_decref(r->cv);
    free(r->dir);
    free(r);
    return NULL;
}

/* Python's json module writes NaN, Infinity and -Infinity bare, which is not JSON; jansson
 * refuses them. Turn them into strings so the report still loads and the values are flagged
 * instead of the whole page failing. */
json_t *cd_report_json_loads(const char *what, const char *text, size_t len, cd_error_t *err)
{
    static const char *const bare[] = {"-Infinity", "Infinity", "NaN"};
    cd_strbuf sb = CD_STRBUF_INIT;
    bool in_str = false, changed = false;
    size_t i = 0, copied = 0;
    while (i < len) {
        char c = text[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
            i++;
            continue;
        }
        if (c == '"') {
            in_str = true;
            i++;
            continue;
        }
        bool hit = false;
        for (size_t k = 0; (c == 'N' || c == 'I' || c == '-') && k < sizeof(bare) / sizeof(bare[0]);
             k++) {
            size_t bl = strlen(bare[k]);
            if (len - i >= bl && memcmp(text + i, bare[k], bl) == 0) {
                if (cd_strbuf_add(&sb, text + copied, i - copied) < 0 ||
                    cd_strbuf_printf(&sb, "\"%s\"", bare[k]) < 0) {
                    cd_strbuf_done(&sb);
                    cd_error(err, CD_ERR_SYSTEM, errno, "read `%s`: out of memory", what);
                    return NULL;
                }
                i += bl;
                copied = i;
                hit = changed = true;
                break;
            }
        }
        if (!hit)
            i++;
    }
    if (changed && cd_strbuf_add(&sb, text + copied, len - copied) < 0) {
        cd_strbuf_done(&sb);
        cd_error(err, CD_ERR_SYSTEM, errno, "read `%s`: out of memory", what);
        return NULL;
    }
    json_error_t jerr;
    json_t *j = changed ? json_loadb(sb.buf, sb.len, 0, &jerr) : json_loadb(text, len, 0, &jerr);
    cd_strbuf_done(&sb);
    if (!j)
        cd_error(err, CD_ERR_DATA, 0, "`%s`: line %d column %d: %s", what, jerr.line, jerr.column,
                 jerr.text);
    return j;
}

/* A metric in [0, 1]; anything else is recorded as a warning and becomes NaN. */
static double metric(cd_report_results *r, const char *what, const char *label, const json_t *obj,
                     const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (!v) {
        cd_report_warn(r, "%s: `%s` has no %s", what, label, key);
        return NAN;
    }
    if (json_is_string(v)) {
        cd_report_warn(r, "%s: `%s` %s is %s", what, label, key, json_string_value(v));
        return NAN;
    }
    if (!json_is_number(v)) {
        cd_report_warn(r, "%s: `%s` %s is not a number", what, label, key);
        return NAN;
    }
    double d = json_number_value(v);
    if (!isfinite(d) || d < 0.0 || d > 1.0) {
        cd_report_warn(r, "%s: `%s` %s is %g, outside 0..1", what, label, key, d);
        return NAN;
    }
    return d;
}

static double support_of(cd_report_results *r, const char *what, const char *label,
                         const json_t *obj)
{
    const json_t *v = json_object_get(obj, "support");
    double d = json_is_number(v) ? json_number_value(v) : NAN;
    if (!isfinite(d) || d < 0 || d != floor(d) || d > 1e12) {
        if (!v)
            cd_report_warn(r, "%s: `%s` has no support", what, label);
        else if (json_is_number(v))
            cd_report_warn(r, "%s: `%s` support is %g, not a count", what, label, d);
        else
            cd_report_warn(r, "%s: `%s` support is not a number", what, label);
        return NAN;
    }
    return d;
}

int cd_report_table_parse(cd_report_results *r, cd_report_table *t, const char *what,
                          const char *text, size_t len, cd_error_t *err)
{
    json_t *j = cd_report_json_loads(what, text, len, err);
    if (!j)
        return -1;
    t->json = j;
    if (!json_is_object(j))
        return cd_error(err, CD_ERR_DATA, 0,
                        "`%s`: not a JSON object (expected the report "
                        "rasa test nlu writes)",
                        what);
    size_t n = json_object_size(j);
    t->rows = calloc(n ? n : 1, sizeof(*t->rows));
    if (!t->rows)
        return cd_error(err, CD_ERR_SYSTEM, errno, "`%s`: out of memory", what);
    t->accuracy = t->micro_f1 = t->macro_f1 = t->weighted_f1 = -INFINITY;
    t->macro_p = t->macro_r = t->weighted_p = t->weighted_r = t->support = -INFINITY;
    double micro_recall = -INFINITY;
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v)
    {
        if (strcmp(key, "accuracy") == 0) {
            t->has_accuracy = true;
            if (json_is_number(v) && isfinite(json_number_value(v)) && json_number_value(v) >= 0 &&
                json_number_value(v) <= 1) {
                t->accuracy = json_number_value(v);
            } else {
                cd_report_warn(r, "%s: accuracy is not a number in 0..1", what);
                t->accuracy = NAN;
            }
            continue;
        }
        if (!json_is_object(v)) {
            cd_report_warn(r, "%s: entry `%s` is not an object, ignoring", what, key);
            continue;
        }
        if (strcmp(key, "macro avg") == 0) {
            t->macro_p = metric(r, what, key, v, "precision");
            t->macro_r = metric(r, what, key, v, "recall");
            t->macro_f1 = metric(r, what, key, v, "f1-score");
            t->support = support_of(r, what, key, v);
        } else if (strcmp(key, "weighted avg") == 0) {
            t->weighted_p = metric(r, what, key, v, "precision");
            t->weighted_r = metric(r, what, key, v, "recall");
            t->weighted_f1 = metric(r, what, key, v, "f1-score");
        } else if (strcmp(key, "micro avg") == 0) {
            t->has_micro = true;
            t->micro_f1 = metric(r, what, key, v, "f1-score");
            micro_recall = metric(r, what, key, v, "recall");
        } else {
            cd_report_row *row = &t->rows[t->n_rows++];
            row->name = key;
            row->precision = metric(r, what, key, v, "precision");
            row->recall = metric(r, what, key, v, "recall");
            row->f1 = metric(r, what, key, v, "f1-score");
            row->support = support_of(r, what, key, v);
            const json_t *cw = json_object_get(v, "confused_with");
            row->confused_with = json_is_object(cw) ? cw : NULL;
        }
    }
    /* Rasa 2.x / 3.0 reports carry only one of accuracy / micro avg (§2.2). Over the labels of
     * the targets, micro recall counts every target once, so it equals accuracy_score. */
    if (!t->has_accuracy && t->has_micro && strcmp(t->name, "intent") == 0) {
        t->accuracy = micro_recall;
        cd_report_warn(r,
                       "%s has no `accuracy` (Rasa 2.x/3.0 style): accuracy taken from "
                       "`micro avg` recall",
                       what);
    }
    if (!t->has_accuracy && !t->has_micro)
        cd_report_warn(r, "%s has neither `accuracy` nor `micro avg`", what);
    /* Averages missing altogether: compute them from the rows, as sklearn does. */
    if (isinf(t->macro_f1) || isinf(t->weighted_f1) || isinf(t->support)) {
        double sum = 0, wsum = 0, sup = 0;
        bool okk = t->n_rows > 0;
        for (size_t i = 0; i < t->n_rows; i++) {
            if (isnan(t->rows[i].f1) || isnan(t->rows[i].support))
                okk = false;
            sum += t->rows[i].f1;
            wsum += t->rows[i].f1 * t->rows[i].support;
            sup += t->rows[i].support;
        }
        if (isinf(t->macro_f1))
            t->macro_f1 = okk ? sum / (double)t->n_rows : NAN;
        if (isinf(t->weighted_f1))
            t->weighted_f1 = okk && sup > 0 ? wsum / sup : NAN;
        if (isinf(t->support))
            t->support = okk ? sup : NAN;
    }
    if (t->n_rows == 0)
        cd_report_warn(r, "%s has no labels", what);
    return 0;
}

/* Read name (relative to dfd, no symlinks, regular file, bounded) into sb.
 * Returns 0, 1 when absent, -1 on error. */
static int read_at(int dfd, const char *dir, const char *name, size_t max, cd_strbuf *sb,
                   cd_error_t *err)
{
    cleanup_close int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT)
            return 1;
        if (errno == ELOOP)
            return cd_error(err, CD_ERR_DATA, errno,
                            "`%s/%s` is a symlink; refusing to "
                            "follow it",
                            dir, name);
        return cd_error(err, CD_ERR_SYSTEM, errno, "open `%s/%s`: %s", dir, name, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) < 0)
        return cd_error(err, CD_ERR_SYSTEM, errno, "stat `%s/%s`: %s", dir, name, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return cd_error(err, CD_ERR_DATA, 0, "`%s/%s` is not a regular file", dir, name);
    if ((unsigned long long)st.st_size > max)
        return cd_error(err, CD_ERR_DATA, 0,
                        "`%s/%s` is %lld bytes, more than the %zu "
                        "allowed",
                        dir, name, (long long)st.st_size, max);
    cd_strbuf_init(sb, max + 1);
    char buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return cd_error(err, CD_ERR_SYSTEM, errno, "read `%s/%s`: %s", dir, name,
                            strerror(errno));
        if (n == 0)
            break;
        if (cd_strbuf_add(sb, buf, (size_t)n) < 0)
            return cd_error(err, CD_ERR_DATA, errno, "`%s/%s` grew past %zu bytes", dir, name, max);
    }
    return 0;
}

static int load_table(cd_report_results *r, int dfd, const char *file, const char *name,
                      cd_report_table *t, cd_error_t *err)
{
    cd_strbuf sb = CD_STRBUF_INIT;
    int rc = read_at(dfd, r->dir, file, CD_MAX_REPORT_FILE, &sb, err);
    if (rc != 0) {
        cd_strbuf_done(&sb);
        return rc;
    }
    t->name = strdup(name);
    if (!t->name) {
        cd_strbuf_done(&sb);
        return cd_error(err, CD_ERR_SYSTEM, errno, "out of memory");
    }
    rc = cd_report_table_parse(r, t, file, cd_strbuf_str(&sb), sb.len, err);
    cd_strbuf_done(&sb);
    return rc;
}

/* <prefix>_errors.json: optional, an array. */
static int load_errors(cd_report_results *r, int dfd, const char *prefix, cd_report_table *t,
                       cd_error_t *err)
{
    char file[512];
    snprintf(file, sizeof(file), "%s_errors.json", prefix);
    cd_strbuf sb = CD_STRBUF_INIT;
    int rc = read_at(dfd, r->dir, file, CD_MAX_REPORT_FILE, &sb, err);
    if (rc < 0) {
        cd_strbuf_done(&sb);
        return -1;
    }
    if (rc == 1) {
        cd_strbuf_done(&sb);
        return 1;
    }
    cd_error_t e2 = {0};
    json_t *j = cd_report_json_loads(file, cd_strbuf_str(&sb), sb.len, &e2);
    cd_strbuf_done(&sb);
    if (!j || !json_is_array(j)) {
        /* A damaged error sample is not worth failing the publication for. */
        cd_report_warn(r, "%s: %s, ignoring", file, j ? "not a JSON array" : cd_error_msg(&e2));
        json_decref(j);
        cd_error_clear(&e2);
        return 0;
    }
    t->errors = j;
    return 0;
}

static bool has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* Rasa's names: intent_*, response_selection_*, else <Extractor>_* (entities). */
static const char *chart_title(const char *name)
{
    bool intent = strncmp(name, "intent_", 7) == 0;
    bool resp = strncmp(name, "response_selection_", 19) == 0;
    if (strstr(name, "confusion"))
        return intent ? "Intent confusion matrix"
               : resp ? "Response selection confusion matrix"
                      : "Entity confusion matrix";
    if (strstr(name, "histogram"))
        return intent ? "Intent confidence histogram"
               : resp ? "Response selection confidence histogram"
                      : "Entity confidence histogram";
    return "Chart";
}

/* Charts first by kind (intent confusion, intent histogram, others), then by name. */
static int chart_rank(const char *n)
{
    if (strncmp(n, "intent_confusion", 16) == 0)
        return 0;
    if (strncmp(n, "intent_histogram", 16) == 0)
        return 1;
    return 2;
}

static int chart_cmp(const void *a, const void *b)
{
    const cd_report_chart *x = a, *y = b;
    int d = chart_rank(x->name) - chart_rank(y->name);
    return d ? d : strcmp(x->name, y->name);
}

static int table_cmp(const void *a, const void *b)
{
    return strcmp(((const cd_report_table *)a)->name, ((const cd_report_table *)b)->name);
}

static int scan_dir(cd_report_results *r, int dfd, cd_error_t *err)
{
    int fd2 = dup(dfd);
    if (fd2 < 0)
        return cd_error(err, CD_ERR_SYSTEM, errno, "dup: %s", strerror(errno));
    DIR *d = fdopendir(fd2);
    if (!d) {
        close(fd2);
        return cd_error(err, CD_ERR_SYSTEM, errno, "read directory `%s`: %s", r->dir,
                        strerror(errno));
    }
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        if (n[0] == '.')
            continue;
        struct stat st;
        if (fstatat(dfd, n, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        bool is_chart = has_suffix(n, ".svg") || has_suffix(n, ".png");
        bool is_ent = has_suffix(n, "_report.json") && strcmp(n, "intent_report.json") != 0 &&
                      strcmp(n, "response_selection_report.json") != 0;
        if (!is_chart && !is_ent)
            continue;
        if (S_ISLNK(st.st_mode)) {
            cd_report_warn(r, "`%s` is a symlink, ignoring", n);
            continue;
        }
        if (!S_ISREG(st.st_mode))
            continue;
        if (is_chart) {
            if (r->n_charts >= CD_REPORT_MAX_CHARTS) {
                cd_report_warn(r, "more than %d charts, ignoring `%s`", CD_REPORT_MAX_CHARTS, n);
                continue;
            }
            if ((unsigned long long)st.st_size > CD_MAX_REPORT_CHART) {
                cd_report_warn(r, "chart `%s` is larger than %u bytes, ignoring", n,
                               CD_MAX_REPORT_CHART);
                continue;
            }
            cd_report_chart *c = &r->charts[r->n_charts];
            char *path = NULL;
            if (asprintf(&path, "%s/%s", r->dir, n) < 0) {
                rc = cd_error(err, CD_ERR_SYSTEM, errno, "out of memory");
                break;
            }
            c->name = strdup(n);
            c->path = path;
            c->title = chart_title(n);
            if (!c->name) {
                free(path);
                rc = cd_error(err, CD_ERR_SYSTEM, errno, "out of memory");
                break;
            }
            r->n_charts++;
            continue;
        }
        /* <Extractor>_report.json */
        if (r->n_entities >= 32) {
            cd_report_warn(r, "too many entity reports, ignoring `%s`", n);
            continue;
        }
        cd_report_table *grown = realloc(r->entities, (r->n_entities + 1) * sizeof(*grown));
        if (!grown) {
            rc = cd_error(err, CD_ERR_SYSTEM, errno, "out of memory");
            break;
        }
        r->entities = grown;
        cd_report_table *t = &r->entities[r->n_entities];
        memset(t, 0, sizeof(*t));
        char prefix[256];
        snprintf(prefix, sizeof(prefix), "%.*s", (int)(strlen(n) - strlen("_report.json")), n);
        r->n_entities++;
        int lr = load_table(r, dfd, n, prefix, t, err);
        if (lr == 1) { /* vanished since readdir */
            cd_report_table_done(t);
            r->n_entities--;
            continue;
        }
        if (lr < 0 || load_errors(r, dfd, prefix, t, err) < 0) {
            rc = -1;
            break;
        }
    }
    closedir(d);
    if (rc == 0) {
        qsort(r->charts, r->n_charts, sizeof(r->charts[0]), chart_cmp);
        if (r->n_entities)
            qsort(r->entities, r->n_entities, sizeof(r->entities[0]), table_cmp);
    }
    return rc;
}

int cd_report_results_load(const char *dir, cd_report_results **ret, cd_error_t *err)
{
    *ret = NULL;
    cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) {
        if (errno == ENOENT)
            return cd_error(err, CD_ERR_NOTFOUND, errno,
                            "results directory `%s` does not "
                            "exist (did the test step run and keep its --out directory?)",
                            dir);
        if (errno == ELOOP || errno == ENOTDIR) {
            struct stat st;
            bool link = lstat(dir, &st) == 0 && S_ISLNK(st.st_mode);
            return cd_error(err, CD_ERR_DATA, errno, "results directory `%s` is %s", dir,
                            link ? "a symlink; refusing to follow it" : "not a directory");
        }
        return cd_error(err, CD_ERR_SYSTEM, errno, "open results directory `%s`: %s", dir,
                        strerror(errno));
    }
    cd_report_results *r = cd_report_results_new(dir);
    if (!r)
        return cd_error(err, CD_ERR_SYSTEM, errno, "out of memory");
    int rc = load_table(r, dfd, "intent_report.json", "intent", &r->intents, err);
    if (rc == 1) {
        cd_report_results_free(r);
        return cd_error(err, CD_ERR_NOTFOUND, ENOENT,
                        "results directory `%s` has no "
                        "intent_report.json (rasa test nlu writes it only when the test data "
                        "has at least 2 intents)",
                        dir);
    }
    if (rc < 0 || load_errors(r, dfd, "intent", &r->intents, err) < 0)
        goto fail;
    if (!r->intents.errors && !(r->intents.accuracy >= 1.0))
        cd_report_warn(r, "no intent_errors.json (written unless --no-errors): no sample of "
                          "misclassified messages");
    cd_report_table resp = {0};
    rc = load_table(r, dfd, "response_selection_report.json", "response_selection", &resp, err);
    if (rc < 0) {
        cd_report_table_done(&resp);
        goto fail;
    }
    if (rc == 0) {
        r->response = malloc(sizeof(*r->response));
        if (!r->response) {
            cd_report_table_done(&resp);
            cd_error(err, CD_ERR_SYSTEM, errno, "out of memory");
            goto fail;
        }
        *r->response = resp;
    }
    if (scan_dir(r, dfd, err) < 0)
        goto fail;
    cd_strbuf sb = CD_STRBUF_INIT;
    rc = read_at(dfd, dir, "cross_validation.json", CD_MAX_REPORT_FILE, &sb, err);
    if (rc < 0) {
        cd_strbuf_done(&sb);
        goto fail;
    }
    if (rc == 0) {
        cd_error_t e2 = {0};
        r->cv = cd_report_json_loads("cross_validation.json", cd_strbuf_str(&sb), sb.len, &e2);
        if (!r->cv || !json_is_object(r->cv)) {
            cd_report_warn(r, "cross_validation.json: %s, ignoring",
                           r->cv ? "not a JSON object" : cd_error_msg(&e2));
            json_decref(r->cv);
            r->cv = NULL;
        }
        cd_error_clear(&e2);
    }
    cd_strbuf_done(&sb);
    *ret = r;
    return 0;
fail:
    cd_report_results_free(r);
    return cd_error_wrap(err, "load results `%s`", dir);
}

size_t cd_report_results_n_charts(const cd_report_results *r)
{
    return r ? r->n_charts : 0;
}

const cd_report_chart *cd_report_results_chart(const cd_report_results *r, size_t i)
{
    return r && i < r->n_charts ? &r->charts[i] : NULL;
}

size_t cd_report_results_n_warnings(const cd_report_results *r)
{
    return r ? r->n_warnings : 0;
}

const char *cd_report_results_warning(const cd_report_results *r, size_t i)
{
    return r && i < r->n_warnings ? r->warnings[i] : NULL;
}

static double public_num(double v)
{
    return isinf(v) ? NAN : v;
}

double cd_report_results_accuracy(const cd_report_results *r)
{
    return public_num(r->intents.accuracy);
}

double cd_report_results_macro_f1(const cd_report_results *r)
{
    return public_num(r->intents.macro_f1);
}

double cd_report_results_weighted_f1(const cd_report_results *r)
{
    return public_num(r->intents.weighted_f1);
}
