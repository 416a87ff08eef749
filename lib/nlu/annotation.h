/* Rasa's inline entity annotations inside a training example (rasa-formats.md §1.3):
 *   [text](entity)   [text](entity:value)   [text]{"entity":..,"role":..,"group":..,"value":..}
 *   [text][{"entity":..}, {"entity":..}]   (several entities on one span)
 * Matching follows Rasa's ENTITY_REGEX exactly (entities_parser.py, 3.6): what the regex does
 * not match stays literal text, so `[a](b:)` or `[a] (b)` are plain text, as in Rasa. */
#ifndef CD_NLU_ANNOTATION_H
#define CD_NLU_ANNOTATION_H

#include <stddef.h>

#include "nlu/nlu.h"
#include "util/error.h"

/* Something that is plain text for Rasa but looks like a broken annotation. */
typedef struct {
    size_t offset; /* byte offset in the annotated input */
    char *msg;
} cd_nlu_annotation_note;

typedef struct {
    char *text; /* annotations replaced by their entity text (Rasa's replace_entities) */
    size_t text_len;
    cd_nlu_entity *entities; /* start/end in code points of text, in order of appearance */
    size_t n_entities;
    size_t *spans; /* byte offsets in text: entity i is text[spans[2i] .. spans[2i+1]) */
    cd_nlu_annotation_note *notes;
    size_t n_notes;
} cd_nlu_annotated;

/* Parse s[0..len) (valid UTF-8). On an annotation Rasa rejects (invalid JSON in {..}, no
 * "entity" key, wrong value types) returns -1 with a CD_ERR_DATA error and *err_off set to
 * the byte offset of the annotation's '['. out is always left clean to pass to _done. */
int cd_nlu_annotation_parse(const char *s, size_t len, cd_nlu_annotated *out, size_t *err_off,
                            cd_error_t *err);
void cd_nlu_annotated_done(cd_nlu_annotated *a);

/* Free the strings of one entity (not the entity itself). */
void cd_nlu_entity_done(cd_nlu_entity *e);

#endif
