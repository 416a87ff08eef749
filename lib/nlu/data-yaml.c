/* Rasa 3.x NLU YAML (rasa-formats.md §1.1-1.2, Rasa's RasaYAMLReader) through libyaml's
 * document API, whose node marks give every example its file:line:col. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "nlu/data-internal.h"
#include "nlu/utf8.h"
#include "util/strbuf.h"

typedef struct {
    cd_nlu_loader *ld;
    yaml_document_t *doc;
} ctx_t;

#define W CD_NLU_DIAG_WARNING
#define E CD_NLU_DIAG_ERROR
#define I CD_NLU_DIAG_INFO

static int oom(cd_error_t *err)
{
    return cd_error(err, CD_ERR_SYSTEM, 0, "out of memory");
}

static yaml_node_t *node(ctx_t *c, int id)
{
    return yaml_document_get_node(c->doc, id);
}

static int line_of(const yaml_node_t *n)
{
    return (int)n->start_mark.line + 1;
}

static int col_of(const yaml_node_t *n)
{
    return (int)n->start_mark.column + 1;
}

static const char *sval(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

/* YAML's null: an empty plain scalar or ~/null (a missing value in Rasa's eyes). */
static bool is_null(const yaml_node_t *n)
{
    if (!n)
        return true;
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = sval(n);
    return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
           !strcmp(v, "NULL");
}

static const char *node_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return "a scalar";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a mapping";
    default:
        return "nothing";
    }
}

static int diag(ctx_t *c, cd_nlu_diag_level lv, const yaml_node_t *at, const char *code,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int diag(ctx_t *c, cd_nlu_diag_level lv, const yaml_node_t *at, const char *code,
                const char *fmt, ...)
{
    cd_strbuf sb = CD_STRBUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    int rc = cd_strbuf_vprintf(&sb, fmt, ap);
    va_end(ap);
    if (rc == 0)
        rc = cd_nlu_ld_diag(c->ld, lv, at ? line_of(at) : 0, at ? col_of(at) : 0, code, "%s",
                            cd_strbuf_str(&sb));
    cd_strbuf_done(&sb);
    return rc;
}

/* --- keys of a mapping ---------------------------------------------------------------- */

typedef struct {
    const char *name;
    yaml_node_t *key, *value;
} field_t;

/* Fill fields[] from mapping m; a known key given twice is fatal (ruamel refuses duplicate
 * keys, so Rasa does). Keys in ignored[] (NULL-terminated) are accepted silently, any other
 * key gets an `unknown-key` warning at its position. */
static int fields_of(ctx_t *c, yaml_node_t *m, field_t *fields, size_t n_fields,
                     const char *const *ignored, const char *where, cd_error_t *err)
{
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(c, p->key), *v = node(c, p->value);
        if (!k)
            continue;
        if (k->type != YAML_SCALAR_NODE) {
            if (diag(c, W, k, "unknown-key", "%s key in %s, ignoring", node_kind(k), where) < 0)
                return oom(err);
            continue;
        }
        bool known = false;
        for (size_t i = 0; i < n_fields; i++)
            if (!strcmp(sval(k), fields[i].name)) {
                if (fields[i].key)
                    return cd_error(err, CD_ERR_DATA, 0,
                                    "%s:%d:%d: duplicate key `%s` (first at line %d)",
                                    c->ld->file, line_of(k), col_of(k), sval(k),
                                    line_of(fields[i].key));
                fields[i].key = k;
                fields[i].value = v;
                known = true;
            }
        for (size_t i = 0; !known && ignored && ignored[i]; i++)
            known = !strcmp(sval(k), ignored[i]);
        if (!known && diag(c, W, k, "unknown-key", "unknown key `%.100s` in %s, ignoring",
                           sval(k), where) < 0)
            return oom(err);
    }
    return 0;
}

/* --- examples ------------------------------------------------------------------------- */

static bool strip_char(char ch)
{
    return ch == '\n' || ch == '\r' || ch == ' '; /* Rasa's STRIP_SYMBOLS */
}

/* Python's str.splitlines() breaks: \n \r \r\n \v \f \x1c \x1d \x1e U+0085 U+2028 U+2029.
 * Returns the length of the break at s[i], 0 if none. */
