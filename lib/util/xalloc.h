/* Allocation for entry points: abort as a system failure on OOM (crun style).
 * Library code that parses untrusted input uses plain malloc and returns errors. */
#ifndef CD_UTIL_XALLOC_H
#define CD_UTIL_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
