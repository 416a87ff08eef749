/* Unit tests of the NLU data loader: UTF-8 helpers, the annotation parser, YAML/JSON loading
 * from memory and from files/directories, positions, errors, subset views, fingerprints and
 * the Python-to-POSIX regex translation. The real data sets: test_nlu_data_shared.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nlu/annotation.h"
#include "nlu/nlu.h"
#include "nlu/utf8.h"
#include "tap.h"
#include "util/limits.h"

static void test_utf8(void)
{
    uint32_t cp = 0;
    is_int(cd_utf8_decode("\xF0\x9F\x98\x80", 4, &cp), 4, "emoji is 4 bytes");
    is_int(cp, 0x1F600, "emoji code point");
    is_int(cd_utf8_decode("\xC3\xA9", 2, &cp), 2, "é is 2 bytes");
    is_int(cd_utf8_decode("\xC0\x80", 2, &cp), 0, "overlong NUL rejected");
    is_int(cd_utf8_decode("\xE0\x80\xAF", 3, &cp), 0, "overlong 3-byte rejected");
    is_int(cd_utf8_decode("\xED\xA0\x80", 3, &cp), 0, "surrogate rejected");
    is_int(cd_utf8_decode("\xF4\x90\x80\x80", 4, &cp), 0, "past U+10FFFF rejected");
    is_int(cd_utf8_decode("\xF0\x9F\x98", 3, &cp), 0, "truncated sequence rejected");
    char buf[4];
    is_int(cd_utf8_encode(0x1F600, buf), 4, "encode emoji");
    ok(!memcmp(buf, "\xF0\x9F\x98\x80", 4), "encoded bytes");
    is_int(cd_utf8_encode(0xD800, buf), 0, "no surrogate encoding");
    size_t bad = 0;
    ok(cd_utf8_valid("caf\xC3\xA9 \xF0\x9F\x98\x80", 10, NULL), "valid text");
    ok(!cd_utf8_valid("ab\xFF" "cd", 5, &bad) && bad == 2, "invalid at offset 2");
    const char *s = "\xF0\x9F\x87\xA8\xF0\x9F\x87\xAD Z\xC3\xBCrich"; /* 🇨🇭 Zürich */
    is_int(cd_utf8_count(s, strlen(s)), 9, "flag = 2 code points, 9 in all");
    is_int(cd_utf8_offset(s, strlen(s), 3), 9, "code point 3 starts at byte 9");
    is_int(cd_utf8_offset(s, strlen(s), 99), strlen(s), "past the end clamps");
    int line, col;
    cd_utf8_line_col("ab\n\xC3\xA9x", 6, 5, &line, &col);
    ok(line == 2 && col == 2, "line/col counts code points (got %d:%d)", line, col);
}

static void test_annotation(void)
{
    cd_nlu_annotated a;
    cd_error_t err = {0};
    size_t off = 0;
    const char *s = "\xF0\x9F\x98\x80 [NYC](city:New York) to [LA]{\"entity\": \"city\", "
                    "\"role\": \"to\", \"group\": \"g\"} [ice cream][{\"entity\": \"food\"}, "
                    "{\"entity\": \"dessert\"}]";
    ok(cd_nlu_annotation_parse(s, strlen(s), &a, &off, &err) == 0, "annotation forms parse");
    is_str(a.text, "\xF0\x9F\x98\x80 NYC to LA ice cream", "plain text");
    is_int(a.n_entities, 4, "four entities (list gives two)");
    if (a.n_entities == 4) {
        ok(a.entities[0].start == 2 && a.entities[0].end == 5, "NYC at 2..5 after the emoji");
        is_str(a.entities[0].value, "New York", "shorthand value");
        ok(a.entities[1].start == 9 && a.entities[1].end == 11, "LA at 9..11");
        is_str(a.entities[1].role, "to", "role");
        is_str(a.entities[1].group, "g", "group");
        is_str(a.entities[1].value, "LA", "value defaults to the text");
        ok(a.entities[2].start == 12 && a.entities[3].start == 12 && a.entities[3].end == 21,
           "both list entities on the same span");
        is_str(a.entities[3].entity, "dessert", "second list entity");
    }
    cd_nlu_annotated_done(&a);

    s = "x [t]{\"entity\": 3}";
    ok(cd_nlu_annotation_parse(s, strlen(s), &a, &off, &err) < 0, "non-string entity rejected");
    is_int(off, 2, "error points at the '['");
    has_str(cd_error_msg(&err), "\"entity\"", "error names the key");
    cd_error_clear(&err);
    s = "[t]{\"entity\": \"e\", \"value\": 5}";
    ok(cd_nlu_annotation_parse(s, strlen(s), &a, &off, &err) == 0 && a.n_entities == 1,
       "numeric value accepted");
    if (a.n_entities)
        is_str(a.entities[0].value, "5", "numeric value as text");
    cd_nlu_annotated_done(&a);
    s = "[a](b:) [c] (d) [e](f)";
    ok(cd_nlu_annotation_parse(s, strlen(s), &a, &off, &err) == 0, "near misses are text");
    is_str(a.text, "[a](b:) [c] (d) e", "only the valid one is replaced");
    is_int(a.n_notes, 2, "two notes for the near misses");
    cd_nlu_annotated_done(&a);
}

