/* cd_nlu_data_load: expand paths (directories recursively, sorted), read each file, hand it
 * to the YAML or JSON reader, and collect examples, synonyms, regexes, lookups and diags. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nlu/annotation.h"
#include "nlu/data-internal.h"
#include "nlu/utf8.h"
#include "util/array.h"
#include "util/cleanup.h"
#include "util/limits.h"
#include "util/strbuf.h"

#define MAX_DIR_DEPTH 32

static int vdiag(cd_nlu_data *d, size_t *cap, cd_nlu_diag_level level, const char *file,
                 int line, int col, const char *code, const char *fmt, va_list ap)
    __attribute__((format(printf, 8, 0)));
static int vdiag(cd_nlu_data *d, size_t *cap, cd_nlu_diag_level level, const char *file,
                 int line, int col, const char *code, const char *fmt, va_list ap)
{
    if (cd_array_reserve(&d->diags, cap, d->n_diags + 1, sizeof(*d->diags)) < 0)
        return -1;
    cd_strbuf sb = CD_STRBUF_INIT;
    if (cd_strbuf_vprintf(&sb, fmt, ap) < 0) {
        cd_strbuf_done(&sb);
        return -1;
    }
    cd_nlu_diag *g = &d->diags[d->n_diags];
    g->level = level;
    g->file = file;
    g->line = line;
    g->col = col;
    g->code = strdup(code);
    g->msg = cd_strbuf_take(&sb);
    if (!g->code || !g->msg) {
        free(g->code);
        free(g->msg);
        return -1;
    }
    d->n_diags++;
    return 0;
}

int cd_nlu_data_add_diag(cd_nlu_data *d, size_t *cap, cd_nlu_diag_level level,
                         const char *file, int line, int col, const char *code, const char *fmt,
                         ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vdiag(d, cap, level, file, line, col, code, fmt, ap);
    va_end(ap);
    return rc;
}

int cd_nlu_ld_diag(cd_nlu_loader *ld, cd_nlu_diag_level level, int line, int col,
                   const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vdiag(ld->d, &ld->cap_diags, level, ld->file, line, col, code, fmt, ap);
    va_end(ap);
    return rc;
}

static void build_lines(cd_nlu_loader *ld)
{
    size_t n = 1;
    const char *p = ld->buf, *end = ld->buf + ld->len;
    while ((p = memchr(p, '\n', (size_t)(end - p))))
        n++, p++;
    ld->line_starts = malloc(n * sizeof(size_t));
    if (!ld->line_starts)
        return;
    ld->line_starts[0] = 0;
    ld->n_lines = 1;
    for (p = ld->buf; (p = memchr(p, '\n', (size_t)(end - p))); p++)
        ld->line_starts[ld->n_lines++] = (size_t)(p - ld->buf) + 1;
}

size_t cd_nlu_ld_line_start(cd_nlu_loader *ld, size_t line0)
{
    if (!ld->line_starts)
        build_lines(ld);
    if (!ld->line_starts || line0 >= ld->n_lines)
        return ld->len;
    return ld->line_starts[line0];
}

void cd_nlu_ld_pos(cd_nlu_loader *ld, size_t off, int *line, int *col)
{
    if (!ld->line_starts)
        build_lines(ld);
    if (off > ld->len)
        off = ld->len;
    if (!ld->line_starts) {
        cd_utf8_line_col(ld->buf, ld->len, off, line, col);
        return;
    }
    size_t lo = 0, hi = ld->n_lines; /* last line start <= off */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (ld->line_starts[mid] <= off)
            lo = mid;
        else
            hi = mid;
    }
    *line = (int)lo + 1;
    *col = (int)cd_utf8_count(ld->buf + ld->line_starts[lo], off - ld->line_starts[lo]) + 1;
}

static int oom(cd_error_t *err)
{
    return cd_error(err, CD_ERR_SYSTEM, 0, "out of memory");
}

