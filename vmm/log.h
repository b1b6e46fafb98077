/* Error and trace messages: one line each, prefixed "vmm: ". */
#ifndef VMM_LOG_H
#define VMM_LOG_H

#include <stdbool.h>

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* log_error, then 1: for commands that end on the error (return log_fail(...)). */
int log_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Verbose tracing (--trace): off unless enabled. */
extern bool log_trace_enabled;
void log_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
