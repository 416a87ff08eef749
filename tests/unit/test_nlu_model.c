/* The NLU model: tokenizer offsets, training, parse JSON shape, fallback, config files,
 * reproducible archives, save/load round trip, and bad archives. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "nlu/model-internal.h"
#include "nlu/nlu.h"
#include "nlu/tokenize.h"
#include "tap.h"

static char tmpdir[] = "/tmp/test_nlu_model.XXXXXX";

static const char *tmp(const char *name)
{
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof(buf[k]), "%s/%s", tmpdir, name);
    return buf[k];
}

/* ---- tokenizer ------------------------------------------------------------------------ */

static void check_tokens(const char *text, const char *want)
{
    cd_nlu_tokens t;
    char got[1024] = "";
    if (cd_nlu_tokenize(text, &t)) {
        ok(0, "tokenize %s", text);
        return;
    }
    for (size_t i = 0; i < t.n; i++) {
        char one[256];
        snprintf(one, sizeof(one), "%s%s[%d,%d]", i ? " " : "", t.tok[i].text, t.tok[i].start,
                 t.tok[i].end);
        strncat(got, one, sizeof(got) - strlen(got) - 1);
    }
    is_str(got, want, text);
    cd_nlu_tokens_done(&t);
}

static void test_tokenizer(void)
{
    check_tokens("hello, world!", "hello[0,5] world[7,12]");
    check_tokens("I'm here", "I[0,1] m[2,3] here[4,8]");
    check_tokens("naïve café 😀 ok", "naïve[0,5] café[6,10] ok[13,15]");
    check_tokens("set an alarm for 10:30 am", "set[0,3] an[4,6] alarm[7,12] for[13,16] "
                                              "10:30[17,22] am[23,25]");
    check_tokens("see www.example.com/a?x=1 now", "see[0,3] www.example.com/a?x=1[4,25] now[26,29]");
    check_tokens("I ❤️ Zürich", "I[0,1] Zürich[5,11]");
    check_tokens("😀😀", "😀😀[0,2]");
    check_tokens("  ", "  [0,2]");
    check_tokens("", "");
    check_tokens("mail me@x.org #tag", "mail[0,4] me@x.org[5,13] #tag[14,18]");
    check_tokens("price: $5.99?", "price[0,5] $5.99[7,12]");
    /* invalid UTF-8 does not crash; the bad byte counts as one code point */
    check_tokens("ab\xff" "c d", "ab[0,2] c[3,4] d[5,6]"); /* U+FFFD is not \\w */

    cd_nlu_tokens t;
    ok(cd_nlu_tokenize("ÀÉÎ Straße ΣΟΦΊΑ", &t) == 0 && t.n == 3, "tokenize mixed scripts");
    is_str(t.tok[0].lower, "àéî", "Latin-1 lowercased");
    is_str(t.tok[1].lower, "straße", "ß kept");
    ok(t.tok[1].flags & CD_TOK_TITLE, "title flag");
    ok(t.tok[0].flags & CD_TOK_UPPER, "upper flag");
    cd_nlu_tokens_done(&t);
}

/* ---- data ------------------------------------------------------------------------------ */