int cd_nlu_ld_add_example(cd_nlu_loader *ld, char *intent, char *text, cd_nlu_entity *ents,
                          size_t n_ents, int line, int col, cd_error_t *err)
{
    cd_nlu_data *d = ld->d;
    if (cd_array_reserve(&d->examples, &ld->cap_examples, d->n_examples + 1, sizeof(*d->examples)) <
        0) {
        free(intent);
        free(text);
        for (size_t i = 0; i < n_ents; i++)
            cd_nlu_entity_done(&ents[i]);
        free(ents);
        return oom(err);
    }
    /* Rasa's split_intent_response_key: "faq/ask_name" is intent "faq" with a response key;
     * more than one '/' keeps only the first part */
    char *slash = intent ? strchr(intent, '/') : NULL;
    char *response_key = NULL;
    if (slash) {
        bool two_parts = !strchr(slash + 1, '/');
        *slash = 0;
        char *base = strdup(intent);
        *slash = '/';
        if (!base) {
            free(intent);
            free(text);
            for (size_t i = 0; i < n_ents; i++)
                cd_nlu_entity_done(&ents[i]);
            free(ents);
            return oom(err);
        }
        if (two_parts)
            response_key = intent;
        else
            free(intent);
        intent = base;
    }
    cd_nlu_example *ex = &d->examples[d->n_examples++];
    memset(ex, 0, sizeof(*ex));
    ex->response_key = response_key;
    ex->text = text;
    ex->intent = intent;
    ex->entities = ents;
    ex->n_entities = n_ents;
    ex->file = ld->file;
    ex->line = line;
    ex->col = col;
    return 0;
}

int cd_nlu_ld_add_annotated(cd_nlu_loader *ld, const char *intent, const char *s, size_t len,
                            int line, int col, cd_error_t *err)
{
    cd_nlu_annotated a;
    cd_error_t aerr = {0};
    size_t off = 0;
    if (cd_nlu_annotation_parse(s, len, &a, &off, &aerr) < 0) {
        int rc = 0;
        if (aerr.kind != CD_ERR_DATA)
            rc = cd_error(err, aerr.kind, aerr.errnum, "%s:%d:%d: %s", ld->file, line, col,
                          cd_error_msg(&aerr));
        else if (cd_nlu_ld_diag(ld, CD_NLU_DIAG_ERROR, line, col + (int)cd_utf8_count(s, off),
                                "bad-annotation", "%s, example skipped: %.*s",
                                cd_error_msg(&aerr), (int)(len > 200 ? 200 : len), s) < 0)
            rc = oom(err);
        cd_error_clear(&aerr);
        return rc;
    }
    for (size_t i = 0; i < a.n_notes; i++)
        if (cd_nlu_ld_diag(ld, CD_NLU_DIAG_WARNING, line,
                           col + (int)cd_utf8_count(s, a.notes[i].offset), "bad-annotation",
                           "%s", a.notes[i].msg) < 0) {
            cd_nlu_annotated_done(&a);
            return oom(err);
        }
    if (a.text_len == 0) {
        cd_nlu_annotated_done(&a);
        return cd_nlu_ld_diag(ld, CD_NLU_DIAG_WARNING, line, col, "empty-example",
                              "empty example of intent `%s`, skipped", intent) < 0
                   ? oom(err)
                   : 0;
    }
    if (ld->text_budget < a.text_len) {
        cd_nlu_annotated_done(&a);
        return cd_error(err, CD_ERR_DATA, 0,
                        "%s:%d:%d: example text expands past %zu bytes (YAML aliases?)",
                        ld->file, line, col, (size_t)CD_MAX_TRAINING_FILE);
    }
    ld->text_budget -= a.text_len;
    /* Rasa's synonyms_parser.add_synonyms_from_entities: the annotated text maps to the
     * value when they differ. */
    for (size_t i = 0; i < a.n_entities; i++) {
        cd_nlu_entity *e = &a.entities[i];
        size_t b = a.spans[2 * i], en = a.spans[2 * i + 1];
        if (strlen(e->value) != en - b || memcmp(e->value, a.text + b, en - b) != 0) {
            char *t = strndup(a.text + b, en - b);
            int rc = t ? cd_nlu_ld_synonym(ld, t, e->value, line, col, err) : oom(err);
            free(t);
            if (rc < 0) {
                cd_nlu_annotated_done(&a);
                return -1;
            }
        }
    }
    char *in = strdup(intent);
    if (!in) {
        cd_nlu_annotated_done(&a);
        return oom(err);
    }
    /* ownership of text and entities moves to the example */
    size_t n_ents = a.n_entities;
    char *text = take_ptr(a.text);
    cd_nlu_entity *ents = take_ptr(a.entities);
    a.n_entities = 0;
    cd_nlu_annotated_done(&a);
    return cd_nlu_ld_add_example(ld, in, text, ents, n_ents, line, col, err);
}

