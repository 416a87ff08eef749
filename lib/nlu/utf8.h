/* UTF-8 helpers. Rasa's entity offsets are Python str indices, i.e. Unicode code points,
 * while our strings are UTF-8 bytes: these functions convert between the two and check
 * that input is well-formed (RFC 3629: no overlongs, no surrogates, nothing past U+10FFFF). */
#ifndef CD_NLU_UTF8_H
#define CD_NLU_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decode one code point at s[0..len). Returns the sequence length (1..4) and sets *cp, or 0
 * for an invalid or truncated sequence (and len == 0). */
size_t cd_utf8_decode(const char *s, size_t len, uint32_t *cp);

/* Encode cp into out (at least 4 bytes). Returns the byte count, 0 if cp is not a scalar. */
size_t cd_utf8_encode(uint32_t cp, char out[4]);

/* True if s[0..len) is valid UTF-8. On false, *bad_off (if not NULL) is the byte offset of
 * the first invalid sequence. */
bool cd_utf8_valid(const char *s, size_t len, size_t *bad_off);

/* Number of code points in s[0..len) (valid UTF-8 assumed; an invalid byte counts as one). */
size_t cd_utf8_count(const char *s, size_t len);

/* Byte offset of code point index cp in s[0..len); len if cp is at or past the end. */
size_t cd_utf8_offset(const char *s, size_t len, size_t cp);

/* Byte offset of code point cp through a cursor ({0, 0} to start): walking forward from the
 * last position, so a run of non-decreasing cps (entity spans in order) costs one pass over
 * s in all, not one per lookup. */
typedef struct {
    size_t cp, off;
} cd_utf8_cursor;
size_t cd_utf8_seek(const char *s, size_t len, cd_utf8_cursor *c, size_t cp);

/* Length in bytes of the sequence starting with lead byte c (1 for continuation/invalid). */
static inline size_t cd_utf8_seqlen(unsigned char c)
{
    return c < 0xC0 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF8 ? 4 : 1;
}

/* Line and column (both 1-based, column in code points) of byte offset off in buf. */
void cd_utf8_line_col(const char *buf, size_t len, size_t off, int *line, int *col);

#endif
