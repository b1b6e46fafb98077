/* Error and trace messages: one line each on stderr, prefixed "vmm: ". */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

bool log_trace_enabled;

static void emit(const char *kind, const char *fmt, va_list ap)
{
    /* One write per line so lines from several threads do not interleave. */
    char line[1024];
    int n = snprintf(line, sizeof(line), "vmm: %s", kind);
    if (n < 0 || (size_t)n >= sizeof(line))
        n = 0;
    int m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    size_t len = (m < 0) ? (size_t)n : (size_t)n + (size_t)m;
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    fwrite(line, 1, len, stderr);
    fflush(stderr);
}

#define DEFINE_LOG(fn, kind)                 \
    void fn(const char *fmt, ...)            \
    {                                        \
        va_list ap;                          \
        va_start(ap, fmt);                   \
        emit(kind, fmt, ap);                 \
        va_end(ap);                          \
    }

DEFINE_LOG(log_error, "error: ")
DEFINE_LOG(log_warn, "warning: ")
DEFINE_LOG(log_info, "")

void log_trace(const char *fmt, ...)
{
    if (!log_trace_enabled)
        return;
    va_list ap;
    va_start(ap, fmt);
    emit("trace: ", fmt, ap);
    va_end(ap);
}

int log_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit("error: ", fmt, ap);
    va_end(ap);
    return 1;
}