static size_t line_break(const char *s, size_t len, size_t i)
{
    unsigned char ch = (unsigned char)s[i];
    if (ch == '\r')
        return i + 1 < len && s[i + 1] == '\n' ? 2 : 1;
    if (ch == '\n' || ch == '\v' || ch == '\f' || (ch >= 0x1c && ch <= 0x1e))
        return 1;
    if (ch == 0xC2 && i + 1 < len && (unsigned char)s[i + 1] == 0x85)
        return 2;
    if (ch == 0xE2 && i + 2 < len && (unsigned char)s[i + 1] == 0x80 &&
        ((unsigned char)s[i + 2] == 0xA8 || (unsigned char)s[i + 2] == 0xA9))
        return 3;
    return 0;
}

typedef int (*line_fn)(ctx_t *c, void *arg, const char *s, size_t len, int line, int col,
                       cd_error_t *err);

/* Rasa's _parse_multiline_example: every line must start with "-"; the example is
 * line[1:].strip("\n\r "). For a literal block (`|`) value line i is source line
 * mark+1+i, so each example gets its own position; other styles share the scalar's. */
static int each_line(ctx_t *c, yaml_node_t *n, const char *item, line_fn fn, void *arg,
                     cd_error_t *err)
{
    const char *s = sval(n);
    size_t len = n->data.scalar.length;
    bool literal = n->data.scalar.style == YAML_LITERAL_SCALAR_STYLE;
    size_t idx = 0;
    for (size_t b = 0; b < len; idx++) {
        size_t e = b, brk = 0;
        /* most bytes are printable ASCII: only test the few that can start a break */
        while (e < len && (((unsigned char)s[e] > 0x1e && (unsigned char)s[e] != 0xC2 &&
                             (unsigned char)s[e] != 0xE2) ||
                           !(brk = line_break(s, len, e))))
            e++;
        int line = line_of(n), col = col_of(n);
        if (literal) {
            size_t ls = cd_nlu_ld_line_start(c->ld, n->start_mark.line + 1 + idx);
            if (ls < c->ld->len) {
                size_t k = ls;
                while (k < c->ld->len && c->ld->buf[k] == ' ')
                    k++;
                line = (int)(n->start_mark.line + 2 + idx);
                col = (int)(k - ls) + 1;
            }
        }
        if (e == b || s[b] != '-') {
            int rc = e == b ? cd_nlu_ld_diag(c->ld, W, line, col, "example-no-dash",
                                             "empty line in `%s` examples, skipped (as Rasa)",
                                             item)
                            : cd_nlu_ld_diag(c->ld, W, line, col, "example-no-dash",
                                             "`%s`: example does not start with `-`, skipped: "
                                             "%.*s", item, (int)(e - b > 120 ? 120 : e - b),
                                             s + b);
            if (rc < 0)
                return oom(err);
        } else {
            size_t tb = b + 1, te = e;
            while (tb < te && strip_char(s[tb]))
                tb++;
            while (te > tb && strip_char(s[te - 1]))
                te--;
            /* a literal block maps value lines to source lines: the text starts after "-"
             * and the stripped spaces (ASCII: bytes = columns); other styles fold or escape
             * lines, so their examples share the scalar's position */
            int tcol = literal ? col + (int)(tb - b)
                               : col + (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE);
            if (fn(c, arg, s + tb, te - tb, line, tcol, err) < 0)
                return -1;
        }
        b = e + brk;
    }
    return 0;
}

static int add_intent_line(ctx_t *c, void *arg, const char *s, size_t len, int line, int col,
                           cd_error_t *err)
{
    return cd_nlu_ld_add_annotated(c->ld, arg, s, len, line, col, err);
}

