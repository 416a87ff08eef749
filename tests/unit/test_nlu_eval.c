/* Evaluation on synthetic gold/predicted pairs: the report's numbers, keys, key order and
 * types against Rasa's documented shapes (../shared/docs/rasa-formats.md §2), confused_with,
 * entity token alignment, exact spans, stratified folds, and the writers (JSON files, junit,
 * OpenMetrics, SVG). */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nlu/eval.h"
#include "tap.h"

static const char *keys_of(json_t *o, char *buf, size_t n)
{
    const char *k;
    json_t *v;
    buf[0] = '\0';
    json_object_foreach(o, k, v) {
        (void)v;
        strncat(buf, k, n - strlen(buf) - 2);
        strncat(buf, "|", n - strlen(buf) - 1);
    }
    return buf;
}

/* Fixture numbers from the real Rasa report quoted in rasa-formats.md §2.2: a label with
 * precision 1.0 and recall 0.6 has f1-score 0.7499999999999999 (sklearn < 1.2's 2PR/(P+R)). */
static void test_report_accuracy_variant(void)
{
    const char *t[] = {"greet", "greet", "greet", "greet", "greet",
                       "bye",   "bye",   "ask",   "ask",   "ask"};
    const char *p[] = {"greet", "greet", "greet", "bye", "ask",
                       "bye",   "bye",   "ask",   "ask", "greet"};
    cd_nlu_report r;
    cd_error_t err = {0};
    ok(cd_nlu_report_compute(t, p, 10, NULL, &r, &err) == 0, "report computes");
    ok(r.micro_is_accuracy, "predictions within the target labels: sklearn emits accuracy");
    is_int(r.n_rows, 3, "one row per target label");
    ok(r.accuracy == 0.7, "accuracy 7/10 (got %.17g)", r.accuracy);
    const cd_nlu_label_metrics *g = &r.rows[2];
    is_str(g->label, "greet", "rows sorted");
    ok(g->recall == 0.6, "greet recall 3/5");
    ok(g->precision == 0.75, "greet precision 3/4 (got %.17g)", g->precision);
    const cd_nlu_label_metrics *b = &r.rows[1];
    ok(b->precision == 2.0 / 3.0 && b->recall == 1.0, "bye p=2/3 r=1");
    ok(b->f1 == 2 * (2.0 / 3.0) * 1.0 / (2.0 / 3.0 + 1.0), "bye f1 = 2PR/(P+R) exactly");
    is_int(r.support, 10, "support total = number of items");

    json_t *j = cd_nlu_report_json(&r);
    char buf[512];
    is_str(keys_of(j, buf, sizeof(buf)), "ask|bye|greet|accuracy|macro avg|weighted avg|micro avg|",
           "top-level keys and order: labels, accuracy, macro, weighted, then Rasa's micro avg");
    json_t *row = json_object_get(j, "greet");
    is_str(keys_of(row, buf, sizeof(buf)), "precision|recall|f1-score|support|confused_with|",
           "per-label keys in Rasa's order");
    ok(json_is_integer(json_object_get(row, "support")), "support is an integer");
    ok(json_is_real(json_object_get(row, "f1-score")), "f1-score is a float");
    ok(json_is_real(json_object_get(j, "accuracy")), "accuracy is a float");
    json_t *cw = json_object_get(row, "confused_with");
    is_str(keys_of(cw, buf, sizeof(buf)), "bye|ask|", "confused_with: ties go to the later label");
    is_int(json_integer_value(json_object_get(cw, "ask")), 1, "confused_with count");
    json_t *micro = json_object_get(j, "micro avg");
    ok(json_real_value(json_object_get(micro, "precision")) == 0.7 &&
           json_real_value(json_object_get(micro, "recall")) == 0.7 &&
           json_real_value(json_object_get(micro, "f1-score")) == 0.7,
       "micro avg = accuracy (make_classification_report_complete)");
    is_int(json_integer_value(json_object_get(micro, "support")),
           json_integer_value(json_object_get(json_object_get(j, "macro avg"), "support")),
           "micro avg support = macro avg support");
    long sum = 0;
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v) {
        if (json_is_object(v) && json_object_get(v, "confused_with"))
            sum += (long)json_integer_value(json_object_get(v, "support"));
    }
    is_int(sum, json_integer_value(json_object_get(json_object_get(j, "weighted avg"), "support")),
           "label supports sum to the weighted avg support");
    double mf = (r.rows[0].f1 + r.rows[1].f1 + r.rows[2].f1) / 3;
    ok(fabs(json_real_value(json_object_get(json_object_get(j, "macro avg"), "f1-score")) - mf) <
           1e-15, "macro avg f1 is the mean of the rows");
    json_decref(j);
    cd_nlu_report_done(&r);
}

