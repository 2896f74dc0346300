/* fetch-line: connect, optionally send a line, read one line back, all
 * within ONE deadline (the blocking-threads way: per-call socket timeouts).
 *
 * A single thread makes blocking calls, one after the other. Blocking calls
 * have no deadline of their own, so before each one we tell the kernel how
 * long it may block: the time left until the deadline, computed again
 * every time. A student should notice that the deadline is computed once,
 * and that "time left" is always derived from it, never stored: giving
 * each read the full timeout would let a peer that trickles one byte at a
 * time keep us waiting for ever.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "bsock.h"
#include "buf.h"
#include "cli.h"
#include "clock.h"
#include "line.h"
#include "output.h"
#include "proc.h"
#include "report.h"
#include "trace.h"

/* The command line (common/cli.h); set once in main(), then only read. */
static struct fetch_line_cli cli;

/* BEGIN SOLUTION */
/* Sends send_text and its '\n' in one go. Returns 0 or a negative errno. */
static int send_line(int fd, int64_t deadline)
{
    struct buf out = BUF_INIT;
    int rc = buf_puts(&out, cli.send_text);

    if (rc == 0)
        rc = buf_putc(&out, '\n');
    if (rc == 0)
        rc = bsock_send_all(fd, out.data, out.len, deadline);
    if (rc == 0)
        trace_event("sent %zu", out.len);
    buf_free(&out);
    return rc;
}

/* lesson:fetch-line-deadline */
/* The whole operation on the socket fd. Returns 1 with the line in *line
 * and *len (borrowed from fr), 0 when the peer closed before a '\n', or a
 * negative errno. */
static int fetch(int fd, struct line_framer *fr, const char **line, size_t *len)
{
    /* Computed ONCE: connect, send and every read share it. */
    int64_t deadline = clock_deadline_in(cli.timeout_ms);
    char shown[ADDR_TEXT_MAX];
    int rc;

    trace_event("deadline %lld ms", (long long)cli.timeout_ms);
    trace_event("connecting %s",
                addr_format((const struct sockaddr *)&cli.peer.ss, shown,
                            sizeof(shown)));
    rc = bsock_connect(fd, &cli.peer, deadline);
    if (rc < 0)
        return rc;
    trace_event("connected");
    if (cli.send_text != NULL) {
        rc = send_line(fd, deadline);
        if (rc < 0)
            return rc;
    }
    return bsock_read_line(fd, fr, deadline, NULL, line, len);
}
/* end */
/* STUB
// TODO: the whole operation on the socket fd (connect, send the line if
// any, read one line back), all within ONE deadline. Returns 1 with the
// line in *line and *len (borrowed from fr), 0 when the peer closed
// before a '\n', or a negative errno (-ETIMEDOUT when time ran out).
static int fetch(int fd, struct line_framer *fr, const char **line, size_t *len)
{
    (void)fd;
    (void)fr;
    (void)line;
    (void)len;
    return -ENOSYS;
}
END SOLUTION */

/* Says why fetch() failed, on stderr, and returns the exit status. */
static int report_failure(int rc)
{
    if (rc == -ETIMEDOUT) {
        trace_event("timed-out");
        report_timeout(cli.timeout_ms);
        return EXIT_TIMEOUT;
    }
    if (rc == 0) {
        trace_event("error closed before a newline");
        report_error("peer closed the connection before a newline");
    } else {
        trace_event("error %s", report_strerror(rc));
        report_error("%s", report_strerror(rc));
    }
    return EXIT_ERROR;
}

int main(int argc, char **argv)
{
    struct line_framer fr;
    const char *line;
    size_t len;
    int status, rc, fd;

    proc_setup();
    if (!cli_fetch_line("fetch-line", argc, argv, &cli, &status))
        return status;
    if (line_framer_init(&fr, LINE_MAX_BYTES) < 0) {
        report_error("out of memory");
        return EXIT_ERROR;
    }
    fd = bsock_socket(&cli.peer);
    if (fd < 0) {
        line_framer_free(&fr);
        report_error("socket: %s", report_strerror(fd));
        return EXIT_ERROR;
    }
    rc = fetch(fd, &fr, &line, &len);
    if (rc == 1) {
        trace_bytes("line", line, len);
        rc = output_line(line, len);
        status = rc < 0 ? EXIT_ERROR : EXIT_DONE;
        if (rc < 0)
            report_error("stdout: %s", report_strerror(rc));
    } else {
        status = report_failure(rc);
    }
    /* Closing the socket is what tells the peer we are gone (FL-2). */
    close(fd);
    trace_event("closed");
    line_framer_free(&fr);
    return status;
}
