/* conductor: the admin and pipeline CLI (doctor, gc, publish). */
#include <stdio.h>
#include <string.h>

#include "conductor-commands.h"

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"doctor", cd_cmd_doctor, "check engine reachability, API version and the config file"},
    {"gc", cd_cmd_gc, "remove what crashed jobs left behind (our labels, older than max age)"},
    {"publish", cd_cmd_publish, "publish a model package and a wiki report to GitLab"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: conductor <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("conductor %s\n", CD_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(argv[1], commands[i].name)) {
            if (!commands[i].fn) {
                fprintf(stderr, "conductor: `%s` is not built in this binary\n", argv[1]);
                return 2;
            }
            return commands[i].fn(argc - 1, argv + 1);
        }
    fprintf(stderr, "conductor: unknown command `%s`\n", argv[1]);
    usage(stderr);
    return 2;
}
