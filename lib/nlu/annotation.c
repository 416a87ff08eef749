/* Entity annotation parser: a hand-written matcher for Rasa's ENTITY_REGEX
 *   \[(?P<entity_text>[^\]]+?)\](\((?P<entity>[^:)]+?)(?:\:(?P<value>[^)]+))?\)
 *       |\{(?P<entity_dict>[^}]+?)\}|\[(?P<list_entity_dicts>.*?)\])
 * applied like re.finditer (leftmost match, then continue after it; a failed attempt moves on
 * by one character). The dict forms are JSON, decoded by jansson. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "nlu/annotation.h"
#include "nlu/utf8.h"
#include "util/cleanup.h"
#include "util/strbuf.h"

#define MAX_NOTES 8

typedef struct {
    size_t end;                 /* byte offset just past the match */
    size_t text_b, text_e;      /* entity_text */
    size_t ent_b, ent_e;        /* entity (paren form) */
    size_t val_b, val_e;        /* value (paren form), val_b == val_e if absent */
    size_t dict_b, dict_e;      /* inside {..} or [..] */
    char form;                  /* '(', '{' or '[' */
} match_t;

static const char *find(const char *s, size_t from, size_t len, char c)
{
    const char *p = from < len ? memchr(s + from, c, len - from) : NULL;
    return p;
}

/* Try to match at s[i] == '['. */
static bool match_at(const char *s, size_t len, size_t i, match_t *m)
{
    const char *close = find(s, i + 1, len, ']');
    if (!close || (size_t)(close - s) == i + 1)
        return false;
    size_t j = (size_t)(close - s);
    if (j + 1 >= len)
        return false;
    m->text_b = i + 1, m->text_e = j;
    m->form = s[j + 1];
    size_t k = j + 2;
    switch (m->form) {
    case '(': {
        size_t e = k;
        while (e < len && s[e] != ':' && s[e] != ')')
            e++;
        if (e == k || e >= len)
            return false;
        m->ent_b = k, m->ent_e = e;
        if (s[e] == ')') {
            m->val_b = m->val_e = e;
            m->end = e + 1;
            return true;
        }
        const char *rp = find(s, e + 1, len, ')');
        if (!rp || (size_t)(rp - s) == e + 1)
            return false; /* `(e:)`: the value group needs a character, and `:` is no `)` */
        m->val_b = e + 1, m->val_e = (size_t)(rp - s);
        m->end = m->val_e + 1;
        return true;
    }
    case '{': {
        const char *rb = find(s, k, len, '}');
        if (!rb || (size_t)(rb - s) == k)
            return false;
        m->dict_b = k, m->dict_e = (size_t)(rb - s);
        m->end = m->dict_e + 1;
        return true;
    }
    case '[': {
        /* `.*?` does not cross a newline */
        size_t e = k;
        while (e < len && s[e] != ']' && s[e] != '\n')
            e++;
        if (e >= len || s[e] != ']')
            return false;
        m->dict_b = k, m->dict_e = e;
        m->end = e + 1;
        return true;
    }
    default:
        return false;
    }
}

static void note(cd_nlu_annotated *a, size_t off, const char *msg)
{
    if (a->n_notes >= MAX_NOTES)
        return;
    cd_nlu_annotation_note *n = realloc(a->notes, (a->n_notes + 1) * sizeof(*n));
    if (!n)
        return;
    a->notes = n;
    char *dup = strdup(msg);
    if (!dup)
        return;
    n[a->n_notes].offset = off;
    n[a->n_notes++].msg = dup;
}

void cd_nlu_entity_done(cd_nlu_entity *e)
{
    free(e->value);
    free(e->entity);
    free(e->role);
    free(e->group);
    memset(e, 0, sizeof(*e));
}

void cd_nlu_annotated_done(cd_nlu_annotated *a)
{
    if (!a)
        return;
    free(a->text);
    for (size_t i = 0; i < a->n_entities; i++)
        cd_nlu_entity_done(&a->entities[i]);
    free(a->entities);
    free(a->spans);
    for (size_t i = 0; i < a->n_notes; i++)
        free(a->notes[i].msg);
    free(a->notes);
    memset(a, 0, sizeof(*a));
}

