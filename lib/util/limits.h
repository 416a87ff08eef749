/* Every bounded buffer's maximum, in one place (curl DYN_* style). */
#ifndef CD_UTIL_LIMITS_H
#define CD_UTIL_LIMITS_H

#define CD_MAX_API_RESPONSE (64u << 20)  /* a JSON reply from an engine or GitLab */
#define CD_MAX_ERROR_BODY (64u << 10)    /* body kept to build an error message */
#define CD_MAX_LOG_LINE (64u << 10)      /* a job-log line is split past this */
#define CD_MAX_CONFIG_FILE (1u << 20)    /* executor config file */
#define CD_MAX_JOB_RESPONSE (64u << 20)  /* JOB_RESPONSE_FILE */
#define CD_MAX_TRAINING_FILE (512u << 20) /* one training data file */
#define CD_MAX_REPORT_FILE (64u << 20)  /* one results JSON file (intent_report/errors) */
#define CD_MAX_REPORT_CHART (16u << 20) /* one chart file offered for upload */
#define CD_MAX_MODEL_ENTRY (1u << 30)   /* an NLU model archive, and all its entries together */
#define CD_MAX_STRBUF (1u << 30)         /* hard stop for any growable string */

#define CD_MAX_PROGRESS_LINE (64u << 10) /* one JSON line of an engine's pull progress */
#define CD_MAX_HTTP_HEAD (64u << 10)     /* response head of a hijacked engine connection */

#endif
