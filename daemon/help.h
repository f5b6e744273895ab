/*
 * help.h - the texts of HELP and HELP COMMAND (PROTOCOL.md 6.13).
 */
#ifndef CPQD_HELP_H
#define CPQD_HELP_H

#include <stddef.h>

/* The one-line summaries of every command, NULL-terminated. */
const char *const *cpqd_help_summary(void);

/* The lines describing command cmd (CPQ_CMD_*), NULL-terminated, or NULL
 * when cmd is not a command. */
const char *const *cpqd_help_command(int cmd);

#endif
