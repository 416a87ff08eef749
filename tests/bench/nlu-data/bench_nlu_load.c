/* Benchmark: load NLU training data (cd_nlu_data_load) ROUNDS times; prints the median and
 * minimum wall time and the median CPU time of one load, and the example count.
 * usage: bench_nlu_load ROUNDS PATH...   (tests/bench/nlu-data/run runs it with the peer) */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "nlu/nlu.h"

static double now(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s ROUNDS PATH...\n", argv[0]);
        return 2;
    }
    int rounds = atoi(argv[1]);
    if (rounds < 1 || rounds > 10000)
        rounds = 10;
    double *wall = calloc((size_t)rounds, sizeof(double));
    double *cpu = calloc((size_t)rounds, sizeof(double));
    if (!wall || !cpu)
        return 2;
    size_t n = 0;
    for (int r = 0; r < rounds; r++) {
        cd_nlu_data d;
        cd_error_t err = {0};
        double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
        if (cd_nlu_data_load((const char *const *)argv + 2, (size_t)(argc - 2), &d, &err) < 0) {
            fprintf(stderr, "%s\n", cd_error_msg(&err));
            return 1;
        }
        wall[r] = now(CLOCK_MONOTONIC) - w0;
        cpu[r] = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
        n = d.n_examples;
        cd_nlu_data_done(&d);
    }
    qsort(wall, (size_t)rounds, sizeof(double), cmp);
    qsort(cpu, (size_t)rounds, sizeof(double), cmp);
    printf("ours examples=%zu wall_median_ms=%.2f wall_min_ms=%.2f cpu_median_ms=%.2f\n", n,
           wall[rounds / 2], wall[0], cpu[rounds / 2]);
    free(wall);
    free(cpu);
    return 0;
}
