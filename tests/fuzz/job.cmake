# JOB_RESPONSE_FILE / CI_JOB_SERVICES / DOCKER_AUTH_CONFIG parsing (lib/job).
cd_add_fuzzer(job LIBS cd_job cd_config cd_util)
