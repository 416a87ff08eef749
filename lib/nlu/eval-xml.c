/* junit.xml (GitLab artifacts:reports:junit) and metrics.txt (OpenMetrics text, GitLab
 * artifacts:reports:metrics). XML is written by hand, so every string goes through
 * cd_xml_escape. */
#include <stdlib.h>
#include <string.h>

#include "nlu/eval-internal.h"

size_t cd_utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

int cd_xml_escape_cut(cd_strbuf *sb, const char *s, size_t max)
{
    size_t cps = 0;
    int rc = 0;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p && rc == 0; p++) {
        if ((*p & 0xc0) != 0x80 && cps++ == max)
            return cd_strbuf_adds(sb, "\xe2\x80\xa6"); /* … */
        switch (*p) {
        case '&': rc = cd_strbuf_adds(sb, "&amp;"); break;
        case '<': rc = cd_strbuf_adds(sb, "&lt;"); break;
        case '>': rc = cd_strbuf_adds(sb, "&gt;"); break;
        case '"': rc = cd_strbuf_adds(sb, "&quot;"); break;
        case '\'': rc = cd_strbuf_adds(sb, "&apos;"); break;
        case '\n': rc = cd_strbuf_adds(sb, "&#10;"); break;
        case '\r': rc = cd_strbuf_adds(sb, "&#13;"); break;
        case '\t': rc = cd_strbuf_adds(sb, "&#9;"); break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                break; /* not allowed in XML 1.0 (0x7f is allowed but invisible) */
            rc = cd_strbuf_addc(sb, (char)*p);
        }
    }
    return rc;
}

int cd_xml_escape(cd_strbuf *sb, const char *s)
{
    return cd_xml_escape_cut(sb, s, (size_t)-1);
}

/* The code points [start, end) of s, as a new string. */
static char *cp_slice(const char *s, int start, int end)
{
    const char *a = NULL, *b = NULL;
    int i = 0;
    const char *p = s;
    for (;; p++) {
        if (!*p || ((unsigned char)*p & 0xc0) != 0x80) {
            if (i == start)
                a = p;
            if (i == end) {
                b = p;
                break;
            }
            if (!*p)
                break;
            i++;
        }
    }
    if (!a || !b || b < a)
        return strdup("");
    return strndup(a, (size_t)(b - a));
}

static bool same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static bool has_span(const cd_nlu_entity *set, size_t n, const cd_nlu_entity *e)
{
    for (size_t i = 0; i < n; i++)
        if (set[i].start == e->start && set[i].end == e->end && same(set[i].entity, e->entity))
            return true;
    return false;
}

static void add_spans(cd_strbuf *sb, const char *text, const cd_nlu_entity *set, size_t n,
                      const cd_nlu_entity *other, size_t n_other, const char *head)
{
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        if (has_span(other, n_other, &set[i]))
            continue;
        char *t = cp_slice(text, set[i].start, set[i].end);
        cd_strbuf_printf(sb, "%s[", first ? head : ", ");
        cd_xml_escape(sb, t ? t : "");
        cd_strbuf_adds(sb, "](");
        cd_xml_escape(sb, set[i].entity);
        cd_strbuf_adds(sb, ")");
        free(t);
        first = false;
    }
}

static bool entities_match(const cd_nlu_eval_item *it)
{
    const cd_nlu_example *g = it->gold;
    if (g->n_entities != it->n_entities)
        return false;
    for (size_t i = 0; i < g->n_entities; i++)
        if (!has_span(it->entities, it->n_entities, &g->entities[i]))
            return false;
    return true;
}

static void testcase_open(cd_strbuf *sb, const char *kind, const cd_nlu_eval_item *it)
{
    const cd_nlu_example *g = it->gold;
    cd_strbuf_printf(sb, "    <testcase classname=\"%s.", kind);
    cd_xml_escape(sb, g->intent ? g->intent : "");
    cd_strbuf_adds(sb, "\" name=\"");
    cd_xml_escape_cut(sb, g->text, 200);
    cd_strbuf_adds(sb, "\"");
    if (g->file) {
        cd_strbuf_adds(sb, " file=\"");
        cd_xml_escape(sb, g->file);
        cd_strbuf_printf(sb, "\" line=\"%d\"", g->line);
    }
    cd_strbuf_adds(sb, " time=\"0\"");
}

