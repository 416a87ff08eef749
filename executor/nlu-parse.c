/* conductor-nlu parse --model M [--text T]: one JSON object per input line on stdout, in
 * Rasa's /model/parse shape. Input lines come from --text (repeatable) or stdin. */
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nlu-commands.h"
#include "nlu/nlu.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: conductor-nlu parse --model MODEL.tar.gz [--text TEXT]... [--pretty]\n"
               "                           [--threads N]\n"
               "\n"
               "Parse utterances (one per stdin line, or each --text) and print one JSON object\n"
               "per line: {text, intent{name,confidence}, entities[], intent_ranking[]}.\n"
               "A line that cannot be parsed (invalid UTF-8) prints {\"text\":null,\"error\":...}\n"
               "and the exit status is then 1. Stdin is parsed by N threads (default: one per\n"
               "CPU); the output keeps the input's order.\n");
}

/* A growing output buffer: one per worker, written to stdout in input order. */
typedef struct {
    char *buf;
    size_t len, cap;
} outbuf;

/* j as one line appended to o: dumped straight into the buffer (json_dumpf writes every
 * token separately, which was ~10% of a parse run) */
static int append_line(outbuf *o, const json_t *j, size_t flags)
{
    for (;;) {
        size_t room = o->cap - o->len;
        size_t n = json_dumpb(j, o->buf ? o->buf + o->len : NULL, room, flags);
        if (!n)
            return -1;
        if (n + 1 <= room) {
            o->buf[o->len + n] = '\n';
            o->len += n + 1;
            return 0;
        }
        size_t c = o->cap ? o->cap : 65536;
        while (c - o->len < n + 1)
            c *= 2;
        char *p = realloc(o->buf, c);
        if (!p)
            return -1;
        o->buf = p;
        o->cap = c;
    }
}

/* 0 parsed, 1 the line could not be parsed (an error object is printed), 2 out of memory.
 * *reuse is the caller's last result object, updated in place when it fits. */
static int emit(const cd_nlu_model *m, const char *text, size_t flags, outbuf *o, json_t **reuse)
{
    cd_error_t err = {0};
    cd_nlu_parse_result r;
    json_t *j;
    int bad = 0;
    if (cd_nlu_parse(m, text, &r, &err)) {
        j = json_pack("{s:n, s:s}", "text", "error", cd_error_msg(&err));
        bad = 1;
    } else {
        if (*reuse && cd_nlu_parse_result_json_update(*reuse, &r) == 0) {
            j = json_incref(*reuse);
        } else {
            json_decref(*reuse);
            j = *reuse = cd_nlu_parse_result_json(&r);
            json_incref(j);
        }
        cd_nlu_parse_result_done(&r);
    }
    cd_error_clear(&err);
    if (!j || append_line(o, j, flags))
        bad = 2;
    json_decref(j);
    return bad;
}

static int flush_out(outbuf *o)
{
    int ok = fwrite(o->buf, 1, o->len, stdout) == o->len;
    o->len = 0;
    return ok ? 0 : -1;
}

/* ---- stdin in batches, parsed by several threads ------------------------------------------ */

#define BATCH 4096 /* lines per round: big enough that thread start-up is noise */
#define MAX_THREADS 16

typedef struct {
    const cd_nlu_model *m;
    char **lines;
    size_t from, to, flags;
    outbuf out;
    int worst;
} chunk;

static void *run_chunk(void *arg)
{
    chunk *c = arg;
    json_t *reuse = NULL;
    c->worst = 0;
    for (size_t i = c->from; i < c->to; i++) {
        int r = emit(c->m, c->lines[i], c->flags, &c->out, &reuse);
        c->worst = r > c->worst ? r : c->worst;
    }
    json_decref(reuse);
    return NULL;
}

static void *run_chunk_thread(void *arg)
{
    run_chunk(arg);
    cd_nlu_thread_done(); /* the thread's parse scratch */
    return NULL;
}

/* Parses stdin with nt threads; output order is input order. */
static int parse_stdin(const cd_nlu_model *m, size_t flags, int nt)
{
    char *lines[BATCH] = {0};
    size_t caps[BATCH] = {0};
    chunk ch[MAX_THREADS] = {0};
    pthread_t tid[MAX_THREADS];
    int worst = 0, eof = 0;
    while (!eof && worst < 2) {
        size_t n = 0;
        while (n < BATCH) {
            ssize_t len = getline(&lines[n], &caps[n], stdin);
            if (len < 0) {
                eof = 1;
                break;
            }
            while (len > 0 && (lines[n][len - 1] == '\n' || lines[n][len - 1] == '\r'))
                lines[n][--len] = 0;
            n++;
        }
        /* a short batch is not worth a thread per line: at least 64 lines per thread */
        int k = cd_nlu_share_threads(n, nt, MAX_THREADS, 64);
        for (int i = 0; i < k; i++)
            ch[i] = (chunk){.m = m,
                            .lines = lines,
                            .from = n * (size_t)i / (size_t)k,
                            .to = n * (size_t)(i + 1) / (size_t)k,
                            .flags = flags,
                            .out = ch[i].out};
        int started[MAX_THREADS] = {0};
        for (int i = 1; i < k; i++)
            started[i] = pthread_create(&tid[i], NULL, run_chunk_thread, &ch[i]) == 0;
        run_chunk(&ch[0]);
        for (int i = 1; i < k; i++) {
            if (started[i])
                pthread_join(tid[i], NULL);
            else
                run_chunk(&ch[i]); /* no thread: do it here */
        }
        for (int i = 0; i < k; i++) {
            worst = ch[i].worst > worst ? ch[i].worst : worst;
            if (flush_out(&ch[i].out))
                worst = 2;
        }
    }
    for (size_t i = 0; i < BATCH; i++)
        free(lines[i]);
    for (int i = 0; i < MAX_THREADS; i++)
        free(ch[i].out.buf);
    return worst;
}

int cd_nlu_cmd_parse(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},   {"text", required_argument, NULL, 't'},
        {"pretty", no_argument, NULL, 'p'},        {"help", no_argument, NULL, 'h'},
        {"threads", required_argument, NULL, 'j'}, {0},
    };
    const char *model = NULL;
    char **texts = calloc((size_t)argc + 1, sizeof(char *));
    size_t n_texts = 0, flags = JSON_COMPACT | JSON_REAL_PRECISION(6);
    int c, status = 2, nt = cd_nlu_share_threads(SIZE_MAX, 0, MAX_THREADS, 1);
    char *end;
    if (!texts)
        return 2;
    while ((c = getopt_long(argc, argv, "m:t:phj:", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            nt = (int)strtol(optarg, &end, 10);
            if (*end || nt < 1 || nt > MAX_THREADS) {
                fprintf(stderr, "conductor-nlu parse: --threads wants 1..%d, not `%s`\n",
                        MAX_THREADS, optarg);
                free(texts);
                return 2;
            }
            break;
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
        outbuf o = {0};
        json_t *reuse = NULL;
        for (size_t i = 0; i < n_texts; i++) {
            int r = emit(m, texts[i], flags, &o, &reuse);
            worst = r > worst ? r : worst;
        }
        json_decref(reuse);
        if (flush_out(&o))
            worst = 2;
        free(o.buf);
    } else
        worst = parse_stdin(m, flags, nt);
    if (fflush(stdout) || ferror(stdout)) {
        fprintf(stderr, "conductor-nlu parse: cannot write the output\n");
        worst = 2;
    }
    status = worst;
    cd_nlu_model_free(m);
    free(texts);
    return status;
}
