/* Private to the NLU data loader (data-*.c): the loading context shared by the YAML and JSON
 * readers, and a small string-keyed hash map. */
#ifndef CD_NLU_DATA_INTERNAL_H
#define CD_NLU_DATA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nlu/nlu.h"
#include "util/error.h"

/* Open-addressing map from a borrowed NUL-terminated key to a size_t value. */
typedef struct {
    const char **keys;
    size_t *vals;
    size_t cap, n; /* cap is 0 or a power of two */
} cd_nlu_strmap;

uint64_t cd_nlu_hash(const void *data, size_t len);
/* Returns a pointer to the value slot for key, inserting it with *inserted = true and value
 * init if absent; NULL on out of memory. The key must outlive the map. */
size_t *cd_nlu_strmap_put(cd_nlu_strmap *m, const char *key, size_t init, bool *inserted);
size_t *cd_nlu_strmap_get(const cd_nlu_strmap *m, const char *key);
void cd_nlu_strmap_done(cd_nlu_strmap *m);

/* The loader: appends to *d as files are read. */
typedef struct {
    cd_nlu_data *d;
    size_t cap_examples, cap_synonyms, cap_regexes, cap_lookups, cap_diags, cap_files,
        cap_domains;
    cd_nlu_strmap synonym_index; /* synonym text -> index in d->synonyms */
    /* the file being read */
    const char *file; /* borrowed from d->files */
    const char *buf;
    size_t len;
    size_t *line_starts; /* byte offset of each line, built on first use */
    size_t n_lines;
    bool explicit_file; /* named on the command line (not found by walking a directory) */
    size_t text_budget; /* bytes of example text left for this file (alias expansion guard) */
} cd_nlu_loader;

int cd_nlu_ld_diag(cd_nlu_loader *ld, cd_nlu_diag_level level, int line, int col,
                   const char *code, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Same, about the data set rather than one place in a file (file may be NULL). */
int cd_nlu_data_add_diag(cd_nlu_data *d, size_t *cap, cd_nlu_diag_level level,
                         const char *file, int line, int col, const char *code, const char *fmt,
                         ...) __attribute__((format(printf, 8, 9)));

/* Add one example from annotated text s[0..len) (Rasa entity syntax); records synonyms from
 * `[t](e:v)` / "value" annotations. A bad annotation becomes an error diag and the example is
 * skipped. intent is copied. Returns -1 only on a fatal error (out of memory). */
int cd_nlu_ld_add_annotated(cd_nlu_loader *ld, const char *intent, const char *s, size_t len,
                            int line, int col, cd_error_t *err);
/* Add an already-plain example (JSON): takes ownership of text and entities in every case. */
int cd_nlu_ld_add_example(cd_nlu_loader *ld, char *intent, char *text, cd_nlu_entity *ents,
                          size_t n_ents, int line, int col, cd_error_t *err);
/* Register synonym text -> value (later wins; a conflicting redefinition warns). */
int cd_nlu_ld_synonym(cd_nlu_loader *ld, const char *text, const char *value, int line,
                      int col, cd_error_t *err);
/* A new, empty set of domain intents for the current file. */
cd_nlu_pattern_set *cd_nlu_ld_domain(cd_nlu_loader *ld, int line, cd_error_t *err);
/* A new, zeroed regex (lookup=false) or lookup table entry; name copied. */
cd_nlu_pattern_set *cd_nlu_ld_pattern(cd_nlu_loader *ld, bool lookup, const char *name,
                                      int line, cd_error_t *err);
int cd_nlu_ld_pattern_add(cd_nlu_pattern_set *ps, const char *item, size_t len,
                          cd_error_t *err);

/* Line/col (1-based, col in code points) of a byte offset in the current file. */
void cd_nlu_ld_pos(cd_nlu_loader *ld, size_t off, int *line, int *col);
/* Byte offset where 0-based line starts in the current file, or len if past the end. */
size_t cd_nlu_ld_line_start(cd_nlu_loader *ld, size_t line0);

/* Readers: parse ld->buf as one file. -1 with err "file:line:col: msg" on a fatal problem. */
int cd_nlu_yaml_read(cd_nlu_loader *ld, cd_error_t *err);
int cd_nlu_json_read(cd_nlu_loader *ld, cd_error_t *err);

/* The latest training data format version we read, as Rasa 3.6's
 * LATEST_TRAINING_DATA_FORMAT_VERSION. */
#define CD_NLU_FORMAT_VERSION "3.1"
/* Deepest YAML nesting we parse (see check_depth in data-yaml.c). */
#define CD_NLU_MAX_YAML_DEPTH 64

#endif