char *cd_nlu_junit_xml(const cd_nlu_eval_set *s, const char *suite_name)
{
    cd_strbuf sb = CD_STRBUF_INIT;
    size_t n_int = 0, f_int = 0, n_ent = 0, f_ent = 0;
    for (size_t i = 0; i < s->n; i++) {
        const cd_nlu_eval_item *it = &s->items[i];
        if (it->gold->intent && *it->gold->intent) {
            n_int++;
            f_int += strcmp(it->gold->intent, it->intent) != 0;
        }
        if (it->gold->n_entities || it->n_entities) {
            n_ent++;
            f_ent += !entities_match(it);
        }
    }
    cd_strbuf_adds(&sb, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"");
    cd_xml_escape(&sb, suite_name ? suite_name : "conductor-nlu test");
    cd_strbuf_printf(&sb, "\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" time=\"0\">\n",
                     n_int + n_ent, f_int + f_ent);

    cd_strbuf_printf(&sb, "  <testsuite name=\"intents\" tests=\"%zu\" failures=\"%zu\" "
                          "errors=\"0\" skipped=\"0\" time=\"0\">\n", n_int, f_int);
    for (size_t i = 0; i < s->n; i++) {
        const cd_nlu_eval_item *it = &s->items[i];
        if (!it->gold->intent || !*it->gold->intent)
            continue;
        testcase_open(&sb, "intent", it);
        if (!strcmp(it->gold->intent, it->intent)) {
            cd_strbuf_adds(&sb, "/>\n");
            continue;
        }
        cd_strbuf_adds(&sb, ">\n      <failure type=\"IntentMismatch\" message=\"predicted ");
        cd_xml_escape(&sb, *it->intent ? it->intent : "(none)");
        cd_strbuf_printf(&sb, " (%.3f), expected ", it->confidence);
        cd_xml_escape(&sb, it->gold->intent);
        cd_strbuf_adds(&sb, "\">");
        if (it->gold->file) {
            cd_xml_escape(&sb, it->gold->file);
            cd_strbuf_printf(&sb, ":%d:%d: ", it->gold->line, it->gold->col);
        }
        cd_xml_escape(&sb, it->gold->text);
        cd_strbuf_adds(&sb, "&#10;expected: ");
        cd_xml_escape(&sb, it->gold->intent);
        cd_strbuf_adds(&sb, "&#10;predicted: ");
        cd_xml_escape(&sb, it->intent);
        cd_strbuf_printf(&sb, " (confidence %.4f)</failure>\n    </testcase>\n", it->confidence);
    }
    cd_strbuf_adds(&sb, "  </testsuite>\n");

    if (n_ent) {
        cd_strbuf_printf(&sb, "  <testsuite name=\"entities\" tests=\"%zu\" failures=\"%zu\" "
                              "errors=\"0\" skipped=\"0\" time=\"0\">\n", n_ent, f_ent);
        for (size_t i = 0; i < s->n; i++) {
            const cd_nlu_eval_item *it = &s->items[i];
            const cd_nlu_example *g = it->gold;
            if (!g->n_entities && !it->n_entities)
                continue;
            testcase_open(&sb, "entities", it);
            if (entities_match(it)) {
                cd_strbuf_adds(&sb, "/>\n");
                continue;
            }
            cd_strbuf_adds(&sb, ">\n      <failure type=\"EntityMismatch\" message=\"");
            size_t mark = sb.len;
            add_spans(&sb, g->text, g->entities, g->n_entities, it->entities, it->n_entities,
                      "missed ");
            if (sb.len > mark)
                cd_strbuf_adds(&sb, "; ");
            add_spans(&sb, g->text, it->entities, it->n_entities, g->entities, g->n_entities,
                      "unexpected ");
            cd_strbuf_adds(&sb, "\">");
            if (g->file) {
                cd_xml_escape(&sb, g->file);
                cd_strbuf_printf(&sb, ":%d:%d: ", g->line, g->col);
            }
            cd_xml_escape(&sb, g->text);
            cd_strbuf_adds(&sb, "</failure>\n    </testcase>\n");
        }
        cd_strbuf_adds(&sb, "  </testsuite>\n");
    }
    if (cd_strbuf_adds(&sb, "</testsuites>\n") < 0) {
        cd_strbuf_done(&sb);
        return NULL;
    }
    return cd_strbuf_take(&sb);
}