static const char *small_yaml =
    "version: \"3.1\"\n"
    "nlu:\n"
    "- intent: greet\n"
    "  examples: |\n"
    "    - hello\n"
    "    - hi there\n"
    "    - good morning\n"
    "    - hey\n"
    "    - hello friend\n"
    "    - hi\n"
    "- intent: goodbye\n"
    "  examples: |\n"
    "    - bye\n"
    "    - goodbye\n"
    "    - see you later\n"
    "    - bye bye\n"
    "    - see you tomorrow\n"
    "    - farewell\n"
    "- intent: book_flight\n"
    "  examples: |\n"
    "    - book a flight to [Paris](city)\n"
    "    - I want to fly to [Berlin](city) on [monday](date)\n"
    "    - flights from [London](city:LON) to [Rome](city)\n"
    "    - get me a ticket to [NYC](city:New York) [tomorrow](date)\n"
    "    - fly to [Madrid](city) please\n"
    "    - a flight to [Oslo](city) on [friday](date)\n"
    "    - book me to [Lisbon](city)\n"
    "    - ticket to [Vienna](city) for [sunday](date)\n"
    "- intent: transfer\n"
    "  examples: |\n"
    "    - send money from [checking]{\"entity\": \"account\", \"role\": \"source\"} to "
    "[savings]{\"entity\": \"account\", \"role\": \"target\"}\n"
    "    - move cash from [savings]{\"entity\": \"account\", \"role\": \"source\"} to "
    "[checking]{\"entity\": \"account\", \"role\": \"target\"}\n"
    "    - transfer from [credit]{\"entity\": \"account\", \"role\": \"source\"} to "
    "[savings]{\"entity\": \"account\", \"role\": \"target\"}\n"
    "    - send funds from [checking]{\"entity\": \"account\", \"role\": \"source\"} to "
    "[credit]{\"entity\": \"account\", \"role\": \"target\"}\n"
    "- synonym: New York\n"
    "  examples: |\n"
    "    - big apple\n"
    "- regex: zipcode\n"
    "  examples: |\n"
    "    - \\d{5}\n"
    "- lookup: city\n"
    "  examples: |\n"
    "    - Paris\n"
    "    - Berlin\n";

static int load_small(cd_nlu_data *d)
{
    cd_error_t err = {0};
    int rc = cd_nlu_data_load_mem("nlu.yml", small_yaml, strlen(small_yaml), 0, d, &err);
    ok(rc == 0, "small data loads: %s", rc ? cd_error_msg(&err) : "ok");
    cd_error_clear(&err);
    return rc;
}

static char *parse_json(const cd_nlu_model *m, const char *text)
{
    cd_nlu_parse_result r;
    cd_error_t err = {0};
    if (cd_nlu_parse(m, text, &r, &err)) {
        ok(0, "parse %s: %s", text, cd_error_msg(&err));
        cd_error_clear(&err);
        return NULL;
    }
    json_t *j = cd_nlu_parse_result_json(&r);
    char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(j);
    cd_nlu_parse_result_done(&r);
    return s;
}

