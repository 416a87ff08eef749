#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"
#include "util/log.h"
#include "util/strbuf.h"

static void default_handler(cd_log_level level, const char *line, void *ud)
{
    (void)ud;
    static const char *const pfx[] = {"debug: ", "", "warning: ", "error: "};
    fprintf(stderr, "%s%s\n", pfx[level], line);
}

static cd_log_handler handler = default_handler;
static void *handler_ud;
static cd_log_level min_level = CD_LOG_INFO;
static char **secrets;
static size_t n_secrets;

void cd_log_set_handler(cd_log_handler h, void *userdata)
{
    handler = h ? h : default_handler;
    handler_ud = userdata;
}

void cd_log_set_level(cd_log_level min)
{
    min_level = min;
}

void cd_log_register_secret(const char *value)
{
    if (!value || strlen(value) < 4)
        return;
    for (size_t i = 0; i < n_secrets; i++)
        if (strcmp(secrets[i], value) == 0)
            return;
    char **ns = realloc(secrets, (n_secrets + 1) * sizeof(*ns));
    if (!ns)
        return;
    secrets = ns;
    secrets[n_secrets] = strdup(value);
    if (secrets[n_secrets])
        n_secrets++;
}

void cd_log_clear_secrets(void)
{
    for (size_t i = 0; i < n_secrets; i++)
        cd_free_secret(secrets[i]);
    free(secrets);
    secrets = NULL;
    n_secrets = 0;
}

void cd_free_secret(char *s)
{
    if (!s)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

char *cd_log_mask(const char *s, size_t len)
{
    cd_strbuf out = CD_STRBUF_INIT;
    size_t i = 0;
    while (i < len) {
        size_t hit = 0;
        for (size_t k = 0; k < n_secrets; k++) {
            size_t sl = strlen(secrets[k]);
            if (sl <= len - i && memcmp(s + i, secrets[k], sl) == 0 && sl > hit)
                hit = sl;
        }
        if (hit) {
            cd_strbuf_adds(&out, "[MASKED]");
            i += hit;
        } else {
            cd_strbuf_addc(&out, s[i++]);
        }
    }
    return cd_strbuf_take(&out);
}

char *cd_log_vformat_masked(const char *fmt, va_list ap)
{
    cleanup_free char *raw = NULL;
    int n = vasprintf(&raw, fmt, ap);
    if (n < 0)
        return NULL;
    return cd_log_mask(raw, (size_t)n);
}

void cd_log(cd_log_level level, const char *fmt, ...)
{
    if (level < min_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    cleanup_free char *masked = cd_log_vformat_masked(fmt, ap);
    va_end(ap);
    handler(level, masked ? masked : "[MASKED]", handler_ud);
}