/* Extended form: `- text: ...` maps with optional metadata. */
static int intent_list(ctx_t *c, const char *intent, yaml_node_t *seq, size_t *n_added,
                       cd_error_t *err)
{
    for (yaml_node_item_t *it = seq->data.sequence.items.start;
         it < seq->data.sequence.items.top; it++) {
        yaml_node_t *ex = node(c, *it);
        if (is_null(ex) || (ex->type == YAML_MAPPING_NODE &&
                            ex->data.mapping.pairs.top == ex->data.mapping.pairs.start))
            continue; /* Rasa: `for example in examples if example` */
        if (ex->type != YAML_MAPPING_NODE) {
            if (diag(c, E, ex, "schema", "intent `%s`: an example in a list must be a mapping "
                     "with `text`, not %s; skipped", intent, node_kind(ex)) < 0)
                return oom(err);
            continue;
        }
        field_t f[] = {{"text", 0, 0}, {"metadata", 0, 0}};
        if (fields_of(c, ex, f, 2, NULL, "an intent example", err) < 0)
            return -1;
        yaml_node_t *t = f[0].value;
        if (!t || t->type != YAML_SCALAR_NODE || is_null(t)) {
            if (diag(c, E, ex, "schema", "intent `%s`: example without a `text` string, skipped",
                     intent) < 0)
                return oom(err);
            continue;
        }
        const char *s = sval(t);
        size_t b = 0, e = t->data.scalar.length;
        while (b < e && strip_char(s[b]))
            b++;
        while (e > b && strip_char(s[e - 1]))
            e--;
        int line = line_of(t), col = col_of(t);
        yaml_scalar_style_t st = t->data.scalar.style;
        if (st == YAML_LITERAL_SCALAR_STYLE || st == YAML_FOLDED_SCALAR_STYLE) {
            size_t ls = cd_nlu_ld_line_start(c->ld, t->start_mark.line + 1);
            size_t k = ls;
            while (k < c->ld->len && c->ld->buf[k] == ' ')
                k++;
            if (ls < c->ld->len)
                line++, col = (int)(k - ls) + 1;
        } else if (st != YAML_PLAIN_SCALAR_STYLE) {
            col++; /* past the quote */
        }
        size_t before = c->ld->d->n_examples;
        if (cd_nlu_ld_add_annotated(c->ld, intent, s + b, e - b, line, col, err) < 0)
            return -1;
        *n_added += c->ld->d->n_examples - before;
    }
    return 0;
}

typedef struct {
    const char *intent;
    size_t n;
} intent_arg;

static int count_intent_line(ctx_t *c, void *arg, const char *s, size_t len, int line, int col,
                             cd_error_t *err)
{
    intent_arg *a = arg;
    size_t before = c->ld->d->n_examples;
    if (add_intent_line(c, (void *)a->intent, s, len, line, col, err) < 0)
        return -1;
    a->n += c->ld->d->n_examples - before;
    return 0;
}

/* Python's str.strip(): the intent name is stripped by TrainingData.sanitize_examples. */
static char *strip_name(const char *s)
{
    size_t b = 0, e = strlen(s);
    while (b < e && (s[b] == ' ' || (s[b] >= '\t' && s[b] <= '\r')))
        b++;
    while (e > b && (s[e - 1] == ' ' || (s[e - 1] >= '\t' && s[e - 1] <= '\r')))
        e--;
    return strndup(s + b, e - b);
}

static int parse_intent(ctx_t *c, yaml_node_t *item, field_t *f, cd_error_t *err)
{
    yaml_node_t *name = f[0].value, *ex = f[1].value;
    if (is_null(name) || name->type != YAML_SCALAR_NODE) {
        const char *why = is_null(name) ? "an empty name" : "a name that is not a string";
        return diag(c, is_null(name) ? W : E, f[0].key, is_null(name) ? "empty-intent" : "schema",
                    "intent with %s, skipped", why) < 0
                   ? oom(err)
                   : 0;
    }
    char *intent = strip_name(sval(name));
    if (!intent)
        return oom(err);
    int rc = 0;
    intent_arg a = {intent, 0};
    if (!*intent) {
        if (diag(c, W, name, "empty-intent", "intent with an empty name, skipped") < 0)
            rc = oom(err);
    } else if (is_null(ex)) {
        /* Rasa's "Intent 'x' has no examples." */
    } else if (ex->type == YAML_SCALAR_NODE) {
        rc = each_line(c, ex, intent, count_intent_line, &a, err);
    } else if (ex->type == YAML_SEQUENCE_NODE) {
        rc = intent_list(c, intent, ex, &a.n, err);
    } else {
        if (diag(c, E, ex, "schema", "intent `%s`: `examples` must be a block string or a "
                 "list of `text:` mappings, not %s; skipped", intent, node_kind(ex)) < 0)
            rc = oom(err);
        a.n = 1; /* reported already */
    }
    if (rc == 0 && *intent && a.n == 0 &&
        diag(c, W, ex ? ex : item, "empty-intent", "intent `%s` has no examples", intent) < 0)
        rc = oom(err);
    free(intent);
    return rc;
}

typedef struct {
    const char *kind, *name;
    cd_nlu_pattern_set *ps;
} set_arg;