static void test_parse_shape(const cd_nlu_model *m)
{
    cd_nlu_parse_result r;
    cd_error_t err = {0};
    ok(cd_nlu_parse(m, "book a flight to Paris", &r, &err) == 0, "parse");
    is_str(r.intent.name, "book_flight", "intent");
    ok(r.n_ranking == 4, "ranking lists every intent when fewer than 10 (%zu)", r.n_ranking);
    double sum = 0;
    for (size_t i = 0; i < r.n_ranking; i++) {
        sum += r.ranking[i].confidence;
        if (i)
            ok(r.ranking[i - 1].confidence >= r.ranking[i].confidence, "ranking sorted");
    }
    ok(sum > 0.999 && sum < 1.001, "confidences sum to 1 (%g)", sum);
    ok(r.intent.confidence == r.ranking[0].confidence, "intent is the top of the ranking");
    json_t *j = cd_nlu_parse_result_json(&r);
    ok(json_is_string(json_object_get(j, "text")), "json text");
    ok(json_is_string(json_object_get(json_object_get(j, "intent"), "name")), "json intent.name");
    ok(json_is_real(json_object_get(json_object_get(j, "intent"), "confidence")),
       "json intent.confidence");
    ok(json_array_size(json_object_get(j, "intent_ranking")) == r.n_ranking, "json ranking");
    json_t *ents = json_object_get(j, "entities");
    ok(json_array_size(ents) == 1, "one entity in `book a flight to Paris`");
    json_t *e = json_array_get(ents, 0);
    is_str(json_string_value(json_object_get(e, "entity")), "city", "entity name");
    is_str(json_string_value(json_object_get(e, "value")), "Paris", "entity value");
    is_int(json_integer_value(json_object_get(e, "start")), 17, "entity start");
    is_int(json_integer_value(json_object_get(e, "end")), 22, "entity end");
    ok(json_is_real(json_object_get(e, "confidence_entity")), "confidence_entity");
    double ce = json_real_value(json_object_get(e, "confidence_entity"));
    ok(ce > 0 && ce <= 1, "confidence_entity in (0,1] (%g)", ce);
    ok(json_is_string(json_object_get(e, "extractor")), "extractor");
    ok(!json_object_get(e, "role"), "no role when none was predicted");
    cd_nlu_parse_result_done(&r);

    /* updating that object in place prints exactly what a new object for the result prints
     * (key order included), for results with fewer, more and no entities, and entities whose
     * objects are reused in place or, with a role before or after, rebuilt */
    static const char *const next[] = {
        "send money from checking to savings", "hello there", "book a flight to Paris",
        "get me a ticket to NYC tomorrow",     "book a flight to Paris",
        "send money from checking to savings", "book a flight to Paris"};
    for (size_t k = 0; k < sizeof(next) / sizeof(next[0]); k++) {
        ok(cd_nlu_parse(m, next[k], &r, &err) == 0, "parse %s", next[k]);
        json_t *fresh = cd_nlu_parse_result_json(&r);
        ok(cd_nlu_parse_result_json_update(j, &r) == 0, "update in place for `%s`", next[k]);
        char *a = json_dumps(j, JSON_COMPACT), *b = json_dumps(fresh, JSON_COMPACT);
        ok(a && b && !strcmp(a, b), "updated dump == new dump for `%s`", next[k]);
        free(a);
        free(b);
        json_decref(fresh);
        cd_nlu_parse_result_done(&r);
    }
    json_t *other = json_pack("{s:s}", "text", "x");
    ok(cd_nlu_parse(m, "hello", &r, &err) == 0 &&
           cd_nlu_parse_result_json_update(other, &r) == -1,
       "an object of another shape is refused");
    json_decref(other);
    cd_nlu_parse_result_done(&r);
    json_decref(j);

    /* synonyms: annotated value and the synonyms section */
    ok(cd_nlu_parse(m, "get me a ticket to NYC tomorrow", &r, &err) == 0, "parse synonym");
    bool mapped = false;
    for (size_t i = 0; i < r.n_entities; i++)
        mapped |= !strcmp(r.entities[i].entity, "city") && !strcmp(r.entities[i].value, "New York");
    ok(mapped, "NYC → New York");
    cd_nlu_parse_result_done(&r);

    /* roles */
    ok(cd_nlu_parse(m, "send money from checking to savings", &r, &err) == 0, "parse roles");
    is_str(r.intent.name, "transfer", "transfer intent");
    ok(r.n_entities == 2, "two accounts (%zu)", r.n_entities);
    if (r.n_entities == 2) {
        is_str(r.entities[0].entity, "account", "entity");
        is_str(r.entities[0].role, "source", "role source");
        is_str(r.entities[1].role, "target", "role target");
        j = cd_nlu_parse_result_json(&r);
        is_str(json_string_value(json_object_get(json_array_get(json_object_get(j, "entities"), 0), "role")),
               "source", "role in JSON");
        json_decref(j);
    }
    cd_nlu_parse_result_done(&r);

    /* unicode offsets are code points */
    ok(cd_nlu_parse(m, "😀 fly to Zürich please", &r, &err) == 0, "parse emoji text");
    for (size_t i = 0; i < r.n_entities; i++)
        if (!strcmp(r.entities[i].value, "Zürich"))
            ok(r.entities[i].start == 9 && r.entities[i].end == 15, "code point offsets (%d,%d)",
               r.entities[i].start, r.entities[i].end);
    cd_nlu_parse_result_done(&r);

    ok(cd_nlu_parse(m, "bad \xff utf8", &r, &err) < 0 && err.kind == CD_ERR_DATA,
       "invalid UTF-8 is a data error: %s", cd_error_msg(&err));
    cd_error_clear(&err);
    ok(cd_nlu_parse(m, "", &r, &err) == 0 && r.intent.name, "empty text still gets an intent");
    cd_nlu_parse_result_done(&r);
}

