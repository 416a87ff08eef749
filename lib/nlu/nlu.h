/* NLU core types shared by the data loader, the model (features, classifier, tagger,
 * archive), and evaluation. Offsets are in Unicode code points, as Rasa computes them
 * (Python str indices), end exclusive. All strings are UTF-8 and owned by their struct
 * unless a comment says otherwise. */
#ifndef CD_NLU_NLU_H
#define CD_NLU_NLU_H

#include <stdbool.h>
#include <stddef.h>
#include <regex.h>

#include <jansson.h>

#include "util/error.h"

typedef struct {
    int start, end;    /* code points, end exclusive */
    char *value;       /* annotated value if given ([t](e:v) / {"value":..}), else the text */
    char *entity;
    char *role, *group; /* NULL when absent */
    double confidence; /* predictions only; 0 in training data */
} cd_nlu_entity;

typedef struct {
    char *text;   /* annotations removed, as Rasa's training example text */
    char *intent; /* NULL for an example without an intent (e.g. unannotated parse input) */
    cd_nlu_entity *entities;
    size_t n_entities;
    const char *file; /* origin, borrowed from cd_nlu_data.files; NULL if synthetic */
    int line, col;    /* 1-based position of the example in its file */
    /* A retrieval intent `faq/ask_name`: intent is "faq" (what Rasa's intent classifier and
     * reports use) and this is the full "faq/ask_name"; NULL otherwise. Owned. */
    char *response_key;
} cd_nlu_example;

typedef struct {
    char *text;  /* a synonym as written */
    char *value; /* the canonical value it maps to */
} cd_nlu_synonym;

typedef struct {
    char *name;
    char **items; /* regex patterns (POSIX ERE-compatible subset) or lookup elements */
    size_t n_items;
    const char *file;
    int line;
} cd_nlu_pattern_set;

/* INFO: a note that never fails validation (e.g. an older format version read as the latest,
 * a duplicate example Rasa would silently drop). */
typedef enum { CD_NLU_DIAG_WARNING, CD_NLU_DIAG_ERROR, CD_NLU_DIAG_INFO } cd_nlu_diag_level;

typedef struct {
    cd_nlu_diag_level level;
    const char *file; /* borrowed from cd_nlu_data.files */
    int line, col;
    char *code; /* short stable id, e.g. "duplicate-example", "few-examples", "unknown-key" */
    char *msg;
} cd_nlu_diag;

typedef struct {
    cd_nlu_example *examples;
    size_t n_examples;
    cd_nlu_synonym *synonyms;
    size_t n_synonyms;
    cd_nlu_pattern_set *regexes;
    size_t n_regexes;
    cd_nlu_pattern_set *lookups;
    size_t n_lookups;
    cd_nlu_diag *diags; /* what the loader noticed (warnings; errors only when not fatal) */
    size_t n_diags;
    char **files; /* every file read, in order */
    size_t n_files;
    bool borrowed; /* a subset view: examples' contents and the rest belong to a parent */
    /* Intents declared by domain files (top-level `intents:`) found among the data, one set
     * per file (name "intents"); validate checks NLU intents against them as Rasa does. */
    cd_nlu_pattern_set *domains;
    size_t n_domains;
} cd_nlu_data;

/* Load Rasa 3.x YAML and Rasa JSON (rasa_nlu_data) from files and/or directories (every
 * .yml/.yaml/.json inside, sorted, recursively). A fatal problem (unreadable file, malformed
 * YAML/JSON, invalid UTF-8) returns -1 with a CD_ERR_DATA error "file:line:col: message";
 * other problems become diags and loading continues. */
int cd_nlu_data_load(const char *const *paths, size_t n_paths, cd_nlu_data *out,
                     cd_error_t *err);
void cd_nlu_data_done(cd_nlu_data *d);

/* A view holding the examples idx[0..n) of parent (entity arrays and strings shared, synonyms,
 * regexes and lookups shared). Free it with cd_nlu_data_done; the parent must outlive it. */
int cd_nlu_data_subset(const cd_nlu_data *parent, const size_t *idx, size_t n,
                       cd_nlu_data *out, cd_error_t *err);

/* SHA-256 (hex, 64 chars + NUL) over the normalised content: same data, same fingerprint,
 * whatever the file order or formatting. */
int cd_nlu_data_fingerprint(const cd_nlu_data *d, char out[65], cd_error_t *err);

/* Like cd_nlu_data_load; with CD_NLU_LOAD_KEEP_ON_ERROR *out keeps what was read (files,
 * diags) even when -1 is returned, so `validate` can show every warning: call _done always. */
#define CD_NLU_LOAD_KEEP_ON_ERROR 1u
int cd_nlu_data_load_flags(const char *const *paths, size_t n_paths, unsigned flags,
                           cd_nlu_data *out, cd_error_t *err);
/* Diags of one level. Data with error diags (bad annotations, schema errors) loaded, but a
 * trainer should refuse it the way Rasa refuses to load it. */
size_t cd_nlu_data_count_diags(const cd_nlu_data *d, cd_nlu_diag_level level);
/* Load one in-memory file; name (e.g. "nlu.yml", "data.json") gives its format and is the
 * file name in positions. For tests and fuzzing. */
int cd_nlu_data_load_mem(const char *name, const void *buf, size_t len, unsigned flags,
                         cd_nlu_data *out, cd_error_t *err);