int cd_nlu_ld_synonym(cd_nlu_loader *ld, const char *text, const char *value, int line,
                      int col, cd_error_t *err)
{
    cd_nlu_data *d = ld->d;
    size_t *idx = cd_nlu_strmap_get(&ld->synonym_index, text);
    if (idx) {
        cd_nlu_synonym *s = &d->synonyms[*idx];
        if (strcmp(s->value, value) != 0) {
            if (cd_nlu_ld_diag(ld, CD_NLU_DIAG_WARNING, line, col, "synonym-conflict",
                               "synonym `%s` maps to `%s` here but to `%s` before; the later "
                               "`%s` wins (as in Rasa)",
                               text, value, s->value, value) < 0)
                return oom(err);
            char *v = strdup(value);
            if (!v)
                return oom(err);
            free(s->value);
            s->value = v;
        }
        return 0;
    }
    if (cd_array_reserve(&d->synonyms, &ld->cap_synonyms, d->n_synonyms + 1, sizeof(*d->synonyms)) <
        0)
        return oom(err);
    cd_nlu_synonym *s = &d->synonyms[d->n_synonyms];
    s->text = strdup(text);
    s->value = strdup(value);
    if (!s->text || !s->value) {
        free(s->text);
        free(s->value);
        return oom(err);
    }
    /* The map borrows s->text: it is stable because only the array of structs moves. */
    if (!cd_nlu_strmap_put(&ld->synonym_index, s->text, d->n_synonyms, NULL)) {
        free(s->text);
        free(s->value);
        return oom(err);
    }
    d->n_synonyms++;
    return 0;
}

cd_nlu_pattern_set *cd_nlu_ld_pattern(cd_nlu_loader *ld, bool lookup, const char *name,
                                      int line, cd_error_t *err)
{
    cd_nlu_data *d = ld->d;
    cd_nlu_pattern_set **arr = lookup ? &d->lookups : &d->regexes;
    size_t *n = lookup ? &d->n_lookups : &d->n_regexes;
    size_t *cap = lookup ? &ld->cap_lookups : &ld->cap_regexes;
    if (cd_array_reserve(arr, cap, *n + 1, sizeof(**arr)) < 0) {
        oom(err);
        return NULL;
    }
    cd_nlu_pattern_set *ps = &(*arr)[*n];
    memset(ps, 0, sizeof(*ps));
    if (!(ps->name = strdup(name))) {
        oom(err);
        return NULL;
    }
    ps->file = ld->file;
    ps->line = line;
    (*n)++;
    return ps;
}

cd_nlu_pattern_set *cd_nlu_ld_domain(cd_nlu_loader *ld, int line, cd_error_t *err)
{
    cd_nlu_data *d = ld->d;
    if (cd_array_reserve(&d->domains, &ld->cap_domains, d->n_domains + 1, sizeof(*d->domains)) <
        0) {
        oom(err);
        return NULL;
    }
    cd_nlu_pattern_set *ps = &d->domains[d->n_domains];
    memset(ps, 0, sizeof(*ps));
    if (!(ps->name = strdup("intents"))) {
        oom(err);
        return NULL;
    }
    ps->file = ld->file;
    ps->line = line;
    d->n_domains++;
    return ps;
}

