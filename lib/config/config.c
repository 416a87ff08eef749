/* Parser for the executor config file; see config.h for the format and docs/configuration.md
 * for every key. The grammar is line based on purpose: an admin can read every error as
 * "<file>:<line>: <what>" and fix that one line. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <fnmatch.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "util/cleanup.h"
#include "util/limits.h"
#include "util/strbuf.h"

typedef enum {
    T_STR,      /* any non-empty text */
    T_PATH,     /* absolute path */
    T_ROOT,     /* absolute path other than "/" (builds/cache roots) */
    T_URL,      /* http:// or https:// */
    T_ENDPOINT, /* unix://, tcp:// or an absolute socket path */
    T_IMAGE,    /* an image reference: no whitespace */
    T_NAME,     /* [a-zA-Z0-9][a-zA-Z0-9_.-]* (volume prefix) */
    T_NETWORK,  /* bridge | host | none | a network name */
    T_USER,     /* uid[:gid] or name[:group] */
    T_MODE,     /* helper mode: auto | mount | container */
    T_BOOL,
    T_SIZE,
    T_SWAP, /* size or "unlimited" (-1) */
    T_DURATION,
    T_CPUS,
    T_PIDS, /* integer or "unlimited" (0) */
    T_PULL,
    T_PULL_MASK,
    T_LIST,    /* comma-separated list of T_STR */
    T_FAILJOB, /* project override: bool stored as int */
} vtype;

typedef struct {
    const char *section;
    const char *key;
    vtype type;
    size_t off;
} keydef;

#define G(sec, key, type, field)                                                                   \
    {                                                                                              \
        sec, key, type, offsetof(cd_config, field)                                                 \
    }
static const keydef global_keys[] = {
    G("engine", "endpoint", T_ENDPOINT, engine_endpoint),
    G("engine", "tls_cert_dir", T_PATH, engine_tls_dir),
    G("engine", "tls_verify", T_BOOL, engine_tls_verify),
    G("engine", "api_version", T_STR, engine_api_version),
    G("engine", "timeout", T_DURATION, engine_timeout_s),
    G("image", "default", T_IMAGE, default_image),
    G("image", "pull_policy", T_PULL, pull_policy),
    G("image", "allowed_pull_policies", T_PULL_MASK, allowed_pull_policies),
    G("image", "allowed_images", T_LIST, allowed_images),
    G("image", "allowed_services", T_LIST, allowed_services),
    G("image", "wait_for_services_timeout", T_DURATION, wait_for_services_s),
    G("limits", "memory", T_SIZE, memory_bytes),
    G("limits", "memory_swap", T_SWAP, memory_swap_bytes),
    G("limits", "cpus", T_CPUS, nano_cpus),
    G("limits", "pids", T_PIDS, pids_limit),
    G("limits", "shm_size", T_SIZE, shm_bytes),
    G("security", "allow_privileged", T_BOOL, privileged_allowed),
    G("security", "privileged", T_BOOL, privileged),
    G("security", "network_mode", T_NETWORK, network_mode),
    G("security", "cap_add", T_LIST, cap_add),
    G("security", "user", T_USER, user),
    G("helper", "mode", T_MODE, helper_mode),
    G("helper", "gitlab_runner", T_PATH, helper_gitlab_runner),
    G("helper", "image", T_IMAGE, helper_image),
    G("helper", "git", T_PATH, helper_git),
    G("helper", "conductor_nlu", T_PATH, conductor_nlu),
    G("helper", "mount_dir", T_ROOT, mount_dir),
    G("storage", "builds_dir", T_ROOT, builds_dir),
    G("storage", "cache_dir", T_ROOT, cache_dir),
    G("storage", "builds_persistent", T_BOOL, builds_persistent),
    G("storage", "cache", T_BOOL, cache_enabled),
    G("storage", "volume_prefix", T_NAME, volume_prefix),
    G("gc", "max_job_age", T_DURATION, max_job_age_s),
    G("publish", "gitlab_url", T_URL, gitlab_url),
    G("publish", "ca_file", T_PATH, gitlab_ca_file),
    G("publish", "token_file", T_PATH, token_file),
    G("publish", "fail_job", T_BOOL, publish_fail_job),
};
#undef G

