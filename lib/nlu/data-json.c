/* Legacy Rasa JSON (`rasa_nlu_data`, rasa-formats.md §1.5) through jansson. jansson keeps no
 * node positions, so a small structural scan (strings and brackets only; jansson has already
 * accepted the text) finds where each array element of rasa_nlu_data starts, which gives
 * every example its file:line:col. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "nlu/annotation.h"
#include "nlu/data-internal.h"
#include "nlu/utf8.h"

#define W CD_NLU_DIAG_WARNING
#define E CD_NLU_DIAG_ERROR
#define I CD_NLU_DIAG_INFO
#define MAX_SCAN_DEPTH 4

enum { SEC_EXAMPLES, SEC_SYNONYMS, SEC_REGEX, SEC_LOOKUP, N_SEC };
static const char *const sec_names[N_SEC] = {"common_examples", "entity_synonyms",
                                             "regex_features", "lookup_tables"};

typedef struct {
    size_t *off[N_SEC]; /* byte offset of element i of each section */
    size_t n[N_SEC];
} positions;

static int oom(cd_error_t *err)
{
    return cd_error(err, CD_ERR_SYSTEM, 0, "out of memory");
}

static bool key_is(const char *b, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(b, want, len) == 0;
}

/* Record the start of every element of rasa_nlu_data.<section>[]. */
static void scan_positions(const char *s, size_t len, positions *pos)
{
    struct {
        char type;           /* '{' or '[' */
        const char *key;     /* current key (objects) */
        size_t keylen, idx;  /* element index (arrays) */
        bool expect_key;
    } st[MAX_SCAN_DEPTH + 1];
    size_t depth = 0, deep = 0; /* deep: levels below what we track */
    const char *pending_key = NULL;
    size_t pending_len = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == ':')
            continue;
        if (ch == ',') {
            if (!deep && depth) {
                if (st[depth - 1].type == '[')
                    st[depth - 1].idx++;
                else
                    st[depth - 1].expect_key = true;
            }
            continue;
        }
        if (ch == '}' || ch == ']') {
            if (deep)
                deep--;
            else if (depth)
                depth--;
            continue;
        }
        /* a value (or key) starts here */
        bool is_key = !deep && depth && st[depth - 1].type == '{' && st[depth - 1].expect_key;
        if (!deep && depth == 3 && st[2].type == '[' && st[1].type == '{' &&
            st[0].type == '{' && key_is(st[0].key, st[0].keylen, "rasa_nlu_data")) {
            for (int k = 0; k < N_SEC; k++)
                if (key_is(st[1].key, st[1].keylen, sec_names[k])) {
                    size_t *o = realloc(pos->off[k], (pos->n[k] + 1) * sizeof(size_t));
                    if (o) {
                        pos->off[k] = o;
                        o[pos->n[k]++] = i;
                    }
                }
        }
        if (ch == '"') {
            size_t b = i + 1;
            for (i = b; i < len && s[i] != '"'; i++)
                if (s[i] == '\\')
                    i++;
            if (is_key) {
                pending_key = s + b;
                pending_len = i - b;
                st[depth - 1].key = pending_key;
                st[depth - 1].keylen = pending_len;
                st[depth - 1].expect_key = false;
            }
            continue;
        }
        if (ch == '{' || ch == '[') {
            if (deep || depth == MAX_SCAN_DEPTH) {
                deep++;
                continue;
            }
            st[depth].type = ch;
            st[depth].key = NULL;
            st[depth].keylen = 0;
            st[depth].idx = 0;
            st[depth].expect_key = ch == '{';
            depth++;
            continue;
        }
        /* number, true, false, null: skip to the next delimiter */
        while (i + 1 < len && !strchr(",]} \t\r\n", s[i + 1]))
            i++;
    }
}

typedef struct {
    cd_nlu_loader *ld;
    positions pos;
    size_t base; /* bytes skipped before the JSON text (BOM) */
} ctx_t;

static void where(ctx_t *c, int sec, size_t i, int *line, int *col)
{
    if (i < c->pos.n[sec]) {
        cd_nlu_ld_pos(c->ld, c->base + c->pos.off[sec][i], line, col);
    } else {
        *line = 1, *col = 1;
    }
}