static int load_str(const char *name, const char *text, cd_nlu_data *d, cd_error_t *err)
{
    return cd_nlu_data_load_mem(name, text, strlen(text), 0, d, err);
}

static bool has_diag(const cd_nlu_data *d, const char *code, int line)
{
    for (size_t i = 0; i < d->n_diags; i++)
        if (!strcmp(d->diags[i].code, code) && (line < 0 || d->diags[i].line == line))
            return true;
    return false;
}

static void test_yaml(void)
{
    cd_nlu_data d;
    cd_error_t err = {0};
    const char *y = "version: \"3.1\"\n"
                    "nlu:\n"
                    "- intent: greet\n"
                    "  examples: |\n"
                    "    - hi [there](who)\n"
                    "    - hello\n"
                    "- intent: bye\n"
                    "  examples:\n"
                    "  - text: |\n"
                    "      ciao\n"
                    "    metadata: {a: 1}\n"
                    "  - text: bye\n"
                    "- synonym: there\n"
                    "  examples: |\n"
                    "    - thar\n"
                    "- lookup: names\n"
                    "  examples: |\n"
                    "    - Ann\n"
                    "    - Bob\n"
                    "responses: {utter_x: [{text: x}]}\n";
    ok(load_str("nlu.yml", y, &d, &err) == 0, "YAML loads: %s", cd_error_msg(&err));
    is_int(d.n_examples, 4, "four examples");
    if (d.n_examples == 4) {
        is_str(d.examples[0].text, "hi there", "annotation removed");
        ok(d.examples[0].line == 5 && d.examples[0].col == 7, "block example position %d:%d",
           d.examples[0].line, d.examples[0].col);
        ok(d.examples[1].line == 6, "next line, next position");
        is_str(d.examples[2].text, "ciao", "extended form text stripped");
        ok(d.examples[2].line == 10 && d.examples[2].col == 7, "extended literal position %d:%d",
           d.examples[2].line, d.examples[2].col);
        is_str(d.examples[3].intent, "bye", "intent");
        is_str(d.examples[0].file, "nlu.yml", "file recorded");
    }
    ok(d.n_synonyms == 1 && !strcmp(d.synonyms[0].text, "thar"), "synonym item");
    ok(d.n_lookups == 1 && d.lookups[0].n_items == 2, "lookup with two entries");
    is_int(cd_nlu_data_count_diags(&d, CD_NLU_DIAG_WARNING), 0, "no warnings");
    is_int(cd_nlu_data_count_diags(&d, CD_NLU_DIAG_ERROR), 0, "no errors");
    cd_nlu_data_done(&d);

    ok(load_str("bad.yml", "nlu:\n- intent: a\n  examples: |\n    - x\n   bad: [\n", &d, &err) < 0,
       "malformed YAML fails");
    has_str(cd_error_msg(&err), "bad.yml:5:", "error has file:line");
    ok(err.kind == CD_ERR_DATA, "a DATA error");
    cd_error_clear(&err);
    ok(load_str("u.yml", "nlu:\n- intent: a\n  examples: |\n    - \xC3(\n", &d, &err) < 0,
       "invalid UTF-8 fails");
    has_str(cd_error_msg(&err), "u.yml:4:7: invalid UTF-8", "position of the bad byte");
    cd_error_clear(&err);
    ok(load_str("e.yml", "", &d, &err) < 0, "empty file fails");
    has_str(cd_error_msg(&err), "no NLU training examples", "says there is no data");
    cd_error_clear(&err);
    ok(cd_nlu_data_load_mem("big.yml", "x", (size_t)CD_MAX_TRAINING_FILE + 1, 0, &d, &err) < 0,
       "over the size limit fails before reading");
    has_str(cd_error_msg(&err), "MiB limit", "says why");
    cd_error_clear(&err);
    const char *bomb = "a: &a [x, x, x, x, x, x, x, x]\n"
                       "nlu:\n- intent: i\n  examples: |\n    - one\n    - two\n";
    ok(load_str("alias.yml", bomb, &d, &err) == 0, "aliases outside nlu are harmless");
    ok(has_diag(&d, "unknown-key", 1), "unknown top-level key warned at its line");
    cd_nlu_data_done(&d);

    /* keep-on-error keeps the diags that explain an empty result */
    const char *newer = "version: \"9.9\"\nnlu:\n- intent: a\n  examples: |\n    - x\n";
    ok(cd_nlu_data_load_mem("n.yml", newer, strlen(newer), CD_NLU_LOAD_KEEP_ON_ERROR, &d,
                            &err) < 0,
       "a newer version is skipped, leaving no data");
    ok(has_diag(&d, "newer-version", 1), "the skip is explained");
    cd_nlu_data_done(&d);
    cd_error_clear(&err);
}