static void test_report_micro_variant(void)
{
    /* A prediction outside the target labels ("" = no prediction, or an unknown intent):
     * sklearn emits micro avg, Rasa appends accuracy at the end. */
    const char *t[] = {"a", "a", "b", "b"};
    const char *p[] = {"a", "", "b", "zzz"};
    cd_nlu_report r;
    cd_error_t err = {0};
    ok(cd_nlu_report_compute(t, p, 4, NULL, &r, &err) == 0, "report computes");
    ok(!r.micro_is_accuracy, "unknown predicted label: micro avg variant");
    json_t *j = cd_nlu_report_json(&r);
    char buf[512];
    is_str(keys_of(j, buf, sizeof(buf)), "a|b|micro avg|macro avg|weighted avg|accuracy|",
           "keys: labels, micro, macro, weighted, then Rasa's accuracy");
    ok(r.accuracy == 0.5, "accuracy counts every item");
    ok(r.micro_p == 1.0 && r.micro_r == 0.5, "micro precision over the labels only");
    ok(!json_object_get(j, "zzz") && !json_object_get(j, ""), "predicted-only labels get no row");
    json_decref(j);
    cd_nlu_report_done(&r);

    const char *t1[] = {"a"}, *p1[] = {"b"};
    ok(cd_nlu_report_compute(t1, p1, 1, "a", &r, &err) == 0, "excluding the only label works");
    j = cd_nlu_report_json(&r);
    ok(json_object_size(j) == 0, "no label to evaluate: {} as get_evaluation_metrics returns");
    json_decref(j);
    cd_nlu_report_done(&r);
}