static char *dup_or_oom(const char *s, cd_error_t *err)
{
    char *d = strdup(s);
    if (!d)
        oom(err);
    return d;
}

static int read_entities(ctx_t *c, json_t *ents, const char *text, size_t text_len, int line,
                         int col, cd_nlu_entity **out, size_t *n_out, cd_error_t *err)
{
    size_t n = json_array_size(ents), cps = cd_utf8_count(text, text_len);
    *out = NULL;
    *n_out = 0;
    if (!n)
        return 0;
    cd_nlu_entity *v = calloc(n, sizeof(*v));
    if (!v)
        return oom(err);
    size_t k = 0;
    cd_utf8_cursor cs = {0, 0}, ce = {0, 0};
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(ents, i);
        json_t *js = json_object_get(e, "start"), *je = json_object_get(e, "end"),
               *jt = json_object_get(e, "entity"), *jv = json_object_get(e, "value");
        if (!json_is_object(e) || !json_is_integer(js) || !json_is_integer(je) ||
            !json_is_string(jt)) {
            if (cd_nlu_ld_diag(c->ld, E, line, col, "bad-annotation",
                               "entity %zu needs integer `start`, `end` and a string `entity`; "
                               "ignored", i) < 0)
                goto fail;
            continue;
        }
        json_int_t s = json_integer_value(js), en = json_integer_value(je);
        if (s < 0 || en <= s || (size_t)en > cps) {
            if (cd_nlu_ld_diag(c->ld, E, line, col, "bad-annotation",
                               "entity `%s` span %lld..%lld is outside the text (%zu "
                               "characters); ignored",
                               json_string_value(jt), (long long)s, (long long)en, cps) < 0)
                goto fail;
            continue;
        }
        cd_nlu_entity *x = &v[k];
        x->start = (int)s, x->end = (int)en;
        size_t b = cd_utf8_seek(text, text_len, &cs, (size_t)s);
        size_t eb = cd_utf8_seek(text, text_len, &ce, (size_t)en);
        if (!(x->entity = dup_or_oom(json_string_value(jt), err)))
            goto fail_err;
        if (json_is_string(jv))
            x->value = strdup(json_string_value(jv));
        else if (json_is_number(jv))
            x->value = json_dumps(jv, JSON_ENCODE_ANY);
        else
            x->value = strndup(text + b, eb - b);
        if (!x->value)
            goto fail;
        static const char *const opt[] = {"role", "group"};
        char **dst[] = {&x->role, &x->group};
        for (int o = 0; o < 2; o++) {
            json_t *jo = json_object_get(e, opt[o]);
            if (json_is_string(jo) && !(*dst[o] = strdup(json_string_value(jo))))
                goto fail;
        }
        k++;
        /* the value differs from the text: a synonym, as Rasa's EntitySynonymMapper learns */
        if (strlen(x->value) != eb - b || memcmp(x->value, text + b, eb - b) != 0) {
            char *t = strndup(text + b, eb - b);
            int rc = t ? cd_nlu_ld_synonym(c->ld, t, x->value, line, col, err) : oom(err);
            free(t);
            if (rc < 0)
                goto fail_err;
        }
    }
    *out = v;
    *n_out = k;
    if (!k) {
        free(v);
        *out = NULL;
    }
    return 0;
fail:
    oom(err);
fail_err:
    for (size_t i = 0; i <= k && i < n; i++)
        cd_nlu_entity_done(&v[i]);
    free(v);
    return -1;
}