int cd_nlu_ld_pattern_add(cd_nlu_pattern_set *ps, const char *item, size_t len,
                          cd_error_t *err)
{
    /* grow by doubling: n_items is a power of two exactly when full */
    if ((ps->n_items & (ps->n_items - 1)) == 0) {
        size_t cap = ps->n_items ? ps->n_items * 2 : 1;
        char **p = realloc(ps->items, cap * sizeof(char *));
        if (!p)
            return oom(err);
        ps->items = p;
    }
    if (!(ps->items[ps->n_items] = strndup(item, len)))
        return oom(err);
    ps->n_items++;
    return 0;
}

/* --- files and directories ------------------------------------------------------------ */

typedef struct {
    char **v;
    size_t n, cap;
} pathlist;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has_ext(const char *name, const char *ext)
{
    size_t n = strlen(name), e = strlen(ext);
    return n > e && strcasecmp(name + n - e, ext) == 0;
}

static bool is_data_name(const char *name)
{
    return has_ext(name, ".yml") || has_ext(name, ".yaml") || has_ext(name, ".json");
}

static int push_path(pathlist *pl, char *p)
{
    if (cd_array_reserve(&pl->v, &pl->cap, pl->n + 1, sizeof(char *)) < 0) {
        free(p);
        return -1;
    }
    pl->v[pl->n++] = p;
    return 0;
}

/* Every data file below dir, names sorted bytewise per directory (Rasa sorts too, so the
 * "later synonym wins" order is stable); hidden entries are skipped. */
static int walk(const char *dir, int depth, pathlist *pl, cd_error_t *err)
{
    if (depth > MAX_DIR_DEPTH)
        return cd_error(err, CD_ERR_DATA, 0, "%s: directories nested too deep", dir);
    DIR *dp = opendir(dir);
    if (!dp)
        return cd_error(err, CD_ERR_DATA, errno, "open directory `%s`", dir);
    pathlist names = {0};
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(dp))) {
        if (de->d_name[0] == '.')
            continue;
        char *p = NULL;
        if (asprintf(&p, "%s/%s", dir, de->d_name) < 0 || push_path(&names, p) < 0) {
            rc = oom(err);
            break;
        }
    }
    closedir(dp);
    if (rc == 0)
        qsort(names.v, names.n, sizeof(char *), cmp_str);
    for (size_t i = 0; i < names.n; i++) {
        struct stat st;
        char *p = names.v[i];
        names.v[i] = NULL;
        if (rc < 0 || stat(p, &st) < 0) {
            free(p);
            continue; /* a dangling link in a data dir is not our business */
        }
        if (S_ISDIR(st.st_mode)) {
            rc = walk(p, depth + 1, pl, err);
            free(p);
        } else if (S_ISREG(st.st_mode) && is_data_name(p)) {
            if (push_path(pl, p) < 0)
                rc = oom(err);
        } else {
            free(p);
        }
    }
    free(names.v);
    return rc;
}

static int add_file_name(cd_nlu_loader *ld, const char *path, cd_error_t *err)
{
    cd_nlu_data *d = ld->d;
    if (cd_array_reserve(&d->files, &ld->cap_files, d->n_files + 1, sizeof(char *)) < 0)
        return oom(err);
    if (!(d->files[d->n_files] = strdup(path)))
        return oom(err);
    ld->file = d->files[d->n_files++];
    return 0;
}

static bool looks_like_json(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\n' || buf[i] == '\r')
            continue;
        return buf[i] == '{';
    }
    return false;
}

