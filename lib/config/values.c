/* Value syntaxes of the config file (sizes, durations, CPUs, booleans, pull policies).
 * All parsers are strict: no sign, no trailing garbage, overflow is an error, so a typo in a
 * limit never silently becomes 0 ("no limit"). */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"

/* Decimal digits only; rejects "", "+1", "-1", " 1", overflow. */
static int parse_u64(const char *s, const char **end, uint64_t *ret)
{
    uint64_t v = 0;
    const char *p = s;
    if (!isdigit((unsigned char)*p))
        return -1;
    for (; isdigit((unsigned char)*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *end = p;
    *ret = v;
    return 0;
}

int cd_parse_size(const char *s, int64_t *ret_bytes)
{
    const char *p;
    uint64_t v;
    if (!s || parse_u64(s, &p, &v) < 0)
        return -1;
    unsigned shift = 0;
    switch (tolower((unsigned char)*p)) {
    case '\0':
        shift = 0;
        break;
    case 'b':
        shift = 0;
        p++;
        break;
    case 'k':
        shift = 10;
        p++;
        break;
    case 'm':
        shift = 20;
        p++;
        break;
    case 'g':
        shift = 30;
        p++;
        break;
    case 't':
        shift = 40;
        p++;
        break;
    default:
        return -1;
    }
    /* accept docker's "512mb"/"2gb" and "2GiB" spellings as well */
    if (shift && (strcasecmp(p, "b") == 0 || strcasecmp(p, "ib") == 0))
        p += strlen(p);
    if (*p)
        return -1;
    if (v > ((uint64_t)INT64_MAX >> shift))
        return -1;
    *ret_bytes = (int64_t)(v << shift);
    return 0;
}

int cd_parse_duration(const char *s, int64_t *ret_secs)
{
    if (!s || !*s)
        return -1;
    const char *p = s;
    uint64_t total = 0;
    /* a bare number is seconds; otherwise a sequence of <n><unit> like Go's "1h30m" */
    uint64_t v;
    if (parse_u64(p, &p, &v) < 0)
        return -1;
    if (!*p) {
        total = v;
    } else {
        for (;;) {
            uint64_t mul;
            switch (*p) {
            case 's':
                mul = 1;
                break;
            case 'm':
                mul = 60;
                break;
            case 'h':
                mul = 3600;
                break;
            case 'd':
                mul = 86400;
                break;
            default:
                return -1;
            }
            p++;
            if (v > (uint64_t)INT64_MAX / mul || total > (uint64_t)INT64_MAX - v * mul)
                return -1;
            total += v * mul;
            if (!*p)
                break;
            if (parse_u64(p, &p, &v) < 0)
                return -1;
            if (!*p)
                return -1; /* "1h30": a unit is required after the first component */
        }
    }
    if (total > (uint64_t)INT64_MAX)
        return -1;
    *ret_secs = (int64_t)total;
    return 0;
}

int cd_parse_cpus(const char *s, int64_t *ret_nano)
{
    const char *p;
    uint64_t whole;
    if (!s || parse_u64(s, &p, &whole) < 0 || whole > 1000000)
        return -1;
    uint64_t frac = 0, scale = 1000000000ull;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        for (int digits = 0; isdigit((unsigned char)*p); p++, digits++) {
            if (digits >= 9)
                return -1; /* finer than a nano-CPU means a typo */
            scale /= 10;
            frac += (uint64_t)(*p - '0') * scale;
        }
    }
    if (*p)
        return -1;
    uint64_t nano = whole * 1000000000ull + frac;
    if (nano == 0)
        return -1;
    *ret_nano = (int64_t)nano;
    return 0;
}

int cd_parse_bool(const char *s, bool *ret)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    if (!s)
        return -1;
    for (size_t i = 0; i < sizeof(yes) / sizeof(*yes); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *ret = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *ret = false;
            return 0;
        }
    }
    return -1;
}

cd_pull_policy cd_pull_policy_parse(const char *name)
{
    if (!name)
        return 0;
    if (strcmp(name, "always") == 0)
        return CD_PULL_ALWAYS;
    if (strcmp(name, "if-not-present") == 0)
        return CD_PULL_IF_NOT_PRESENT;
    if (strcmp(name, "never") == 0)
        return CD_PULL_NEVER;
    return 0;
}

const char *cd_pull_policy_name(cd_pull_policy p)
{
    switch (p) {
    case CD_PULL_ALWAYS:
        return "always";
    case CD_PULL_IF_NOT_PRESENT:
        return "if-not-present";
    case CD_PULL_NEVER:
        return "never";
    }
    return "unknown";
}