#define P(key, type, field)                                                                        \
    {                                                                                              \
        "project", key, type, offsetof(cd_config_project, field)                                   \
    }
static const keydef project_keys[] = {
    P("token_file", T_PATH, token_file),
    P("fail_job", T_FAILJOB, fail_on_error),
    P("default_image", T_IMAGE, default_image),
};
#undef P

#define N_GLOBAL (sizeof(global_keys) / sizeof(*global_keys))
#define N_PROJECT (sizeof(project_keys) / sizeof(*project_keys))

static const char *const sections[] = {"engine", "image",   "limits", "security",
                                       "helper", "storage", "gc",     "publish"};

static const char *hint(vtype t)
{
    switch (t) {
    case T_STR:
        return "a non-empty text";
    case T_PATH:
        return "an absolute path";
    case T_ROOT:
        return "an absolute directory other than /";
    case T_URL:
        return "an http:// or https:// URL";
    case T_ENDPOINT:
        return "unix:///path/to.sock, tcp://host:port or an absolute socket path";
    case T_IMAGE:
        return "an image reference such as alpine:3.20";
    case T_NAME:
        return "letters, digits, '_', '.', '-' (starting with a letter or digit)";
    case T_NETWORK:
        return "bridge, host, none or a network name";
    case T_USER:
        return "a user such as 1000, 1000:1000 or nobody";
    case T_MODE:
        return "auto, mount or container";
    case T_BOOL:
    case T_FAILJOB:
        return "true or false";
    case T_SIZE:
        return "a size such as 512m or 2g";
    case T_SWAP:
        return "a size such as 4g, or unlimited";
    case T_DURATION:
        return "a duration such as 90s, 15m, 3h or 1h30m";
    case T_CPUS:
        return "a positive number of CPUs such as 2 or 0.5";
    case T_PIDS:
        return "a whole number, or unlimited";
    case T_PULL:
        return "always, if-not-present or never";
    case T_PULL_MASK:
        return "a comma-separated list of always, if-not-present, never";
    case T_LIST:
        return "a comma-separated list";
    }
    return "a valid value";
}

static char **strv_free(char **v)
{
    if (v) {
        for (char **p = v; *p; p++)
            free(*p);
        free(v);
    }
    return NULL;
}

static char *xdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

cd_config *cd_config_new(void)
{
    cd_config *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->engine_tls_verify = true;
    c->engine_timeout_s = 60;
    c->default_image = xdup("alpine:latest");
    c->pull_policy = CD_PULL_IF_NOT_PRESENT;
    c->allowed_pull_policies = CD_PULL_ALL;
    c->pids_limit = 4096;
    c->helper_mode = xdup("auto");
    c->mount_dir = xdup("/opt/conductor/bin");
    c->builds_dir = xdup("/builds");
    c->cache_dir = xdup("/cache");
    c->cache_enabled = true;
    c->volume_prefix = xdup("runner");
    c->max_job_age_s = 3 * 3600;
    c->wait_for_services_s = 30; /* the docker executor's default */
    /* A team that asked for publishing expects the model in GitLab: a silent miss would
     * leave a green job without its paper trail. */
    c->publish_fail_job = true;
    if (!c->default_image || !c->helper_mode || !c->mount_dir || !c->builds_dir || !c->cache_dir ||
        !c->volume_prefix)
        return cd_config_free(c);
    return c;
}

cd_config *cd_config_free(cd_config *c)
{
    if (!c)
        return NULL;
    /* every char* / char** field is found through the key table, so no field is forgotten */
    for (size_t i = 0; i < N_GLOBAL; i++) {
        void *f = (char *)c + global_keys[i].off;
        if (global_keys[i].type == T_LIST)
            strv_free(*(char ***)f);
        else if (global_keys[i].type <= T_MODE)
            free(*(char **)f);
    }
    for (size_t i = 0; i < c->n_projects; i++) {
        free(c->projects[i].path);
        free(c->projects[i].token_file);
        free(c->projects[i].default_image);
    }
    free(c->projects);
    free(c->path);
    free(c);
    return NULL;
}

/* ---- value checks ---- */