/* Entities and their byte spans grow geometrically: one example may carry many thousands of
 * annotations in hostile input, and growing by one would make that quadratic. */
static cd_nlu_entity *new_entity(cd_nlu_annotated *a)
{
    size_t n = a->n_entities;
    if ((n & (n - 1)) == 0) { /* n is 0 or a power of two: the arrays are full */
        size_t cap = n ? 2 * n : 1;
        cd_nlu_entity *e = realloc(a->entities, cap * sizeof(*e));
        if (!e)
            return NULL;
        a->entities = e;
        size_t *sp = realloc(a->spans, 2 * cap * sizeof(size_t));
        if (!sp)
            return NULL;
        a->spans = sp;
    }
    memset(&a->entities[n], 0, sizeof(*a->entities));
    a->spans[2 * n] = a->spans[2 * n + 1] = 0;
    return &a->entities[a->n_entities++];
}

/* One entity dict as entity_dict_schema allows it: entity (required), role, group strings,
 * value string or number. */
static int from_dict(json_t *o, const char *text, size_t text_len, cd_nlu_entity *e,
                     cd_error_t *err)
{
    if (!json_is_object(o))
        return cd_error(err, CD_ERR_DATA, 0, "entity annotation must be a JSON object");
    json_t *ent = json_object_get(o, "entity");
    if (!json_is_string(ent))
        return cd_error(err, CD_ERR_DATA, 0,
                        "entity annotation needs an \"entity\" key with a string value");
    static const char *const str_keys[] = {"role", "group"};
    char **dst[] = {&e->role, &e->group};
    for (size_t i = 0; i < 2; i++) {
        json_t *v = json_object_get(o, str_keys[i]);
        if (!v || json_is_null(v))
            continue;
        if (!json_is_string(v))
            return cd_error(err, CD_ERR_DATA, 0, "entity annotation: \"%s\" must be a string",
                            str_keys[i]);
        if (!(*dst[i] = strdup(json_string_value(v))))
            return cd_error(err, CD_ERR_SYSTEM, 0, "out of memory");
    }
    e->entity = strdup(json_string_value(ent));
    json_t *val = json_object_get(o, "value");
    if (!val || json_is_null(val)) {
        e->value = strndup(text, text_len);
    } else if (json_is_string(val)) {
        e->value = strdup(json_string_value(val));
    } else if (json_is_number(val)) {
        e->value = json_dumps(val, JSON_ENCODE_ANY); /* Python's str() of the number */
    } else {
        return cd_error(err, CD_ERR_DATA, 0,
                        "entity annotation: \"value\" must be a string or a number");
    }
    if (!e->entity || !e->value)
        return cd_error(err, CD_ERR_SYSTEM, 0, "out of memory");
    return 0;
}

static int parse_dicts(const char *s, const match_t *m, cd_nlu_annotated *a, int start,
                       int end, cd_error_t *err)
{
    /* Rasa re-adds the brackets it matched around the group: json.loads("{" + group + "}") */
    cd_strbuf sb = CD_STRBUF_INIT;
    bool list = m->form == '[';
    if (cd_strbuf_addc(&sb, list ? '[' : '{') < 0 ||
        cd_strbuf_add(&sb, s + m->dict_b, m->dict_e - m->dict_b) < 0 ||
        cd_strbuf_addc(&sb, list ? ']' : '}') < 0) {
        cd_strbuf_done(&sb);
        return cd_error(err, CD_ERR_SYSTEM, 0, "out of memory");
    }
    json_error_t jerr;
    json_t *root = json_loadb(sb.buf, sb.len, JSON_DECODE_ANY, &jerr);
    cd_strbuf_done(&sb);
    if (!root)
        return cd_error(err, CD_ERR_DATA, 0, "invalid JSON in entity annotation: %s",
                        jerr.text);
    int rc = 0;
    size_t n = list ? json_array_size(root) : 1;
    if (list && (!json_is_array(root) || n == 0))
        rc = cd_error(err, CD_ERR_DATA, 0, "entity annotation list must hold entity objects");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        cd_nlu_entity *e = new_entity(a);
        if (!e) {
            rc = cd_error(err, CD_ERR_SYSTEM, 0, "out of memory");
            break;
        }
        e->start = start, e->end = end;
        rc = from_dict(list ? json_array_get(root, i) : root, s + m->text_b,
                       m->text_e - m->text_b, e, err);
    }
    json_decref(root);
    return rc;
}

