/* conductor-nlu parse --model M [--text T]: one JSON object per input line on stdout, in
 * Rasa's /model/parse shape. Input lines come from --text (repeatable) or stdin. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nlu-commands.h"
#include "nlu/nlu.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: conductor-nlu parse --model MODEL.tar.gz [--text TEXT]... [--pretty]\n"
               "\n"
               "Parse utterances (one per stdin line, or each --text) and print one JSON object\n"
               "per line: {text, intent{name,confidence}, entities[], intent_ranking[]}.\n"
               "A line that cannot be parsed (invalid UTF-8) prints {\"text\":null,\"error\":...}\n"
               "and the exit status is then 1.\n");
}

/* One JSON line to stdout. Dumped into a reused buffer and written with one fwrite:
 * json_dumpf writes every token separately, which was ~10% of a parse run. */
static int dump_line(const json_t *j, size_t flags)
{
    static char *buf;
    static size_t cap;
    size_t n = json_dumpb(j, buf, cap, flags);
    if (!n)
        return -1;
    if (n + 1 > cap) {
        size_t c = n + 1 > 2 * cap ? n + 1 : 2 * cap;
        char *p = realloc(buf, c);
        if (!p)
            return -1;
        buf = p;
        cap = c;
        if (json_dumpb(j, buf, cap, flags) != n)
            return -1;
    }
    buf[n] = '\n';
    return fwrite(buf, 1, n + 1, stdout) == n + 1 ? 0 : -1;
}

static int emit(const cd_nlu_model *m, const char *text, size_t flags)
{
    cd_error_t err = {0};
    cd_nlu_parse_result r;
    json_t *j;
    int bad = 0;
    if (cd_nlu_parse(m, text, &r, &err)) {
        j = json_pack("{s:n, s:s}", "text", "error", cd_error_msg(&err));
        bad = 1;
    } else {
        j = cd_nlu_parse_result_json(&r);
        cd_nlu_parse_result_done(&r);
    }
    cd_error_clear(&err);
    if (!j || dump_line(j, flags))
        bad = 2;
    json_decref(j);
    return bad;
}

int cd_nlu_cmd_parse(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'}, {"text", required_argument, NULL, 't'},
        {"pretty", no_argument, NULL, 'p'},      {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *model = NULL;
    char **texts = calloc((size_t)argc + 1, sizeof(char *));
    size_t n_texts = 0, flags = JSON_COMPACT | JSON_REAL_PRECISION(6);
    int c, status = 2;
    if (!texts)
        return 2;
    while ((c = getopt_long(argc, argv, "m:t:ph", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 't': texts[n_texts++] = optarg; break;
        case 'p': flags = JSON_INDENT(2) | JSON_REAL_PRECISION(6); break;
        case 'h': usage(stdout); free(texts); return 0;
        default: usage(stderr); free(texts); return 2;
        }
    }
    if (!model || optind < argc) {
        fprintf(stderr, "conductor-nlu parse: %s\n",
                !model ? "--model MODEL.tar.gz is required" : "unexpected argument");
        usage(stderr);
        free(texts);
        return 2;
    }
    cd_error_t err = {0};
    cd_nlu_model *m = cd_nlu_model_load(model, &err);
    if (!m) {
        fprintf(stderr, "conductor-nlu parse: %s\n", cd_error_msg(&err));
        cd_error_clear(&err);
        free(texts);
        return 2;
    }
    int worst = 0;
    if (n_texts) {
        for (size_t i = 0; i < n_texts; i++) {
            int r = emit(m, texts[i], flags);
            worst = r > worst ? r : worst;
        }
    } else {
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        while ((len = getline(&line, &cap, stdin)) >= 0) {
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                line[--len] = 0;
            int r = emit(m, line, flags);
            worst = r > worst ? r : worst;
        }
        free(line);
    }
    if (fflush(stdout) || ferror(stdout)) {
        fprintf(stderr, "conductor-nlu parse: cannot write the output\n");
        worst = 2;
    }
    status = worst;
    cd_nlu_model_free(m);
    free(texts);
    return status;
}
