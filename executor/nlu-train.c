/* conductor-nlu train DATA... --out MODEL.tar.gz [--config FILE] [--seed N] [--quiet]:
 * load Rasa NLU data, train the pipeline, write the model archive. Data with errors is
 * refused (as Rasa refuses to load it); `conductor-nlu validate` lists them. */
#include <errno.h>
#include <getopt.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nlu-commands.h"
#include "nlu/nlu.h"

/* `--out models/model.tar.gz` in a fresh checkout: make models/ as `rasa train` does. */
static int make_parents(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return -1;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: conductor-nlu train DATA... --out MODEL.tar.gz [--config FILE] [--seed N]\n"
               "\n"
               "Train an NLU model (intents, entities, fallback) from Rasa training data (YAML,\n"
               "rasa_nlu_data JSON, or directories of them).\n"
               "\n"
               "  -o, --out FILE     the model archive to write (tar.gz)\n"
               "  -c, --config FILE  a Rasa-like config.yml (see docs/nlu-model.md)\n"
               "  -s, --seed N       random seed (default 0); same data + config + seed gives a\n"
               "                     byte-identical archive (trained_at: SOURCE_DATE_EPOCH, else\n"
               "                     the newest data file's mtime)\n"
               "  -q, --quiet        no summary\n");
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void print_errors(const cd_nlu_data *d)
{
    size_t shown = 0;
    for (size_t i = 0; i < d->n_diags && shown < 20; i++) {
        const cd_nlu_diag *g = &d->diags[i];
        if (g->level != CD_NLU_DIAG_ERROR)
            continue;
        fprintf(stderr, "%s:%d:%d: error: %s [%s]\n", g->file ? g->file : "(data)", g->line,
                g->col, g->msg, g->code);
        shown++;
    }
}

int cd_nlu_cmd_train(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'},  {"config", required_argument, NULL, 'c'},
        {"seed", required_argument, NULL, 's'}, {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},       {0},
    };
    const char *out = NULL, *config = NULL;
    unsigned long seed = 0;
    bool quiet = false;
    int c;
    while ((c = getopt_long(argc, argv, "o:c:s:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'c': config = optarg; break;
        case 's': {
            char *end;
            seed = strtoul(optarg, &end, 10);
            if (!*optarg || *end || seed > 0xFFFFFFFFul) {
                fprintf(stderr, "conductor-nlu train: --seed wants an integer 0..4294967295, "
                                "not `%s`\n", optarg);
                return 2;
            }
            break;
        }
        case 'q': quiet = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!out || optind >= argc) {
        fprintf(stderr, "conductor-nlu train: %s\n", !out ? "--out MODEL.tar.gz is required"
                                                         : "no training data given");
        usage(stderr);
        return 2;
    }
    cd_error_t err = {0};
    cd_nlu_config cfg;
    if (config ? cd_nlu_config_load(config, &cfg, &err) : (cd_nlu_config_default(&cfg), 0)) {
        fprintf(stderr, "conductor-nlu train: %s\n", cd_error_msg(&err));
        cd_error_clear(&err);
        cd_nlu_config_done(&cfg);
        return 2;
    }
    cd_nlu_data d = {0};
    int status = 2;
    cd_nlu_model *m = NULL;
    double t0 = now();
    if (cd_nlu_data_load((const char *const *)argv + optind, (size_t)(argc - optind), &d,
                         &err)) {
        fprintf(stderr, "conductor-nlu train: %s\n", cd_error_msg(&err));
        status = err.kind == CD_ERR_DATA ? 1 : 2;
        goto out;
    }
    size_t n_err = cd_nlu_data_count_diags(&d, CD_NLU_DIAG_ERROR);
    if (n_err) {
        print_errors(&d);
        fprintf(stderr, "conductor-nlu train: the data has %zu error%s; fix them first "
                        "(conductor-nlu validate lists everything)\n", n_err, n_err == 1 ? "" : "s");
        status = 1;
        goto out;
    }
    double t1 = now();
    m = cd_nlu_train(&d, &cfg, (unsigned)seed, &err);
    if (!m) {
        fprintf(stderr, "conductor-nlu train: %s\n", cd_error_msg(&err));
        status = err.kind == CD_ERR_DATA ? 1 : 2;
        goto out;
    }
    double t2 = now();
    if (make_parents(out) < 0)
        fprintf(stderr, "conductor-nlu train: cannot create the directory of %s: %s\n", out,
                strerror(errno));
    if (cd_nlu_model_save(m, out, &err)) {
        fprintf(stderr, "conductor-nlu train: %s\n", cd_error_msg(&err));
        goto out;
    }
    if (!quiet) {
        const json_t *meta = cd_nlu_model_metadata(m), *counts = json_object_get(meta, "counts");
        printf("trained %s: %lld intents, %lld entity types, %lld examples, %lld entity "
               "annotations\n", out,
               (long long)json_integer_value(json_object_get(counts, "intents")),
               (long long)json_array_size(
                   json_object_get(json_object_get(meta, "labels"), "entities")),
               (long long)json_integer_value(json_object_get(counts, "examples")),
               (long long)json_integer_value(json_object_get(counts, "entity_annotations")));
        printf("model id %s, data fingerprint %.12s…, load %.2fs, train %.2fs\n",
               json_string_value(json_object_get(meta, "model_id")),
               json_string_value(json_object_get(meta, "fingerprint")), t1 - t0, t2 - t1);
    }
    status = 0;
out:
    cd_error_clear(&err);
    cd_nlu_model_free(m);
    cd_nlu_data_done(&d);
    cd_nlu_config_done(&cfg);
    return status;
}
