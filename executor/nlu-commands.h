/* Subcommands of conductor-nlu, one file each (executor/nlu-<name>.c). argv[0] is the
 * subcommand name. Exit codes: 0 ok, 1 the check/gate failed (invalid data, score below
 * --fail-under), 2 usage or I/O error. */
#ifndef CD_EXECUTOR_NLU_COMMANDS_H
#define CD_EXECUTOR_NLU_COMMANDS_H

/* weak until every subcommand file is in place; the dispatcher reports a missing one. */
int cd_nlu_cmd_validate(int argc, char **argv) __attribute__((weak));
int cd_nlu_cmd_train(int argc, char **argv) __attribute__((weak));
int cd_nlu_cmd_parse(int argc, char **argv) __attribute__((weak));
int cd_nlu_cmd_test(int argc, char **argv) __attribute__((weak));

#endif
