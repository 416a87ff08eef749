/* conductor-nlu test: evaluate a model on labelled data, or cross-validate, writing what
 * `rasa test nlu` writes (docs/nlu-eval.md) plus SVG charts, junit.xml and metrics.txt.
 * Exit: 0 ok, 1 a --fail-under gate failed, 2 usage, data or I/O error. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nlu-commands.h"
#include "nlu/eval.h"
#include "nlu/nlu.h"

#define MAX_WARNINGS_SHOWN 10

static void usage(FILE *f)
{
    fprintf(f,
            "usage: conductor-nlu test DATA... --model MODEL.tar.gz [--out DIR] [options]\n"
            "       conductor-nlu test DATA... --cross-validation [--folds K] [--seed N]\n"
            "                          [--config FILE] [--out DIR] [options]\n"
            "\n"
            "Writes Rasa's `rasa test nlu` files into DIR (default `results`):\n"
            "intent_report.json, intent_errors.json, <extractor>_report.json, ...,\n"
            "plus intent_confusion_matrix.svg, intent_histogram.svg, junit.xml, metrics.txt.\n"
            "\n"
            "options:\n"
            "  -m, --model FILE        model archive to evaluate\n"
            "  -o, --out DIR           output directory (default: results)\n"
            "      --cross-validation  k-fold stratified cross-validation instead of a model\n"
            "  -f, --folds K           folds (default 5); intents with fewer examples are dropped\n"
            "      --seed N            fold shuffling and training seed (default 42)\n"
            "      --jobs N            folds trained at a time (default: one per CPU, at\n"
            "                          most 4); each holds a model in memory, so 1 is the\n"
            "                          least memory. The results do not depend on it\n"
            "  -c, --config FILE       pipeline config for cross-validation training\n"
            "      --successes         also write intent_successes.json (and entity successes)\n"
            "      --no-errors         do not write the *_errors.json files\n"
            "      --no-plot           do not write the SVG charts\n"
            "      --fail-under LIST   quality gate, e.g. accuracy=0.9,f1=0.88,entity_f1=0.8\n"
            "                          metrics: accuracy, f1 (weighted, as Rasa prints it),\n"
            "                          macro_f1, precision, entity_f1, entity_span_f1\n"
            "                          exit 1 when any metric is below its threshold\n");
}

typedef struct {
    const char *name;
    double threshold;
} gate;

static const char *const gate_names[] = {"accuracy",  "f1",        "macro_f1",
                                         "precision", "entity_f1", "entity_span_f1"};

/* "accuracy=0.9,f1=0.88" → gates; -1 with a message on a bad list. */
static int parse_gates(const char *spec, gate *out, size_t max, size_t *n)
{
    char *copy = strdup(spec), *save = NULL;
    *n = 0;
    if (!copy)
        return -1;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq) {
            fprintf(stderr, "conductor-nlu test: --fail-under: `%s` is not metric=value\n", tok);
            free(copy);
            return -1;
        }
        *eq = '\0';
        const char *name = NULL;
        for (size_t i = 0; i < sizeof(gate_names) / sizeof(*gate_names); i++)
            if (!strcmp(tok, gate_names[i]))
                name = gate_names[i];
        char *end = NULL;
        double v = strtod(eq + 1, &end);
        if (!name) {
            fprintf(stderr,
                    "conductor-nlu test: --fail-under: unknown metric `%s` (known: accuracy, f1, "
                    "macro_f1, precision, entity_f1, entity_span_f1)\n",
                    tok);
            free(copy);
            return -1;
        }
        if (end == eq + 1 || *end || v < 0 || v > 1) {
            fprintf(stderr, "conductor-nlu test: --fail-under: `%s=%s` needs a number in [0, 1]\n",
                    tok, eq + 1);
            free(copy);
            return -1;
        }
        if (*n == max) {
            fprintf(stderr, "conductor-nlu test: --fail-under: too many metrics\n");
            free(copy);
            return -1;
        }
        out[(*n)++] = (gate){name, v};
    }
    free(copy);
    if (!*n) {
        fprintf(stderr, "conductor-nlu test: --fail-under: empty list\n");
        return -1;
    }
    return 0;
}