static bool all_chars(const char *s, const char *extra)
{
    if (!*s)
        return false;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr(extra, *p))
            return false;
    return true;
}

static bool has_space_or_ctl(const char *s)
{
    for (const char *p = s; *p; p++)
        if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p))
            return true;
    return false;
}

static bool valid_text(vtype t, const char *v)
{
    switch (t) {
    case T_STR:
        return *v && !has_space_or_ctl(v);
    case T_PATH:
        return v[0] == '/' && !has_space_or_ctl(v);
    case T_ROOT:
        return v[0] == '/' && v[1] && !has_space_or_ctl(v);
    case T_URL:
        return (strncmp(v, "http://", 7) == 0 && v[7]) || (strncmp(v, "https://", 8) == 0 && v[8]);
    case T_ENDPOINT:
        if (has_space_or_ctl(v))
            return false;
        return (strncmp(v, "unix:///", 8) == 0) || (strncmp(v, "tcp://", 6) == 0 && v[6]) ||
               v[0] == '/';
    case T_IMAGE:
        return *v && !has_space_or_ctl(v) && v[0] != '-' && !strchr(v, '"');
    case T_NAME:
        return isalnum((unsigned char)v[0]) && all_chars(v, "_.-");
    case T_NETWORK:
        return isalnum((unsigned char)v[0]) && all_chars(v, "_.-");
    case T_USER:
        return all_chars(v, "_.-:");
    case T_MODE:
        return strcmp(v, "auto") == 0 || strcmp(v, "mount") == 0 || strcmp(v, "container") == 0;
    default:
        return false;
    }
}

static void trim(char **s, char **e)
{
    while (*s < *e && isspace((unsigned char)**s))
        (*s)++;
    while (*e > *s && isspace((unsigned char)(*e)[-1]))
        (*e)--;
}

/* Split "a, b ,c" into a NULL-terminated vector; empty items are an error. */
static int split_list(const char *v, char ***out)
{
    size_t n = 0, cap = 4;
    char **vec = calloc(cap + 1, sizeof(*vec));
    if (!vec)
        return -1;
    if (!*v) {
        *out = vec;
        return 0;
    }
    const char *p = v;
    for (;;) {
        const char *comma = strchr(p, ',');
        char *s = (char *)p, *e = comma ? (char *)comma : (char *)p + strlen(p);
        trim(&s, &e);
        if (s == e || n == cap * 16) {
            strv_free(vec);
            return -1;
        }
        if (n == cap) {
            char **nv = realloc(vec, (cap * 2 + 1) * sizeof(*vec));
            if (!nv) {
                strv_free(vec);
                return -1;
            }
            vec = nv;
            cap *= 2;
        }
        vec[n] = strndup(s, (size_t)(e - s));
        if (!vec[n]) {
            strv_free(vec);
            return -1;
        }
        vec[++n] = NULL;
        if (!comma)
            break;
        p = comma + 1;
    }
    *out = vec;
    return 0;
}