static int read_examples(ctx_t *c, json_t *arr, cd_error_t *err)
{
    size_t i;
    json_t *ex;
    json_array_foreach(arr, i, ex)
    {
        int line, col;
        where(c, SEC_EXAMPLES, i, &line, &col);
        json_t *jt = json_object_get(ex, "text"), *ji = json_object_get(ex, "intent"),
               *je = json_object_get(ex, "entities");
        if (!json_is_object(ex) || !json_is_string(jt)) {
            if (cd_nlu_ld_diag(c->ld, E, line, col, "schema",
                               "common_examples[%zu]: needs a string `text`; skipped", i) < 0)
                return oom(err);
            continue;
        }
        const char *intent = json_is_string(ji) ? json_string_value(ji) : "";
        if (!*intent || !json_string_length(jt)) {
            if (cd_nlu_ld_diag(c->ld, W, line, col, "empty-intent",
                               "common_examples[%zu]: %s; skipped", i,
                               *intent ? "empty text" : "no intent (Rasa's \"Found empty "
                                                        "intent\")") < 0)
                return oom(err);
            continue;
        }
        if (je && !json_is_array(je) && !json_is_null(je)) {
            if (cd_nlu_ld_diag(c->ld, E, line, col, "schema",
                               "common_examples[%zu]: `entities` must be a list; skipped", i) < 0)
                return oom(err);
            continue;
        }
        const char *text = json_string_value(jt);
        size_t tlen = json_string_length(jt);
        if (c->ld->text_budget < tlen)
            return cd_error(err, CD_ERR_DATA, 0, "%s:%d:%d: text past the size limit",
                            c->ld->file, line, col);
        c->ld->text_budget -= tlen;
        cd_nlu_entity *ents;
        size_t n_ents;
        if (read_entities(c, je, text, tlen, line, col, &ents, &n_ents, err) < 0)
            return -1;
        char *t = strndup(text, tlen), *in = strdup(intent);
        if (!t || !in) {
            free(t);
            free(in);
            for (size_t k = 0; k < n_ents; k++)
                cd_nlu_entity_done(&ents[k]);
            free(ents);
            return oom(err);
        }
        if (cd_nlu_ld_add_example(c->ld, in, t, ents, n_ents, line, col, err) < 0)
            return -1;
    }
    return 0;
}

static int read_synonyms(ctx_t *c, json_t *arr, cd_error_t *err)
{
    size_t i;
    json_t *s;
    json_array_foreach(arr, i, s)
    {
        int line, col;
        where(c, SEC_SYNONYMS, i, &line, &col);
        json_t *v = json_object_get(s, "value"), *syn = json_object_get(s, "synonyms");
        if (!json_is_string(v) || !json_is_array(syn)) {
            if (cd_nlu_ld_diag(c->ld, E, line, col, "schema", "entity_synonyms[%zu]: needs a "
                               "string `value` and a list `synonyms`; skipped", i) < 0)
                return oom(err);
            continue;
        }
        size_t k;
        json_t *t;
        json_array_foreach(syn, k, t)
        {
            if (!json_is_string(t)) {
                if (cd_nlu_ld_diag(c->ld, E, line, col, "schema", "entity_synonyms[%zu]: "
                                   "synonym %zu is not a string; skipped", i, k) < 0)
                    return oom(err);
                continue;
            }
            if (cd_nlu_ld_synonym(c->ld, json_string_value(t), json_string_value(v), line, col,
                                  err) < 0)
                return -1;
        }
    }
    return 0;
}

static int read_patterns(ctx_t *c, json_t *arr, bool lookup, cd_error_t *err)
{
    int sec = lookup ? SEC_LOOKUP : SEC_REGEX;
    const char *what = sec_names[sec], *field = lookup ? "elements" : "pattern";
    size_t i;
    json_t *r;
    json_array_foreach(arr, i, r)
    {
        int line, col;
        where(c, sec, i, &line, &col);
        json_t *name = json_object_get(r, "name"), *v = json_object_get(r, field);
        bool ok = json_is_string(name) && json_string_length(name) &&
                  (lookup ? json_is_array(v) || json_is_string(v) : json_is_string(v));
        if (!ok) {
            if (cd_nlu_ld_diag(c->ld, E, line, col, "schema", "%s[%zu]: needs a `name` and "
                               "`%s`; skipped", what, i, field) < 0)
                return oom(err);
            continue;
        }
        if (lookup && json_is_string(v)) {
            if (cd_nlu_ld_diag(c->ld, W, line, col, "unsupported", "lookup table `%s`: "
                               "elements from a file (`%s`) are not supported, ignored",
                               json_string_value(name), json_string_value(v)) < 0)
                return oom(err);
            continue;
        }
        cd_nlu_pattern_set *ps = cd_nlu_ld_pattern(c->ld, lookup, json_string_value(name), line,
                                                   err);
        if (!ps)
            return -1;
        if (!lookup) {
            if (cd_nlu_ld_pattern_add(ps, json_string_value(v), json_string_length(v), err) < 0)
                return -1;
            continue;
        }
        size_t k;
        json_t *el;
        json_array_foreach(v, k, el)
        {
            if (!json_is_string(el) || !json_string_length(el)) {
                if (cd_nlu_ld_diag(c->ld, W, line, col, "empty-example", "lookup table `%s`: "
                                   "element %zu is not a non-empty string; skipped",
                                   json_string_value(name), k) < 0)
                    return oom(err);
                continue;
            }
            if (cd_nlu_ld_pattern_add(ps, json_string_value(el), json_string_length(el), err) < 0)
                return -1;
        }
    }
    return 0;
}

