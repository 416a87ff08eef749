/* Subset views for cross-validation folds: the view copies the example structs (cheap) and
 * shares every string, entity array, synonym, regex and lookup with its parent. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nlu/nlu.h"

int cd_nlu_data_subset(const cd_nlu_data *parent, const size_t *idx, size_t n,
                       cd_nlu_data *out, cd_error_t *err)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < n; i++)
        if (idx[i] >= parent->n_examples)
            return cd_error(err, CD_ERR_USAGE, 0,
                            "subset: index %zu out of range (%zu examples)", idx[i],
                            parent->n_examples);
    if (n && !(out->examples = malloc(n * sizeof(*out->examples))))
        return cd_error(err, CD_ERR_SYSTEM, 0, "out of memory");
    for (size_t i = 0; i < n; i++)
        out->examples[i] = parent->examples[idx[i]];
    out->n_examples = n;
    out->synonyms = parent->synonyms;
    out->n_synonyms = parent->n_synonyms;
    out->regexes = parent->regexes;
    out->n_regexes = parent->n_regexes;
    out->lookups = parent->lookups;
    out->n_lookups = parent->n_lookups;
    out->domains = parent->domains;
    out->n_domains = parent->n_domains;
    out->files = parent->files;
    out->n_files = parent->n_files;
    out->borrowed = true;
    return 0;
}