/* Parse buf[0..len) as the file ld->file (already registered). */
static int read_buffer(cd_nlu_loader *ld, const char *buf, size_t len, bool explicit_file,
                       cd_error_t *err)
{
    const char *path = ld->file;
    ld->buf = buf;
    ld->len = len;
    ld->explicit_file = explicit_file;
    ld->text_budget = CD_MAX_TRAINING_FILE;
    ld->line_starts = NULL;
    ld->n_lines = 0;
    int rc = 0;
    size_t bad;
    const char *nul;
    if (!cd_utf8_valid(ld->buf, ld->len, &bad)) {
        int line, col;
        cd_nlu_ld_pos(ld, bad, &line, &col);
        rc = cd_error(err, CD_ERR_DATA, 0, "%s:%d:%d: invalid UTF-8 (byte 0x%02x)", path,
                      line, col, (unsigned char)ld->buf[bad]);
    } else if ((nul = memchr(ld->buf, '\0', ld->len))) {
        int line, col;
        cd_nlu_ld_pos(ld, (size_t)(nul - ld->buf), &line, &col);
        rc = cd_error(err, CD_ERR_DATA, 0, "%s:%d:%d: NUL byte in a text file", path, line,
                      col);
    } else if (has_ext(path, ".md") || has_ext(path, ".markdown")) {
        /* Rasa 3 dropped the Markdown format too (rasa-formats.md §1.6) */
        rc = cd_error(err, CD_ERR_DATA, 0, "%s: Markdown NLU data (Rasa 1.x/2.x) is not read; "
                      "convert it with Rasa 2.x: rasa data convert nlu -f yaml", path);
    } else if (has_ext(path, ".json") ||
               (!has_ext(path, ".yml") && !has_ext(path, ".yaml") &&
                looks_like_json(ld->buf, ld->len))) {
        rc = cd_nlu_json_read(ld, err);
    } else {
        rc = cd_nlu_yaml_read(ld, err);
    }
    free(ld->line_starts);
    ld->line_starts = NULL;
    ld->buf = NULL;
    return rc;
}

static int read_one(cd_nlu_loader *ld, const char *path, bool explicit_file, cd_error_t *err)
{
    if (add_file_name(ld, path, err) < 0)
        return -1;
    cd_strbuf sb = CD_STRBUF_INIT;
    if (cd_strbuf_read_file(&sb, path, CD_MAX_TRAINING_FILE) < 0) {
        int e = errno;
        cd_strbuf_done(&sb);
        if (e == E2BIG)
            return cd_error(err, CD_ERR_DATA, 0, "%s: file larger than the %u MiB limit", path,
                            CD_MAX_TRAINING_FILE >> 20);
        return cd_error(err, CD_ERR_DATA, e, "%s", path);
    }
    int rc = read_buffer(ld, cd_strbuf_str(&sb), sb.len, explicit_file, err);
    cd_strbuf_done(&sb);
    return rc;
}

static int no_examples(const cd_nlu_data *d, const char *what, cd_error_t *err)
{
    return cd_error(err, CD_ERR_DATA, 0, "%s: no NLU training examples found (%zu file%s read)",
                    what, d->n_files, d->n_files == 1 ? "" : "s");
}

int cd_nlu_data_load_mem(const char *name, const void *buf, size_t len, unsigned flags,
                         cd_nlu_data *out, cd_error_t *err)
{
    memset(out, 0, sizeof(*out));
    cd_nlu_loader ld = {.d = out};
    int rc = add_file_name(&ld, name, err);
    if (rc == 0 && len > CD_MAX_TRAINING_FILE)
        rc = cd_error(err, CD_ERR_DATA, 0, "%s: larger than the %u MiB limit", name,
                      CD_MAX_TRAINING_FILE >> 20);
    if (rc == 0)
        rc = read_buffer(&ld, buf, len, true, err);
    if (rc == 0 && out->n_examples == 0)
        rc = no_examples(out, name, err);
    cd_nlu_strmap_done(&ld.synonym_index);
    if (rc < 0 && !(flags & CD_NLU_LOAD_KEEP_ON_ERROR))
        cd_nlu_data_done(out);
    return rc;
}