static void test_fallback(const cd_nlu_data *d)
{
    cd_nlu_config cfg;
    cd_error_t err = {0};
    cd_nlu_config_default(&cfg);
    cfg.fallback_threshold = 0.999;
    cd_nlu_model *m = cd_nlu_train(d, &cfg, 1, &err);
    ok(m != NULL, "train with fallback");
    cd_nlu_parse_result r;
    ok(cd_nlu_parse(m, "what is the meaning of life", &r, &err) == 0, "parse oos");
    is_str(r.intent.name, CD_NLU_FALLBACK_INTENT, "below threshold → nlu_fallback");
    ok(r.intent.confidence == 0.999, "fallback confidence is the threshold");
    is_str(r.ranking[0].name, CD_NLU_FALLBACK_INTENT, "nlu_fallback first in the ranking");
    ok(r.n_ranking <= CD_NLU_RANKING_LENGTH, "ranking still capped");
    cd_nlu_parse_result_done(&r);
    cd_nlu_model_free(m);

    cfg.fallback_threshold = 0.01;
    cfg.ambiguity_threshold = 1.0; /* every prediction is "ambiguous" */
    m = cd_nlu_train(d, &cfg, 1, &err);
    ok(cd_nlu_parse(m, "hello", &r, &err) == 0, "parse");
    is_str(r.intent.name, CD_NLU_FALLBACK_INTENT, "ambiguity → nlu_fallback");
    cd_nlu_parse_result_done(&r);
    cd_nlu_model_free(m);

    cfg.ambiguity_threshold = 0;
    m = cd_nlu_train(d, &cfg, 1, &err);
    ok(cd_nlu_parse(m, "hello", &r, &err) == 0, "parse");
    is_str(r.intent.name, "greet", "confident prediction kept");
    cd_nlu_parse_result_done(&r);
    cd_nlu_model_free(m);
    cd_nlu_config_done(&cfg);
}

/* ---- archives ---------------------------------------------------------------------------- */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

static void spill(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, n, f);
    fclose(f);
}

/* a tar.gz with the given (name, content) entries, through libarchive */
static void make_targz(const char *path, const char *const *ents, size_t n)
{
    struct archive *a = archive_write_new();
    archive_write_add_filter_gzip(a);
    archive_write_set_format_ustar(a);
    archive_write_open_filename(a, path);
    for (size_t i = 0; i < n; i += 2) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, ents[i]);
        archive_entry_set_size(e, (la_int64_t)strlen(ents[i + 1]));
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_write_header(a, e);
        archive_write_data(a, ents[i + 1], strlen(ents[i + 1]));
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
}

static void expect_bad(const char *path, const char *needle, const char *what)
{
    cd_error_t err = {0};
    cd_nlu_model *m = cd_nlu_model_load(path, &err);
    ok(!m && err.kind == CD_ERR_DATA, "%s: refused as a data error (%s)", what, cd_error_msg(&err));
    has_str(cd_error_msg(&err), path, "message names the archive");
    if (needle)
        has_str(cd_error_msg(&err), needle, what);
    cd_nlu_model_free(m);
    cd_error_clear(&err);
}

