/* conductor-nlu validate DATA... [--fail-on-warnings]: load Rasa NLU data, run the checks,
 * print every finding as `file:line:col: warning|error: message [code]` and a summary.
 * Exit 0 valid, 1 invalid (errors, or warnings with --fail-on-warnings; like
 * `rasa data validate`), 2 usage or I/O trouble. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nlu-commands.h"
#include "nlu/nlu.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: conductor-nlu validate DATA... [--fail-on-warnings] [--quiet]\n"
               "\n"
               "Check Rasa NLU training data (YAML files, rasa_nlu_data JSON, or directories of\n"
               "them) the way `rasa data validate` does, and more.\n"
               "\n"
               "  --fail-on-warnings  exit 1 on warnings too (not on notes)\n"
               "  -q, --quiet         print errors and warnings only, no notes\n");
}

static size_t file_index(const cd_nlu_data *d, const char *file)
{
    for (size_t i = 0; file && i < d->n_files; i++)
        if (d->files[i] == file)
            return i;
    return (size_t)-1; /* data-set level findings last */
}

static const cd_nlu_data *sort_data;

static int cmp_diag(const void *a, const void *b)
{
    const cd_nlu_diag *x = *(cd_nlu_diag *const *)a, *y = *(cd_nlu_diag *const *)b;
    size_t fx = file_index(sort_data, x->file), fy = file_index(sort_data, y->file);
    if (fx != fy)
        return fx < fy ? -1 : 1;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return x < y ? -1 : x > y; /* stable: keep the order they were found in */
}

static const char *level_name(cd_nlu_diag_level l)
{
    return l == CD_NLU_DIAG_ERROR ? "error" : l == CD_NLU_DIAG_WARNING ? "warning" : "note";
}

static void print_diags(const cd_nlu_data *d, bool quiet)
{
    if (!d->n_diags)
        return;
    const cd_nlu_diag **v = malloc(d->n_diags * sizeof(*v));
    if (!v)
        return;
    for (size_t i = 0; i < d->n_diags; i++)
        v[i] = &d->diags[i];
    sort_data = d;
    qsort(v, d->n_diags, sizeof(*v), cmp_diag);
    for (size_t i = 0; i < d->n_diags; i++) {
        const cd_nlu_diag *g = v[i];
        if (quiet && g->level == CD_NLU_DIAG_INFO)
            continue;
        if (g->file && g->line > 0)
            printf("%s:%d:%d: ", g->file, g->line, g->col);
        else if (g->file)
            printf("%s: ", g->file);
        else
            printf("data: ");
        printf("%s: %s [%s]\n", level_name(g->level), g->msg, g->code);
    }
    free(v);
}

