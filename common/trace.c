/* trace: the --trace event log. */
#include "trace.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "json.h"

/* Longest event line; a longer one is cut, but still ends with '\n'. */
enum { TRACE_LINE_MAX = 1024 };

/* How many bytes trace_bytes() shows before it cuts. */
enum { TRACE_BYTES_SHOWN = 60 };

/* Set by trace_enable() from main() (after option parsing), before any
 * thread exists; only read afterwards. */
static bool enabled;

void trace_enable(bool on)
{
    enabled = on;
}

bool trace_enabled(void)
{
    return enabled;
}

/* Writes "MS EVENT\n" with ONE write(2), so lines from several threads
 * never mix. */
static void trace_vwrite(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0)));

static void trace_vwrite(const char *fmt, va_list ap)
{
    char line[TRACE_LINE_MAX];
    double ms = (double)(clock_now_us() - clock_start_us()) / 1000.0;
    size_t len;
    int n;

    n = snprintf(line, sizeof(line), "%8.3f ", ms);
    len = n < 0 ? 0 : (size_t)n;
    n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
    len += n < 0 ? 0 : (size_t)n;
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2; /* cut: keep room for the '\n' */
    line[len++] = '\n';

    for (size_t done = 0; done < len;) {
        ssize_t w = write(STDERR_FILENO, line + done, len - done);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        done += (size_t)w;
    }
}

void trace_event(const char *fmt, ...)
{
    va_list ap;

    if (!enabled)
        return;
    va_start(ap, fmt);
    trace_vwrite(fmt, ap);
    va_end(ap);
}

/* Keeps trace_vwrite's va_list interface for trace_bytes(). */
static void trace_write(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void trace_write(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    trace_vwrite(fmt, ap);
    va_end(ap);
}

void trace_bytes(const char *event, const char *bytes, size_t len)
{
    struct buf shown = BUF_INIT;
    size_t cut = len > TRACE_BYTES_SHOWN ? TRACE_BYTES_SHOWN : len;

    if (!enabled)
        return;
    /* JSON escaping turns '\n' and NUL into visible text: one event stays
     * one line whatever the bytes are. */
    if (json_append_string(&shown, bytes, cut) < 0 || buf_cstr(&shown) == NULL)
        trace_write("%s (out of memory)", event);
    else
        trace_write("%s %s%s", event, shown.data, cut < len ? "..." : "");
    buf_free(&shown);
}