/* The data-set checks of `conductor-nlu validate` (rasa data validate + ours: duplicate texts
 * across intents, too few examples, synonym/regex/annotation consistency...), appended to
 * d->diags. Not for subset views. */
int cd_nlu_data_check(cd_nlu_data *d, cd_error_t *err);

/* Rasa regex features are Python `re` patterns: translate the usual constructs (\d \w \s,
 * (?:..), (?P<n>..), leading (?i), lazy quantifiers) to POSIX ERE and regcomp it (cflags are
 * added to REG_EXTENDED, e.g. REG_NOSUB). Unsupported syntax is a CD_ERR_DATA error. */
int cd_nlu_regex_compile(const char *pattern, int cflags, regex_t *out, cd_error_t *err);
int cd_nlu_regex_translate(const char *pattern, char **out_ere, int *out_cflags,
                           cd_error_t *err);

/* --- The model ------------------------------------------------------------------------- */

typedef struct cd_nlu_model cd_nlu_model;

/* Pipeline settings. Defaults: see cd_nlu_config_default; a Rasa-like config.yml may set
 * them (cd_nlu_config_load). */
#define CD_NLU_STEMMER_LEN 24 /* room for a Snowball algorithm name and its NUL */

typedef struct {
    int word_ngram_min, word_ngram_max;   /* 1, 2 */
    int char_ngram_min, char_ngram_max;   /* 2, 5 (char_wb) */
    bool sublinear_tf;                    /* true */
    char stemmer[CD_NLU_STEMMER_LEN];     /* word n-grams of Snowball stems: "english"; "" = off */
    double intent_c;                      /* LIBLINEAR C */
    int intent_solver;                    /* LIBLINEAR solver type */
    int tagger_epochs;
    double fallback_threshold;            /* below it the intent is nlu_fallback; 0 = off */
    double ambiguity_threshold;           /* top-2 closer than this → nlu_fallback; 0 = off */
    char *source_json;                    /* the effective config as JSON, for metadata */
} cd_nlu_config;

void cd_nlu_config_default(cd_nlu_config *cfg);
int cd_nlu_config_load(const char *path, cd_nlu_config *cfg, cd_error_t *err);
void cd_nlu_config_done(cd_nlu_config *cfg);

/* Train on every example of d. Deterministic: same data + config + seed → same model and
 * byte-identical archive. Needs at least 2 intents (CD_ERR_DATA otherwise). */
cd_nlu_model *cd_nlu_train(const cd_nlu_data *d, const cd_nlu_config *cfg, unsigned seed,
                           cd_error_t *err);
/* The same model, with the entity tagger trained before the intent classifier instead of on a
 * thread beside it: a lower peak (the tagger's training state is freed before LIBLINEAR's
 * matrix exists), for a caller whose own threads already keep the CPUs busy (folds of a
 * cross-validation trained side by side). */
cd_nlu_model *cd_nlu_train_tagger_first(const cd_nlu_data *d, const cd_nlu_config *cfg,
                                        unsigned seed, cd_error_t *err);
void cd_nlu_model_free(cd_nlu_model *m);

/* tar.gz archive: metadata.json + component files. Loading a corrupt, truncated or foreign
 * archive is a CD_ERR_DATA error that names the archive and what is wrong. */
int cd_nlu_model_save(const cd_nlu_model *m, const char *path, cd_error_t *err);
cd_nlu_model *cd_nlu_model_load(const char *path, cd_error_t *err);
/* Borrowed metadata object (version, trained_at, model id, fingerprint, config, labels...). */
const json_t *cd_nlu_model_metadata(const cd_nlu_model *m);

typedef struct {
    char *name;
    double confidence;
} cd_nlu_intent_score;

typedef struct {
    char *text;
    cd_nlu_intent_score intent;
    cd_nlu_intent_score *ranking; /* best first, at most 10 */
    size_t n_ranking;
    cd_nlu_entity *entities;
    size_t n_entities;
} cd_nlu_parse_result;

/* Parse one utterance; thread-safe on a loaded model. */
int cd_nlu_parse(const cd_nlu_model *m, const char *text, cd_nlu_parse_result *out,
                 cd_error_t *err);
void cd_nlu_parse_result_done(cd_nlu_parse_result *r);
/* Frees the calling thread's parse scratch (kept between calls so parsing does not allocate
 * it each time). Call it before a parsing thread exits; parsing again afterwards is fine. */
void cd_nlu_thread_done(void);

/* How many threads to split n independent parses over: want (0 = one per online CPU), at
 * most max, fewer while a share would hold under min_share items (a thread costs more). */
int cd_nlu_share_threads(size_t n, int want, int max, size_t min_share);
/* Rasa's /model/parse shape: {text, intent{name,confidence}, intent_ranking, entities[]}. */
json_t *cd_nlu_parse_result_json(const cd_nlu_parse_result *r);
/* Rewrites o, made by cd_nlu_parse_result_json, to describe r, reusing its objects (a caller
 * printing many results skips building and freeing ~15 objects each). 0, or -1 when o does
 * not fit (another ranking length, no intent) or memory ran out: o is then unspecified,
 * build a new one. */
int cd_nlu_parse_result_json_update(json_t *o, const cd_nlu_parse_result *r);

#endif
