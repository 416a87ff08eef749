/* Charts as hand-written SVG (no plotting library in a static C tool): the confusion matrix
 * and the paired confidence histogram Rasa draws as PNG. Sized for 64+ labels: cells shrink
 * to a floor, long labels are cut (full text in a hover <title>), counts are printed only
 * where they fit, and colour encodes the share of the row so rare intents stay visible. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nlu/eval-internal.h"

#define FONT "font-family=\"DejaVu Sans,Verdana,Arial,sans-serif\""
#define LABEL_MAX 32 /* code points of a tick label before it is cut */

/* A colour between white and (r,g,b) at strength t in [0,1]. */
static void mix(cd_strbuf *sb, double t, int r, int g, int b)
{
    if (t < 0)
        t = 0;
    if (t > 1)
        t = 1;
    cd_strbuf_printf(sb, "#%02x%02x%02x", (int)lround(255 - (255 - r) * t),
                     (int)lround(255 - (255 - g) * t), (int)lround(255 - (255 - b) * t));
}

static double text_w(const char *s, double font, size_t max)
{
    size_t n = cd_utf8_len(s);
    if (n > max)
        n = max + 1;
    return 0.6 * font * (double)n;
}

char *cd_nlu_svg_confusion(const cd_nlu_report *r, const char *title)
{
    cd_strbuf sb = CD_STRBUF_INIT;
    size_t n = r->n_cm;
    double cell = n ? 720.0 / (double)n : 24;
    if (cell > 28)
        cell = 28;
    if (cell < 12)
        cell = 12; /* past ~60 labels the chart grows instead of shrinking further */
    double font = cell * 0.72 > 12 ? 12 : cell * 0.72;
    if (font < 8)
        font = 8;
    double lab_w = 40;
    for (size_t i = 0; i < n; i++) {
        double w = text_w(r->cm_labels[i][0] ? r->cm_labels[i] : "(none)", font, LABEL_MAX);
        if (w > lab_w)
            lab_w = w;
    }
    double left = lab_w + 40, top = lab_w * 0.75 + 70, grid = cell * (double)n;
    /* Slanted column labels lean right past the last column. */
    double right = 0.65 * lab_w + 12 > 150 ? 0.65 * lab_w + 12 : 150;
    double width = left + grid + right, height = top + grid + 40;
    if (width < 700)
        width = 700; /* room for the title lines on small matrices */

    long *rowsum = calloc(n + 1, sizeof(long));
    if (!rowsum)
        return NULL;
    for (size_t a = 0; a < n; a++)
        for (size_t b = 0; b < n; b++)
            rowsum[a] += r->cm[a * n + b];

    cd_strbuf_printf(&sb,
                     "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                     "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                     "viewBox=\"0 0 %.0f %.0f\" " FONT " font-size=\"%.1f\">\n"
                     "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n",
                     width, height, width, height, font);
    cd_strbuf_adds(&sb, "<text x=\"10\" y=\"22\" font-size=\"16\" font-weight=\"bold\">");
    cd_xml_escape(&sb, title ? title : "Confusion matrix");
    cd_strbuf_printf(&sb, "</text>\n<text x=\"10\" y=\"40\" font-size=\"11\" "
                          "fill=\"#555555\">accuracy %.3f over %zu utterances · rows: true "
                          "label, columns: predicted · blue: right, red: confused (shade = "
                          "share of the row)</text>\n",
                     r->accuracy, r->n_items);
    /* Axis captions. */
    cd_strbuf_printf(&sb, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
                          "font-weight=\"bold\">Predicted label</text>\n",
                     left + grid / 2, top - lab_w * 0.75 - 14);
    cd_strbuf_printf(&sb, "<text transform=\"translate(14 %.1f) rotate(-90)\" "
                          "text-anchor=\"middle\" font-weight=\"bold\">True label</text>\n",
                     top + grid / 2);
    /* Tick labels: rows right-aligned left of the grid, columns slanted above it. */
    for (size_t i = 0; i < n; i++) {
        const char *l = r->cm_labels[i][0] ? r->cm_labels[i] : "(none)";
        double y = top + cell * (double)i + cell / 2 + font * 0.35;
        cd_strbuf_printf(&sb, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\"><title>",
                         left - 4, y);
        cd_xml_escape(&sb, l);
        cd_strbuf_adds(&sb, "</title>");
        cd_xml_escape_cut(&sb, l, LABEL_MAX);
        cd_strbuf_adds(&sb, "</text>\n");
        double x = left + cell * (double)i + cell / 2 + font * 0.35;
        cd_strbuf_printf(&sb, "<text transform=\"translate(%.1f %.1f) rotate(-50)\"><title>",
                         x, top - 4);
        cd_xml_escape(&sb, l);
        cd_strbuf_adds(&sb, "</title>");
        cd_xml_escape_cut(&sb, l, LABEL_MAX);
        cd_strbuf_adds(&sb, "</text>\n");
    }
    /* Cells. */
    cd_strbuf_printf(&sb, "<g stroke=\"#e6e6e6\" stroke-width=\"0.5\">\n");
    for (size_t a = 0; a < n; a++)
        for (size_t b = 0; b < n; b++) {
            long c = r->cm[a * n + b];
            double share = rowsum[a] ? (double)c / (double)rowsum[a] : 0;
            cd_strbuf_printf(&sb, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                                  "fill=\"",
                             left + cell * (double)b, top + cell * (double)a, cell, cell);
            if (!c)
                cd_strbuf_adds(&sb, a == b ? "#f4f8fc" : "#ffffff");
            else if (a == b)
                mix(&sb, 0.15 + 0.85 * share, 0x08, 0x45, 0x94);
            else
                mix(&sb, 0.25 + 0.75 * share, 0xc6, 0x1a, 0x1a);
            cd_strbuf_adds(&sb, "\"");
            if (c) {
                cd_strbuf_adds(&sb, "><title>");
                cd_xml_escape(&sb, r->cm_labels[a]);
                cd_strbuf_adds(&sb, " \xe2\x86\x92 "); /* → */
                cd_xml_escape(&sb, r->cm_labels[b][0] ? r->cm_labels[b] : "(none)");
                cd_strbuf_printf(&sb, ": %ld of %ld</title></rect>\n", c, rowsum[a]);
            } else {
                cd_strbuf_adds(&sb, "/>\n");
            }
        }
    cd_strbuf_adds(&sb, "</g>\n");
    /* Counts where they fit (3 digits need ~1.8 em). */
    double cfont = cell * 0.5;
    if (cfont >= 6) {
        cd_strbuf_printf(&sb, "<g font-size=\"%.1f\" text-anchor=\"middle\">\n", cfont);
        for (size_t a = 0; a < n; a++)
            for (size_t b = 0; b < n; b++) {
                long c = r->cm[a * n + b];
                if (!c || (c >= 1000 && cell < 24))
                    continue;
                double share = rowsum[a] ? (double)c / (double)rowsum[a] : 0;
                cd_strbuf_printf(&sb, "<text x=\"%.1f\" y=\"%.1f\" fill=\"%s\">%ld</text>\n",
                                 left + cell * ((double)b + 0.5),
                                 top + cell * ((double)a + 0.5) + cfont * 0.35,
                                 share > 0.55 ? "#ffffff" : "#000000", c);
            }
        cd_strbuf_adds(&sb, "</g>\n");
    }
    /* Per-row recall and support on the right, so weak intents stand out by number. */
    cd_strbuf_printf(&sb, "<text x=\"%.1f\" y=\"%.1f\" font-weight=\"bold\">recall (n)</text>\n",
                     left + grid + 8, top - 6);
    for (size_t a = 0; a < n; a++) {
        if (!rowsum[a])
            continue;
        double rec = (double)r->cm[a * n + a] / (double)rowsum[a];
        cd_strbuf_printf(&sb, "<text x=\"%.1f\" y=\"%.1f\" fill=\"%s\">%.2f (%ld)</text>\n",
                         left + grid + 8, top + cell * (double)a + cell / 2 + font * 0.35,
                         rec < 0.8 ? "#c61a1a" : "#333333", rec, rowsum[a]);
    }
    free(rowsum);
    if (cd_strbuf_adds(&sb, "</svg>\n") < 0) {
        cd_strbuf_done(&sb);
        return NULL;
    }
    return cd_strbuf_take(&sb);
}