static void test_json(void)
{
    cd_nlu_data d;
    cd_error_t err = {0};
    const char *j = "{\"rasa_nlu_data\": {\n"
                    " \"common_examples\": [\n"
                    "  {\"text\": \"\xF0\x9F\x98\x80 to Z\xC3\xBCrich\", \"intent\": \"go\",\n"
                    "   \"entities\": [{\"start\": 5, \"end\": 11, \"entity\": \"city\", "
                    "\"value\": \"Zurich\"}]},\n"
                    "  {\"text\": \"home\", \"intent\": \"go\"}],\n"
                    " \"entity_synonyms\": [{\"value\": \"x\", \"synonyms\": [\"y\", \"z\"]}]}}\n";
    ok(load_str("d.json", j, &d, &err) == 0, "JSON loads: %s", cd_error_msg(&err));
    is_int(d.n_examples, 2, "two examples");
    if (d.n_examples == 2) {
        ok(d.examples[0].n_entities == 1 && d.examples[0].entities[0].start == 5,
           "entity offsets kept");
        ok(d.examples[0].line == 3 && d.examples[0].col == 3, "example position %d:%d",
           d.examples[0].line, d.examples[0].col);
        ok(d.examples[1].line == 5, "second example on line 5");
    }
    is_int(d.n_synonyms, 3, "Zürich->Zurich from the value plus y, z");
    cd_nlu_data_done(&d);
    ok(load_str("t.json", "{\"rasa_nlu_data\": {\"common_examples\": [}", &d, &err) < 0,
       "malformed JSON fails");
    has_str(cd_error_msg(&err), "t.json:1:", "with a position");
    cd_error_clear(&err);
}

static char tmpdir[] = "/tmp/cd-nludata-XXXXXX";