/* Store value v (already unquoted) of type t into the field at f. Returns 0, -1 bad value. */
static int store(vtype t, void *f, const char *v)
{
    switch (t) {
    case T_STR:
    case T_PATH:
    case T_ROOT:
    case T_URL:
    case T_ENDPOINT:
    case T_IMAGE:
    case T_NAME:
    case T_NETWORK:
    case T_USER:
    case T_MODE: {
        if (!valid_text(t, v))
            return -1;
        char *dup = strdup(v);
        if (!dup)
            return -1;
        free(*(char **)f);
        *(char **)f = dup;
        return 0;
    }
    case T_BOOL:
        return cd_parse_bool(v, (bool *)f);
    case T_FAILJOB: {
        bool b;
        if (cd_parse_bool(v, &b) < 0)
            return -1;
        *(int *)f = b;
        return 0;
    }
    case T_SIZE:
        return cd_parse_size(v, (int64_t *)f);
    case T_SWAP:
        if (strcmp(v, "unlimited") == 0) {
            *(int64_t *)f = -1;
            return 0;
        }
        return cd_parse_size(v, (int64_t *)f);
    case T_DURATION:
        return cd_parse_duration(v, (int64_t *)f);
    case T_CPUS:
        return cd_parse_cpus(v, (int64_t *)f);
    case T_PIDS: {
        if (strcmp(v, "unlimited") == 0) {
            *(int64_t *)f = 0;
            return 0;
        }
        int64_t n;
        /* a count, not a size: reuse the size parser but refuse unit suffixes */
        if (!*v || !isdigit((unsigned char)v[strlen(v) - 1]) || cd_parse_size(v, &n) < 0)
            return -1;
        *(int64_t *)f = n;
        return 0;
    }
    case T_PULL: {
        cd_pull_policy p = cd_pull_policy_parse(v);
        if (!p)
            return -1;
        *(cd_pull_policy *)f = p;
        return 0;
    }
    case T_PULL_MASK: {
        cleanup_free char **items = NULL;
        if (split_list(v, &items) < 0)
            return -1;
        unsigned mask = 0;
        int rc = items[0] ? 0 : -1; /* allowing nothing would make every job fail */
        for (char **p = items; *p; p++) {
            cd_pull_policy pp = cd_pull_policy_parse(*p);
            if (!pp)
                rc = -1;
            mask |= pp;
            free(*p);
        }
        if (rc == 0)
            *(unsigned *)f = mask;
        return rc;
    }
    case T_LIST: {
        char **items;
        if (split_list(v, &items) < 0)
            return -1;
        for (char **p = items; *p; p++)
            if (has_space_or_ctl(*p)) {
                strv_free(items);
                return -1;
            }
        strv_free(*(char ***)f);
        *(char ***)f = items;
        return 0;
    }
    }
    return -1;
}

/* ---- the line grammar ---- */

typedef struct {
    const char *name; /* file name for messages */
    unsigned line;
    cd_config *cfg;
    int section; /* index into sections[], N_SECTIONS for a project, -1 none */
    cd_config_project *project;
    unsigned seen[N_GLOBAL]; /* line where each global key was set, 0 = not yet */
    unsigned *pseen;         /* N_PROJECT per project */
    unsigned privileged_line;
    cd_error_t *err;
} parser;

#define N_SECTIONS (sizeof(sections) / sizeof(*sections))

__attribute__((format(printf, 2, 3))) static int perr(parser *ps, const char *fmt, ...)
{
    cleanup_free char *m = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&m, fmt, ap);
    va_end(ap);
    return cd_error(ps->err, CD_ERR_USAGE, 0, "%s:%u: %s", ps->name, ps->line,
                    n >= 0 ? m : "out of memory");
}

/* Unquote "..." at s (s[0] == '"'); *end is set past the closing quote. */
static char *unquote(const char *s, const char *lim, const char **end)
{
    cd_strbuf sb = CD_STRBUF_INIT;
    cd_strbuf_init(&sb, CD_MAX_CONFIG_FILE);
    const char *p = s + 1;
    for (; p < lim && *p != '"'; p++) {
        char c = *p;
        if (c == '\\') {
            if (++p >= lim)
                break;
            switch (*p) {
            case '"':
                c = '"';
                break;
            case '\\':
                c = '\\';
                break;
            case 'n':
                c = '\n';
                break;
            case 't':
                c = '\t';
                break;
            default:
                cd_strbuf_done(&sb);
                return NULL;
            }
        }
        if (cd_strbuf_addc(&sb, c) < 0) {
            cd_strbuf_done(&sb);
            return NULL;
        }
    }
    if (p >= lim) {
        cd_strbuf_done(&sb);
        return NULL;
    }
    *end = p + 1;
    return cd_strbuf_take(&sb);
}

