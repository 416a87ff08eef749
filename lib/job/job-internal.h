/* Private to lib/job: the pieces job.c, response.c and names.c share. */
#ifndef CD_JOB_INTERNAL_H
#define CD_JOB_INTERNAL_H

#include "job/job.h"

char **cd_strv_free(char **v);
void cd_job_image_done(cd_job_image *im);
void cd_registry_cred_done(cd_registry_cred *c);

/* Fill image/services/variables/steps/credentials (into job->creds) and the identity fields
 * the env left at 0/NULL. DATA error naming the field on a wrong type. */
int cd_job_parse_response(cd_job *job, const char *text, size_t len, cd_error_t *err);
/* Replace job->services by the CUSTOM_ENV_CI_JOB_SERVICES array (keeping the pull policies
 * that only the response carries, matched by position). */
int cd_job_parse_services_env(cd_job *job, const char *text, cd_error_t *err);

#endif
