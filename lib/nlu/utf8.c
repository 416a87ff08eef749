/* UTF-8 decoding by the table in RFC 3629 §4 (the same ranges as Unicode 15, Table 3-7). */
#include "nlu/utf8.h"

size_t cd_utf8_decode(const char *s, size_t len, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    if (len == 0)
        return 0;
    unsigned char c = u[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t n;
    uint32_t v, min;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3, v = c & 0x0F, min = 0x800;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4, v = c & 0x07, min = 0x10000;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F; /* > U+10FFFF */
    } else {
        return 0;
    }
    if (len < n || u[1] < lo || u[1] > hi)
        return 0;
    v = (v << 6) | (u[1] & 0x3F);
    for (size_t i = 2; i < n; i++) {
        if ((u[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (u[i] & 0x3F);
    }
    if (v < min)
        return 0;
    *cp = v;
    return n;
}

size_t cd_utf8_encode(uint32_t cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp >= 0xD800 && cp <= 0xDFFF)
        return 0;
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (cp > 0x10FFFF)
        return 0;
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

bool cd_utf8_valid(const char *s, size_t len, size_t *bad_off)
{
    size_t i = 0;
    while (i < len) {
        /* ASCII fast path: training data is mostly ASCII. */
        if ((unsigned char)s[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        size_t n = cd_utf8_decode(s + i, len - i, &cp);
        if (n == 0) {
            if (bad_off)
                *bad_off = i;
            return false;
        }
        i += n;
    }
    return true;
}

size_t cd_utf8_count(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80; /* count every non-continuation byte */
    return n;
}

size_t cd_utf8_offset(const char *s, size_t len, size_t cp)
{
    size_t i = 0;
    while (i < len && cp > 0) {
        size_t n = cd_utf8_seqlen((unsigned char)s[i]);
        i += n <= len - i ? n : len - i;
        cp--;
    }
    return i;
}

void cd_utf8_line_col(const char *buf, size_t len, size_t off, int *line, int *col)
{
    if (off > len)
        off = len;
    int l = 1;
    size_t bol = 0;
    for (size_t i = 0; i < off; i++)
        if (buf[i] == '\n')
            l++, bol = i + 1;
    *line = l;
    *col = (int)cd_utf8_count(buf + bol, off - bol) + 1;
}

size_t cd_utf8_seek(const char *s, size_t len, cd_utf8_cursor *c, size_t cp)
{
    if (cp < c->cp || c->off > len)
        c->cp = 0, c->off = 0;
    size_t adv = cd_utf8_offset(s + c->off, len - c->off, cp - c->cp);
    c->off += adv;
    c->cp = cp;
    return c->off;
}
