/* Rasa-like whitespace tokenizer (../shared/docs/rasa-formats.md §5.1) with code-point
 * offsets into the original text, plus the lowercased form and a few shape flags that the
 * featurizer and the entity tagger use. Internal to lib/nlu. */
#ifndef CD_NLU_TOKENIZE_H
#define CD_NLU_TOKENIZE_H

#include <stddef.h>
#include <stdint.h>

enum {
    CD_TOK_LOWER = 1,  /* every cased letter is lowercase (str.islower) */
    CD_TOK_UPPER = 2,  /* every cased letter is uppercase (str.isupper) */
    CD_TOK_TITLE = 4,  /* first letter upper, the rest lower (str.istitle, simplified) */
    CD_TOK_DIGIT = 8,  /* only digits (str.isdigit) */
    CD_TOK_HASDIGIT = 16,
    CD_TOK_PUNCT = 32, /* no letter and no digit at all */
};

typedef struct {
    int start, end;     /* code points into the original text, end exclusive */
    size_t bstart, bend; /* the same span in bytes */
    const char *text;   /* the token as written (emoji removed), NUL-terminated, in the arena */
    const char *lower;  /* lowercased */
    int n_cp;           /* code points in text */
    unsigned flags;     /* CD_TOK_* */
} cd_nlu_token;

typedef struct {
    cd_nlu_token *tok;
    size_t n;
    char *arena; /* owns every text/lower string */
} cd_nlu_tokens;

/* Tokenize UTF-8 text (invalid bytes are taken as U+FFFD). Returns -1 only on OOM. */
int cd_nlu_tokenize(const char *text, cd_nlu_tokens *out);
void cd_nlu_tokens_done(cd_nlu_tokens *t);

/* Code-point helpers the featurizer shares. */
uint32_t cd_nlu_lower_cp(uint32_t c);
/* Decode one code point at s (len bytes left); sets *adv to bytes consumed (>= 1). */
uint32_t cd_nlu_decode_cp(const unsigned char *s, size_t len, int *adv);
/* Encode c into out (4 bytes room); returns bytes written. */
int cd_nlu_encode_cp(uint32_t c, char *out);

#endif