static void test_archives(const cd_nlu_data *d)
{
    cd_error_t err = {0};
    setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
    cd_nlu_model *a = cd_nlu_train(d, NULL, 7, &err), *b = cd_nlu_train(d, NULL, 7, &err);
    ok(a && b, "trained twice");
    const char *pa = tmp("a.tar.gz"), *pb = tmp("b.tar.gz");
    ok(cd_nlu_model_save(a, pa, &err) == 0 && cd_nlu_model_save(b, pb, &err) == 0, "saved: %s",
       cd_error_msg(&err));
    size_t la, lb;
    char *ba = slurp(pa, &la), *bb = slurp(pb, &lb);
    ok(ba && bb && la == lb && !memcmp(ba, bb, la), "same data + config + seed → identical bytes");
    /* cross-validation trains side-by-side folds with the tagger first: the same model */
    cd_nlu_model *t = cd_nlu_train_tagger_first(d, NULL, 7, &err);
    const char *pt = tmp("t.tar.gz");
    size_t lt = 0;
    char *bt = t && cd_nlu_model_save(t, pt, &err) == 0 ? slurp(pt, &lt) : NULL;
    ok(bt && lt == la && !memcmp(ba, bt, la), "tagger trained first → identical bytes");
    free(bt);
    cd_nlu_model_free(t);
    const json_t *meta = cd_nlu_model_metadata(a);
    is_str(json_string_value(json_object_get(meta, "trained_at")), "2023-11-14T22:13:20",
           "trained_at from SOURCE_DATE_EPOCH");
    ok(strlen(json_string_value(json_object_get(meta, "model_id"))) == 32, "model id");
    ok(strlen(json_string_value(json_object_get(meta, "fingerprint"))) == 64, "fingerprint");
    ok(json_array_size(json_object_get(json_object_get(meta, "labels"), "intents")) == 4,
       "intent labels");
    ok(json_array_size(json_object_get(json_object_get(meta, "labels"), "entities")) == 3,
       "entity labels (account, city, date)");

    /* round trip: the loaded model parses exactly as the trained one */
    cd_nlu_model *l = cd_nlu_model_load(pa, &err);
    ok(l != NULL, "load: %s", l ? "ok" : cd_error_msg(&err));
    const char *texts[] = {"hello there", "fly to Berlin on monday", "see you",
                           "send money from savings to checking", "zip 12345 please",
                           "big apple tomorrow", "¿qué tal? 🙂"};
    for (size_t i = 0; l && i < sizeof(texts) / sizeof(texts[0]); i++) {
        char *x = parse_json(a, texts[i]), *y = parse_json(l, texts[i]);
        ok(x && y && !strcmp(x, y), "same parse after load: %s", texts[i]);
        free(x);
        free(y);
    }
    /* saving the loaded model gives the same bytes again */
    const char *pc = tmp("c.tar.gz");
    ok(l && cd_nlu_model_save(l, pc, &err) == 0, "save loaded");
    size_t lc;
    char *bc = slurp(pc, &lc);
    ok(bc && lc == la && !memcmp(ba, bc, la), "load + save is byte-identical");
    free(bc);

    /* a different seed still gives a valid model */
    cd_nlu_model *s2 = cd_nlu_train(d, NULL, 8, &err);
    ok(s2 != NULL, "another seed trains");
    cd_nlu_model_free(s2);

    /* truncated at several points, and single flipped bytes */
    const size_t cuts[] = {0, 1, 10, la / 3, la / 2, la - 9, la - 1};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        char name[64];
        snprintf(name, sizeof(name), "cut%zu.tar.gz", i);
        spill(tmp(name), ba, cuts[i]);
        expect_bad(tmp(name), NULL, "truncated archive");
    }
    for (size_t i = 0; i < 16; i++) {
        char *c = malloc(la);
        memcpy(c, ba, la);
        c[(la * (i + 1)) / 17] ^= 0x5A;
        spill(tmp("flip.tar.gz"), c, la);
        cd_nlu_model *m = cd_nlu_model_load(tmp("flip.tar.gz"), &err);
        ok(!m && err.kind == CD_ERR_DATA, "flipped byte %zu: refused (%s)", i, cd_error_msg(&err));
        cd_nlu_model_free(m);
        cd_error_clear(&err);
        free(c);
    }
    spill(tmp("garbage.tar.gz"), "this is not an archive at all", 29);
    expect_bad(tmp("garbage.tar.gz"), "not a", "garbage");

    const char *rasa[] = {"metadata.json", "{\"rasa_open_source_version\": \"3.6.13\", \"model_id\": \"x\"}",
                          "components/domain_provider/domain.yml", "version: '3.1'\n"};
    make_targz(tmp("rasa.tar.gz"), rasa, 4);
    expect_bad(tmp("rasa.tar.gz"), "Rasa model", "a Rasa 3 model");
    const char *rasa2[] = {"fingerprint.json", "{\"version\": \"2.8.2\"}"};
    make_targz(tmp("rasa2.tar.gz"), rasa2, 2);
    expect_bad(tmp("rasa2.tar.gz"), "Rasa 2", "a Rasa 2 model");
    const char *other[] = {"README", "hello"};
    make_targz(tmp("other.tar.gz"), other, 2);
    expect_bad(tmp("other.tar.gz"), "metadata.json", "an unrelated tar.gz");
    const char *badjson[] = {"metadata.json", "{\"format\": "};
    make_targz(tmp("badjson.tar.gz"), badjson, 2);
    expect_bad(tmp("badjson.tar.gz"), "metadata.json", "broken metadata.json");

    /* our metadata, but a newer format version, or components missing */
    json_t *mj = json_deep_copy(meta);
    json_object_set_new(mj, "format_version", json_integer(99));
    char *ms = json_dumps(mj, 0);
    const char *future[] = {"metadata.json", ms};
    make_targz(tmp("future.tar.gz"), future, 2);
    expect_bad(tmp("future.tar.gz"), "version 99", "a future format version");
    free(ms);
    json_decref(mj);
    ms = json_dumps(meta, 0);
    const char *nocomp[] = {"metadata.json", ms};
    make_targz(tmp("nocomp.tar.gz"), nocomp, 2);
    expect_bad(tmp("nocomp.tar.gz"), "missing", "components missing");
    const char *badcomp[] = {"metadata.json", ms, "components/features.bin", "CDNLUFT1\x01",
                             "components/intent_classifier.bin", "xx"};
    make_targz(tmp("badcomp.tar.gz"), badcomp, 6);
    expect_bad(tmp("badcomp.tar.gz"), "features", "a corrupt component");
    free(ms);

    cd_error_clear(&err);
    ok(!cd_nlu_model_load(tmp("does-not-exist.tar.gz"), &err) && err.kind == CD_ERR_USAGE,
       "missing file is not a data error: %s", cd_error_msg(&err));
    cd_error_clear(&err);
    free(ba);
    free(bb);
    cd_nlu_model_free(a);
    cd_nlu_model_free(b);
    cd_nlu_model_free(l);
    unsetenv("SOURCE_DATE_EPOCH");
}