static int add_set_line(ctx_t *c, void *arg, const char *s, size_t len, int line, int col,
                        cd_error_t *err)
{
    set_arg *a = arg;
    if (len == 0)
        return cd_nlu_ld_diag(c->ld, W, line, col, "empty-example",
                              "%s `%s`: empty entry, skipped", a->kind, a->name) < 0
                   ? oom(err)
                   : 0;
    if (c->ld->text_budget < len)
        return cd_error(err, CD_ERR_DATA, 0, "%s:%d:%d: text expands past the size limit "
                        "(YAML aliases?)", c->ld->file, line, col);
    c->ld->text_budget -= len;
    if (!a->ps) { /* synonym */
        char *t = strndup(s, len);
        int rc = t ? cd_nlu_ld_synonym(c->ld, t, a->name, line, col, err) : oom(err);
        free(t);
        return rc;
    }
    return cd_nlu_ld_pattern_add(a->ps, s, len, err);
}

/* synonym / regex / lookup items: `<kind>: name` + `examples: |` block. */
static int parse_set(ctx_t *c, const char *kind, yaml_node_t *item, field_t *f,
                     cd_error_t *err)
{
    yaml_node_t *name = f[0].value, *ex = f[1].value;
    if (is_null(name) || name->type != YAML_SCALAR_NODE || !*sval(name))
        return diag(c, W, f[0].key, "empty-name", "%s with an empty name, skipped", kind) < 0
                   ? oom(err)
                   : 0;
    const char *nm = sval(name);
    if (is_null(ex) || (ex->type == YAML_SCALAR_NODE && !*sval(ex)))
        return diag(c, W, ex ? ex : item, "empty-examples", "%s `%s` has no examples, skipped",
                    kind, nm) < 0
                   ? oom(err)
                   : 0;
    if (ex->type != YAML_SCALAR_NODE)
        return diag(c, E, ex, "schema", "%s `%s`: `examples` must be a block string "
                    "(`examples: |` with `- ` lines), not %s; skipped", kind, nm,
                    node_kind(ex)) < 0
                   ? oom(err)
                   : 0;
    set_arg a = {kind, nm, NULL};
    if (strcmp(kind, "synonym") != 0 &&
        !(a.ps = cd_nlu_ld_pattern(c->ld, !strcmp(kind, "lookup"), nm, line_of(item), err)))
        return -1;
    return each_line(c, ex, nm, add_set_line, &a, err);
}

static int parse_item(ctx_t *c, yaml_node_t *item, cd_error_t *err)
{
    if (item->type != YAML_MAPPING_NODE)
        return diag(c, W, item, "unknown-item", "unexpected item (%s) in `nlu`, skipped (items are "
                    "mappings with `intent`, `synonym`, `regex` or `lookup`)", node_kind(item)) < 0
                   ? oom(err)
                   : 0;
    /* Rasa's dispatch order: intent, synonym, regex, lookup */
    static const char *const kinds[] = {"intent", "synonym", "regex", "lookup"};
    for (size_t k = 0; k < 4; k++) {
        for (yaml_node_pair_t *p = item->data.mapping.pairs.start;
             p < item->data.mapping.pairs.top; p++) {
            yaml_node_t *key = node(c, p->key);
            if (!key || key->type != YAML_SCALAR_NODE || strcmp(sval(key), kinds[k]) != 0)
                continue;
            field_t f[] = {{kinds[k], 0, 0}, {"examples", 0, 0}, {"metadata", 0, 0}};
            char where[32];
            snprintf(where, sizeof(where), "the `%s` item", kinds[k]);
            if (fields_of(c, item, f, k == 0 ? 3 : 2, NULL, where, err) < 0)
                return -1;
            return k == 0 ? parse_intent(c, item, f, err) : parse_set(c, kinds[k], item, f, err);
        }
    }
    return diag(c, W, item, "unknown-item", "`nlu` item without a supported key, skipped "
                "(supported: `intent`, `synonym`, `regex`, `lookup`)") < 0
               ? oom(err)
               : 0;
}

/* --- version -------------------------------------------------------------------------- */

/* Compare dotted numeric versions; -2 if v does not parse. */
static int version_cmp(const char *v, const char *latest)
{
    for (;;) {
        char *e1, *e2;
        errno = 0;
        if (*v < '0' || *v > '9')
            return -2;
        unsigned long a = strtoul(v, &e1, 10), b = strtoul(latest, &e2, 10);
        if (errno)
            return -2;
        if (a != b)
            return a < b ? -1 : 1;
        bool more1 = *e1 == '.', more2 = *e2 == '.';
        if (*e1 && !more1)
            return -2;
        if (!more1 && !more2)
            return 0;
        if (!more1) { /* "3" vs "3.1": missing parts are 0 */
            v = "0", latest = e2 + 1;
            while (*latest == '0' || *latest == '.')
                latest++;
            return *latest ? -1 : 0;
        }
        if (!more2) {
            const char *r = e1 + 1;
            while (*r == '0' || *r == '.')
                r++;
            return *r ? 1 : 0;
        }
        v = e1 + 1, latest = e2 + 1;
    }
}

