/* Private to lib/publish. */
#ifndef CD_PUBLISH_INTERNAL_H
#define CD_PUBLISH_INTERNAL_H

#include <stdint.h>

#include <jansson.h>

#include "publish/publish.h"

#define CD_PUBLISH_MAX_METADATA (4u << 20)     /* metadata.json inside a model archive */
#define CD_PUBLISH_MAX_RESULTS (512ull << 20)  /* a results directory copied out of a job */
#define CD_PUBLISH_MAX_RESULT_FILES 10000
#define CD_PUBLISH_MAX_TOKEN 4096              /* a token file */

/* metadata.json of a model archive (tar, any compression libarchive reads), or NULL with
 * *err set (DATA when the archive has none or it is not a JSON object). */
json_t *cd_publish_model_metadata(const char *archive_path, cd_error_t *err);

/* SHA-256 (hex) and size of a file, streamed. */
int cd_publish_sha256_file(const char *path, char ret_hex[65], uint64_t *ret_size,
                           cd_error_t *err);

/* Keep only [A-Za-z0-9._+-] (others become '-'), as GitLab's package name/version rules
 * want; malloc'ed, NULL for an empty result. */
char *cd_publish_sanitize_name(const char *s);

/* Read a token file: one line, surrounding whitespace dropped. Malloc'ed; zero it with
 * cd_free_secret. USAGE error for an empty or unreadable file. */
char *cd_publish_read_token(const char *path, cd_error_t *err);

#endif