/* ---- config files -------------------------------------------------------------------------- */

static int write_file(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(s, f);
    return fclose(f);
}

static void test_config(void)
{
    cd_nlu_config c;
    cd_error_t err = {0};
    const char *p = tmp("config.yml");
    write_file(p, "recipe: default.v1\nlanguage: en\npipeline:\n"
                  "- name: WhitespaceTokenizer\n"
                  "- name: CountVectorsFeaturizer\n  min_ngram: 1\n  max_ngram: 3\n"
                  "- name: CountVectorsFeaturizer\n  analyzer: char_wb\n  min_ngram: 1\n  max_ngram: 4\n"
                  "- name: LinearIntentClassifier\n  C: 0.5\n  solver: svm\n"
                  "- name: CRFEntityExtractor\n  epochs: 7\n"
                  "- name: EntitySynonymMapper\n"
                  "- name: FallbackClassifier\n  threshold: 0.3\n  ambiguity_threshold: 0.1\n"
                  "policies: []\n");
    ok(cd_nlu_config_load(p, &c, &err) == 0, "config loads: %s", cd_error_msg(&err));
    ok(c.word_ngram_min == 1 && c.word_ngram_max == 3, "word n-grams");
    ok(c.char_ngram_min == 1 && c.char_ngram_max == 4, "char n-grams");
    ok(c.intent_c == 0.5, "C");
    ok(c.tagger_epochs == 7, "epochs");
    ok(c.fallback_threshold == 0.3 && c.ambiguity_threshold == 0.1, "fallback thresholds");
    ok(c.source_json && strstr(c.source_json, "\"C\""), "source_json");
    cd_nlu_config_done(&c);

    write_file(p, "pipeline:\n- name: WhitespaceTokenizer\n- name: FallbackClassifier\n"
                  "  treshold: 0.3\n");
    ok(cd_nlu_config_load(p, &c, &err) < 0, "unknown key refused");
    has_str(cd_error_msg(&err), ":4:3:", "error has line:col");
    has_str(cd_error_msg(&err), "treshold", "error names the key");
    cd_error_clear(&err);
    cd_nlu_config_done(&c);

    write_file(p, "pipeline:\n- name: SpacyNLP\n");
    ok(cd_nlu_config_load(p, &c, &err) < 0, "unknown component refused");
    has_str(cd_error_msg(&err), "SpacyNLP", "error names the component");
    cd_error_clear(&err);
    cd_nlu_config_done(&c);

    write_file(p, "pipelines:\n- name: x\n");
    ok(cd_nlu_config_load(p, &c, &err) < 0, "unknown top-level key refused");
    has_str(cd_error_msg(&err), ":1:1:", "at 1:1");
    cd_error_clear(&err);
    cd_nlu_config_done(&c);

    write_file(p, "pipeline: [\n");
    ok(cd_nlu_config_load(p, &c, &err) < 0, "bad YAML refused: %s", cd_error_msg(&err));
    cd_error_clear(&err);
    cd_nlu_config_done(&c);

    write_file(p, "pipeline:\n- name: FallbackClassifier\n  threshold: 2\n");
    ok(cd_nlu_config_load(p, &c, &err) < 0, "out-of-range value refused");
    has_str(cd_error_msg(&err), "threshold", "names the key");
    cd_error_clear(&err);
    cd_nlu_config_done(&c);

    /* the stemmer: English by default, from `language:`, none for a language Snowball lacks,
     * off with `stem: false` */
    cd_nlu_config_default(&c);
    is_str(c.stemmer, "english", "English stems by default");
    cd_nlu_config_done(&c);
    write_file(p, "language: de\npipeline:\n- name: WhitespaceTokenizer\n");
    ok(cd_nlu_config_load(p, &c, &err) == 0, "language: de loads");
    is_str(c.stemmer, "de", "German stems for language: de");
    cd_nlu_config_done(&c);
    write_file(p, "language: zh\npipeline:\n- name: WhitespaceTokenizer\n");
    ok(cd_nlu_config_load(p, &c, &err) == 0 && !c.stemmer[0], "no stems for language: zh");
    cd_nlu_config_done(&c);
    write_file(p, "language: en\npipeline:\n- name: CountVectorsFeaturizer\n  stem: false\n");
    ok(cd_nlu_config_load(p, &c, &err) == 0 && !c.stemmer[0], "stem: false turns stems off");
    ok(c.source_json && strstr(c.source_json, "\"stemmer\":\"\""), "metadata says no stemmer");
    cd_nlu_config_done(&c);
    write_file(p, "pipeline:\n- name: CountVectorsFeaturizer\n  stem: maybe\n");
    ok(cd_nlu_config_load(p, &c, &err) < 0, "stem: maybe refused");
    has_str(cd_error_msg(&err), ":3:9:", "at its line:col");
    cd_error_clear(&err);
    cd_nlu_config_done(&c);

    /* no entity extractor listed: no tagger */
    write_file(p, "pipeline:\n- name: WhitespaceTokenizer\n- name: LogisticRegressionClassifier\n");
    ok(cd_nlu_config_load(p, &c, &err) == 0 && c.tagger_epochs == 0, "tagger off when not listed");
    cd_nlu_config_done(&c);
}