/* sklearn itself, when it is installed (python3-sklearn is a benchmark dependency). */
static void test_against_sklearn(void)
{
    if (access("/usr/bin/python3", X_OK) != 0 ||
        system("/usr/bin/python3 -c 'import sklearn' 2>/dev/null") != 0) {
        ok(1, "# SKIP sklearn not installed: cross-check against it skipped");
        return;
    }
    enum { N = 400 };
    static const char *labs[] = {"alpha", "beta", "gamma", "delta", "eps", "zeta", ""};
    const char *t[N], *p[N];
    unsigned s = 12345;
    for (int i = 0; i < N; i++) {
        s = s * 1103515245u + 12345u;
        t[i] = labs[(s >> 16) % 6];
        s = s * 1103515245u + 12345u;
        unsigned r = (s >> 16) % 10;
        p[i] = r < 6 ? t[i] : labs[r - 3];
    }
    char path[] = "/tmp/nlueval-skXXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "import json,sklearn.metrics as m\nt=[");
    for (int i = 0; i < N; i++)
        fprintf(f, "'%s',", t[i]);
    fprintf(f, "]\np=[");
    for (int i = 0; i < N; i++)
        fprintf(f, "'%s',", p[i]);
    fprintf(f, "]\nprint(json.dumps(m.classification_report(t,p,labels=sorted(set(t)),"
               "output_dict=True,zero_division=0)))\n");
    fclose(f);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s", path);
    FILE *pp = popen(cmd, "r");
    json_error_t je;
    json_t *want = json_loadf(pp, 0, &je);
    pclose(pp);
    unlink(path);
    ok(want != NULL, "sklearn produced a report");
    cd_nlu_report r;
    cd_error_t err = {0};
    cd_nlu_report_compute(t, p, N, NULL, &r, &err);
    json_t *got = cd_nlu_report_json(&r);
    double worst = 0;
    size_t compared = 0;
    const char *k;
    json_t *v;
    json_object_foreach(want, k, v) {
        json_t *g = json_object_get(got, k);
        if (json_is_number(v)) {
            worst = fmax(worst, fabs(json_number_value(v) - json_number_value(g)));
            compared++;
            continue;
        }
        static const char *const f4[] = {"precision", "recall", "f1-score", "support"};
        for (int q = 0; q < 4; q++) {
            json_t *a = json_object_get(v, f4[q]), *b = json_object_get(g, f4[q]);
            if (!b) {
                worst = 1;
                continue;
            }
            worst = fmax(worst, fabs(json_number_value(a) - json_number_value(b)));
            compared++;
        }
    }
    ok(compared >= 24 && worst < 1e-12, "every sklearn number matches (%zu compared, max diff %g)",
       compared, worst);
    json_decref(want);
    json_decref(got);
    cd_nlu_report_done(&r);
}

static cd_nlu_entity ent(int s, int e, const char *type)
{
    return (cd_nlu_entity){.start = s, .end = e, .value = (char *)"", .entity = (char *)type};
}

static void test_entities(void)
{
    /* "fly from new york to berlin": tokens fly from new york to berlin */
    cd_nlu_entity gold[] = {ent(9, 17, "city"), ent(21, 27, "city")};
    gold[1].role = (char *)"to";
    cd_nlu_example ex = {.text = (char *)"fly from new york to berlin", .intent = (char *)"fly",
                         .entities = gold, .n_entities = 2};
    cd_nlu_entity pred[] = {ent(9, 12, "city"), ent(21, 27, "city")};
    cd_nlu_eval_set s = {0};
    cd_error_t err = {0};
    ok(cd_nlu_eval_add(&s, &ex, "fly", 0.9, pred, 2, &err) == 0, "add prediction");
    cd_nlu_entity_tokens t;
    ok(cd_nlu_entity_tokens_build(&s, &t, &err) == 0, "align tokens");
    is_int(t.n_tokens, 6, "six tokens");
    is_str(t.targets[2], "city", "gold: new = city");
    is_str(t.targets[3], "city", "gold: york = city");
    is_str(t.targets[5], "city.to", "role joins the label: entity.role");
    is_str(t.preds[3], "no_entity", "predicted: york outside the short span");
    is_str(t.preds[5], "city", "predicted without role");
    ok(t.targets[2] == t.targets[3] && t.targets[2] == t.preds[5],
       "a label is stored once, whichever token or side it labels");
    cd_nlu_report r;
    cd_nlu_report_compute((const char *const *)t.targets, (const char *const *)t.preds,
                          t.n_tokens, CD_NLU_NO_ENTITY, &r, &err);
    json_t *j = cd_nlu_report_json(&r);
    ok(!json_object_get(j, "no_entity"), "no_entity is not a report row");
    char buf[256];
    is_str(keys_of(j, buf, sizeof(buf)), "city|city.to|micro avg|macro avg|weighted avg|accuracy|",
           "entity report: micro avg variant, accuracy appended");
    ok(fabs(r.accuracy - 4.0 / 6.0) < 1e-15, "token accuracy includes no_entity tokens");
    json_decref(j);
    cd_nlu_report_done(&r);
    cd_nlu_entity_tokens_done(&t);

    cd_nlu_span_score sc;
    cd_nlu_entity_spans_score(&s, &sc);
    ok(sc.tp == 1 && sc.n_gold == 2 && sc.n_pred == 2,
       "exact spans: a wrong boundary misses, a missing role still matches the type (tp=%ld)",
       sc.tp);
    cd_nlu_eval_set_done(&s);

    cd_nlu_entity pred2[] = {ent(9, 17, "city"), ent(0, 3, "verb")};
    cd_nlu_eval_add(&s, &ex, "fly", 0.9, pred2, 2, &err);
    cd_nlu_entity_spans_score(&s, &sc);
    ok(sc.tp == 1 && sc.precision == 0.5 && sc.recall == 0.5 && sc.f1 == 0.5,
       "exact spans: 1 of 2 right on both sides");
    cd_nlu_eval_set_done(&s);

    /* The model's tokenizer (Rasa evaluates entities on the model's tokens). */
    cd_nlu_token_span *tk;
    size_t n = cd_nlu_eval_tokenize("Hi, \xc3\xa9t\xc3\xa9 (test)! now", &tk);
    is_int(n, 4, "tokens split on space, punctuation trimmed");
    ok(n == 4 && tk[0].start == 0 && tk[0].end == 2 && tk[1].start == 4 && tk[1].end == 7 &&
           tk[3].start == 16 && tk[3].end == 19,
       "offsets in code points");
    free(tk);
}

/* labels longer than any fixed buffer: entity + group + role joined whole, and kept apart */
static void test_long_labels(void)
{
    char type[700], role[400];
    memset(type, 'e', sizeof(type) - 1);
    type[sizeof(type) - 1] = 0;
    memset(role, 'r', sizeof(role) - 1);
    role[sizeof(role) - 1] = 0;
    cd_nlu_entity gold[] = {ent(0, 3, type), ent(4, 7, type)};
    gold[1].role = role;
    gold[1].group = (char *)"g";
    cd_nlu_example ex = {.text = (char *)"abc def", .intent = (char *)"x", .entities = gold,
                         .n_entities = 2};
    cd_nlu_eval_set s = {0};
    cd_error_t err = {0};
    ok(cd_nlu_eval_add(&s, &ex, "x", 1, gold, 1, &err) == 0, "add prediction (long labels)");
    cd_nlu_entity_tokens t;
    ok(cd_nlu_entity_tokens_build(&s, &t, &err) == 0, "align tokens (long labels)");
    char want[1200];
    snprintf(want, sizeof(want), "%s.g.%s", type, role);
    is_int(t.n_tokens, 2, "two tokens");
    ok(!strcmp(t.targets[0], type), "a 699-byte entity label, whole");
    ok(!strcmp(t.targets[1], want), "entity.group.role, 1,101 bytes, whole (%zu bytes)",
       strlen(t.targets[1]));
    is_str(t.preds[1], "no_entity", "the unpredicted token");
    is_int(t.n_labels, 3, "three distinct labels");
    cd_nlu_entity_tokens_done(&t);
    cd_nlu_eval_set_done(&s);
}

static void test_folds(void)
{
    enum { N = 103 };
    const char *lab[N];
    for (int i = 0; i < N; i++)
        lab[i] = i < 50 ? "a" : i < 80 ? "b" : i < 100 ? "c" : NULL;
    int f1[N], f2[N], f3[N];
    cd_error_t err = {0};
    ok(cd_nlu_folds_assign(lab, N, 5, 7, f1, &err) == 0, "folds assigned");
    cd_nlu_folds_assign(lab, N, 5, 7, f2, &err);
    cd_nlu_folds_assign(lab, N, 5, 8, f3, &err);
    ok(!memcmp(f1, f2, sizeof(f1)), "same seed, same folds");
    ok(memcmp(f1, f3, sizeof(f1)) != 0, "another seed, other folds");
    ok(f1[100] == -1 && f1[102] == -1, "unlabelled examples are in no fold");
    bool strat = true;
    const char *cls[] = {"a", "b", "c"};
    int sizes[5] = {0};
    for (int c = 0; c < 3; c++) {
        int cnt[5] = {0};
        for (int i = 0; i < 100; i++)
            if (!strcmp(lab[i], cls[c]))
                cnt[f1[i]]++;
        for (int q = 0; q < 5; q++) {
            strat &= abs(cnt[q] - cnt[0]) <= 1;
            sizes[q] += cnt[q];
        }
    }
    ok(strat, "each class spread evenly over the folds");
    ok(sizes[0] == 20 && sizes[4] == 20, "folds of equal size");
    ok(cd_nlu_folds_assign(lab, N, 1, 7, f1, &err) < 0, "one fold is refused");
    cd_error_clear(&err);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *s = calloc(1, (size_t)n + 1);
    if (fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    fclose(f);
    return s;
}

static void test_writers(void)
{
    /* 70 labels with hostile names for the SVG, XML and OpenMetrics writers. */
    enum { L = 70, PER = 3 };
    static char names[L][40];
    static cd_nlu_example ex[L * PER];
    cd_nlu_eval_set s = {0};
    cd_error_t err = {0};
    for (int i = 0; i < L; i++)
        snprintf(names[i], sizeof(names[i]), i == 0 ? "a<b>&\"c'" : "intent_%02d_with_long_name",
                 i);
    for (int i = 0; i < L * PER; i++) {
        ex[i] = (cd_nlu_example){.text = (char *)"text with <tag> & \"quotes\" \x01 ctl",
                                 .intent = names[i / PER], .file = "data/nlu.yml",
                                 .line = i + 3, .col = 7};
        const char *pred = i % 7 == 0 ? names[(i / PER + 1) % L] : names[i / PER];
        cd_nlu_eval_add(&s, &ex[i], pred, (i % 10) / 10.0 + 0.05, NULL, 0, &err);
    }
    char *x = cd_nlu_junit_xml(&s, "suite & <co>");
    ok(x && !strncmp(x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites", 49),
       "junit starts with the declaration");
    has_str(x, "name=\"suite &amp; &lt;co&gt;\"", "suite name escaped");
    has_str(x, "classname=\"intent.a&lt;b&gt;&amp;&quot;c&apos;\"", "classname escaped");
    ok(x && !strchr(x, '\x01'), "control characters dropped");
    int cases = 0, fails = 0;
    for (const char *q = x; (q = strstr(q, "<testcase ")); q++)
        cases++;
    for (const char *q = x; (q = strstr(q, "<failure ")); q++)
        fails++;
    is_int(cases, L * PER, "one testcase per utterance");
    is_int(fails, (L * PER + 6) / 7, "one failure per misclassified utterance");
    has_str(x, "failures=\"30\"", "suite counts failures");
    free(x);

    cd_nlu_eval_summary sum;
    ok(cd_nlu_eval_summarize(&s, &sum, &err) == 0, "summary");
    const char **t = calloc(s.n, sizeof(char *)), **p = calloc(s.n, sizeof(char *));
    for (size_t i = 0; i < s.n; i++) {
        t[i] = s.items[i].gold->intent;
        p[i] = s.items[i].intent;
    }
    cd_nlu_report r;
    cd_nlu_report_compute(t, p, s.n, NULL, &r, &err);
    char *m = cd_nlu_openmetrics(&r, NULL, &sum);
    size_t ml = m ? strlen(m) : 0;
    ok(ml > 6 && !strcmp(m + ml - 6, "# EOF\n"), "metrics.txt ends with # EOF");
    char line[128];
    snprintf(line, sizeof(line), "\nnlu_intent_accuracy %.4f\n", sum.accuracy);
    has_str(m, line, "accuracy sample");
    has_str(m, "nlu_intent_label_f1{intent=\"a<b>&\\\"c'\"}", "label value escaped");
    free(m);

    char *svg = cd_nlu_svg_confusion(&r, "Intent <confusion>");
    ok(svg && strstr(svg, "</svg>\n") && !strstr(svg, "<b>"), "confusion SVG closed, labels "
                                                             "escaped");
    int rows = 0;
    for (const char *q = svg; (q = strstr(q, "text-anchor=\"end\"><title>")); q++)
        rows++;
    is_int(rows, L, "a row label for each of 70 labels");
    has_str(svg, "intent_05_with_long_name", "labels written");
    free(svg);
    svg = cd_nlu_svg_histogram(&s, NULL);
    ok(svg && strstr(svg, "hits (") && strstr(svg, "misses (30)"), "histogram legend counts");
    free(svg);
    cd_nlu_report_done(&r);
    free(t);
    free(p);

    char dir[] = "/tmp/nlueval-outXXXXXX";
    ok(mkdtemp(dir) != NULL, "temp dir");
    char sub[256];
    snprintf(sub, sizeof(sub), "%s/a/b", dir);
    cd_nlu_eval_write_opts o = {.successes = true};
    ok(cd_nlu_eval_write(sub, &s, &o, &sum, &err) == 0, "write results (%s)", cd_error_msg(&err));
    static const char *const files[] = {"intent_report.json", "intent_errors.json",
                                        "intent_successes.json", "intent_confusion_matrix.svg",
                                        "intent_histogram.svg", "junit.xml", "metrics.txt"};
    for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", sub, files[i]);
        ok(access(path, R_OK) == 0, "wrote %s", files[i]);
    }
    char path[512];
    snprintf(path, sizeof(path), "%s/intent_errors.json", sub);
    json_error_t je;
    json_t *errs = json_load_file(path, 0, &je);
    is_int(json_array_size(errs), 30, "intent_errors.json lists the 30 errors");
    json_t *e0 = json_array_get(errs, 0);
    char buf[256];
    is_str(keys_of(e0, buf, sizeof(buf)), "text|intent|intent_prediction|", "error keys");
    is_str(keys_of(json_object_get(e0, "intent_prediction"), buf, sizeof(buf)), "name|confidence|",
           "intent_prediction keys");
    json_decref(errs);
    snprintf(path, sizeof(path), "%s/intent_report.json", sub);
    char *raw = slurp(path);
    ok(raw && raw[0] == '{' && strstr(raw, "\n  \"macro avg\": {\n    \"precision\""),
       "indent=2 like json.dumps");
    free(raw);
    snprintf(path, sizeof(path), "%s/%s_report.json", sub, cd_nlu_eval_extractor);
    ok(access(path, F_OK) != 0, "no entity report without entity data");
    cd_nlu_eval_set_done(&s);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ok(system(cmd) == 0, "clean up");
}

int main(void)
{
    test_report_accuracy_variant();
    test_report_micro_variant();
    test_against_sklearn();
    test_entities();
    test_long_labels();
    test_folds();
    test_writers();
    return tap_done();
}
