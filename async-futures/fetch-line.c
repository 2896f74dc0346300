/* fetch-line: connect, send a line, read one line back, all within one
 * deadline (the async-futures way: one coroutine, wrapped in a timeout).
 *
 * The operation reads top to bottom like the blocking version: connect,
 * send, read a line, print it. Notice three things:
 *   - the deadline is not in the operation at all: main wraps the whole
 *     coroutine in fut_timeout(), which computes ONE deadline, once, and
 *     covers connect, send and every read together (FL-1);
 *   - cancelling is dropping: when the deadline passes, the timeout drops
 *     the coroutine, which drops whatever step it was waiting on and
 *     closes the socket, synchronously, so the peer sees the close at once
 *     (FL-2) and no callback can touch the operation afterwards;
 *   - no state enum is written by hand: each CO_AWAIT is a resume point,
 *     and the struct holds only what lives across one.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "addr.h"
#include "buf.h"
#include "cli.h"
#include "clock.h"
#include "fut/co.h"
#include "fut/comb.h"
#include "fut/exec.h"
#include "fut/tcp.h"
#include "output.h"
#include "proc.h"
#include "report.h"
#include "trace.h"

/* The command line (common/cli.h); set once in main(), then only read. */
static struct fetch_line_cli cli;

/* The peer closed before a '\n': not an errno, so a result of our own. */
#define FETCH_EOF (-ENODATA)

/* Everything that lives across an await. */
struct fetch {
    struct fut base;
    struct co co;
    uv_loop_t *loop;
    struct fut *op;       /* the step being awaited, or NULL */
    struct fut_tcp *conn; /* NULL until connected */
    struct buf request;   /* "TEXT\n", empty without --send */
    const char *line;     /* the line read, borrowed from conn */
    size_t len;
    int rc;
};

/* BEGIN SOLUTION */
static int print_line(const char *line, size_t len)
{
    trace_bytes("line", line, len);
    return output_line(line, len);
}

/* lesson:af-fetch-line-steps */
static enum fut_poll fetch_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct fetch *s = (struct fetch *)f;

    CO_BEGIN(&s->co);
    s->op = fut_tcp_connect(s->loop, (struct sockaddr *)&cli.peer.ss, &s->conn);
    CO_AWAIT_TAKE(&s->co, ctx, &s->op, s->rc);
    if (s->rc < 0)
        CO_RETURN(&s->co, s, s->rc);
    trace_event("connected");
    if (s->request.len > 0) {
        s->op = fut_tcp_write_all(s->conn, s->request.data, s->request.len);
        CO_AWAIT_TAKE(&s->co, ctx, &s->op, s->rc);
        if (s->rc < 0)
            CO_RETURN(&s->co, s, s->rc);
        trace_event("sent %zu", s->request.len);
    }
    s->op = fut_tcp_read_line(s->conn, &s->line, &s->len);
    CO_AWAIT_TAKE(&s->co, ctx, &s->op, s->rc);
    if (s->rc <= 0)
        CO_RETURN(&s->co, s, s->rc == 0 ? FETCH_EOF : s->rc);
    CO_RETURN(&s->co, s, print_line(s->line, s->len));
    CO_END(&s->co);
}
/* end */

/* Cancelling at any await point is the same: drop the pending step, close
 * the connection (the peer sees it at once), free. */
static void fetch_drop(struct fut *f)
{
    struct fetch *s = (struct fetch *)f;

    fut_clear(&s->op);
    fut_tcp_close(s->conn);
    buf_free(&s->request);
    fut_mem_free(f);
}

static const struct fut_vtable fetch_vt = {"fetch", fetch_poll, fetch_drop};

static struct fut *fetch_new(uv_loop_t *loop)
{
    struct fetch *s = (struct fetch *)fut_alloc(&fetch_vt, sizeof *s);

    if (s == NULL)
        return fut_ready(-ENOMEM);
    s->loop = loop;
    s->request = (struct buf)BUF_INIT;
    if (cli.send_text != NULL && (buf_puts(&s->request, cli.send_text) < 0 ||
                                  buf_putc(&s->request, '\n') < 0)) {
        fetch_drop(&s->base);
        return fut_ready(-ENOMEM);
    }
    return &s->base;
}
/* STUB
// TODO: the operation as a future: connect, send the line if any, read
// one line and print it. Resolves to 0, FETCH_EOF or a negative errno;
// main puts it under the one deadline.
static struct fut *fetch_new(uv_loop_t *loop)
{
    (void)loop;
    return fut_ready(-ENOSYS);
}
END SOLUTION */

/* The exit status for the operation's result, with its one message. */
static int report_result(int rc)
{
    switch (rc) {
    case 0:
        return EXIT_DONE;
    case -ETIMEDOUT:
        trace_event("timed-out");
        report_timeout(cli.timeout_ms);
        return EXIT_TIMEOUT;
    case FETCH_EOF:
        trace_event("error closed before a newline");
        report_error("peer closed the connection before a newline");
        return EXIT_ERROR;
    default:
        trace_event("error %s", report_strerror(rc));
        report_error("%s", report_strerror(rc));
        return EXIT_ERROR;
    }
}

int main(int argc, char **argv)
{
    uv_loop_t loop;
    struct fut_exec *ex;
    char shown[ADDR_TEXT_MAX];
    int status = EXIT_ERROR;
    int rc;

    proc_setup();
    if (!cli_fetch_line("fetch-line", argc, argv, &cli, &status))
        return status;
    uv_loop_init(&loop);
    ex = fut_exec_new(&loop);
    if (ex == NULL) {
        report_error("out of memory");
        return EXIT_ERROR;
    }
    trace_event("deadline %lld ms", (long long)cli.timeout_ms);
    trace_event("connecting %s",
                addr_format((const struct sockaddr *)&cli.peer.ss, shown,
                            sizeof shown));
    /* lesson:af-fetch-line-timeout */
    /* The whole operation, under one deadline computed here, once. */
    rc = fut_exec_block_on(
        ex, fut_timeout(&loop, cli.timeout_ms, fetch_new(&loop)), "fetch-line");
    /* end */
    status = report_result(rc);
    /* Whatever was cancelled has been closed already; the loop only has
     * close callbacks left to run. */
    fut_exec_free(ex);
    uv_run(&loop, UV_RUN_DEFAULT);
    trace_event("closed");
    if (uv_loop_close(&loop) != 0)
        report_error("a libuv handle was left open");
    return status;
}
