/* The executor config parser (lib/config): any bytes must give a config or a USAGE error
 * naming `<file>:<line>`, never a crash or a leak. The queries run on every parsed config so
 * what the parser stores is exercised too. */
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cd_error_t err = {0};
    cd_config *cfg = NULL;
    if (cd_config_parse((const char *)data, size, "fuzz.conf", &cfg, &err) < 0) {
        /* the contract: every error names the file and line */
        if (!err.msg || strncmp(err.msg, "fuzz.conf:", 10) != 0 || err.kind != CD_ERR_USAGE)
            abort();
        cd_error_clear(&err);
        return 0;
    }
    (void)cd_config_image_allowed(cfg, "docker.io/library/alpine:3");
    (void)cd_config_service_allowed(cfg, "redis");
    for (size_t i = 0; i < cfg->n_projects; i++)
        if (cd_config_project_find(cfg, cfg->projects[i].path) != &cfg->projects[i])
            abort();
    char *ep = cd_config_engine_endpoint(cfg, NULL);
    free(ep);
    cd_config_free(cfg);
    return 0;
}