static void write_file(const char *rel, const char *text)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", tmpdir, rel);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_files_and_fingerprint(void)
{
    if (!mkdtemp(tmpdir)) {
        ok(0, "mkdtemp: %s", strerror(errno));
        return;
    }
    char p[512];
    snprintf(p, sizeof(p), "%s/sub", tmpdir);
    mkdir(p, 0700);
    snprintf(p, sizeof(p), "%s/.hidden", tmpdir);
    mkdir(p, 0700);
    write_file("b.yml", "nlu:\n- intent: b\n  examples: |\n    - bee\n    - [bus](vehicle)\n");
    write_file("a.yaml", "nlu:\n- intent: a\n  examples: |\n    - ay\n    - [car](vehicle)\n");
    write_file("sub/c.json", "{\"rasa_nlu_data\": {\"common_examples\": [{\"text\": \"sea\", "
                             "\"intent\": \"c\"}, {\"text\": \"see\", \"intent\": \"c\"}]}}");
    write_file("notes.txt", "not data");
    write_file("stories.yml", "stories: []\n");
    write_file(".hidden/x.yml", "nlu:\n- intent: hidden\n  examples: |\n    - h\n");
    cd_nlu_data d, d2;
    cd_error_t err = {0};
    const char *paths[] = {tmpdir};
    ok(cd_nlu_data_load(paths, 1, &d, &err) == 0, "directory loads: %s", cd_error_msg(&err));
    is_int(d.n_files, 4, "a.yaml, b.yml, stories.yml, sub/c.json (no .txt, no hidden)");
    if (d.n_files == 4) {
        has_str(d.files[0], "/a.yaml", "sorted: a first");
        has_str(d.files[3], "/sub/c.json", "then the subdirectory");
    }
    is_int(d.n_examples, 6, "six examples");
    is_int(cd_nlu_data_count_diags(&d, CD_NLU_DIAG_WARNING), 0, "stories file ignored silently");

    char a[512], b[512], c[512];
    snprintf(a, sizeof(a), "%s/a.yaml", tmpdir);
    snprintf(b, sizeof(b), "%s/b.yml", tmpdir);
    snprintf(c, sizeof(c), "%s/sub/c.json", tmpdir);
    const char *rev[] = {c, b, a};
    ok(cd_nlu_data_load(rev, 3, &d2, &err) == 0, "files load in another order");
    char f1[65], f2[65];
    ok(cd_nlu_data_fingerprint(&d, f1, &err) == 0 && cd_nlu_data_fingerprint(&d2, f2, &err) == 0,
       "fingerprints computed");
    is_int(strlen(f1), 64, "64 hex digits");
    is_str(f1, f2, "file order does not change the fingerprint");
    cd_nlu_data_done(&d2);

    /* the same content written differently: JSON instead of YAML */
    write_file("b.yml", "{\"rasa_nlu_data\": {\"common_examples\": [{\"text\": \"bee\", "
                        "\"intent\": \"b\"}, {\"text\": \"bus\", \"intent\": \"b\", "
                        "\"entities\": [{\"start\": 0, "
                        "\"end\": 3, \"entity\": \"vehicle\", \"value\": \"bus\"}]}]}}");
    rename(b, (snprintf(p, sizeof(p), "%s/b.json", tmpdir), p));
    ok(cd_nlu_data_load(paths, 1, &d2, &err) == 0, "reformatted data loads");
    ok(cd_nlu_data_fingerprint(&d2, f2, &err) == 0, "fingerprint");
    is_str(f1, f2, "same content in JSON: same fingerprint");
    cd_nlu_data_done(&d2);
    write_file("b.json", "{\"rasa_nlu_data\": {\"common_examples\": [{\"text\": \"bee\", "
                         "\"intent\": \"b\"}, {\"text\": \"bus\", \"intent\": \"b\", "
                         "\"entities\": [{\"start\": 0, "
                         "\"end\": 3, \"entity\": \"car\", \"value\": \"bus\"}]}]}}");
    ok(cd_nlu_data_load(paths, 1, &d2, &err) == 0, "changed data loads");
    ok(cd_nlu_data_fingerprint(&d2, f2, &err) == 0 && strcmp(f1, f2) != 0,
       "another entity type: another fingerprint");
    cd_nlu_data_done(&d2);

    /* subset views */
    size_t idx[] = {4, 0};
    cd_nlu_data sub;
    ok(cd_nlu_data_subset(&d, idx, 2, &sub, &err) == 0, "subset");
    ok(sub.borrowed && sub.n_examples == 2 && sub.examples[0].text == d.examples[4].text,
       "a view sharing the parent's strings");
    ok(sub.n_synonyms == d.n_synonyms && sub.files == d.files, "synonyms and files shared");
    char fs[65];
    ok(cd_nlu_data_fingerprint(&sub, fs, &err) == 0 && strcmp(fs, f1) != 0,
       "the subset has its own fingerprint");
    cd_nlu_data_done(&sub);
    is_str(d.examples[4].text, "sea", "parent intact after the view is freed");
    size_t badidx[] = {99};
    ok(cd_nlu_data_subset(&d, badidx, 1, &sub, &err) < 0, "index out of range refused");
    cd_error_clear(&err);
    cd_nlu_data_done(&d);

    const char *missing[] = {"/nonexistent/nlu.yml"};
    ok(cd_nlu_data_load(missing, 1, &d, &err) < 0 && err.kind == CD_ERR_NOTFOUND,
       "a missing path is NOTFOUND");
    has_str(cd_error_msg(&err), "/nonexistent/nlu.yml", "names the path");
    cd_error_clear(&err);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", tmpdir);
}