static const char *plural(size_t n)
{
    return n == 1 ? "" : "s";
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t count_distinct(const cd_nlu_data *d, bool entities)
{
    /* small data-set summary; O(n log n) through a sorted copy of the names */
    size_t n = 0;
    for (size_t i = 0; i < d->n_examples; i++)
        n += entities ? d->examples[i].n_entities : 1;
    const char **v = malloc((n ? n : 1) * sizeof(char *));
    if (!v)
        return 0;
    size_t k = 0;
    for (size_t i = 0; i < d->n_examples; i++) {
        const cd_nlu_example *ex = &d->examples[i];
        if (!entities)
            v[k++] = ex->intent ? ex->intent : "";
        else
            for (size_t j = 0; j < ex->n_entities; j++)
                v[k++] = ex->entities[j].entity;
    }
    qsort(v, k, sizeof(char *), cmp_name);
    size_t distinct = 0;
    for (size_t i = 0; i < k; i++)
        distinct += i == 0 || strcmp(v[i], v[i - 1]) != 0;
    free(v);
    return distinct;
}

/* A fatal load error in the same shape as the findings: the message starts with the place
 * (`file:line:col: ` or `file: `), the level goes after it. */
static void print_fatal(const cd_nlu_data *d, const char *const *paths, size_t n_paths,
                        const cd_error_t *err)
{
    const char *m = cd_error_msg(err), *level = err->kind == CD_ERR_DATA ? "error" : "fatal";
    size_t place = 0;
    for (const char *p = m; (p = strstr(p, ": ")); p++) {
        /* file:line:col: */
        const char *q = p;
        int digits = 0, colons = 0;
        while (q > m && colons < 2) {
            q--;
            if (*q >= '0' && *q <= '9')
                digits++;
            else if (*q == ':' && digits)
                colons++, digits = 0;
            else
                break;
        }
        if (colons == 2) {
            place = (size_t)(p - m);
            break;
        }
    }
    for (size_t i = 0; !place && i < n_paths + d->n_files; i++) {
        const char *f = i < n_paths ? paths[i] : d->files[i - n_paths];
        size_t n = strlen(f);
        if (!strncmp(m, f, n) && !strncmp(m + n, ": ", 2))
            place = n;
    }
    if (place)
        printf("%.*s: %s: %s\n", (int)place, m, level, m + place + 2);
    else
        printf("%s: %s\n", level, m);
}

int cd_nlu_cmd_validate(int argc, char **argv)
{
    static const struct option opts[] = {{"fail-on-warnings", no_argument, NULL, 'W'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    bool fail_on_warnings = false, quiet = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        switch (c) {
        case 'W':
            fail_on_warnings = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "conductor-nlu validate: no data given\n");
        usage(stderr);
        return 2;
    }
    cd_nlu_data d;
    cd_error_t err = {0};
    int rc = cd_nlu_data_load_flags((const char *const *)argv + optind, (size_t)(argc - optind),
                                    CD_NLU_LOAD_KEEP_ON_ERROR, &d, &err);
    if (rc == 0 && cd_nlu_data_check(&d, &err) < 0)
        rc = -1;
    print_diags(&d, quiet);
    size_t n_err = cd_nlu_data_count_diags(&d, CD_NLU_DIAG_ERROR) + (rc < 0);
    size_t n_warn = cd_nlu_data_count_diags(&d, CD_NLU_DIAG_WARNING);
    size_t n_note = cd_nlu_data_count_diags(&d, CD_NLU_DIAG_INFO);
    int status;
    if (rc < 0) {
        print_fatal(&d, (const char *const *)argv + optind, (size_t)(argc - optind), &err);
        status = err.kind == CD_ERR_DATA ? 1 : 2;
    } else {
        status = n_err || (fail_on_warnings && n_warn) ? 1 : 0;
    }
    size_t n_lookup_items = 0, n_regex_items = 0;
    for (size_t i = 0; i < d.n_lookups; i++)
        n_lookup_items += d.lookups[i].n_items;
    for (size_t i = 0; i < d.n_regexes; i++)
        n_regex_items += d.regexes[i].n_items;
    size_t n_intents = count_distinct(&d, false), n_types = count_distinct(&d, true);
    printf("%zu file%s, %zu example%s, %zu intent%s, %zu entity type%s, %zu synonym%s, "
           "%zu regex pattern%s, %zu lookup entr%s: %zu error%s, %zu warning%s, %zu note%s\n",
           d.n_files, plural(d.n_files), d.n_examples, plural(d.n_examples), n_intents,
           plural(n_intents), n_types, plural(n_types), d.n_synonyms, plural(d.n_synonyms),
           n_regex_items, plural(n_regex_items), n_lookup_items,
           n_lookup_items == 1 ? "y" : "ies", n_err, plural(n_err), n_warn, plural(n_warn),
           n_note, plural(n_note));
    if (status == 1)
        printf("Validation completed with %s.\n",
               n_err ? "errors" : "warnings (--fail-on-warnings)");
    cd_nlu_data_done(&d);
    cd_error_clear(&err);
    return status;
}