/* OpenMetrics label value: backslash, double quote and newline escaped. */
static void om_label(cd_strbuf *sb, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            cd_strbuf_addc(sb, '\\');
        if (*s == '\n') {
            cd_strbuf_adds(sb, "\\n");
            continue;
        }
        cd_strbuf_addc(sb, *s);
    }
}

static void om_gauge(cd_strbuf *sb, const char *name, const char *help, double v)
{
    cd_strbuf_printf(sb, "# TYPE %s gauge\n# HELP %s %s\n%s %.4f\n", name, name, help, name, v);
}

static void om_per_label(cd_strbuf *sb, const cd_nlu_report *r, const char *name,
                         const char *label, const char *help)
{
    if (!r || !r->n_rows)
        return;
    cd_strbuf_printf(sb, "# TYPE %s gauge\n# HELP %s %s\n", name, name, help);
    for (size_t i = 0; i < r->n_rows; i++) {
        cd_strbuf_printf(sb, "%s{%s=\"", name, label);
        om_label(sb, r->rows[i].label);
        cd_strbuf_printf(sb, "\"} %.4f\n", r->rows[i].f1);
    }
}

char *cd_nlu_openmetrics(const cd_nlu_report *intents, const cd_nlu_report *entities,
                         const cd_nlu_eval_summary *sum)
{
    cd_strbuf sb = CD_STRBUF_INIT;
    if (sum->has_intents) {
        om_gauge(&sb, "nlu_intent_accuracy", "Intent accuracy.", sum->accuracy);
        om_gauge(&sb, "nlu_intent_f1", "Intent F1, support-weighted (Rasa's F1-Score).",
                 sum->f1);
        om_gauge(&sb, "nlu_intent_macro_f1", "Intent F1, macro average.", sum->macro_f1);
        om_gauge(&sb, "nlu_intent_precision", "Intent precision, support-weighted.",
                 sum->precision);
        cd_strbuf_printf(&sb, "# TYPE nlu_intent_errors gauge\n# HELP nlu_intent_errors "
                              "Misclassified utterances.\nnlu_intent_errors %zu\n",
                         sum->n_intent_errors);
        om_per_label(&sb, intents, "nlu_intent_label_f1", "intent", "F1 of one intent.");
    }
    if (sum->has_entities) {
        om_gauge(&sb, "nlu_entity_f1", "Entity token F1, support-weighted (Rasa's report).",
                 sum->entity_f1);
        om_gauge(&sb, "nlu_entity_precision", "Entity token precision, support-weighted.",
                 sum->entity_precision);
        om_gauge(&sb, "nlu_entity_span_f1", "Entity exact-span F1, micro.", sum->spans.f1);
        om_gauge(&sb, "nlu_entity_span_precision", "Entity exact-span precision, micro.",
                 sum->spans.precision);
        om_gauge(&sb, "nlu_entity_span_recall", "Entity exact-span recall, micro.",
                 sum->spans.recall);
        om_per_label(&sb, entities, "nlu_entity_label_f1", "entity",
                     "Token F1 of one entity label.");
    }
    cd_strbuf_printf(&sb, "# TYPE nlu_test_utterances gauge\n# HELP nlu_test_utterances "
                          "Utterances evaluated.\nnlu_test_utterances %zu\n", sum->n_items);
    if (cd_strbuf_adds(&sb, "# EOF\n") < 0) {
        cd_strbuf_done(&sb);
        return NULL;
    }
    return cd_strbuf_take(&sb);
}
