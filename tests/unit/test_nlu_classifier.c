/* The intent classifier's duplicate-column merging: which columns merge, and that training on
 * the merged matrix gives every original column the weight LIBLINEAR gives it unmerged. */
#include <linear.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "nlu/classifier.h"
#include "tap.h"

#define NODE(i, v) ((struct feature_node){(i), (v)})
#define END NODE(-1, 0)

static void quiet(const char *s)
{
    (void)s;
}

static void test_groups(void)
{
    /* 1 and 2 equal; 3 on the same rows with other values; 4 and 5 equal; 6 has 4's value
     * on another row */
    struct feature_node r0[] = {NODE(1, .5), NODE(2, .5), NODE(3, .1), END};
    struct feature_node r1[] = {NODE(1, .3), NODE(2, .3), NODE(3, .3), END};
    struct feature_node r2[] = {NODE(4, .7), NODE(5, .7), END};
    struct feature_node r3[] = {NODE(6, .7), END};
    struct feature_node *const x[] = {r0, r1, r2, r3};
    cd_nlu_colmerge cm;
    ok(cd_nlu_colmerge_build(&cm, x, 4, 6) == 0, "merge builds");
    is_int(cm.n_out, 4, "6 columns, 4 distinct");
    ok(cm.id[1] == cm.id[2] && cm.lead[2] == 1 && cm.lead[1] == 1, "equal columns 1, 2 merge");
    ok(cm.id[3] != cm.id[1] && cm.lead[3] == 3, "same rows, other values: not merged");
    ok(cm.id[4] == cm.id[5] && cm.id[6] != cm.id[4], "equal values on other rows: not merged");
    ok(fabs(cm.scale[1] - sqrt(2.0)) < 1e-12 && cm.scale[3] == 1.0, "scale sqrt(copies)");
    ok(cm.id[1] < cm.id[3] && cm.id[3] < cm.id[4] && cm.id[4] < cm.id[6],
       "merged ids follow column order (rows stay sorted)");
    cd_nlu_colmerge_done(&cm);
}

/* a random sparse matrix where half the columns have an exact copy */
enum { ROWS = 400, BASE = 120, FEAT = 2 * BASE, CLASSES = 5 };

static void test_same_solution(void)
{
    srand(7);
    struct feature_node *x[ROWS];
    int y[ROWS];
    for (int i = 0; i < ROWS; i++) {
        y[i] = i % CLASSES;
        x[i] = calloc(FEAT + 1, sizeof(**x));
        int k = 0;
        for (int f = 1; f <= BASE; f++) {
            bool on = rand() % 10 == 0 || (f % CLASSES == y[i] && rand() % 3 == 0);
            if (!on)
                continue;
            double v = (rand() % 100 + 1) / 100.0;
            x[i][k++] = NODE(f, v);
            if (f % 2 == 0) /* column BASE + f copies f */
                x[i][k++] = NODE(BASE + f, v);
        }
        /* sort: the copies were appended out of order */
        for (int a = 1; a < k; a++)
            for (int b = a; b > 0 && x[i][b - 1].index > x[i][b].index; b--) {
                struct feature_node t = x[i][b];
                x[i][b] = x[i][b - 1];
                x[i][b - 1] = t;
            }
        x[i][k] = END;
    }

    cd_nlu_classifier c;
    cd_error_t err = {0};
    ok(cd_nlu_clf_train(&c, x, false, y, ROWS, FEAT, CLASSES, MCSVM_CS, 0.4, 3, &err) == 0,
       "merged training");
    /* the BASE columns, and one row for the copies' columns that no row uses (odd ones) */
    is_int(c.n_rows, BASE + 1, "one weight row per distinct column");

    /* LIBLINEAR on the matrix as it is */
    struct feature_node *xb[ROWS];
    double yd[ROWS];
    for (int i = 0; i < ROWS; i++) {
        int k = 0;
        while (x[i][k].index != -1)
            k++;
        xb[i] = calloc((size_t)k + 2, sizeof(**xb));
        for (int j = 0; j < k; j++)
            xb[i][j] = x[i][j];
        xb[i][k] = NODE(FEAT + 1, 1.0);
        xb[i][k + 1] = END;
        yd[i] = y[i];
    }
    struct problem prob = {.l = ROWS, .n = FEAT + 1, .y = yd, .x = xb, .bias = 1.0};
    struct parameter par = {.solver_type = MCSVM_CS, .C = 0.4, .eps = 0.1, .p = 0.1};
    set_print_string_function(quiet);
    srand(3);
    struct model *m = train(&prob, &par);
    double worst = 0;
    int agree = 0;
    for (int f = 0; f <= FEAT; f++)
        for (int k = 0; k < m->nr_class; k++) {
            double want = m->w[(size_t)f * (size_t)m->nr_class + (size_t)k];
            double got = c.w[(size_t)c.row[f] * CLASSES + (size_t)m->label[k]];
            worst = fmax(worst, fabs(want - got));
        }
    for (int i = 0; i < ROWS; i++) {
        double dec[CLASSES];
        cd_nlu_clf_decision(&c, x[i], dec);
        int best = 0;
        for (int k = 1; k < CLASSES; k++)
            if (dec[k] > dec[best])
                best = k;
        agree += best == (int)predict(m, xb[i]);
    }
    ok(worst < 1e-4, "every column's weight as LIBLINEAR gives it unmerged (max |diff| %.2g)",
       worst);
    is_int(agree, ROWS, "same predicted class on every row");
    free_and_destroy_model(&m);
    cd_nlu_clf_done(&c);
    cd_nlu_clf_thread_done();
    for (int i = 0; i < ROWS; i++) {
        free(x[i]);
        free(xb[i]);
    }
}

int main(void)
{
    test_groups();
    test_same_solution();
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}
