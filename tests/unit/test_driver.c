/* The agent protocol end to end on the host: the real conductor-agent binary serving a socket
 * in a temp dir, driven by lib/driver's client (no container engine needed). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "driver/agent-proto.h"
#include "driver/driver-internal.h"
#include "driver/driver.h"
#include "tap.h"

static char dir[] = "/tmp/cd-test-driver-XXXXXX";
static char outpath[256];

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Run `script` through the agent; the output lands in outpath. Returns the exit status. */
static int run(const char *script, size_t len, const char *path_prepend,
               volatile sig_atomic_t *terminate, char *out, size_t outcap)
{
    cd_error_t err = {0};
    int fd = cd_agent_connect(dir, &err);
    if (fd < 0) {
        fprintf(stderr, "# connect: %s\n", cd_error_msg(&err));
        cd_error_clear(&err);
        return -1000;
    }
    int ofd = open(outpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    cd_agent_request req = {.stage = "build_script",
                            .shell = "auto",
                            .path_prepend = path_prepend,
                            .script = script,
                            .script_len = len,
                            .out_fd = ofd,
                            .terminate = terminate,
                            .kill_grace_ms = 300};
    int code = -1;
    if (cd_agent_run(fd, &req, &code, &err) < 0) {
        fprintf(stderr, "# run: %s\n", cd_error_msg(&err));
        cd_error_clear(&err);
        code = -1001;
    }
    close(fd);
    close(ofd);
    if (out) {
        FILE *f = fopen(outpath, "r");
        size_t n = f ? fread(out, 1, outcap - 1, f) : 0;
        out[n] = 0;
        if (f)
            fclose(f);
    }
    return code;
}

static volatile sig_atomic_t term_flag;

static void on_alarm(int sig)
{
    (void)sig;
    term_flag = 1;
}

int main(void)
{
    const char *bin = getenv("CD_BINARY_DIR");
    char agent[512];
    snprintf(agent, sizeof agent, "%s/executor/conductor-agent", bin ? bin : ".");
    if (access(agent, X_OK) < 0)
        tap_skip_all("conductor-agent not built at %s", agent);
    if (!mkdtemp(dir))
        tap_skip_all("mkdtemp: %s", strerror(errno));
    snprintf(outpath, sizeof outpath, "%s/out", dir);
    char sock[300];
    snprintf(sock, sizeof sock, "%s/%s", dir, CD_AGENT_SOCKET_NAME);

    pid_t agent_pid = fork();
    if (agent_pid == 0) {
        execl(agent, agent, sock, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500 && access(sock, F_OK) < 0; i++)
        usleep(2000);
    ok(access(sock, F_OK) == 0, "the agent publishes its socket");

    char out[65536];
    const char s1[] = "echo out; echo err >&2; exit 7\n";
    is_int(run(s1, strlen(s1), NULL, NULL, out, sizeof out), 7, "exit status carried through");
    has_str(out, "out\n", "stdout relayed");
    has_str(out, "err\n", "stderr relayed (merged)");

    /* a script larger than one frame (the runner's scripts export every variable) */
    size_t big = 3u << 20;
    char *s2 = malloc(big + 64);
    memset(s2, '#', big);
    s2[0] = ':';
    s2[1] = ' ';
    for (size_t i = 4096; i < big; i += 4096)
        s2[i] = '\n';
    strcpy(s2 + big, "\necho big-ok\n");
    is_int(run(s2, strlen(s2), NULL, NULL, out, sizeof out), 0, "3 MiB script runs");
    has_str(out, "big-ok", "3 MiB script reaches its end");
    free(s2);

    const char s3[] = "echo \"PATH=$PATH\"\n";
    run(s3, strlen(s3), "/opt/toolbox", NULL, out, sizeof out);
    has_str(out, "PATH=/opt/toolbox:", "helper stages get the toolbox first on PATH");

    /* output volume: 8 MiB through the relay, byte-exact count */
    const char s4[] = "head -c 8388608 /dev/zero\n";
    run(s4, strlen(s4), NULL, NULL, NULL, 0);
    struct stat st;
    stat(outpath, &st);
    is_int((long long)st.st_size, 8388608, "8 MiB of output relayed intact");

    /* SIGTERM of conductor-run → TERM to the stage's process group */
    signal(SIGALRM, on_alarm);
    const char s5[] = "echo started; sleep 30 & wait; echo not-reached\n";
    term_flag = 0;
    alarm(1);
    long t0 = now_ms();
    int code = run(s5, strlen(s5), NULL, &term_flag, out, sizeof out);
    long took = now_ms() - t0;
    is_int(code, 128 + SIGTERM, "terminated stage reports TERM");
    ok(took < 2500, "terminated within 1.5 s of the signal (took %ld ms)", took);
    has_str(out, "started", "output before the signal kept");

    /* a stage that ignores TERM gets KILL after the grace period */
    const char s6[] = "trap '' TERM; echo ignoring; while :; do sleep 1; done\n";
    term_flag = 0;
    alarm(1);
    t0 = now_ms();
    code = run(s6, strlen(s6), NULL, &term_flag, out, sizeof out);
    took = now_ms() - t0;
    is_int(code, 128 + SIGKILL, "a stage ignoring TERM is KILLed");
    ok(took < 2500, "killed within the grace period (took %ld ms)", took);

    ok(cd_driver_is_helper_stage("get_sources") && cd_driver_is_helper_stage("archive_cache") &&
           !cd_driver_is_helper_stage("build_script") && !cd_driver_is_helper_stage("step_x") &&
           !cd_driver_is_helper_stage("after_script"),
       "helper stages classified as the docker executor does");

    kill(agent_pid, SIGTERM);
    int status;
    waitpid(agent_pid, &status, 0);
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the agent exits cleanly on SIGTERM");
    unlink(outpath);
    unlink(sock);
    rmdir(dir);
    return tap_done();
}
