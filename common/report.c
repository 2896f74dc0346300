/* report: the kit's exit statuses and its one-line messages. */
#include "report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Longest message; a longer one is cut, but still ends with '\n'. */
enum { REPORT_LINE_MAX = 1024 };

/* Set once by report_init() from main(), before any thread exists. */
static const char *program = "kit";

void report_init(const char *name)
{
    program = name;
}

const char *report_program(void)
{
    return program;
}

/* Writes "PROGRAM: " prefix, then fmt, then '\n', as ONE write(2): two
 * threads reporting at once then give two whole lines, never a mix. */
static void report_vwrite(const char *prefix, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void report_vwrite(const char *prefix, const char *fmt, va_list ap)
{
    char line[REPORT_LINE_MAX];
    size_t len;
    int n;

    n = snprintf(line, sizeof(line), "%s: %s", program, prefix);
    len = n < 0 ? 0 : (size_t)n;
    if (len < sizeof(line) - 1) {
        n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
        len += n < 0 ? 0 : (size_t)n;
    }
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2; /* cut: keep room for the '\n' */
    line[len++] = '\n';

    for (size_t done = 0; done < len;) {
        ssize_t w = write(STDERR_FILENO, line + done, len - done);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* stderr is gone: nowhere left to complain */
        done += (size_t)w;
    }
}

void report_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    report_vwrite("error: ", fmt, ap);
    va_end(ap);
}

/* Keeps report_vwrite's va_list interface for a message without one. */
static void report_write(const char *prefix, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void report_write(const char *prefix, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    report_vwrite(prefix, fmt, ap);
    va_end(ap);
}

void report_timeout(int64_t timeout_ms)
{
    report_write("", "timed out after %" PRId64 " ms", timeout_ms);
}

void report_note(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    report_vwrite("", fmt, ap);
    va_end(ap);
}

const char *report_strerror(int negative_errno)
{
    switch (-negative_errno) {
    case EMSGSIZE:
        return "line too long";
    case ETIMEDOUT:
        return "timed out";
    case ECONNREFUSED:
        return "connection refused";
    case ECONNRESET:
        return "connection reset by peer";
    default:
        /* glibc's strerror() returns a constant string for every known
         * errno, so this is safe from several threads. */
        return strerror(-negative_errno);
    }
}
