/* `conductor gc [--config FILE] [--max-age DURATION] [--dry-run]`: remove what crashed or
 * killed jobs left behind: containers, networks and job volumes labelled
 * io.conductor.managed=true, created longer ago than the max job age ([gc] max_job_age,
 * default 3h), whose job is not running; caches are kept. --runner TOKEN limits it to one
 * runner's objects (engines shared by several runners). Meant for a systemd timer or cron.
 * Exit 0 when everything due was removed, 1 otherwise, 2 on bad usage. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "conductor-commands.h"
#include "driver/driver.h"

static void gc_log(void *userdata, const char *line)
{
    (void)userdata;
    printf("%s\n", line);
}

int cd_cmd_gc(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"max-age", required_argument, NULL, 'a'},
        {"dry-run", no_argument, NULL, 'n'},      {"runner", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},         {0},
    };
    const char *config = NULL, *max_age = NULL, *runner = NULL;
    bool dry = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:a:nr:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'a':
            max_age = optarg;
            break;
        case 'n':
            dry = true;
            break;
        case 'r':
            runner = optarg;
            break;
        case 'h':
            printf("usage: conductor gc [--config FILE] [--max-age DURATION] [--runner TOKEN] "
                   "[--dry-run]\n");
            return 0;
        default:
            return 2;
        }
    }
    cd_error_t err = {0};
    cd_config *cfg = NULL;
    cd_engine *e = NULL;
    int rc = 1;
    int64_t age;
    if (cd_config_load(config, &cfg, &err) < 0)
        goto out;
    age = cfg->max_job_age_s;
    if (max_age && cd_parse_duration(max_age, &age) < 0) {
        fprintf(stderr, "conductor gc: bad --max-age `%s` (e.g. 90m, 3h, 2d)\n", max_age);
        rc = 2;
        goto out;
    }
    if (!(e = cd_driver_engine_open(cfg, NULL, &err)))
        goto out;
    cd_driver_gc_stats st;
    int r = cd_driver_gc(e, age, runner, dry, gc_log, NULL, &st, &err);
    printf("%s %d container(s), %d network(s), %d volume(s), %d run dir(s), %d toolbox(es) "
           "older than %llds; %d still running, kept\n",
           dry ? "would remove" : "removed", st.containers, st.networks, st.volumes, st.run_dirs,
           st.toolboxes, (long long)age, st.skipped_running);
    rc = r < 0 ? 1 : 0;
out:
    if (err.msg)
        fprintf(stderr, "conductor gc: %s\n", cd_error_msg(&err));
    cd_error_clear(&err);
    cd_engine_close(e);
    cd_config_free(cfg);
    return rc;
}