int cd_nlu_data_load_flags(const char *const *paths, size_t n_paths, unsigned flags,
                           cd_nlu_data *out, cd_error_t *err)
{
    memset(out, 0, sizeof(*out));
    cd_nlu_loader ld = {.d = out};
    pathlist pl = {0};
    bool *explicit_files = NULL;
    int rc = 0;
    size_t n_explicit = 0;
    for (size_t i = 0; i < n_paths && rc == 0; i++) {
        struct stat st;
        if (stat(paths[i], &st) < 0) {
            rc = cd_error(err, errno == ENOENT ? CD_ERR_NOTFOUND : CD_ERR_DATA, errno, "%s",
                          paths[i]);
            break;
        }
        size_t before = pl.n;
        bool dir = S_ISDIR(st.st_mode);
        if (dir) {
            rc = walk(paths[i], 0, &pl, err);
        } else {
            char *p = strdup(paths[i]);
            if (!p || push_path(&pl, p) < 0)
                rc = oom(err);
        }
        if (rc == 0 && pl.n > n_explicit) {
            bool *e = realloc(explicit_files, pl.n * sizeof(bool));
            if (!e) {
                rc = oom(err);
                break;
            }
            explicit_files = e;
            for (size_t k = before; k < pl.n; k++)
                explicit_files[k] = !dir;
            n_explicit = pl.n;
        }
    }
    for (size_t i = 0; i < pl.n && rc == 0; i++)
        rc = read_one(&ld, pl.v[i], explicit_files[i], err);
    if (rc == 0 && out->n_examples == 0) {
        if (n_paths == 1)
            rc = no_examples(out, paths[0], err);
        else
            rc = cd_error(err, CD_ERR_DATA, 0, "no NLU training examples found in the %zu paths "
                          "given (%zu files read)", n_paths, out->n_files);
    }
    for (size_t i = 0; i < pl.n; i++)
        free(pl.v[i]);
    free(pl.v);
    free(explicit_files);
    cd_nlu_strmap_done(&ld.synonym_index);
    if (rc < 0 && !(flags & CD_NLU_LOAD_KEEP_ON_ERROR))
        cd_nlu_data_done(out);
    return rc;
}

int cd_nlu_data_load(const char *const *paths, size_t n_paths, cd_nlu_data *out,
                     cd_error_t *err)
{
    return cd_nlu_data_load_flags(paths, n_paths, 0, out, err);
}

static void pattern_sets_done(cd_nlu_pattern_set *ps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(ps[i].name);
        for (size_t k = 0; k < ps[i].n_items; k++)
            free(ps[i].items[k]);
        free(ps[i].items);
    }
    free(ps);
}

void cd_nlu_data_done(cd_nlu_data *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n_diags; i++) {
        free(d->diags[i].code);
        free(d->diags[i].msg);
    }
    free(d->diags);
    if (!d->borrowed) {
        for (size_t i = 0; i < d->n_examples; i++) {
            cd_nlu_example *ex = &d->examples[i];
            free(ex->text);
            free(ex->intent);
            free(ex->response_key);
            for (size_t k = 0; k < ex->n_entities; k++)
                cd_nlu_entity_done(&ex->entities[k]);
            free(ex->entities);
        }
        for (size_t i = 0; i < d->n_synonyms; i++) {
            free(d->synonyms[i].text);
            free(d->synonyms[i].value);
        }
        free(d->synonyms);
        pattern_sets_done(d->regexes, d->n_regexes);
        pattern_sets_done(d->lookups, d->n_lookups);
        pattern_sets_done(d->domains, d->n_domains);
        for (size_t i = 0; i < d->n_files; i++)
            free(d->files[i]);
        free(d->files);
    }
    free(d->examples);
    memset(d, 0, sizeof(*d));
}

size_t cd_nlu_data_count_diags(const cd_nlu_data *d, cd_nlu_diag_level level)
{
    size_t n = 0;
    for (size_t i = 0; i < d->n_diags; i++)
        n += d->diags[i].level == level;
    return n;
}