/* Rasa's validate_training_data_format_version. Returns false if the file is skipped. */
static bool check_version(ctx_t *c, yaml_node_t *key, yaml_node_t *v, int *rc, cd_error_t *err)
{
    const char *latest = CD_NLU_FORMAT_VERSION;
    if (!key) {
        if (diag(c, I, NULL, "no-version", "no `version` key, read as format %s", latest) < 0)
            *rc = oom(err);
        return true;
    }
    if (!v || v->type != YAML_SCALAR_NODE || is_null(v)) {
        if (diag(c, W, key, "bad-version", "`version` must be a string like \"%s\", read as "
                 "format %s", latest, latest) < 0)
            *rc = oom(err);
        return true;
    }
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", sval(v));
    char *s = buf; /* Rasa strips quote characters: version: '"3.1"' */
    while (*s == '"' || *s == '\'')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == '"' || s[n - 1] == '\''))
        s[--n] = 0;
    int cmp = version_cmp(s, latest);
    bool plain_number = v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && cmp != -2;
    if (cmp == -2 || plain_number) {
        /* an unquoted 3.1 is a float for ruamel, and Rasa asks for a string */
        if (diag(c, W, v, "bad-version", "`version` must be a string, e.g. version: \"%s\"; "
                 "read as format %s", latest, latest) < 0)
            *rc = oom(err);
        return true;
    }
    if (cmp > 0) {
        if (diag(c, W, v, "newer-version", "format version %s is newer than %s, which this "
                 "tool reads: file skipped (as Rasa)", s, latest) < 0)
            *rc = oom(err);
        return false;
    }
    if (cmp < 0 && diag(c, I, v, "old-version", "format version %s read as %s", s, latest) < 0)
        *rc = oom(err);
    return true;
}

/* --- the file ------------------------------------------------------------------------- */

static int yaml_fail(cd_nlu_loader *ld, yaml_parser_t *p, cd_error_t *err)
{
    if (p->error == YAML_MEMORY_ERROR)
        return oom(err);
    const yaml_mark_t *m = &p->problem_mark;
    return cd_error(err, CD_ERR_DATA, 0, "%s:%zu:%zu: invalid YAML: %s%s%s", ld->file,
                    m->line + 1, m->column + 1, p->problem ? p->problem : "parse error",
                    p->context ? " " : "", p->context ? p->context : "");
}

/* A domain's `intents:` list: names, or single-key maps `- greet: {use_entities: true}`. */
static int read_domain_intents(ctx_t *c, yaml_node_t *key, yaml_node_t *list, cd_error_t *err)
{
    if (!list || list->type != YAML_SEQUENCE_NODE)
        return 0;
    cd_nlu_pattern_set *ps = cd_nlu_ld_domain(c->ld, line_of(key), err);
    if (!ps)
        return -1;
    for (yaml_node_item_t *it = list->data.sequence.items.start;
         it < list->data.sequence.items.top; it++) {
        yaml_node_t *n = node(c, *it);
        if (n && n->type == YAML_MAPPING_NODE &&
            n->data.mapping.pairs.top - n->data.mapping.pairs.start == 1)
            n = node(c, n->data.mapping.pairs.start->key);
        if (!n || n->type != YAML_SCALAR_NODE || is_null(n))
            continue;
        if (cd_nlu_ld_pattern_add(ps, sval(n), n->data.scalar.length, err) < 0)
            return -1;
    }
    return 0;
}

