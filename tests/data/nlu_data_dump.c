/* Test tool for the NLU data loader.
 *   nlu_data_dump [--diags] PATH...   every example as one JSON line (text, intent, entities
 *                                     with code-point offsets, file:line:col), then synonyms,
 *                                     regexes, lookups and (with --diags) diagnostics
 *   nlu_data_dump --case DIR [--write] run the data-driven case DIR: load DIR/input.yml,
 *                                     .json or .md (from inside DIR, so positions read
 *                                     input.yml:L:C) and compare the dump (with diags and the
 *                                     validate checks) with DIR/expected, or the load error
 *                                     with DIR/error. --write (re)creates the file instead.
 * Exit 0 match, 1 mismatch, 2 usage. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "nlu/nlu.h"
#include "util/strbuf.h"

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static int dump(const cd_nlu_data *d, bool diags, cd_strbuf *out)
{
    for (size_t i = 0; i < d->n_examples; i++) {
        const cd_nlu_example *ex = &d->examples[i];
        json_t *ents = json_array();
        for (size_t k = 0; k < ex->n_entities; k++) {
            const cd_nlu_entity *e = &ex->entities[k];
            json_t *o = json_pack("{s:i,s:i,s:s,s:s}", "start", e->start, "end", e->end,
                                  "value", e->value, "entity", e->entity);
            if (e->role)
                json_object_set_new(o, "role", json_string(e->role));
            if (e->group)
                json_object_set_new(o, "group", json_string(e->group));
            json_array_append_new(ents, o);
        }
        json_t *o = json_pack("{s:s,s:o,s:o}", "text", ex->text, "intent",
                              str_or_null(ex->intent), "entities", ents);
        if (ex->response_key)
            json_object_set_new(o, "response_key", json_string(ex->response_key));
        char at[64];
        snprintf(at, sizeof(at), ":%d:%d", ex->line, ex->col);
        json_object_set_new(o, "at", json_sprintf("%s%s", ex->file ? ex->file : "-", at));
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        if (!s)
            return -1;
        cd_strbuf_printf(out, "%s\n", s);
        free(s);
    }
    for (size_t i = 0; i < d->n_synonyms; i++)
        cd_strbuf_printf(out, "synonym %s -> %s\n", d->synonyms[i].text, d->synonyms[i].value);
    for (int k = 0; k < 2; k++) {
        const cd_nlu_pattern_set *ps = k ? d->lookups : d->regexes;
        size_t n = k ? d->n_lookups : d->n_regexes;
        for (size_t i = 0; i < n; i++) {
            cd_strbuf_printf(out, "%s %s (line %d):", k ? "lookup" : "regex", ps[i].name,
                             ps[i].line);
            for (size_t j = 0; j < ps[i].n_items; j++)
                cd_strbuf_printf(out, " [%s]", ps[i].items[j]);
            cd_strbuf_addc(out, '\n');
        }
    }
    for (size_t i = 0; diags && i < d->n_diags; i++) {
        const cd_nlu_diag *g = &d->diags[i];
        static const char *const lv[] = {"warning", "error", "note"};
        cd_strbuf_printf(out, "%s:%d:%d: %s: %s [%s]\n", g->file ? g->file : "data", g->line,
                         g->col, lv[g->level], g->msg, g->code);
    }
    return 0;
}

static int run_case(const char *dir, bool write)
{
    if (chdir(dir) < 0) {
        fprintf(stderr, "%s: %s\n", dir, strerror(errno));
        return 2;
    }
    const char *input = access("input.json", F_OK) == 0 ? "input.json"
                        : access("input.md", F_OK) == 0 ? "input.md"
                                                        : "input.yml";
    bool want_error = access("error", F_OK) == 0;
    cd_nlu_data d;
    cd_error_t err = {0};
    const char *paths[] = {input};
    int rc = cd_nlu_data_load(paths, 1, &d, &err);
    if (rc == 0)
        rc = cd_nlu_data_check(&d, &err);
    cd_strbuf got = CD_STRBUF_INIT;
    const char *file = want_error ? "error" : "expected";
    if (rc < 0)
        cd_strbuf_printf(&got, "%s\n", cd_error_msg(&err));
    else
        dump(&d, true, &got);
    if (rc == 0)
        cd_nlu_data_done(&d);
    int status = 0;
    if (write) {
        if (rc < 0)
            file = "error";
        FILE *f = fopen(file, "w");
        if (!f || fputs(cd_strbuf_str(&got), f) < 0 || fclose(f) != 0)
            status = 2;
        printf("wrote %s/%s\n", dir, file);
    } else {
        cd_strbuf want = CD_STRBUF_INIT;
        if (cd_strbuf_read_file(&want, file, 1u << 20) < 0) {
            fprintf(stderr, "%s/%s: %s\n", dir, file, strerror(errno));
            status = 2;
        } else if ((rc < 0) != want_error) {
            printf("%s: expected %s, got %s:\n%s", dir, want_error ? "a load error" : "success",
                   rc < 0 ? "an error" : "success", cd_strbuf_str(&got));
            status = 1;
        } else if (strcmp(cd_strbuf_str(&want), cd_strbuf_str(&got)) != 0) {
            /* show the first differing line */
            const char *w = cd_strbuf_str(&want), *g = cd_strbuf_str(&got);
            int line = 1;
            while (*w && *w == *g) {
                line += *w == '\n';
                w++, g++;
            }
            while (w > cd_strbuf_str(&want) && w[-1] != '\n')
                w--, g--;
            printf("%s/%s differs at line %d:\n  want: %.*s\n  got:  %.*s\n", dir, file, line,
                   (int)strcspn(w, "\n"), w, (int)strcspn(g, "\n"), g);
            status = 1;
        } else {
            printf("ok %s\n", dir);
        }
        cd_strbuf_done(&want);
    }
    cd_strbuf_done(&got);
    cd_error_clear(&err);
    return status;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "--case"))
        return run_case(argv[2], argc > 3 && !strcmp(argv[3], "--write"));
    bool diags = argc > 1 && !strcmp(argv[1], "--diags");
    int first = diags ? 2 : 1;
    if (argc <= first) {
        fprintf(stderr, "usage: nlu_data_dump [--diags] PATH... | --case DIR [--write]\n");
        return 2;
    }
    cd_nlu_data d;
    cd_error_t err = {0};
    if (cd_nlu_data_load((const char *const *)argv + first, (size_t)(argc - first), &d, &err) < 0) {
        fprintf(stderr, "%s\n", cd_error_msg(&err));
        cd_error_clear(&err);
        return 1;
    }
    cd_strbuf out = CD_STRBUF_INIT;
    dump(&d, diags, &out);
    fputs(cd_strbuf_str(&out), stdout);
    cd_strbuf_done(&out);
    cd_nlu_data_done(&d);
    return 0;
}
