/* fetch-line: connect, send a line, read one line back, all within one
 * deadline (the manual-statemachine way: libuv callbacks and an explicit
 * state).
 *
 * Nothing here blocks. The operation is a struct that outlives every
 * callback, with a `state` that says which step is pending; each callback
 * is a transition that first looks at that state. Notice three things:
 *   - the timeout belongs to no single call: ONE timer, started once,
 *     covers connect, send and every read together (FL-1);
 *   - cancelling is closing: when the deadline fires, closing the socket
 *     cancels whatever was pending on it, and libuv then still calls the
 *     pending callback (with UV_ECANCELED), which must see the new state
 *     and do nothing;
 *   - memory is freed only in the last close callback, never before.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#include "addr.h"
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

/* lesson:sm-fetch-line-states */
enum fetch_state {
    FETCH_CONNECTING, /* uv_tcp_connect is pending */
    FETCH_SENDING,    /* uv_write of "TEXT\n" is pending */
    FETCH_READING,    /* reading until the first '\n' */
    FETCH_DONE,       /* the line was printed; the handles are closing */
    FETCH_TIMED_OUT,  /* the deadline passed first; the handles are closing */
    FETCH_FAILED,     /* an error was reported; the handles are closing */
};

/* Everything that must survive from one callback to the next. */
struct fetch {
    enum fetch_state state;
    uv_tcp_t tcp;              /* the connection */
    uv_timer_t deadline;       /* fires once, when the budget is spent */
    uv_connect_t connect_req;  /* must stay valid until on_connect runs */
    uv_write_t write_req;      /* must stay valid until on_sent runs */
    struct buf request;        /* "TEXT\n", empty without --send; libuv
                                  reads it until on_sent runs */
    struct line_framer framer; /* the bytes read so far */
    int open_handles;          /* handles whose close callback is due */
    int *exit_status;          /* main's variable: the result goes there */
};
/* end */

/* BEGIN SOLUTION */
static const char *fetch_state_name(enum fetch_state s)
{
    switch (s) {
    case FETCH_CONNECTING:
        return "connecting";
    case FETCH_SENDING:
        return "sending";
    case FETCH_READING:
        return "reading";
    case FETCH_DONE:
        return "done";
    case FETCH_TIMED_OUT:
        return "timed out";
    case FETCH_FAILED:
        return "failed";
    }
    return "?";
}

/* lesson:sm-fetch-line-close */
/* The last close callback frees the struct, and nothing earlier may.
 * Both handles live inside *f, and until a handle's close callback has
 * run, libuv still holds a pointer to it: it may yet call on_connect or
 * on_sent with UV_ECANCELED, and it unlinks the handle from the loop.
 * Freeing *f in fetch_end() would let libuv touch freed memory. */
static void fetch_on_closed(uv_handle_t *handle)
{
    struct fetch *f = handle->data;

    if (--f->open_handles > 0)
        return;
    trace_event("closed");
    buf_free(&f->request);
    line_framer_free(&f->framer);
    free(f);
}

/* Every end goes through here: set the final state, record the exit
 * status, close both handles. Closing the socket is what cancels a
 * pending connect, write or read. The peer sees it at once (FL-2):
 * uv_close() closes the descriptor before it returns; only the callback
 * waits for the loop's next turn. */
static void fetch_end(struct fetch *f, enum fetch_state end, int status)
{
    f->state = end;
    *f->exit_status = status;
    uv_close((uv_handle_t *)&f->tcp, fetch_on_closed);
    uv_close((uv_handle_t *)&f->deadline, fetch_on_closed);
}
/* end */

static void fetch_fail(struct fetch *f, int err)
{
    trace_event("error %s", report_strerror(err));
    report_error("%s", report_strerror(err));
    fetch_end(f, FETCH_FAILED, EXIT_ERROR);
}

/* lesson:sm-fetch-line-timeout */
/* The deadline fired. Whatever step is pending is cancelled by closing
 * the socket; its callback will still come, with UV_ECANCELED, and will
 * find the state FETCH_TIMED_OUT. */