static void test_train_errors(void)
{
    const char *one = "version: \"3.1\"\nnlu:\n- intent: a\n  examples: |\n    - x\n    - y\n";
    cd_nlu_data d;
    cd_error_t err = {0};
    ok(cd_nlu_data_load_mem("one.yml", one, strlen(one), 0, &d, &err) == 0, "one-intent data loads");
    ok(!cd_nlu_train(&d, NULL, 0, &err) && err.kind == CD_ERR_DATA, "one intent refused: %s",
       cd_error_msg(&err));
    cd_error_clear(&err);
    cd_nlu_data_done(&d);
}

/* Regression: the tagger's per-thread workspace outlived the first model and kept its tag
 * count, so a later model with more entity labels wrote past it (cross-validation folds).
 * Runs in a fresh thread so the workspace is first sized by the model with FEW tags, then
 * alternates models; ASan reports the overflow if the workspace does not grow. */
static const char *one_label_yaml =
    "version: \"3.1\"\n"
    "nlu:\n"
    "- intent: greet\n"
    "  examples: |\n"
    "    - hello\n"
    "    - hi there\n"
    "    - good morning\n"
    "- intent: weather\n"
    "  examples: |\n"
    "    - weather in [Paris](city)\n"
    "    - is it raining in [Berlin](city) today\n"
    "    - forecast for [Rome](city)\n";

