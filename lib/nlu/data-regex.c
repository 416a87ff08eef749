/* Rasa's regex features are Python `re` patterns; we evaluate them with POSIX regcomp (glibc,
 * static-link friendly). This translates the common Python constructs: \d \w \s and their
 * negations (also inside [...]), (?:...), (?P<name>...), a leading (?i), lazy quantifiers
 * (they change the span, not whether a pattern matches) and {,n}. Lookarounds and
 * backreferences have no POSIX equivalent and are reported. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "nlu/nlu.h"
#include "util/strbuf.h"

static int bad(cd_error_t *err, const char *pat, size_t at, const char *why)
{
    return cd_error(err, CD_ERR_DATA, 0, "regex `%s`: %s at offset %zu", pat, why, at);
}

/* [...] starting at p[i] == '['; returns the index past ']' or 0 on error. */
static size_t bracket(const char *p, size_t i, cd_strbuf *o, cd_error_t *err)
{
    size_t len = strlen(p), start = i++;
    bool neg = false, rb = false, dash_end = false, caret = false;
    cd_strbuf body = CD_STRBUF_INIT;
    if (i < len && p[i] == '^')
        neg = true, i++;
    if (i < len && p[i] == ']')
        rb = true, i++;
    int rc = 0;
    for (; i < len && p[i] != ']' && rc == 0; i++) {
        if (p[i] == '[' && i + 1 < len && p[i + 1] == ':') { /* POSIX class, copy as is */
            const char *e = strstr(p + i, ":]");
            if (!e) {
                rc = -1;
                break;
            }
            rc = cd_strbuf_add(&body, p + i, (size_t)(e - (p + i)) + 2);
            i = (size_t)(e - p) + 1;
            continue;
        }
        if (p[i] != '\\') {
            rc = cd_strbuf_addc(&body, p[i]);
            continue;
        }
        if (++i >= len) {
            rc = -1;
            break;
        }
        switch (p[i]) {
        case 'd': rc = cd_strbuf_adds(&body, "0-9"); break;
        case 's': rc = cd_strbuf_adds(&body, "[:space:]"); break;
        case 'w': rc = cd_strbuf_adds(&body, "[:alnum:]_"); break;
        case 'n': rc = cd_strbuf_addc(&body, '\n'); break;
        case 't': rc = cd_strbuf_addc(&body, '\t'); break;
        case ']': rb = true; break;
        case '-': dash_end = true; break;
        case '^': caret = true; break;
        case 'D': case 'S': case 'W':
            cd_strbuf_done(&body);
            bad(err, p, i - 1, "negated class inside [...] is not supported");
            return 0;
        default:
            if ((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
                (p[i] >= '0' && p[i] <= '9')) {
                cd_strbuf_done(&body);
                bad(err, p, i - 1, "unsupported escape inside [...]");
                return 0;
            }
            rc = cd_strbuf_addc(&body, p[i]); /* \. \\ \[ ... are literal in POSIX brackets */
        }
    }
    if (rc < 0 || i >= len) {
        cd_strbuf_done(&body);
        bad(err, p, start, "unterminated [...]");
        return 0;
    }
    if (body.len == 0 && !rb && !dash_end && !caret) {
        cd_strbuf_done(&body);
        bad(err, p, start, "empty [...]");
        return 0;
    }
    rc = cd_strbuf_addc(o, '[') | (neg ? cd_strbuf_addc(o, '^') : 0) |
         (rb ? cd_strbuf_addc(o, ']') : 0) | cd_strbuf_add(o, cd_strbuf_str(&body), body.len) |
         (caret ? cd_strbuf_addc(o, '^') : 0) | (dash_end ? cd_strbuf_addc(o, '-') : 0) |
         cd_strbuf_addc(o, ']');
    cd_strbuf_done(&body);
    if (rc < 0) {
        cd_error(err, CD_ERR_SYSTEM, 0, "out of memory");
        return 0;
    }
    return i + 1;
}

int cd_nlu_regex_translate(const char *p, char **out, int *cflags, cd_error_t *err)
{
    cd_strbuf o = CD_STRBUF_INIT;
    size_t len = strlen(p), i = 0;
    int rc = 0;
    *cflags = REG_EXTENDED;
    if (!strncmp(p, "(?i)", 4))
        *cflags |= REG_ICASE, i = 4;
    while (i < len && rc == 0) {
        char c = p[i];
        if (c == '[') {
            size_t n = bracket(p, i, &o, err);
            if (!n) {
                cd_strbuf_done(&o);
                return -1;
            }
            i = n;
            continue;
        }
        if (c == '(' && i + 1 < len && p[i + 1] == '?') {
            if (i + 2 < len && p[i + 2] == ':') {
                i += 3;
            } else if (i + 3 < len && p[i + 2] == 'P' && p[i + 3] == '<') {
                const char *e = strchr(p + i, '>');
                if (!e) {
                    cd_strbuf_done(&o);
                    return bad(err, p, i, "unterminated (?P<name>");
                }
                i = (size_t)(e - p) + 1;
            } else {
                cd_strbuf_done(&o);
                return bad(err, p, i, "lookaround and inline flags are not supported");
            }
            rc = cd_strbuf_addc(&o, '(');
            continue;
        }
        if ((c == '*' || c == '+' || c == '?' || c == '}') && i + 1 < len && p[i + 1] == '?') {
            rc = cd_strbuf_addc(&o, c); /* lazy: same yes/no answer as greedy */
            i += 2;
            continue;
        }
        if (c == '{' && i + 1 < len && p[i + 1] == ',') {
            rc = cd_strbuf_adds(&o, "{0,");
            i += 2;
            continue;
        }
        if (c != '\\') {
            rc = cd_strbuf_addc(&o, c);
            i++;
            continue;
        }
        if (i + 1 >= len) {
            cd_strbuf_done(&o);
            return bad(err, p, i, "trailing backslash");
        }
        char e = p[i + 1];
        const char *rep = NULL;
        switch (e) {
        case 'd': rep = "[0-9]"; break;
        case 'D': rep = "[^0-9]"; break;
        case 's': rep = "[[:space:]]"; break;
        case 'S': rep = "[^[:space:]]"; break;
        case 'w': rep = "[[:alnum:]_]"; break;
        case 'W': rep = "[^[:alnum:]_]"; break;
        case 'b': rep = "\\b"; break;
        case 'B': rep = "\\B"; break;
        case 'A': rep = "^"; break;
        case 'Z': rep = "$"; break;
        case 'n': rep = "\n"; break;
        case 't': rep = "\t"; break;
        default:
            if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9')) {
                cd_strbuf_done(&o);
                return bad(err, p, i, "unsupported escape (backreference or Python-only class)");
            }
        }
        rc = rep ? cd_strbuf_adds(&o, rep) : cd_strbuf_add(&o, p + i, 2);
        i += 2;
    }
    if (rc < 0) {
        cd_strbuf_done(&o);
        return cd_error(err, CD_ERR_SYSTEM, 0, "out of memory");
    }
    *out = cd_strbuf_take(&o);
    return *out ? 0 : cd_error(err, CD_ERR_SYSTEM, 0, "out of memory");
}