static void fetch_on_deadline(uv_timer_t *timer)
{
    struct fetch *f = timer->data;

    switch (f->state) {
    case FETCH_CONNECTING:
    case FETCH_SENDING:
    case FETCH_READING:
        trace_event("timed-out while %s", fetch_state_name(f->state));
        report_timeout(cli.timeout_ms);
        fetch_end(f, FETCH_TIMED_OUT, EXIT_TIMEOUT);
        trace_event("cancelled");
        break;
    case FETCH_DONE:
    case FETCH_TIMED_OUT:
    case FETCH_FAILED:
        /* Cannot happen: every end closes the timer, and a closed timer
         * never fires. */
        break;
    }
}
/* end */

static void fetch_on_alloc(uv_handle_t *handle, size_t hint, uv_buf_t *out)
{
    struct fetch *f = handle->data;
    size_t room;

    (void)hint;
    /* libuv reads straight into the framer: no copy, and never more than
     * a line's worth of memory. */
    out->base = line_framer_space(&f->framer, &room);
    out->len = room;
}

/* Prints the line and ends, or waits for more bytes. */
static void fetch_scan(struct fetch *f)
{
    const char *line;
    size_t len;
    int rc = line_framer_next(&f->framer, &line, &len);

    if (rc == 0)
        return; /* no '\n' yet: stay in FETCH_READING */
    if (rc < 0) {
        fetch_fail(f, rc); /* -EMSGSIZE: line too long */
        return;
    }
    trace_bytes("line", line, len);
    rc = output_line(line, len);
    if (rc < 0) {
        report_error("stdout: %s", report_strerror(rc));
        fetch_end(f, FETCH_FAILED, EXIT_ERROR);
        return;
    }
    fetch_end(f, FETCH_DONE, EXIT_DONE);
}

static void fetch_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b)
{
    struct fetch *f = stream->data;

    (void)b; /* the bytes are already in the framer */
    switch (f->state) {
    case FETCH_READING:
        if (nread > 0) {
            trace_event("read %zd", nread);
            line_framer_commit(&f->framer, (size_t)nread);
            fetch_scan(f);
        } else if (nread == UV_EOF) {
            trace_event("error closed before a newline");
            report_error("peer closed the connection before a newline");
            fetch_end(f, FETCH_FAILED, EXIT_ERROR);
        } else if (nread < 0) {
            fetch_fail(f, (int)nread);
        }
        /* nread == 0: nothing to read after all (EAGAIN); wait. */
        break;
    case FETCH_CONNECTING:
    case FETCH_SENDING:
    case FETCH_DONE:
    case FETCH_TIMED_OUT:
    case FETCH_FAILED:
        /* Cannot happen: reading starts in FETCH_READING, and closing
         * the socket stops it. */
        break;
    }
}

static void fetch_start_reading(struct fetch *f)
{
    int rc =
        uv_read_start((uv_stream_t *)&f->tcp, fetch_on_alloc, fetch_on_read);

    if (rc < 0) {
        fetch_fail(f, rc);
        return;
    }
    f->state = FETCH_READING;
}

static void fetch_on_sent(uv_write_t *req, int status)
{
    struct fetch *f = req->data;

    switch (f->state) {
    case FETCH_SENDING:
        if (status < 0) {
            fetch_fail(f, status);
            break;
        }
        trace_event("sent %zu", f->request.len);
        fetch_start_reading(f);
        break;
    case FETCH_TIMED_OUT:
    case FETCH_FAILED:
        /* The socket was closed while the write was pending: libuv
         * reports it cancelled (UV_ECANCELED). Nothing is left to do. */
        break;
    case FETCH_CONNECTING:
    case FETCH_READING:
    case FETCH_DONE:
        /* Cannot happen: a write is pending only in FETCH_SENDING. */
        break;
    }
}

