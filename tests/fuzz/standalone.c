/* Replay driver for fuzz targets built without libFuzzer (any compiler): feeds every file
 * named on the command line, or found in a named directory (sorted), to
 * LLVMFuzzerTestOneInput, then a few deterministic variants of each (truncations and byte
 * flips), so ctest exercises the error paths around every corpus entry. An empty corpus
 * is a failure: a replay that fed nothing proves nothing. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz/fuzz.h"

#define REPLAY_MAX_INPUT (16u << 20)
#define N_VARIANTS 16

static size_t n_inputs;

static void run(const uint8_t *data, size_t size)
{
    /* a private copy, so reading past size is caught by ASan as with libFuzzer */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) {
        perror("malloc");
        exit(2);
    }
    memcpy(copy, data, size);
    LLVMFuzzerTestOneInput(copy, size);
    free(copy);
}

static void variants(const uint8_t *data, size_t size)
{
    if (!getenv("CD_FUZZ_NO_VARIANTS") && size > 0) {
        uint8_t *m = malloc(size);
        if (!m)
            exit(2);
        for (size_t k = 1; k < N_VARIANTS; k++) {
            size_t at = size * k / N_VARIANTS;
            run(data, at); /* truncated */
            memcpy(m, data, size);
            m[at] ^= (uint8_t)(1u << (k % 8)); /* one flipped bit */
            run(m, size);
        }
        free(m);
    }
}

static int feed_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    uint8_t *buf = malloc(REPLAY_MAX_INPUT);
    if (!buf) {
        fclose(f);
        return -1;
    }
    size_t n = fread(buf, 1, REPLAY_MAX_INPUT, f);
    fclose(f);
    fprintf(stderr, "replay %s (%zu bytes)\n", path, n);
    run(buf, n);
    variants(buf, n);
    free(buf);
    n_inputs++;
    return 0;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int feed(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return feed_file(path);
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char **p = realloc(names, (n + 1) * sizeof(char *));
        if (!p || asprintf(&p[n], "%s/%s", path, de->d_name) < 0)
            exit(2);
        names = p;
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof(char *), cmp);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (feed(names[i]) < 0)
            rc = -1;
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
        return 2;
    }
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    int rc = 0;
    for (int i = 1; i < argc; i++)
        if (feed(argv[i]) < 0)
            rc = 1;
    if (n_inputs == 0) {
        fprintf(stderr, "no inputs found: an empty corpus tests nothing\n");
        return 1;
    }
    printf("%zu inputs replayed (+%d variants each)\n", n_inputs,
           getenv("CD_FUZZ_NO_VARIANTS") ? 0 : 2 * (N_VARIANTS - 1));
    return rc;
}