static void test_regex(void)
{
    char *ere = NULL;
    int flags = 0;
    cd_error_t err = {0};
    ok(cd_nlu_regex_translate("(?i)\\d{5}(?:-\\d+?)?[\\w.]\\s", &ere, &flags, &err) == 0,
       "Python pattern translates");
    is_str(ere, "[0-9]{5}(-[0-9]+)?[[:alnum:]_.][[:space:]]", "POSIX form");
    ok(flags & REG_ICASE, "(?i) becomes REG_ICASE");
    free(ere);
    regex_t re;
    ok(cd_nlu_regex_compile("\\bhey[^\\s]*", REG_NOSUB, &re, &err) == 0, "compiles");
    ok(regexec(&re, "oh heyyy there", 0, NULL, 0) == 0, "matches");
    ok(regexec(&re, "they", 0, NULL, 0) != 0, "word boundary kept");
    regfree(&re);
    ok(cd_nlu_regex_compile("(?=x)y", 0, &re, &err) < 0 && err.kind == CD_ERR_DATA,
       "lookahead reported");
    cd_error_clear(&err);
    ok(cd_nlu_regex_compile("c}++++++++++++++++++++++++++++++", 0, &re, &err) < 0,
       "stacked quantifiers refused (Python: multiple repeat; glibc: exponential)");
    has_str(cd_error_msg(&err), "multiple repeat", "says why");
    cd_error_clear(&err);
    ok(cd_nlu_regex_compile("((a{50}){50}){50}", 0, &re, &err) < 0,
       "nested counted repetition refused");
    cd_error_clear(&err);
    ok(cd_nlu_regex_compile("\\d{3}-\\d{3}-\\d{4}", REG_NOSUB, &re, &err) == 0,
       "ordinary counts accepted");
    if (!err.msg) {
        ok(regexec(&re, "call 555-123-4567", 0, NULL, 0) == 0, "and match");
        regfree(&re);
    }
    cd_error_clear(&err);
    ok(cd_nlu_regex_compile("a(b", 0, &re, &err) < 0, "unbalanced parenthesis reported");
    has_str(cd_error_msg(&err), "a(b", "error names the pattern");
    cd_error_clear(&err);
}

static void test_check(void)
{
    cd_nlu_data d;
    cd_error_t err = {0};
    const char *y = "nlu:\n- intent: a\n  examples: |\n    - same\n    - in [Ber](city)lin\n"
                    "- intent: b\n  examples: |\n    - same\n";
    ok(load_str("c.yml", y, &d, &err) == 0, "loads");
    ok(cd_nlu_data_check(&d, &err) == 0, "checks run");
    ok(has_diag(&d, "ambiguous-example", 4), "same text, two intents");
    ok(has_diag(&d, "few-examples", 8), "intent b has one example");
    ok(has_diag(&d, "few-examples", 5), "entity city has one example");
    ok(has_diag(&d, "misaligned-entity", 5), "span cut inside a word");
    cd_nlu_data_done(&d);
}

int main(void)
{
    test_utf8();
    test_annotation();
    test_yaml();
    test_json();
    test_files_and_fingerprint();
    test_regex();
    test_check();
    return tap_done();
}
