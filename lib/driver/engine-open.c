/* Opening the engine for the stage programs (kept apart from util.c so that a program that
 * never talks to the engine, the light conductor-run, does not link libcurl). */
#include "driver/driver.h"
#include "util/cleanup.h"

cd_engine *cd_driver_engine_open(const cd_config *cfg, volatile sig_atomic_t *interrupt,
                                 cd_error_t *err)
{
    cleanup_free char *endpoint = cd_config_engine_endpoint(cfg, NULL);
    cd_engine_options o = {
        .endpoint = endpoint,
        .cert_path = cfg->engine_tls_dir,
        .tls_no_verify = cfg->engine_tls_dir && !cfg->engine_tls_verify,
        /* GET /version costs Podman 4.3 ~3 s; the stage programs speak 1.41 (Docker 20.10+,
         * Podman 3+) without asking. `conductor doctor` negotiates and checks it. */
        .api_version = cfg->engine_api_version ? cfg->engine_api_version : CD_DRIVER_API_VERSION,
        .request_timeout_ms = cfg->engine_timeout_s > 0 ? cfg->engine_timeout_s * 1000 : 0,
        .interrupt = interrupt,
    };
    cd_engine *e = cd_engine_open(&o, err);
    if (!e)
        cd_error_wrap(err, "engine `%s`", endpoint ? endpoint : "?");
    return e;
}