/* Rasa's plot_paired_histogram: confidence bins on the vertical axis, hits drawn to the
 * left and misses to the right, each side on its own scale (misses are few), with counts. */
char *cd_nlu_svg_histogram(const cd_nlu_eval_set *s, const char *title)
{
    enum { BINS = 20 };
    long hits[BINS] = {0}, miss[BINS] = {0}, max_h = 0, max_m = 0, n_h = 0, n_m = 0;
    for (size_t i = 0; i < s->n; i++) {
        const cd_nlu_eval_item *it = &s->items[i];
        if (!it->gold->intent || !*it->gold->intent)
            continue;
        double c = it->confidence;
        int bin = c >= 1 ? BINS - 1 : c <= 0 ? 0 : (int)(c * BINS);
        if (!strcmp(it->gold->intent, it->intent)) {
            hits[bin]++;
            n_h++;
        } else {
            miss[bin]++;
            n_m++;
        }
    }
    for (int b = 0; b < BINS; b++) {
        if (hits[b] > max_h)
            max_h = hits[b];
        if (miss[b] > max_m)
            max_m = miss[b];
    }
    const double half = 300, row = 22, left = 110, top = 80;
    double width = left + 2 * half + 60, height = top + row * BINS + 30;
    double mid = left + half;
    cd_strbuf sb = CD_STRBUF_INIT;
    cd_strbuf_printf(&sb,
                     "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                     "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                     "viewBox=\"0 0 %.0f %.0f\" " FONT " font-size=\"12\">\n"
                     "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n",
                     width, height, width, height);
    cd_strbuf_adds(&sb, "<text x=\"10\" y=\"22\" font-size=\"16\" font-weight=\"bold\">");
    cd_xml_escape(&sb, title ? title : "Intent prediction confidence distribution");
    cd_strbuf_printf(&sb, "</text>\n<text x=\"10\" y=\"40\" fill=\"#555555\">each side on its "
                          "own scale · bins of 0.05</text>\n");
    cd_strbuf_printf(&sb, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#009292\" "
                          "font-weight=\"bold\">hits (%ld)</text>\n", mid - 8, top - 12, n_h);
    cd_strbuf_printf(&sb, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#920000\" font-weight=\"bold\">"
                          "misses (%ld)</text>\n", mid + 8, top - 12, n_m);
    cd_strbuf_printf(&sb, "<text transform=\"translate(16 %.1f) rotate(-90)\" "
                          "text-anchor=\"middle\" font-weight=\"bold\">confidence</text>\n",
                     top + row * BINS / 2);
    for (int b = 0; b < BINS; b++) {
        /* Highest confidence at the top. */
        double y = top + row * (BINS - 1 - b);
        double lo = b / (double)BINS, hi = (b + 1) / (double)BINS;
        if (b % 2 == 0 || b == BINS - 1)
            cd_strbuf_printf(&sb, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.2f–%.2f"
                                  "</text>\n", left - 6, y + row * 0.65, lo, hi);
        cd_strbuf_printf(&sb, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                              "stroke=\"#eeeeee\"/>\n", left, y + row, left + 2 * half, y + row);
        if (hits[b]) {
            double w = (half - 40) * (double)hits[b] / (double)max_h;
            cd_strbuf_printf(&sb, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                                  "fill=\"#009292\"><title>hits %.2f–%.2f: %ld</title></rect>\n"
                                  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%ld</text>\n",
                             mid - w, y + 2, w, row - 4, lo, hi, hits[b], mid - w - 3,
                             y + row * 0.65, hits[b]);
        }
        if (miss[b]) {
            double w = (half - 40) * (double)miss[b] / (double)max_m;
            cd_strbuf_printf(&sb, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                                  "fill=\"#920000\"><title>misses %.2f–%.2f: %ld</title></rect>\n"
                                  "<text x=\"%.1f\" y=\"%.1f\">%ld</text>\n",
                             mid, y + 2, w, row - 4, lo, hi, miss[b], mid + w + 3,
                             y + row * 0.65, miss[b]);
        }
    }
    cd_strbuf_printf(&sb, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                          "stroke=\"#333333\"/>\n", mid, top, mid, top + row * BINS);
    if (cd_strbuf_adds(&sb, "</svg>\n") < 0) {
        cd_strbuf_done(&sb);
        return NULL;
    }
    return cd_strbuf_take(&sb);
}