/* 0 all gates pass, 1 some failed (each named on stderr). */
static int check_gates(const gate *g, size_t n, const cd_nlu_eval_summary *s)
{
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        bool entity = !strncmp(g[i].name, "entity", 6);
        if ((entity && !s->has_entities) || (!entity && !s->has_intents)) {
            fprintf(stderr, "conductor-nlu test: quality gate failed: %s cannot be measured: "
                            "the test data has no %s annotations\n",
                    g[i].name, entity ? "entity" : "intent");
            failed = 1;
            continue;
        }
        double v = !strcmp(g[i].name, "accuracy")         ? s->accuracy
                   : !strcmp(g[i].name, "f1")             ? s->f1
                   : !strcmp(g[i].name, "macro_f1")       ? s->macro_f1
                   : !strcmp(g[i].name, "precision")      ? s->precision
                   : !strcmp(g[i].name, "entity_f1")      ? s->entity_f1
                                                          : s->spans.f1;
        if (v < g[i].threshold) {
            fprintf(stderr, "conductor-nlu test: quality gate failed: %s %.4f < %.4f "
                            "(--fail-under %s=%g)\n",
                    g[i].name, v, g[i].threshold, g[i].name, g[i].threshold);
            failed = 1;
        }
    }
    return failed;
}

static void print_diags(const cd_nlu_data *d)
{
    size_t shown = 0;
    for (size_t i = 0; i < d->n_diags; i++) {
        const cd_nlu_diag *g = &d->diags[i];
        if (shown++ == MAX_WARNINGS_SHOWN) {
            fprintf(stderr, "conductor-nlu test: ... and %zu more warnings (see `conductor-nlu "
                            "validate`)\n", d->n_diags - MAX_WARNINGS_SHOWN);
            break;
        }
        fprintf(stderr, "%s:%d:%d: %s: %s\n", g->file ? g->file : "?", g->line, g->col,
                g->level == CD_NLU_DIAG_ERROR ? "error" : "warning", g->msg);
    }
}

static void print_summary(const cd_nlu_eval_summary *s)
{
    if (s->has_intents)
        printf("Intent evaluation results\nF1-Score:  %.3f\nPrecision: %.3f\nAccuracy:  %.3f\n"
               "Macro F1:  %.3f\nErrors:    %zu of %zu\n",
               s->f1, s->precision, s->accuracy, s->macro_f1, s->n_intent_errors, s->n_items);
    if (s->has_entities)
        printf("Entity evaluation results\nEntity extractor: %s\nF1-Score:  %.3f\n"
               "Precision: %.3f\nAccuracy:  %.3f\nExact-span F1: %.3f (P %.3f, R %.3f)\n",
               cd_nlu_eval_extractor, s->entity_f1, s->entity_precision, s->entity_accuracy,
               s->spans.f1, s->spans.precision, s->spans.recall);
}

static void on_fold(void *ctx, int fold, int folds, size_t n_train, size_t n_test,
                    double train_s, const cd_nlu_fold_metrics *test)
{
    (void)ctx;
    fprintf(stderr, "fold %d/%d: trained on %zu in %.2f s, tested on %zu: accuracy %.4f, "
                    "F1 %.4f\n",
            fold, folds, n_train, train_s, n_test, test->accuracy, test->f1);
}