static int parse_section(parser *ps, char *s, char *e)
{
    /* s points at '[', e past the last non-space char */
    if (e[-1] != ']' || e - s < 3)
        return perr(ps, "section header must look like [name] or [project \"group/name\"]");
    char *in = s + 1, *ine = e - 1;
    trim(&in, &ine);
    size_t n = (size_t)(ine - in);
    if (n >= 7 && strncmp(in, "project", 7) == 0 && (n == 7 || isspace((unsigned char)in[7]))) {
        char *q = in + 7;
        while (q < ine && isspace((unsigned char)*q))
            q++;
        if (q >= ine || *q != '"')
            return perr(ps, "project section needs a quoted path: [project \"group/name\"]");
        const char *after;
        cleanup_free char *path = unquote(q, ine, &after);
        if (!path || after != ine)
            return perr(ps, "project section needs a quoted path: [project \"group/name\"]");
        if (!*path || path[0] == '/' || path[strlen(path) - 1] == '/' || has_space_or_ctl(path))
            return perr(ps, "bad project path `%s`: expected group/name as in CI_PROJECT_PATH",
                        path);
        for (size_t i = 0; i < ps->cfg->n_projects; i++)
            if (strcmp(ps->cfg->projects[i].path, path) == 0)
                return perr(ps, "duplicate section [project \"%s\"]", path);
        size_t k = ps->cfg->n_projects;
        cd_config_project *np = realloc(ps->cfg->projects, (k + 1) * sizeof(*np));
        if (!np)
            return perr(ps, "out of memory");
        ps->cfg->projects = np;
        unsigned *nseen = realloc(ps->pseen, (k + 1) * N_PROJECT * sizeof(*nseen));
        if (!nseen)
            return perr(ps, "out of memory");
        ps->pseen = nseen;
        memset(nseen + k * N_PROJECT, 0, N_PROJECT * sizeof(*nseen));
        np[k] = (cd_config_project){.path = take_ptr(path), .fail_on_error = -1};
        ps->cfg->n_projects = k + 1;
        ps->project = &np[k];
        ps->section = (int)N_SECTIONS;
        return 0;
    }
    for (size_t i = 0; i < N_SECTIONS; i++)
        if (strlen(sections[i]) == n && strncmp(in, sections[i], n) == 0) {
            ps->section = (int)i;
            ps->project = NULL;
            return 0;
        }
    return perr(ps, "unknown section [%.*s]", (int)(n > 64 ? 64 : n), in);
}

static int parse_keyval(parser *ps, char *s, char *e)
{
    char *eq = memchr(s, '=', (size_t)(e - s));
    if (!eq)
        return perr(ps, "expected `key = value`");
    char *ks = s, *ke = eq;
    trim(&ks, &ke);
    size_t kn = (size_t)(ke - ks);
    if (kn == 0)
        return perr(ps, "missing key before `=`");
    for (char *p = ks; p < ke; p++)
        if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '_')
            return perr(ps, "bad key `%.*s`: keys are lower_case_words", (int)(kn > 64 ? 64 : kn),
                        ks);
    if (ps->section < 0)
        return perr(ps, "`%.*s` outside a section: put it under [engine], [image], ...", (int)kn,
                    ks);

    /* value: quoted, or bare up to an inline comment (" #" / " ;") */
    char *vs = eq + 1, *ve = e;
    trim(&vs, &ve);
    cleanup_free char *val = NULL;
    if (vs < ve && *vs == '"') {
        const char *after;
        val = unquote(vs, ve, &after);
        if (!val)
            return perr(ps, "unterminated or badly escaped quoted value");
        while (after < ve && isspace((unsigned char)*after))
            after++;
        if (after < ve && *after != '#' && *after != ';')
            return perr(ps, "unexpected text after the quoted value");
    } else {
        for (char *p = vs; p < ve; p++)
            if ((*p == '#' || *p == ';') && p > vs && isspace((unsigned char)p[-1])) {
                ve = p;
                break;
            }
        trim(&vs, &ve);
        val = strndup(vs, (size_t)(ve - vs));
        if (!val)
            return perr(ps, "out of memory");
    }

    const keydef *tab = ps->project ? project_keys : global_keys;
    size_t ntab = ps->project ? N_PROJECT : N_GLOBAL;
    const char *secname = ps->project ? "project" : sections[ps->section];
    for (size_t i = 0; i < ntab; i++) {
        const keydef *kd = &tab[i];
        if (strcmp(kd->section, secname) != 0 || strlen(kd->key) != kn ||
            strncmp(kd->key, ks, kn) != 0)
            continue;
        unsigned *seen = ps->project
                             ? &ps->pseen[(size_t)(ps->project - ps->cfg->projects) * N_PROJECT + i]
                             : &ps->seen[i];
        if (*seen)
            return perr(ps, "duplicate key `%s` (first set on line %u)", kd->key, *seen);
        *seen = ps->line;
        void *field = (char *)(ps->project ? (void *)ps->project : (void *)ps->cfg) + kd->off;
        /* an empty value unsets an optional text setting; for anything else it is an error */
        if (!*val && kd->type <= T_MODE && kd->type != T_ROOT && kd->type != T_NAME &&
            kd->type != T_MODE) {
            free(*(char **)field);
            *(char **)field = NULL;
            return 0;
        }
        if (!*val && kd->type == T_LIST) {
            strv_free(*(char ***)field);
            *(char ***)field = NULL;
            return 0;
        }
        if (store(kd->type, field, val) < 0) {
            /* the value is config text, never a secret (tokens live in token files) */
            size_t vl = strlen(val);
            return perr(ps, "bad value `%.*s%s` for `%s`: expected %s", (int)(vl > 80 ? 80 : vl),
                        val, vl > 80 ? "..." : "", kd->key, hint(kd->type));
        }
        if (!ps->project && strcmp(kd->key, "privileged") == 0)
            ps->privileged_line = ps->line;
        return 0;
    }
    return perr(ps, "unknown key `%.*s` in [%s]", (int)(kn > 64 ? 64 : kn), ks, secname);
}