static void fetch_start_sending(struct fetch *f)
{
    uv_buf_t b = uv_buf_init(f->request.data, (unsigned)f->request.len);
    int rc =
        uv_write(&f->write_req, (uv_stream_t *)&f->tcp, &b, 1, fetch_on_sent);

    if (rc < 0) {
        fetch_fail(f, rc);
        return;
    }
    f->state = FETCH_SENDING;
}

/* lesson:sm-fetch-line-connect */
static void fetch_on_connect(uv_connect_t *req, int status)
{
    struct fetch *f = req->data;

    switch (f->state) {
    case FETCH_CONNECTING:
        if (status < 0) {
            fetch_fail(f, status); /* refused, unreachable... */
            break;
        }
        trace_event("connected");
        if (f->request.len > 0)
            fetch_start_sending(f);
        else
            fetch_start_reading(f);
        break;
    case FETCH_TIMED_OUT:
    case FETCH_FAILED:
        /* Closed while connecting (UV_ECANCELED): nothing to do. */
        break;
    case FETCH_SENDING:
    case FETCH_READING:
    case FETCH_DONE:
        /* Cannot happen: a connect is pending only in FETCH_CONNECTING. */
        break;
    }
}
/* end */

/* Creates the operation and starts it: the deadline timer and the
 * connect. Returns 0 (the result then arrives in *exit_status once the
 * loop has run) or -ENOMEM (nothing was started). */
static int fetch_start(uv_loop_t *loop, int *exit_status)
{
    struct fetch *f = calloc(1, sizeof(*f));
    char shown[ADDR_TEXT_MAX];
    int rc;

    if (f == NULL || line_framer_init(&f->framer, LINE_MAX_BYTES) < 0 ||
        (cli.send_text != NULL && (buf_puts(&f->request, cli.send_text) < 0 ||
                                   buf_putc(&f->request, '\n') < 0))) {
        if (f != NULL) {
            line_framer_free(&f->framer);
            buf_free(&f->request);
        }
        free(f);
        return -ENOMEM;
    }
    f->exit_status = exit_status;
    uv_tcp_init(loop, &f->tcp);
    uv_timer_init(loop, &f->deadline);
    f->tcp.data = f->deadline.data = f->connect_req.data = f->write_req.data =
        f;
    f->open_handles = 2;
    f->state = FETCH_CONNECTING;

    /* The one deadline: started here, never restarted. libuv's timers
     * count from the loop's cached "now", so refresh it first. */
    uv_update_time(loop);
    uv_timer_start(&f->deadline, fetch_on_deadline, (uint64_t)cli.timeout_ms,
                   0);
    trace_event("deadline %lld ms", (long long)cli.timeout_ms);

    trace_event("connecting %s",
                addr_format((const struct sockaddr *)&cli.peer.ss, shown,
                            sizeof(shown)));
    rc =
        uv_tcp_connect(&f->connect_req, &f->tcp,
                       (const struct sockaddr *)&cli.peer.ss, fetch_on_connect);
    if (rc < 0)
        fetch_fail(f, rc); /* e.g. EMFILE: no socket could be made */
    return 0;
}
/* STUB
// TODO: creates the operation and starts it (the deadline timer and the
// connect); the callbacks drive it to its end, which stores the exit
// status in *exit_status and closes every handle. Returns 0, or -ENOMEM
// when nothing was started.
static int fetch_start(uv_loop_t *loop, int *exit_status)
{
    (void)loop;
    report_error("not written yet");
    *exit_status = EXIT_ERROR;
    return 0;
}
END SOLUTION */

int main(int argc, char **argv)
{
    uv_loop_t loop;
    int status = EXIT_ERROR;

    proc_setup();
    if (!cli_fetch_line("fetch-line", argc, argv, &cli, &status))
        return status;
    uv_loop_init(&loop);
    if (fetch_start(&loop, &status) < 0) {
        report_error("out of memory");
        uv_loop_close(&loop);
        return EXIT_ERROR;
    }
    /* Runs until both handles are closed and their close callbacks have
     * run: only then is it safe to leave. */
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        report_error("a libuv handle was left open");
    return status;
}