/* glibc's regcomp copies the subtree of every counted repetition and of stacked quantifiers,
 * so `a++++…` or `((a{100}){100}){100}` take exponential time or memory (the fuzzer found
 * one). Python refuses stacked quantifiers ("multiple repeat"); counts are bounded here. */
#define MAX_PATTERN 1024
#define MAX_COUNT 100
#define MAX_GROUP_WEIGHT 1000

static int check_ere(const char *pat, const char *ere, cd_error_t *err)
{
    size_t len = strlen(ere);
    if (len > MAX_PATTERN)
        return bad(err, pat, MAX_PATTERN, "pattern longer than 1024 bytes");
    bool after_quant = false, after_group = false;
    unsigned long weight = 1;
    for (size_t i = 0; i < len; i++) {
        char c = ere[i];
        if (c == '\\') {
            i++;
            after_quant = after_group = false;
            continue;
        }
        if (c == '[') { /* skip the bracket expression: ']' first is literal, [:x:] nests */
            size_t k = i + 1;
            if (k < len && ere[k] == '^')
                k++;
            if (k < len && ere[k] == ']')
                k++;
            while (k < len && ere[k] != ']') {
                if (ere[k] == '[' && k + 1 < len && ere[k + 1] == ':') {
                    const char *e = strstr(ere + k, ":]");
                    k = e ? (size_t)(e - ere) + 2 : len;
                } else {
                    k++;
                }
            }
            i = k;
            after_quant = after_group = false;
            continue;
        }
        bool quant = c == '*' || c == '+' || c == '?' || c == '{';
        if (quant && after_quant)
            return bad(err, pat, i, "multiple repeat");
        if (c == '{') {
            char *e;
            unsigned long m = strtoul(ere + i + 1, &e, 10), n = m;
            if (*e == ',')
                n = e[1] == '}' ? m : strtoul(e + 1, &e, 10);
            if (m > MAX_COUNT || n > MAX_COUNT)
                return bad(err, pat, i, "repetition count above 100");
            unsigned long top = n > m ? n : m;
            if (after_group) {
                weight *= top ? top : 1;
                if (weight > MAX_GROUP_WEIGHT)
                    return bad(err, pat, i, "nested repetition too large");
            }
            const char *close = strchr(ere + i, '}');
            i = close ? (size_t)(close - ere) : len;
        }
        after_quant = quant;
        after_group = c == ')';
    }
    return 0;
}

int cd_nlu_regex_compile(const char *pattern, int extra_cflags, regex_t *out, cd_error_t *err)
{
    char *ere = NULL;
    int cflags;
    if (cd_nlu_regex_translate(pattern, &ere, &cflags, err) < 0)
        return -1;
    if (check_ere(pattern, ere, err) < 0) {
        free(ere);
        return -1;
    }
    int rc = regcomp(out, ere, cflags | extra_cflags);
    free(ere);
    if (rc != 0) {
        char msg[256];
        regerror(rc, out, msg, sizeof(msg));
        return cd_error(err, CD_ERR_DATA, 0, "regex `%s`: %s", pattern, msg);
    }
    return 0;
}