/* index of [image] pull_policy in global_keys; allowed_pull_policies follows it */
static size_t pull_policy_index(void)
{
    for (size_t i = 0; i < N_GLOBAL; i++)
        if (global_keys[i].type == T_PULL)
            return i;
    return 0;
}

/* index of [helper] mode in global_keys */
static size_t helper_mode_index(void)
{
    for (size_t i = 0; i < N_GLOBAL; i++)
        if (global_keys[i].type == T_MODE)
            return i;
    return 0;
}

int cd_config_parse(const char *text, size_t len, const char *name, cd_config **out,
                    cd_error_t *err)
{
    parser ps = {.name = name ? name : "<config>", .section = -1, .err = err};
    ps.cfg = cd_config_new();
    if (!ps.cfg)
        return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "load config `%s`", ps.name);
    int rc = 0;
    const char *p = text, *end = text + len;
    /* a UTF-8 byte order mark from Windows editors is harmless */
    if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
        p += 3;
    while (p < end && rc == 0) {
        ps.line++;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        if (memchr(p, '\0', (size_t)(le - p))) {
            rc = perr(&ps, "NUL byte in the line: not a text file?");
            break;
        }
        cleanup_free char *line = strndup(p, (size_t)(le - p));
        if (!line) {
            rc = perr(&ps, "out of memory");
            break;
        }
        char *s = line, *e = line + strlen(line);
        trim(&s, &e);
        if (s == e || *s == '#' || *s == ';')
            ; /* blank or comment */
        else if (*s == '[')
            rc = parse_section(&ps, s, e);
        else
            rc = parse_keyval(&ps, s, e);
        p = nl ? nl + 1 : end;
    }
    if (rc == 0 && ps.cfg->privileged && !ps.cfg->privileged_allowed) {
        ps.line = ps.privileged_line;
        rc = perr(&ps, "`privileged = true` needs `allow_privileged = true` in [security]");
    }
    if (rc == 0 && !strcmp(ps.cfg->helper_mode, "container") && !ps.cfg->helper_image) {
        ps.line = ps.seen[helper_mode_index()];
        rc = perr(&ps, "%s", "[helper] mode = \"container\" needs [helper] image");
    }
    if (rc == 0 && !(ps.cfg->pull_policy & ps.cfg->allowed_pull_policies)) {
        unsigned pl = ps.seen[pull_policy_index()], al = ps.seen[pull_policy_index() + 1];
        ps.line = pl > al ? pl : al;
        rc = perr(&ps, "pull_policy `%s` is not one of allowed_pull_policies",
                  cd_pull_policy_name(ps.cfg->pull_policy));
    }
    free(ps.pseen);
    if (rc < 0) {
        cd_config_free(ps.cfg);
        return -1;
    }
    if (name && !(ps.cfg->path = strdup(name))) {
        cd_config_free(ps.cfg);
        return cd_error(err, CD_ERR_SYSTEM, ENOMEM, "load config `%s`", ps.name);
    }
    *out = ps.cfg;
    return 0;
}

