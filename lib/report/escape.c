/* Making untrusted text (utterances, labels, config values) inert in GitLab-flavoured
 * Markdown, and the page's machine-readable block. GitLab renders wiki Markdown with raw HTML
 * allowed (sanitised) and turns @user, #1, !1, ~label... into references, so escaping only
 * Markdown is not enough: HTML specials become entities and reference sigils get a WORD JOINER
 * (U+2060, invisible) after them so no pattern matches. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "report/report-internal.h"

#define WORD_JOINER "\xE2\x81\xA0"
#define REPLACEMENT "\xEF\xBF\xBD"

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned min;
    if ((c & 0xE0) == 0xC0) {
        n = 2;
        min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3;
        min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    unsigned cp = c & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    /* Bidi overrides and isolates could visually reorder the page: drop to a space. */
    if ((cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069))
        return 0;
    return n;
}

int cd_report_md_text(cd_strbuf *sb, const char *s, size_t max_chars)
{
    if (!s)
        return cd_strbuf_adds(sb, "—");
    const unsigned char *p = (const unsigned char *)s;
    size_t chars = 0;
    int rc = 0;
    bool ctl = false; /* the previous character was a control turned into a space */
    while (*p && rc == 0) {
        if (max_chars && chars >= max_chars) {
            rc = cd_strbuf_adds(sb, "…");
            break;
        }
        chars++;
        unsigned c = *p;
        if (c >= 0x80) {
            ctl = false;
            size_t n = utf8_len(p);
            if (n == 0) {
                /* invalid byte or a bidi control: keep the text readable, never raw */
                size_t skip = 1;
                if ((c & 0xF0) == 0xE0 && p[1] && p[2])
                    skip = (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80 ? 3 : 1;
                rc = cd_strbuf_adds(sb, skip == 3 ? " " : REPLACEMENT);
                p += skip;
                continue;
            }
            rc = cd_strbuf_add(sb, p, n);
            p += n;
            continue;
        }
        p++;
        if (c < 0x20 || c == 0x7F) {
            /* "\r\n" and friends: one space, a table cell is one line */
            if (!ctl)
                rc = cd_strbuf_addc(sb, ' ');
            else
                chars--;
            ctl = true;
            continue;
        }
        ctl = false;
        switch (c) {
        case '&':
            rc = cd_strbuf_adds(sb, "&amp;" WORD_JOINER);
            break;
        case '<':
            rc = cd_strbuf_adds(sb, "&lt;");
            break;
        case '>':
            rc = cd_strbuf_adds(sb, "&gt;");
            break;
        case '"':
            rc = cd_strbuf_adds(sb, "&quot;");
            break;
        case '@':
        case '#':
        case '!':
        case '~':
        case '%':
        case '$':
            /* GitLab reference sigils: escape for Markdown, then break the pattern. */
            rc = cd_strbuf_addc(sb, '\\');
            if (rc == 0)
                rc = cd_strbuf_addc(sb, (char)c);
            if (rc == 0)
                rc = cd_strbuf_adds(sb, WORD_JOINER);
            break;
        case '\\':
        case '`':
        case '*':
        case '_':
        case '[':
        case ']':
        case '|':
        case '{':
        case '}':
        case '(':
        case ')':
        case '+':
        case '-':
        case '=':
        case '^':
        case ':':
            rc = cd_strbuf_addc(sb, '\\');
            if (rc == 0)
                rc = cd_strbuf_addc(sb, (char)c);
            break;
        default:
            rc = cd_strbuf_addc(sb, (char)c);
        }
    }
    return rc;
}

static bool url_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("._~/%+-:?=&#;,@!$*", c) != NULL;
}

bool cd_report_url_ok(const char *url, bool allow_relative)
{
    if (!url || !*url)
        return false;
    bool abs = strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0;
    if (!abs) {
        if (!allow_relative || url[0] == '/' || strstr(url, ".."))
            return false;
        /* a relative link must not carry a scheme ("javascript:...") */
        for (const char *q = url; *q && *q != '/'; q++)
            if (*q == ':')
                return false;
    }
    for (const unsigned char *q = (const unsigned char *)url; *q; q++)
        if (!url_char_ok(*q))
            return false;
    return true;
}

int cd_report_md_code_block(cd_strbuf *sb, const char *lang, const char *text)
{
    size_t run = 0, longest = 0;
    for (const char *q = text; *q; q++) {
        run = *q == '`' ? run + 1 : 0;
        if (run > longest)
            longest = run;
    }
    size_t fence = longest >= 3 ? longest + 1 : 3;
    int rc = 0;
    for (size_t i = 0; i < fence && rc == 0; i++)
        rc = cd_strbuf_addc(sb, '`');
    if (rc == 0)
        rc = cd_strbuf_printf(sb, "%s\n%s%s", lang ? lang : "", text,
                              *text && text[strlen(text) - 1] == '\n' ? "" : "\n");
    for (size_t i = 0; i < fence && rc == 0; i++)
        rc = cd_strbuf_addc(sb, '`');
    if (rc == 0)
        rc = cd_strbuf_addc(sb, '\n');
    return rc;
}

int cd_report_block_write(cd_strbuf *sb, const char *tag, const json_t *obj)
{
    /* 10 significant digits: enough for 3-decimal deltas, half the size of %.17g */
    char *js = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(10));
    if (!js)
        return -1;
    int rc = cd_strbuf_printf(sb, "<!-- %s: ", tag);
    /* jansson leaves < > & unescaped inside strings; \u escapes keep "-->" out of the comment
     * and keep the comment one line (jansson already escapes control characters). */
    for (const char *q = js; *q && rc == 0; q++) {
        if (*q == '<')
            rc = cd_strbuf_adds(sb, "\\u003c");
        else if (*q == '>')
            rc = cd_strbuf_adds(sb, "\\u003e");
        else if (*q == '&')
            rc = cd_strbuf_adds(sb, "\\u0026");
        else
            rc = cd_strbuf_addc(sb, *q);
    }
    free(js);
    if (rc == 0)
        rc = cd_strbuf_adds(sb, " -->\n");
    return rc;
}

json_t *cd_report_block_read(const char *md, const char *tag)
{
    if (!md)
        return NULL;
    char open[64];
    snprintf(open, sizeof(open), "<!-- %s: ", tag);
    const char *a = strstr(md, open);
    if (!a)
        return NULL;
    a += strlen(open);
    const char *b = strstr(a, " -->");
    if (!b)
        return NULL;
    json_error_t jerr;
    json_t *j = json_loadb(a, (size_t)(b - a), 0, &jerr);
    if (!json_is_object(j) || json_integer_value(json_object_get(j, "v")) != 1) {
        json_decref(j);
        return NULL;
    }
    return j;
}

const char *cd_report_fmt_num(char buf[32], double v)
{
    if (isnan(v))
        return "⚠ invalid";
    if (isinf(v))
        return "—";
    snprintf(buf, 32, "%.3f", v);
    return buf;
}

const char *cd_report_fmt_delta(char buf[48], double d)
{
    if (!isfinite(d))
        return "—";
    if (fabs(d) < 0.0005)
        return "= 0.000";
    snprintf(buf, 48, "%s %+.3f", d > 0 ? "▲" : "▼", d);
    return buf;
}

void cd_report_now_iso(char buf[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