static int read_doc(ctx_t *c, json_t *root, cd_error_t *err)
{
    cd_nlu_loader *ld = c->ld;
    json_t *data = json_is_object(root) ? json_object_get(root, "rasa_nlu_data") : NULL;
    if (!data) {
        /* LUIS, Wit, Dialogflow or anything else: Rasa's importer skips such files */
        if (ld->explicit_file &&
            cd_nlu_ld_diag(ld, W, 1, 1, "not-nlu", "no `rasa_nlu_data` key: not Rasa NLU JSON "
                           "(LUIS, Wit and Dialogflow are not supported), file ignored") < 0)
            return oom(err);
        return 0;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "rasa_nlu_data") != 0 &&
            cd_nlu_ld_diag(ld, W, 1, 1, "unknown-key", "unknown top-level key `%.100s`, "
                           "ignoring", key) < 0)
            return oom(err);
    }
    if (!json_is_object(data))
        return cd_nlu_ld_diag(ld, E, 1, 1, "schema", "`rasa_nlu_data` must be an object") < 0
                   ? oom(err)
                   : 0;
    json_object_foreach(data, key, v)
    {
        bool known = false;
        for (int k = 0; k < N_SEC; k++)
            known |= !strcmp(key, sec_names[k]);
        if (known && !json_is_array(v) && !json_is_null(v)) {
            if (cd_nlu_ld_diag(ld, E, 1, 1, "schema", "`rasa_nlu_data.%s` must be a list", key) <
                0)
                return oom(err);
        } else if (!known &&
                   cd_nlu_ld_diag(ld, W, 1, 1, "unknown-key",
                                  !strcmp(key, "intent_examples") ||
                                          !strcmp(key, "entity_examples")
                                      ? "`rasa_nlu_data.%s` is ignored by Rasa 3 (use "
                                        "common_examples), ignoring"
                                      : "unknown key `rasa_nlu_data.%.100s`, ignoring",
                                  key) < 0) {
            return oom(err);
        }
    }
    json_t *arr;
    if (json_is_array(arr = json_object_get(data, "common_examples")) &&
        read_examples(c, arr, err) < 0)
        return -1;
    if (json_is_array(arr = json_object_get(data, "entity_synonyms")) &&
        read_synonyms(c, arr, err) < 0)
        return -1;
    if (json_is_array(arr = json_object_get(data, "regex_features")) &&
        read_patterns(c, arr, false, err) < 0)
        return -1;
    if (json_is_array(arr = json_object_get(data, "lookup_tables")) &&
        read_patterns(c, arr, true, err) < 0)
        return -1;
    return 0;
}

int cd_nlu_json_read(cd_nlu_loader *ld, cd_error_t *err)
{
    ctx_t c = {.ld = ld};
    const char *s = ld->buf;
    size_t len = ld->len;
    if (len >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3)) /* a BOM some editors write */
        c.base = 3, s += 3, len -= 3;
    json_error_t jerr;
    json_t *root = json_loadb(s, len, 0, &jerr);
    if (!root) {
        int line = jerr.line, col = jerr.column;
        if (jerr.position > 0)
            cd_nlu_ld_pos(ld, c.base + (size_t)jerr.position - 1, &line, &col);
        return cd_error(err, CD_ERR_DATA, 0, "%s:%d:%d: invalid JSON: %s", ld->file, line, col,
                        jerr.text);
    }
    scan_positions(s, len, &c.pos);
    int rc = read_doc(&c, root, err);
    json_decref(root);
    for (int k = 0; k < N_SEC; k++)
        free(c.pos.off[k]);
    return rc;
}