int cd_config_load(const char *path, cd_config **out, cd_error_t *err)
{
    const char *p = path ? path : CD_CONFIG_DEFAULT_PATH;
    cd_strbuf sb = CD_STRBUF_INIT;
    if (cd_strbuf_read_file(&sb, p, CD_MAX_CONFIG_FILE) < 0) {
        int e = errno;
        cd_strbuf_done(&sb);
        if (!path && e == ENOENT) {
            *out = cd_config_new();
            return *out ? 0 : cd_error(err, CD_ERR_SYSTEM, ENOMEM, "load default config");
        }
        if (e == E2BIG)
            return cd_error(err, CD_ERR_USAGE, 0, "read config `%s`: larger than %u bytes", p,
                            CD_MAX_CONFIG_FILE);
        return cd_error(err, CD_ERR_USAGE, e, "read config `%s`", p);
    }
    int rc = cd_config_parse(cd_strbuf_str(&sb), sb.len, p, out, err);
    cd_strbuf_done(&sb);
    return rc;
}

/* ---- queries ---- */

static const char *std_getenv(const char *n)
{
    return getenv(n);
}

static char *as_endpoint(const char *v)
{
    char *r = NULL;
    if (v[0] == '/') {
        if (asprintf(&r, "unix://%s", v) < 0)
            r = NULL;
        return r;
    }
    return strdup(v);
}

char *cd_config_engine_endpoint(const cd_config *cfg, const char *(*envget)(const char *name))
{
    if (!envget)
        envget = std_getenv;
    if (cfg && cfg->engine_endpoint)
        return as_endpoint(cfg->engine_endpoint);
    static const char *const vars[] = {"DOCKER_HOST", "CONTAINER_HOST"};
    for (size_t i = 0; i < 2; i++) {
        const char *v = envget(vars[i]);
        if (v && *v)
            return as_endpoint(v);
    }
    static const char *const socks[] = {"/var/run/docker.sock", "/run/podman/podman.sock"};
    struct stat st;
    for (size_t i = 0; i < 2; i++)
        if (stat(socks[i], &st) == 0 && S_ISSOCK(st.st_mode))
            return as_endpoint(socks[i]);
    return strdup("unix:///var/run/docker.sock");
}

const cd_config_project *cd_config_project_find(const cd_config *cfg, const char *project_path)
{
    if (!cfg || !project_path)
        return NULL;
    for (size_t i = 0; i < cfg->n_projects; i++)
        if (strcmp(cfg->projects[i].path, project_path) == 0)
            return &cfg->projects[i];
    return NULL;
}

/* docker's reference normalization: "alpine" → "docker.io/library/alpine:latest",
 * "reg:5000/x" → "reg:5000/x:latest"; digests keep their "@sha256:..." and get no tag. */
static char *normalize_image(const char *image)
{
    const char *slash = strchr(image, '/');
    bool has_registry =
        slash && (memchr(image, '.', (size_t)(slash - image)) ||
                  memchr(image, ':', (size_t)(slash - image)) ||
                  ((size_t)(slash - image) == 9 && !strncmp(image, "localhost", 9)));
    const char *last = strrchr(image, '/');
    const char *namepart = last ? last + 1 : image;
    bool has_tag = strchr(namepart, ':') || strchr(image, '@');
    char *r = NULL;
    if (asprintf(&r, "%s%s%s%s", has_registry ? "" : "docker.io/",
                 (!has_registry && !slash) ? "library/" : "", image, has_tag ? "" : ":latest") < 0)
        return NULL;
    return r;
}

static bool globs_allow(char **globs, const char *image)
{
    if (!globs || !globs[0])
        return true;
    if (!image)
        return false;
    cleanup_free char *norm = normalize_image(image);
    for (char **g = globs; *g; g++)
        if (fnmatch(*g, image, 0) == 0 || (norm && fnmatch(*g, norm, 0) == 0))
            return true;
    return false;
}

bool cd_config_image_allowed(const cd_config *cfg, const char *image)
{
    return globs_allow(cfg->allowed_images, image);
}

bool cd_config_service_allowed(const cd_config *cfg, const char *image)
{
    return globs_allow(cfg->allowed_services, image);
}
