/* Word n-grams: Snowball stems in place of the words, and the sentence-start and -end markers
 * around n-grams of two or more words. */
#include <string.h>

#include "nlu/features.h"
#include "tap.h"

static bool has_key(const cd_nlu_featurizer *f, const char *key)
{
    return cd_nlu_vocab_find(&f->vocab, key, strlen(key)) >= 0;
}

static void fit(cd_nlu_featurizer *f, const char *stemmer, const char *const *texts, size_t n)
{
    memset(f, 0, sizeof(*f));
    f->wmin = 1;
    f->wmax = 2;
    f->sublinear = 1;
    f->word_weight = f->char_weight = 1.0;
    snprintf(f->stemmer, sizeof(f->stemmer), "%s", stemmer);
    cd_nlu_tokens docs[4];
    for (size_t i = 0; i < n; i++)
        cd_nlu_tokenize(texts[i], &docs[i]);
    ok(cd_nlu_feat_fit(f, docs, n) == 0, "fit (stemmer \"%s\")", stemmer);
    for (size_t i = 0; i < n; i++)
        cd_nlu_tokens_done(&docs[i]);
}

int main(void)
{
    const char *texts[] = {"Booking flights", "book a flight"};
    cd_nlu_featurizer f;
    fit(&f, "english", texts, 2);
    ok(has_key(&f, "wbook") && has_key(&f, "wflight") && has_key(&f, "wbook flight"),
       "stems make the word grams (book, flight, book flight)");
    ok(!has_key(&f, "wbooking") && !has_key(&f, "wflights"), "no unstemmed word grams");
    ok(has_key(&f, "w\x02 book") && has_key(&f, "wflight \x03"),
       "start and end markers pair with the first and last word");
    ok(!has_key(&f, "w\x02") && !has_key(&f, "w\x03"), "no marker unigrams");
    /* book, flight, a; book flight, book a, a flight; start+book, flight+end */
    is_int(f.vocab.n, 8, "exact vocabulary");

    /* both texts give the same word block: "booking flights" and "book flight" match */
    cd_nlu_tokens t1, t2;
    cd_nlu_tokenize("booking flights", &t1);
    cd_nlu_tokenize("book flight", &t2);
    cd_nlu_feat_scratch s1 = {.sorted = 1}, s2 = {.sorted = 1};
    long n1 = cd_nlu_feat_vector(&f, &t1, &s1), n2 = cd_nlu_feat_vector(&f, &t2, &s2);
    ok(n1 > 0 && n1 == n2 && !memcmp(s1.out, s2.out, (size_t)n1 * sizeof(*s1.out)),
       "inflections vectorise alike (%ld, %ld nodes)", n1, n2);
    cd_nlu_feat_scratch_done(&s1);
    cd_nlu_feat_scratch_done(&s2);
    cd_nlu_tokens_done(&t1);
    cd_nlu_tokens_done(&t2);
    cd_nlu_feat_done(&f);

    fit(&f, "", texts, 2);
    ok(has_key(&f, "wbooking") && has_key(&f, "wflights") && !has_key(&f, "wbook flight"),
       "no stemmer: the lowercased words");
    cd_nlu_feat_done(&f);

    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}
