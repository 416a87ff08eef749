/* conductor-nlu: the NLU tool job scripts call inside the container. Built static. */
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "nlu-commands.h"

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"validate", cd_nlu_cmd_validate, "check training data (Rasa YAML/JSON)"},
    {"train", cd_nlu_cmd_train, "train a model archive"},
    {"parse", cd_nlu_cmd_parse, "parse utterances with a model (Rasa /model/parse JSON)"},
    {"test", cd_nlu_cmd_test, "evaluate a model or cross-validate, writing Rasa's reports"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: conductor-nlu <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\nconductor-nlu <command> --help for a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("conductor-nlu %s\n", CD_VERSION);
        return 0;
    }
    /* A short-lived batch process: keep freed memory for reuse instead of returning it to
     * the kernel and faulting it in again (training builds and frees tens of MB of rows and
     * tables; on a VM each page fault is costly: ~8% of SNIPS training before this). */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    mallopt(M_TOP_PAD, 16 << 20);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(argv[1], commands[i].name)) {
            if (!commands[i].fn) {
                fprintf(stderr, "conductor-nlu: `%s` is not built in this binary\n", argv[1]);
                return 2;
            }
            return commands[i].fn(argc - 1, argv + 1);
        }
    fprintf(stderr, "conductor-nlu: unknown command `%s`\n", argv[1]);
    usage(stderr);
    return 2;
}
