#include <errno.h>
#include <string.h>

#include "tap.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strbuf.h"

static char last_line[256];
static void capture(cd_log_level lvl, const char *line, void *ud)
{
    (void)lvl;
    (void)ud;
    snprintf(last_line, sizeof(last_line), "%s", line);
}

int main(void)
{
    cd_error_t err = {0};
    is_int(cd_error(&err, CD_ERR_BUILD, 0, "pull `%s`", "alpine:x"), -1, "cd_error returns -1");
    cd_error(&err, CD_ERR_SYSTEM, 0, "second");
    is_str(err.msg, "pull `alpine:x`", "first message wins");
    cd_error_wrap(&err, "prepare job %d", 7);
    is_str(err.msg, "prepare job 7: pull `alpine:x`", "wrap prefixes context");
    is_int(err.kind, CD_ERR_BUILD, "wrap keeps kind");
    cd_error_clear(&err);
    cd_error(&err, CD_ERR_SYSTEM, ENOENT, "open `%s`", "/x");
    is_str(err.msg, "open `/x`: No such file or directory", "errno text appended");
    cd_error_clear(&err);

    cd_strbuf sb;
    cd_strbuf_init(&sb, 8);
    ok(cd_strbuf_adds(&sb, "12345678") == 0, "fits max");
    ok(cd_strbuf_addc(&sb, 'x') < 0 && errno == E2BIG, "refuses past max");
    is_str(cd_strbuf_str(&sb), "12345678", "content kept after refusal");
    cd_strbuf_done(&sb);
    cd_strbuf_init(&sb, 0);
    cd_strbuf_printf(&sb, "%s=%d", "a", 42);
    is_str(cd_strbuf_str(&sb), "a=42", "printf");
    cd_strbuf_done(&sb);

    cd_log_set_handler(capture, NULL);
    cd_log_register_secret("glcbt-s3cr3t");
    cd_log_register_secret("ab"); /* too short: ignored */
    cd_info("token is glcbt-s3cr3t, ab stays");
    is_str(last_line, "token is [MASKED], ab stays", "secret masked in log");
    cd_log_clear_secrets();
    cd_info("glcbt-s3cr3t");
    is_str(last_line, "glcbt-s3cr3t", "cleared secrets no longer masked");
    return tap_done();
}