/* Plain-text things a user most likely meant as an annotation. */
static void near_miss(const char *s, size_t len, size_t i, cd_nlu_annotated *a)
{
    const char *close = find(s, i + 1, len, ']');
    if (!close)
        return;
    size_t j = (size_t)(close - s);
    if (j == i + 1) {
        if (j + 1 < len && (s[j + 1] == '(' || s[j + 1] == '{'))
            note(a, i, "annotation with empty entity text stays plain text");
        return;
    }
    if (j + 1 >= len)
        return;
    char c = s[j + 1];
    if (c == '(')
        note(a, i, "`[..](..)` is not a valid annotation (empty entity or value, or no `)`), "
                   "it stays plain text");
    else if (c == '{')
        note(a, i, "`[..]{..}` is not a valid annotation (no closing `}`), it stays plain text");
    else if (c == ' ' && j + 2 < len && (s[j + 2] == '(' || s[j + 2] == '{'))
        note(a, i, "space between `[..]` and the entity, it stays plain text");
}

int cd_nlu_annotation_parse(const char *s, size_t len, cd_nlu_annotated *out, size_t *err_off,
                            cd_error_t *err)
{
    memset(out, 0, sizeof(*out));
    /* the plain text is never longer than the annotated one: one allocation */
    char *buf = malloc(len + 1);
    size_t blen = 0;
    size_t cps = 0; /* code points written to buf */
    size_t copied = 0;
    int rc = 0;
    if (!buf)
        return cd_error(err, CD_ERR_SYSTEM, 0, "out of memory");
    for (size_t i = 0; i < len; i++) {
        const char *br = memchr(s + i, '[', len - i);
        if (!br)
            break;
        i = (size_t)(br - s);
        match_t m = {0};
        if (!match_at(s, len, i, &m)) {
            near_miss(s, len, i, out);
            continue;
        }
        memcpy(buf + blen, s + copied, i - copied);
        blen += i - copied;
        cps += cd_utf8_count(s + copied, i - copied);
        size_t tlen = m.text_e - m.text_b;
        size_t tcps = cd_utf8_count(s + m.text_b, tlen);
        if (cps + tcps > (size_t)INT32_MAX) {
            rc = cd_error(err, CD_ERR_DATA, 0, "annotated text too long");
            goto out;
        }
        int start = (int)cps, end = (int)(cps + tcps);
        size_t n_before = out->n_entities;
        if (m.form == '(') {
            cd_nlu_entity *e = new_entity(out);
            if (!e) {
                rc = cd_error(err, CD_ERR_SYSTEM, 0, "out of memory");
                goto out;
            }
            e->start = start, e->end = end;
            e->entity = strndup(s + m.ent_b, m.ent_e - m.ent_b);
            e->value = m.val_e > m.val_b ? strndup(s + m.val_b, m.val_e - m.val_b)
                                         : strndup(s + m.text_b, tlen);
            if (!e->entity || !e->value) {
                rc = cd_error(err, CD_ERR_SYSTEM, 0, "out of memory");
                goto out;
            }
        } else if (parse_dicts(s, &m, out, start, end, err) < 0) {
            if (err_off)
                *err_off = i;
            rc = -1;
            goto out;
        }
        for (size_t k = n_before; k < out->n_entities; k++)
            out->spans[2 * k] = blen, out->spans[2 * k + 1] = blen + tlen;
        memcpy(buf + blen, s + m.text_b, tlen);
        blen += tlen;
        cps += tcps;
        copied = m.end;
        i = m.end - 1;
    }
    memcpy(buf + blen, s + copied, len - copied);
    blen += len - copied;
    buf[blen] = 0;
    out->text_len = blen;
    out->text = take_ptr(buf);
out:
    free(buf);
    if (rc < 0) {
        cd_nlu_annotated_done(out);
        if (err_off && err && err->kind != CD_ERR_DATA)
            *err_off = 0;
    }
    return rc;
}
