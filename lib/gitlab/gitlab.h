/* GitLab REST API v4 client (libcurl + jansson + nettle), for the few endpoints Conductor
 * uses: project wikis (upsert, attachments) and generic packages (streamed upload verified by
 * SHA-256, streamed download). The contract it follows is
 * ../shared/docs/gitlab-api-contract.md; section numbers below refer to it.
 *
 * Errors: every non-2xx answer becomes one line
 *     `<METHOD> <path>: HTTP <status>: <GitLab's message>`
 * with err->status = the HTTP status. Kinds: CD_ERR_NOTFOUND for an expected "not there"
 * (a missing wiki page or package file), CD_ERR_USAGE for 400/401/403/404-project/405/413
 * (a request or credential GitLab refuses; retrying will not help), CD_ERR_SYSTEM for
 * network failures and 5xx/429 left after the retries.
 * The token never appears in a message or a log line (it is registered as a log secret, the
 * libcurl debug callback redacts auth headers and never prints bodies). */
#ifndef CD_GITLAB_GITLAB_H
#define CD_GITLAB_GITLAB_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "util/error.h"

typedef enum {
    CD_GITLAB_TOKEN_PRIVATE = 0, /* PRIVATE-TOKEN: header (PAT, project/group access token) */
    CD_GITLAB_TOKEN_JOB,         /* JOB-TOKEN: header (CI_JOB_TOKEN; accepted by packages only) */
    CD_GITLAB_TOKEN_BEARER,      /* Authorization: Bearer <t> */
} cd_gitlab_token_type;

/* "private", "job", "bearer" → enum. USAGE error otherwise. */
int cd_gitlab_parse_token_type(const char *s, cd_gitlab_token_type *out, cd_error_t *err);

typedef struct cd_gitlab cd_gitlab;

typedef struct {
    const char *url;   /* https://gitlab.example.com[/prefix]; "/api/v4" is appended */
    const char *token; /* copied; the copy is zeroed on free. NULL = anonymous */
    cd_gitlab_token_type token_type;
    const char *ca_file; /* optional CA bundle (CURLOPT_CAINFO) */
    const char *proxy;   /* optional proxy URL; NULL leaves libcurl's *_proxy env handling */
    bool verbose;        /* libcurl trace (redacted headers, no bodies) to cd_debug */
    int max_tries;       /* 0 = 5 (gitlab-runner's retry_requester) */
    long connect_timeout_s; /* 0 = 30 */
    /* Injectable sleep for the retry back-off (tests stay fast); NULL = nanosleep. */
    void (*sleep_ms)(void *userdata, long ms);
    void *sleep_userdata;
} cd_gitlab_opts;

cd_gitlab *cd_gitlab_new(const cd_gitlab_opts *opts, cd_error_t *err);
cd_gitlab *cd_gitlab_free(cd_gitlab *gl); /* zeroes the token; accepts NULL; returns NULL */

/* Number of HTTP attempts made so far (tests check the retry policy with it). */
unsigned cd_gitlab_attempts(const cd_gitlab *gl);

/* Project id for a URL path segment: digits stay, a path has every '/' as %2F (§7.4).
 * Returns a malloc'ed string or NULL (ENOMEM / empty id). */
char *cd_gitlab_project_id(const char *project);

/* ---- generic requests ---------------------------------------------------------------- */

/* One JSON call. `path` starts after /api/v4 ("/projects/42/wikis"); path segments must be
 * encoded by the caller. `body` (may be NULL) is sent as application/json. Retries follow
 * §7.2 when `idempotent`, otherwise only a 429 (the request was not processed) is retried.
 * On 2xx *out (if out) gets the parsed body (NULL for an empty body) and the status is
 * returned; on failure -1 with err filled as described above. */
int cd_gitlab_call(cd_gitlab *gl, const char *method, const char *path, json_t *body,
                   bool idempotent, json_t **out, cd_error_t *err);

/* ---- wikis (§2) ------------------------------------------------------------------------ */

/* GET /projects/:id/wikis/:slug. A missing page is CD_ERR_NOTFOUND (err->status 404). */
int cd_gitlab_wiki_get(cd_gitlab *gl, const char *project, const char *slug, json_t **out,
                       cd_error_t *err);

/* Create or update the page whose slug is `slug` (title = slug, so nested pages work):
 * GET → PUT when it exists, POST when not, and on a POST "Duplicate page" answer → PUT
 * (§7.5). Safe to rerun. *out (optional) gets the page object. */
int cd_gitlab_wiki_upsert(cd_gitlab *gl, const char *project, const char *slug,
                          const char *content, json_t **out, cd_error_t *err);

/* POST /projects/:id/wikis/attachments (multipart `file`, streamed from `path`, sent as
 * `file_name`). *ret_markdown gets link.markdown, *ret_url (optional) link.url; malloc'ed.
 * Not retried except on 429 (each POST makes a new upload dir, §7.5). */
int cd_gitlab_wiki_attach(cd_gitlab *gl, const char *project, const char *path,
                          const char *file_name, char **ret_markdown, char **ret_url,
                          cd_error_t *err);

/* ---- generic packages (§3) -------------------------------------------------------------- */

typedef struct {
    char sha256[65];  /* hex of the bytes we sent */
    uint64_t size;    /* bytes sent */
    bool duplicate;   /* GitLab refused a duplicate and the stored file had the same SHA-256 */
    char *download_path; /* "/projects/<id>/packages/generic/<n>/<v>/<f>" (malloc'ed) */
} cd_gitlab_package_file;

void cd_gitlab_package_file_done(cd_gitlab_package_file *f);

/* PUT the file at `path` as <name>/<version>/<file_name>, streamed from disk (constant
 * memory) with ?select=package_file while a thread hashes the file; the file_sha256 and size
 * GitLab reports must match the file, which must not change during the upload (DATA error
 * otherwise). Retried per §7.2 (the file is
 * re-read from the start). When duplicates are not allowed (400 "Duplicate package"), the
 * stored file is downloaded and hashed: same SHA-256 → success with out->duplicate set,
 * different → USAGE error saying so. */
int cd_gitlab_package_upload(cd_gitlab *gl, const char *project, const char *name,
                             const char *version, const char *file_name, const char *path,
                             cd_gitlab_package_file *out, cd_error_t *err);

/* GET the package file and return its SHA-256 (hex) and size, streaming (nothing kept). */
int cd_gitlab_package_sha256(cd_gitlab *gl, const char *project, const char *name,
                             const char *version, const char *file_name, char ret_hex[65],
                             uint64_t *ret_size, cd_error_t *err);

/* Name/version validity per §3.1 (checked before any request, so the message is ours). */
bool cd_gitlab_package_name_valid(const char *s);
bool cd_gitlab_package_version_valid(const char *s);

#endif