static int read_root(ctx_t *c, yaml_node_t *root, cd_error_t *err)
{
    cd_nlu_loader *ld = c->ld;
    if (root->type != YAML_MAPPING_NODE) {
        if (ld->explicit_file &&
            diag(c, W, root, "not-nlu", "top level is %s, not a mapping: no NLU data, file "
                 "ignored", node_kind(root)) < 0)
            return oom(err);
        return 0;
    }
    /* keys of domain, stories and rules files may share the file: ignored silently */
    static const char *const ignored[] = {"responses", "stories", "rules", "intents",
                                          "entities", "slots", "forms", "actions",
                                          "session_config", "e2e_actions", "config", NULL};
    field_t f[] = {{"version", 0, 0}, {"nlu", 0, 0}};
    bool has_nlu = false;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = node(c, p->key);
        has_nlu |= k && k->type == YAML_SCALAR_NODE && !strcmp(sval(k), "nlu");
        if (k && k->type == YAML_SCALAR_NODE && !strcmp(sval(k), "intents") &&
            read_domain_intents(c, k, node(c, p->value), err) < 0)
            return -1;
    }
    if (!has_nlu) {
        /* Rasa's is_yaml_nlu_file: a file without `nlu` holds no NLU data (domain, stories) */
        if (ld->explicit_file &&
            diag(c, I, NULL, "not-nlu", "no `nlu` key: no NLU data in this file") < 0)
            return oom(err);
        return 0;
    }
    if (fields_of(c, root, f, 2, ignored, "the top level", err) < 0)
        return -1;
    int rc = 0;
    if (!check_version(c, f[0].key, f[0].value, &rc, err) || rc < 0)
        return rc;
    yaml_node_t *nlu = f[1].value;
    if (is_null(nlu))
        return diag(c, W, f[1].key, "empty-nlu", "`nlu` is empty") < 0 ? oom(err) : 0;
    if (nlu->type != YAML_SEQUENCE_NODE)
        return diag(c, E, nlu, "schema", "`nlu` must be a list of items, not %s",
                    node_kind(nlu)) < 0
                   ? oom(err)
                   : 0;
    for (yaml_node_item_t *it = nlu->data.sequence.items.start; it < nlu->data.sequence.items.top;
         it++) {
        yaml_node_t *item = node(c, *it);
        if (item && parse_item(c, item, err) < 0)
            return -1;
    }
    return 0;
}

/* libyaml's scanner re-checks every open flow level on each token, so deeply nested flow
 * collections (`[[[[...`) cost quadratic time (200,000 levels: minutes). Rasa's data never
 * nests deeper than a handful of levels: a first pass over the events refuses more than
 * CD_NLU_MAX_YAML_DEPTH before the document is built. */
static int check_depth(cd_nlu_loader *ld, cd_error_t *err)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return oom(err);
    yaml_parser_set_input_string(&p, (const unsigned char *)ld->buf, ld->len);
    int depth = 0, rc = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            rc = 1; /* the loader reports the syntax error itself */
            break;
        }
        yaml_event_type_t t = ev.type;
        if (t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT) {
            if (++depth > CD_NLU_MAX_YAML_DEPTH) {
                rc = cd_error(err, CD_ERR_DATA, 0, "%s:%zu:%zu: YAML nested deeper than %d "
                              "levels", ld->file, ev.start_mark.line + 1,
                              ev.start_mark.column + 1, CD_NLU_MAX_YAML_DEPTH);
                yaml_event_delete(&ev);
                break;
            }
        } else if (t == YAML_SEQUENCE_END_EVENT || t == YAML_MAPPING_END_EVENT) {
            depth--;
        }
        yaml_event_delete(&ev);
        if (t == YAML_STREAM_END_EVENT)
            break;
    }
    yaml_parser_delete(&p);
    return rc < 0 ? -1 : 0;
}

int cd_nlu_yaml_read(cd_nlu_loader *ld, cd_error_t *err)
{
    if (check_depth(ld, err) < 0)
        return -1;
    yaml_parser_t p;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&p))
        return oom(err);
    yaml_parser_set_input_string(&p, (const unsigned char *)ld->buf, ld->len);
    if (!yaml_parser_load(&p, &doc)) {
        int rc = yaml_fail(ld, &p, err);
        yaml_parser_delete(&p);
        return rc;
    }
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root) {
        /* Rasa reads one document; a second one is an error for its YAML loader too */
        yaml_document_t doc2;
        if (!yaml_parser_load(&p, &doc2)) {
            rc = yaml_fail(ld, &p, err);
        } else {
            yaml_node_t *r2 = yaml_document_get_root_node(&doc2);
            if (r2)
                rc = cd_error(err, CD_ERR_DATA, 0, "%s:%zu:%zu: more than one YAML document "
                              "(`---`) in a training data file", ld->file,
                              r2->start_mark.line + 1, r2->start_mark.column + 1);
            yaml_document_delete(&doc2);
        }
        if (rc == 0) {
            ctx_t c = {ld, &doc};
            rc = read_root(&c, root, err);
        }
    } else if (ld->explicit_file &&
               cd_nlu_ld_diag(ld, CD_NLU_DIAG_WARNING, 1, 1, "empty-file", "empty file") < 0) {
        rc = oom(err);
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    return rc;
}
