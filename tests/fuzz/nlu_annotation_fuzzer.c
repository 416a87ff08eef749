/* Fuzz the entity annotation parser and check what it promises: plain text is valid UTF-8,
 * every span lies inside it (code points), and the parse is a pure function of the input. */
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "nlu/annotation.h"
#include "nlu/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    if (!cd_utf8_valid(s, size, NULL) || memchr(s, 0, size))
        return 0; /* the loader rejects such files before annotations are parsed */
    cd_nlu_annotated a, b;
    cd_error_t err = {0};
    size_t off = 0;
    int rc = cd_nlu_annotation_parse(s, size, &a, &off, &err);
    if (rc < 0) {
        if (off >= size || s[off] != '[')
            abort(); /* the error must point at the annotation's '[' */
        cd_error_clear(&err);
        return 0;
    }
    if (!cd_utf8_valid(a.text, a.text_len, NULL) || strlen(a.text) != a.text_len)
        abort();
    int cps = (int)cd_utf8_count(a.text, a.text_len);
    for (size_t i = 0; i < a.n_entities; i++) {
        const cd_nlu_entity *e = &a.entities[i];
        if (e->start < 0 || e->end <= e->start || e->end > cps || !e->entity || !e->value)
            abort();
        if (i && e->start < a.entities[i - 1].start)
            abort(); /* in order of appearance */
        size_t sb = a.spans[2 * i], se = a.spans[2 * i + 1];
        if (se > a.text_len || cd_utf8_count(a.text, sb) != (size_t)e->start ||
            cd_utf8_count(a.text + sb, se - sb) != (size_t)(e->end - e->start))
            abort(); /* byte spans and code-point offsets agree */
    }
    if (cd_nlu_annotation_parse(s, size, &b, &off, &err) != 0 || b.n_entities != a.n_entities ||
        strcmp(a.text, b.text) != 0)
        abort();
    cd_nlu_annotated_done(&b);
    cd_nlu_annotated_done(&a);
    return 0;
}