struct two_models {
    const cd_nlu_model *few, *many;
    int parsed, entities;
};

static void *alternate_models(void *arg)
{
    struct two_models *tm = arg;
    /* long text first so the token capacity already covers the shorter ones that follow */
    const char *texts[] = {
        "is it raining in Paris or Berlin or Rome or Madrid or Oslo or Vienna today and tomorrow",
        "book a flight to Paris on monday", "send money from checking to savings",
        "weather in Berlin"};
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < sizeof(texts) / sizeof(*texts); i++) {
            const cd_nlu_model *m = (i + (size_t)round) % 2 ? tm->many : tm->few;
            cd_nlu_parse_result r;
            cd_error_t err = {0};
            if (cd_nlu_parse(m, texts[i], &r, &err) == 0) {
                tm->parsed++;
                tm->entities += r.n_entities > 0;
                cd_nlu_parse_result_done(&r);
            }
            cd_error_clear(&err);
        }
    cd_nlu_thread_done();
    return NULL;
}

static void test_models_alternate(const cd_nlu_data *many_data)
{
    cd_nlu_data d;
    cd_error_t err = {0};
    int rc = cd_nlu_data_load_mem("one.yml", one_label_yaml, strlen(one_label_yaml), 0, &d, &err);
    ok(rc == 0, "one-label data loads: %s", rc ? cd_error_msg(&err) : "ok");
    if (rc) {
        cd_error_clear(&err);
        return;
    }
    cd_nlu_model *few = cd_nlu_train(&d, NULL, 0, &err);
    cd_nlu_model *many = few ? cd_nlu_train(many_data, NULL, 0, &err) : NULL;
    ok(few && many, "train two models with different entity label counts: %s",
       few && many ? "ok" : cd_error_msg(&err));
    if (few && many) {
        struct two_models tm = {few, many, 0, 0};
        pthread_t th;
        ok(pthread_create(&th, NULL, alternate_models, &tm) == 0 && pthread_join(th, NULL) == 0,
           "parse thread ran");
        is_int(tm.parsed, 12, "every alternating parse succeeds");
        ok(tm.entities > 0, "alternating parses still find entities (%d)", tm.entities);
    }
    cd_error_clear(&err);
    cd_nlu_model_free(few);
    cd_nlu_model_free(many);
    cd_nlu_data_done(&d);
}

int main(void)
{
    if (!mkdtemp(tmpdir))
        tap_skip_all("no temp dir");
    test_tokenizer();
    test_config();
    test_train_errors();
    cd_nlu_data d;
    if (load_small(&d) == 0) {
        cd_error_t err = {0};
        cd_nlu_model *m = cd_nlu_train(&d, NULL, 0, &err);
        ok(m != NULL, "train small: %s", m ? "ok" : cd_error_msg(&err));
        if (m)
            test_parse_shape(m);
        cd_nlu_model_free(m);
        test_fallback(&d);
        test_archives(&d);
        test_models_alternate(&d);
        cd_nlu_data_done(&d);
    }
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd))
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return tap_done();
}
