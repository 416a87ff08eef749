#include "nlu/tokenize.h"

#include "nlu/utf8.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ---- code points ---------------------------------------------------------------------- */

uint32_t cd_nlu_decode_cp(const unsigned char *s, size_t len, int *adv)
{
    uint32_t cp;
    size_t n = cd_utf8_decode((const char *)s, len, &cp);
    *adv = n ? (int)n : 1;
    return n ? cp : 0xFFFD; /* an invalid byte stands for U+FFFD, as Python's "replace" */
}

int cd_nlu_encode_cp(uint32_t c, char *o)
{
    size_t n = cd_utf8_encode(c, o);
    return n ? (int)n : (int)cd_utf8_encode(0xFFFD, o);
}

/* Simple case folding for the scripts the data sets use (Latin, Greek, Cyrillic, Armenian):
 * no locale needed, so the static binary behaves the same in any container. */
uint32_t cd_nlu_lower_cp(uint32_t c)
{
    if (c < 0x80)
        return c >= 'A' && c <= 'Z' ? c + 32 : c;
    if ((c >= 0xC0 && c <= 0xDE && c != 0xD7) || (c >= 0x391 && c <= 0x3AB && c != 0x3A2) ||
        (c >= 0x410 && c <= 0x42F))
        return c + 32;
    if (c >= 0x400 && c <= 0x40F)
        return c + 80;
    if (c >= 0x531 && c <= 0x556)
        return c + 48;
    if (((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177) || (c >= 0x460 && c <= 0x481) ||
         (c >= 0x48A && c <= 0x4BF) || (c >= 0x4D0 && c <= 0x52F) || (c >= 0x1E00 && c <= 0x1EFF)) &&
        !(c & 1))
        return c + 1;
    if (((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) && (c & 1))
        return c + 1;
    if (c == 0x178)
        return 0xFF;
    return c;
}

static bool is_upper_cp(uint32_t c)
{
    return cd_nlu_lower_cp(c) != c;
}

static bool is_lower_cp(uint32_t c)
{
    if (c < 0x80)
        return c >= 'a' && c <= 'z';
    /* a lowercase letter of the covered scripts: something maps onto it */
    return (c >= 0xDF && c <= 0xFF && c != 0xF7) || (c >= 0x3AC && c <= 0x3CE) ||
           (c >= 0x430 && c <= 0x45F) || (c >= 0x561 && c <= 0x587) ||
           (c >= 0x100 && c <= 0x17F && cd_nlu_lower_cp(c - 1) == c) ||
           (c >= 0x139 && c <= 0x17E && !(c & 1) && cd_nlu_lower_cp(c - 1) == c);
}

/* Python's str.split() whitespace. */
static bool is_space_cp(uint32_t c)
{
    return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F) || c == 0x85 ||
           c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

static bool is_ascii_digit(uint32_t c)
{
    return c >= '0' && c <= '9';
}

/* What Rasa strips as emoji (a sane subset of its pattern: its U+24C2..U+1F251 range would
 * also delete all of CJK, which we do not copy). */
static bool is_emoji_cp(uint32_t c)
{
    return (c >= 0x1F000 && c <= 0x1FAFF) || (c >= 0x2600 && c <= 0x27BF) ||
           (c >= 0x2B00 && c <= 0x2BFF) || c == 0x200D || c == 0x200C || c == 0xFE0F ||
           (c >= 0xE0020 && c <= 0xE007F);
}

/* Regex \w: letters, marks, decimal digits, connector punctuation. Non-ASCII is a word
 * character unless it sits in a punctuation/symbol block. */
static bool is_word_cp(uint32_t c)
{
    if (c < 0x80)
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_ascii_digit(c) || c == '_';
    if (is_space_cp(c) || is_emoji_cp(c))
        return false;
    if (c >= 0xA0 && c <= 0xBF)
        return c == 0xAA || c == 0xB5 || c == 0xBA;
    if (c == 0xD7 || c == 0xF7)
        return false;
    if ((c >= 0x2000 && c <= 0x206F) || (c >= 0x20A0 && c <= 0x20CF) ||
        (c >= 0x2190 && c <= 0x2BFF) || (c >= 0x3000 && c <= 0x3004) ||
        (c >= 0x3008 && c <= 0x3020) || (c >= 0xFE30 && c <= 0xFE4F) ||
        (c >= 0xFF01 && c <= 0xFF0F) || (c >= 0xFF1A && c <= 0xFF20) ||
        (c >= 0xFF3B && c <= 0xFF40 && c != 0xFF3F) || (c >= 0xFF5B && c <= 0xFF65) ||
        c == 0xFFFD)
        return false;
    return true;
}

static bool in_set(uint32_t c, const char *set)
{
    return c < 0x80 && c && strchr(set, (int)c);
}

/* ---- the tokenizer -------------------------------------------------------------------- */

typedef struct {
    const uint32_t *cp;
    size_t n;
} cps_t;

/* [^\w#@&] */
static bool n1(uint32_t c)
{
    return !is_word_cp(c) && !in_set(c, "#@&");
}

/* [^\w._~:/?#\[\]()@!$&*+,;=-] */
static bool n3(uint32_t c)
{
    return !is_word_cp(c) && !in_set(c, "._~:/?#[]()@!$&*+,;=-");
}

static bool not_digit_space(const cps_t *t, size_t i)
{
    return i < t->n && !is_ascii_digit(t->cp[i]) && !is_space_cp(t->cp[i]);
}

static size_t run(const cps_t *t, size_t i, bool (*cls)(uint32_t))
{
    size_t j = i;
    while (j < t->n && cls(t->cp[j]))
        j++;
    return j - i;
}

/* Each alternative returns the match end (> i) or 0; greedy runs backtrack like the regex. */
static size_t alt1(const cps_t *t, size_t i) /* [^\w#@&]+(?=\s|$) */
{
    for (size_t k = run(t, i, n1); k >= 1; k--)
        if (i + k == t->n || is_space_cp(t->cp[i + k]))
            return i + k;
    return 0;
}

static size_t alt2_from(const cps_t *t, size_t s) /* [^\w#@&]+(?=[^0-9\s]) from s */
{
    for (size_t k = run(t, s, n1); k >= 1; k--)
        if (not_digit_space(t, s + k))
            return s + k;
    return 0;
}

static size_t alt2(const cps_t *t, size_t i) /* (\s|^)[^\w#@&]+(?=[^0-9\s]) */
{
    size_t e = 0;
    if (i < t->n && is_space_cp(t->cp[i]))
        e = alt2_from(t, i + 1);
    if (!e && i == 0)
        e = alt2_from(t, 0);
    return e;
}

static size_t alt3(const cps_t *t, size_t i) /* (?<=[^0-9\s])[^\w._~...=-]+(?=[^0-9\s]) */
{
    if (i == 0 || !not_digit_space(t, i - 1))
        return 0;
    for (size_t k = run(t, i, n3); k >= 1; k--)
        if (not_digit_space(t, i + k))
            return i + k;
    return 0;
}

static void set_flags(cd_nlu_token *tk, const uint32_t *cp, const bool *keep, size_t s, size_t e)
{
    int up = 0, low = 0, dig = 0, other = 0, letters = 0;
    bool title = true, first = true;
    for (size_t i = s; i < e; i++) {
        if (!keep[i])
            continue;
        uint32_t c = cp[i];
        bool u = is_upper_cp(c), l = is_lower_cp(c);
        if (is_ascii_digit(c))
            dig++;
        else if (u || l)
            letters++;
        else if (!is_word_cp(c))
            other++;
        up += u;
        low += l;
        if (u || l) {
            if ((first && !u) || (!first && u))
                title = false;
            first = false;
        }
    }
    unsigned f = 0;
    if (low && !up)
        f |= CD_TOK_LOWER;
    if (up && !low)
        f |= CD_TOK_UPPER;
    if (up && title)
        f |= CD_TOK_TITLE;
    if (dig && !letters && !other && dig == tk->n_cp)
        f |= CD_TOK_DIGIT;
    if (dig)
        f |= CD_TOK_HASDIGIT;
    if (!dig && !letters && !up && !low)
        f |= CD_TOK_PUNCT;
    tk->flags = f;
}

int cd_nlu_tokenize(const char *text, cd_nlu_tokens *out)
{
    memset(out, 0, sizeof(*out));
    size_t blen = strlen(text);
    uint32_t *cp = malloc((blen + 1) * sizeof(*cp));
    size_t *boff = malloc((blen + 1) * sizeof(*boff));
    bool *keep = malloc(blen + 1);
    int rc = -1;
    if (!cp || !boff || !keep)
        goto out;
    size_t n = 0;
    for (size_t b = 0; b < blen;) {
        int adv;
        boff[n] = b;
        cp[n++] = cd_nlu_decode_cp((const unsigned char *)text + b, blen - b, &adv);
        b += (size_t)adv;
    }
    boff[n] = blen;
    cps_t t = {cp, n};
    for (size_t i = 0; i < n; i++)
        keep[i] = !is_space_cp(cp[i]);
    for (size_t i = 0; i < n;) {
        size_t e = alt1(&t, i);
        if (!e)
            e = alt2(&t, i);
        if (!e)
            e = alt3(&t, i);
        if (!e) {
            i++;
            continue;
        }
        for (size_t j = i; j < e; j++)
            keep[j] = false;
        i = e;
    }
    for (size_t i = 0; i < n; i++)
        if (is_emoji_cp(cp[i]))
            keep[i] = false;

    /* What the regex stripped becomes a space (so "I'm" is "I" "m"); emoji are removed from
     * the words afterwards, so they do not split one. A word reduced to nothing is dropped;
     * a token spans its first to its last kept character (Rasa finds the word in the text). */
    bool *sep = malloc(n + 1);
    if (!sep)
        goto out;
    for (size_t i = 0; i < n; i++)
        sep[i] = is_space_cp(cp[i]) || (!keep[i] && !is_emoji_cp(cp[i]));
    size_t ntok = 0;
    for (size_t i = 0; i < n;) {
        if (sep[i]) {
            i++;
            continue;
        }
        size_t j = i;
        bool any = false;
        while (j < n && !sep[j])
            any |= keep[j++];
        ntok += any;
        i = j;
    }
    bool whole = false;
    if (!ntok && n) { /* nothing left: the whole text is the one token, as Rasa does */
        whole = true;
        ntok = 1;
        for (size_t i = 0; i < n; i++)
            keep[i] = true;
    }
    out->tok = calloc(ntok ? ntok : 1, sizeof(*out->tok));
    /* an invalid byte becomes U+FFFD (3 bytes): room for 3 bytes per input byte, twice */
    out->arena = malloc(2 * (3 * blen + ntok) + 8);
    if (!out->tok || !out->arena) {
        free(sep);
        goto out;
    }
    char *a = out->arena;
    size_t k = 0;
    for (size_t i = 0; i < n && k < ntok;) {
        if (!whole && sep[i]) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && (whole || !sep[j]))
            j++;
        size_t s = i, e = j;
        while (s < e && !keep[s])
            s++;
        while (e > s && !keep[e - 1])
            e--;
        i = j;
        if (s == e)
            continue;
        cd_nlu_token *tk = &out->tok[k++];
        tk->start = (int)s;
        tk->end = (int)e;
        tk->bstart = boff[s];
        tk->bend = boff[e];
        tk->text = a;
        for (size_t x = s; x < e; x++)
            if (keep[x]) {
                a += cd_nlu_encode_cp(cp[x], a);
                tk->n_cp++;
            }
        *a++ = 0;
        tk->lower = a;
        for (size_t x = s; x < e; x++)
            if (keep[x])
                a += cd_nlu_encode_cp(cd_nlu_lower_cp(cp[x]), a);
        *a++ = 0;
        set_flags(tk, cp, keep, s, e);
    }
    free(sep);
    out->n = k;
    rc = 0;
out:
    free(cp);
    free(boff);
    free(keep);
    if (rc)
        cd_nlu_tokens_done(out);
    return rc;
}

void cd_nlu_tokens_done(cd_nlu_tokens *t)
{
    free(t->tok);
    free(t->arena);
    memset(t, 0, sizeof(*t));
}