int cd_nlu_cmd_test(int argc, char **argv)
{
    enum { OPT_CV = 256, OPT_SEED, OPT_SUCC, OPT_NOERR, OPT_NOPLOT, OPT_GATE, OPT_JOBS };
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"out", required_argument, NULL, 'o'},
        {"cross-validation", no_argument, NULL, OPT_CV},
        {"folds", required_argument, NULL, 'f'},
        {"seed", required_argument, NULL, OPT_SEED},
        {"jobs", required_argument, NULL, OPT_JOBS},
        {"config", required_argument, NULL, 'c'},
        {"successes", no_argument, NULL, OPT_SUCC},
        {"no-errors", no_argument, NULL, OPT_NOERR},
        {"no-plot", no_argument, NULL, OPT_NOPLOT},
        {"fail-under", required_argument, NULL, OPT_GATE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *model_path = NULL, *out = "results", *config = NULL;
    bool cv = false;
    long folds = 5, jobs = 0;
    unsigned long seed = 42;
    gate gates[8];
    size_t n_gates = 0;
    cd_nlu_eval_write_opts wo = {0};
    char *end = NULL;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "m:o:f:c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'o': out = optarg; break;
        case 'c': config = optarg; break;
        case OPT_CV: cv = true; break;
        case OPT_SUCC: wo.successes = true; break;
        case OPT_NOERR: wo.no_errors = true; break;
        case OPT_NOPLOT: wo.no_plot = true; break;
        case 'f':
            folds = strtol(optarg, &end, 10);
            if (end == optarg || *end || folds < 2 || folds > 1000) {
                fprintf(stderr, "conductor-nlu test: --folds `%s`: need an integer >= 2\n",
                        optarg);
                usage(stderr);
                return 2;
            }
            break;
        case OPT_JOBS:
            jobs = strtol(optarg, &end, 10);
            if (end == optarg || *end || jobs < 1 || jobs > 1000) {
                fprintf(stderr, "conductor-nlu test: --jobs `%s`: need an integer >= 1\n",
                        optarg);
                usage(stderr);
                return 2;
            }
            break;
        case OPT_SEED:
            seed = strtoul(optarg, &end, 10);
            if (end == optarg || *end || optarg[0] == '-' || seed > 0xffffffffUL) {
                fprintf(stderr, "conductor-nlu test: --seed `%s`: need an unsigned integer\n",
                        optarg);
                usage(stderr);
                return 2;
            }
            break;
        case OPT_GATE:
            if (parse_gates(optarg, gates, sizeof(gates) / sizeof(*gates), &n_gates) < 0) {
                usage(stderr);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default:
            fprintf(stderr, "conductor-nlu test: unknown or incomplete option `%s`\n",
                    argv[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    const char *why = NULL;
    if (optind >= argc)
        why = "no DATA given";
    else if (cv && model_path)
        why = "--model and --cross-validation exclude each other";
    else if (!cv && !model_path)
        why = "give --model MODEL or --cross-validation";
    else if (!cv && config)
        why = "--config applies to --cross-validation only";
    if (why) {
        fprintf(stderr, "conductor-nlu test: %s\n", why);
        usage(stderr);
        return 2;
    }

    cd_error_t err = {0};
    cd_nlu_data data = {0};
    cd_nlu_model *model = NULL;
    cd_nlu_config cfg;
    cd_nlu_config_default(&cfg);
    cd_nlu_eval_set preds = {0};
    cd_nlu_cv_result cvr = {0};
    cd_nlu_eval_summary sum = {0};
    int rc = 2;
    wo.title = argv[optind];

    if (cd_nlu_data_load((const char *const *)argv + optind, (size_t)(argc - optind), &data,
                         &err) < 0)
        goto fail;
    print_diags(&data);
    if (cv) {
        if (config && cd_nlu_config_load(config, &cfg, &err) < 0)
            goto fail;
        if (cd_nlu_cross_validate(&data, &cfg, (int)folds, (unsigned)seed, (int)jobs, on_fold,
                                  NULL, &preds, &cvr, &err) < 0) {
            for (size_t i = 0; i < cvr.n_dropped; i++)
                fprintf(stderr, "conductor-nlu test: dropped intent `%s`: fewer than %ld "
                                "examples\n", cvr.dropped[i], folds);
            goto fail;
        }
        for (size_t i = 0; i < cvr.n_dropped; i++)
            fprintf(stderr, "conductor-nlu test: dropped intent `%s`: fewer than %ld examples, "
                            "as Rasa drops intents below the number of folds\n",
                    cvr.dropped[i], folds);
        fprintf(stderr,
                "cross-validation: %d folds over %zu examples in %.2f s (%d at a time; "
                "training %.2f s summed over the folds)\n",
                cvr.folds, cvr.n_examples, cvr.total_seconds, cvr.parallel, cvr.train_seconds);
        cd_nlu_cv_print(stdout, &cvr);
    } else {
        if (!(model = cd_nlu_model_load(model_path, &err)))
            goto fail;
        if (cd_nlu_eval_run(model, &data, &preds, &err) < 0)
            goto fail;
    }
    if (cd_nlu_eval_write(out, &preds, &wo, &sum, &err) < 0)
        goto fail;
    /* the per-fold numbers, which the wiki report shows as mean ± std */
    if (cv && cd_nlu_cv_write(out, &cvr, &err) < 0)
        goto fail;
    if (!cv)
        print_summary(&sum);
    else if (sum.has_entities)
        printf("Exact-span entity F1 (pooled test folds): %.3f\n", sum.spans.f1);
    printf("Results written to %s\n", out);
    fflush(stdout);
    rc = n_gates ? check_gates(gates, n_gates, &sum) : 0;
    goto done;
fail:
    fprintf(stderr, "conductor-nlu test: %s\n", cd_error_msg(&err));
done:
    cd_error_clear(&err);
    cd_nlu_cv_result_done(&cvr);
    cd_nlu_eval_set_done(&preds);
    cd_nlu_model_free(model);
    cd_nlu_data_done(&data);
    cd_nlu_config_done(&cfg);
    return rc;
}
