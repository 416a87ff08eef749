/* conductor publish: upload a model as a generic package and write the wiki report, from any
 * pipeline or by hand. A thin entry point over cd_publish (lib/publish). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conductor-commands.h"
#include "publish/publish.h"
#include "publish/publish-internal.h"
#include "util/cleanup.h"
#include "util/log.h"

static void usage(FILE *f)
{
    fputs("usage: conductor publish --gitlab-url URL --project ID|PATH\n"
          "           (--token-file FILE | --token-env VAR) [--token-type private|job|bearer]\n"
          "           --targets package,wiki [--model FILE] [--results DIR]\n"
          "           [--package-name N] [--package-version V] [--wiki-prefix P]\n"
          "           [--ca-file FILE] [--proxy URL] [--verbose]\n"
          "\n"
          "Defaults: --gitlab-url $CI_SERVER_URL, --project $CI_PROJECT_ID, package name the\n"
          "project's slug, version the model id from the model's metadata.json (else\n"
          "$CI_COMMIT_SHORT_SHA). The paper trail comes from the CI_* variables.\n"
          "See docs/publishing.md.\n",
          f);
}

static const char *env_or(const char *v, const char *name)
{
    const char *e = getenv(name);
    return v ? v : (e && *e ? e : NULL);
}

int cd_cmd_publish(int argc, char **argv)
{
    enum { O_URL = 256, O_PROJECT, O_TOKEN_FILE, O_TOKEN_ENV, O_TOKEN_TYPE, O_TARGETS, O_MODEL,
           O_RESULTS, O_PKG_NAME, O_PKG_VERSION, O_WIKI_PREFIX, O_CA, O_PROXY, O_VERBOSE,
           O_HELP };
    static const struct option longopts[] = {
        {"gitlab-url", required_argument, NULL, O_URL},
        {"project", required_argument, NULL, O_PROJECT},
        {"token-file", required_argument, NULL, O_TOKEN_FILE},
        {"token-env", required_argument, NULL, O_TOKEN_ENV},
        {"token-type", required_argument, NULL, O_TOKEN_TYPE},
        {"targets", required_argument, NULL, O_TARGETS},
        {"model", required_argument, NULL, O_MODEL},
        {"results", required_argument, NULL, O_RESULTS},
        {"package-name", required_argument, NULL, O_PKG_NAME},
        {"package-version", required_argument, NULL, O_PKG_VERSION},
        {"wiki-prefix", required_argument, NULL, O_WIKI_PREFIX},
        {"ca-file", required_argument, NULL, O_CA},
        {"proxy", required_argument, NULL, O_PROXY},
        {"verbose", no_argument, NULL, O_VERBOSE},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    cd_publish_opts o = {0};
    const char *token_file = NULL, *token_env = NULL, *token_type = NULL, *targets = NULL;
    cd_error_t err = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case O_URL: o.gitlab_url = optarg; break;
        case O_PROJECT: o.project = optarg; break;
        case O_TOKEN_FILE: token_file = optarg; break;
        case O_TOKEN_ENV: token_env = optarg; break;
        case O_TOKEN_TYPE: token_type = optarg; break;
        case O_TARGETS: targets = optarg; break;
        case O_MODEL: o.model_file = optarg; break;
        case O_RESULTS: o.results_dir = optarg; break;
        case O_PKG_NAME: o.package_name = optarg; break;
        case O_PKG_VERSION: o.package_version = optarg; break;
        case O_WIKI_PREFIX: o.wiki_prefix = optarg; break;
        case O_CA: o.ca_file = optarg; break;
        case O_PROXY: o.proxy = optarg; break;
        case O_VERBOSE: cd_log_set_level(CD_LOG_DEBUG); setenv("CONDUCTOR_DEBUG", "1", 1); break;
        case O_HELP: usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "conductor publish: unexpected argument `%s`\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    o.gitlab_url = env_or(o.gitlab_url, "CI_SERVER_URL");
    o.project = env_or(o.project, "CI_PROJECT_ID");
    if (cd_gitlab_parse_token_type(token_type, &o.token_type, &err) < 0 ||
        cd_publish_parse_targets(targets ? targets : "package,wiki", &o.targets, &err) < 0) {
        fprintf(stderr, "conductor publish: %s\n", cd_error_msg(&err));
        cd_error_clear(&err);
        return 2;
    }
    if (!!token_file == !!token_env) {
        fprintf(stderr, "conductor publish: give exactly one of --token-file or --token-env\n");
        return 2;
    }
    char *token = NULL;
    if (token_file) {
        token = cd_publish_read_token(token_file, &err);
    } else {
        /* The variable's name may be logged, its value never. */
        const char *v = getenv(token_env);
        if (v && *v)
            token = strdup(v);
        else
            cd_error(&err, CD_ERR_USAGE, 0, "variable `%s` is empty or unset", token_env);
    }
    if (!token) {
        fprintf(stderr, "conductor publish: %s\n", cd_error_msg(&err));
        cd_error_clear(&err);
        return 2;
    }
    cd_log_register_secret(token);
    o.token = token;

    cd_publish_result res;
    int rc = cd_publish(&o, &res, &err);
    cd_free_secret(token);
    if (rc < 0) {
        /* through cd_log: masked against every registered secret, belt and braces */
        cd_log(CD_LOG_ERROR, "conductor publish: %s", cd_error_msg(&err));
        int code = err.kind == CD_ERR_USAGE ? 2 : 1;
        cd_error_clear(&err);
        return code;
    }
    if (res.package_url)
        printf("package: %s\n", res.package_url);
    if (res.model_sha256)
        printf("sha256: %s\n", res.model_sha256);
    if (res.report_url)
        printf("report: %s\n", res.report_url);
    if (res.index_url)
        printf("index: %s\n", res.index_url);
    cd_publish_result_done(&res);
    return 0;
}
