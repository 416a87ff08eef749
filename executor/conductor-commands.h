/* Subcommands of `conductor`, one file each (executor/cmd-<name>.c). argv[0] is the name. */
#ifndef CD_EXECUTOR_CONDUCTOR_COMMANDS_H
#define CD_EXECUTOR_CONDUCTOR_COMMANDS_H

/* weak until every subcommand file is in place; the dispatcher reports a missing one. */
int cd_cmd_doctor(int argc, char **argv) __attribute__((weak));
int cd_cmd_gc(int argc, char **argv) __attribute__((weak));
int cd_cmd_publish(int argc, char **argv) __attribute__((weak));

#endif
