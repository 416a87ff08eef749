/* Logging. The library only logs through a handler the entry point installs; the default
 * writes to stderr. Never log a secret: cd_log_register_secret() adds a value that every
 * line is scrubbed of (replaced by [MASKED]) before it reaches the handler. */
#ifndef CD_UTIL_LOG_H
#define CD_UTIL_LOG_H

#include <stdarg.h>
#include <stddef.h>

typedef enum { CD_LOG_DEBUG, CD_LOG_INFO, CD_LOG_WARN, CD_LOG_ERROR } cd_log_level;

typedef void (*cd_log_handler)(cd_log_level level, const char *line, void *userdata);

void cd_log_set_handler(cd_log_handler h, void *userdata);
void cd_log_set_level(cd_log_level min);
void cd_log(cd_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define cd_debug(...) cd_log(CD_LOG_DEBUG, __VA_ARGS__)
#define cd_info(...) cd_log(CD_LOG_INFO, __VA_ARGS__)
#define cd_warn(...) cd_log(CD_LOG_WARN, __VA_ARGS__)

/* Secrets: values shorter than 4 bytes are not registered (they would mask everything). */
void cd_log_register_secret(const char *value);
void cd_log_clear_secrets(void);
/* Replace every registered secret in s[0..len) with [MASKED]; returns a new string. */
char *cd_log_mask(const char *s, size_t len);
/* printf into a new string with every registered secret masked (for callers that deliver
 * lines through their own callback); NULL when out of memory. */
char *cd_log_vformat_masked(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

#endif
