/* dashboard: every tick, print the events a source sent since the last one
 * (the manual-statemachine way: one loop, one thread, two activities
 * driven by libuv callbacks).
 *
 * The two activities share one struct: the source connection, whose
 * `state` the callbacks switch on, and the ticker, a one-shot timer that
 * is started again, by hand, for each tick's due time. Neither waits for
 * the other: while no event comes, the loop sleeps until the timer; while
 * events flood in, libuv hands us one buffer per read callback, and the
 * loop runs the timer between callbacks. Notice that "bounded slices"
 * costs nothing here: it is how the loop works anyway. What we must add by
 * hand is a bound on what piles up between two ticks (DB-3).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <uv.h>

#include "addr.h"
#include "batch.h"
#include "cli.h"
#include "clock.h"
#include "line.h"
#include "proc.h"
#include "report.h"
#include "trace.h"

/* The command line (common/cli.h); set once in main(), then only read. */
static struct dashboard_cli cli;

enum dash_state {
    DASH_CONNECTING, /* uv_tcp_connect is pending; ticks already run */
    DASH_READING,    /* reading events; each tick writes what came */
    DASH_FULL,       /* the batch is full (batch_full(), common/batch.h:
                        a flood costs bounded memory): reading is
                        stopped until the next tick has written it */
    DASH_ENDED,      /* the source ended or failed: the last batch is
                        written and the handles are closing */
};

/* Everything that must survive from one callback to the next. */
struct dash {
    enum dash_state state;
    uv_tcp_t tcp;              /* the source */
    uv_timer_t ticker;         /* one-shot, started again for each tick */
    uv_connect_t connect_req;  /* must stay valid until on_connect runs */
    struct line_framer framer; /* bytes read, cut into events */
    struct batch_sched sched;  /* which tick is next, and when */
    struct batch batch;        /* the events gathered for the next tick */
    int open_handles;          /* handles whose close callback is due */
    int *exit_status;          /* main's variable: the result goes there */
};

/* BEGIN SOLUTION */
/* The last close callback frees the struct, never earlier: until a
 * handle's close callback has run, libuv still holds a pointer to it
 * (both handles live inside *d) and may still call its callbacks. */
static void dash_on_closed(uv_handle_t *handle)
{
    struct dash *d = handle->data;

    if (--d->open_handles > 0)
        return;
    line_framer_free(&d->framer);
    batch_free(&d->batch);
    free(d);
}

/* Closes both handles; the exit status is `status`. Closing the socket
 * cancels a pending connect (its callback then finds DASH_ENDED). */
static void dash_close(struct dash *d, int status)
{
    d->state = DASH_ENDED;
    *d->exit_status = status;
    uv_close((uv_handle_t *)&d->tcp, dash_on_closed);
    uv_close((uv_handle_t *)&d->ticker, dash_on_closed);
}

/* The source ended (err == 0) or failed: the last batch, marked final,
 * when there was a connection (DB-6); then the error; then close. */
static void dash_end(struct dash *d, int err)
{
    int rc = 0;

    if (d->state != DASH_CONNECTING)
        rc = batch_write(&d->batch, batch_sched_final(&d->sched), true);
    if (err < 0) {
        trace_event("error %s", report_strerror(err));
        report_error("%s", report_strerror(err));
    } else if (rc < 0) {
        err = rc;
        report_error("cannot write a batch: %s", report_strerror(rc));
    }
    dash_close(d, err == 0 ? EXIT_DONE : EXIT_ERROR);
}

static void dash_on_tick(uv_timer_t *timer);
static void dash_on_alloc(uv_handle_t *handle, size_t hint, uv_buf_t *out);
static void dash_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b);

/* Starts the one-shot timer for the next tick, due at start + K * tick_ms
 * on the monotonic clock (common/batch.h). The delay is worked out from
 * that absolute due time, so the schedule never drifts, however late the
 * last tick was written. */
static void dash_arm_ticker(struct dash *d)
{
    int64_t due;

    batch_sched_next(&d->sched, clock_now_ms(), &due);

    /* libuv's timers count from the loop's cached "now": refresh it. */
    uv_update_time(d->ticker.loop);
    uv_timer_start(&d->ticker, dash_on_tick, (uint64_t)clock_ms_left(due), 0);
}

static void dash_start_reading(struct dash *d)
{
    int rc = uv_read_start((uv_stream_t *)&d->tcp, dash_on_alloc, dash_on_read);

    if (rc < 0) {
        dash_end(d, rc);
        return;
    }
    d->state = DASH_READING;
}

/* lesson:sm-dashboard-tick */
/* A tick. Which one is the schedule's to say, from the clock: if the loop
 * was held up for a whole period or more, the ticks it missed are
 * skipped, and the most recent one that fell due is written now. */
static void dash_on_tick(uv_timer_t *timer)
{
    struct dash *d = timer->data;
    int64_t now = clock_now_ms(), due;
    int64_t tick = batch_sched_next(&d->sched, now, &due);
    int rc;

    switch (d->state) {
    case DASH_CONNECTING:
    case DASH_READING:
    case DASH_FULL:
        if (now < due) {
            /* libuv's clock is a little coarser than ours: we woke up a
             * hair early. A batch is never early; sleep the rest. */
            dash_arm_ticker(d);
            return;
        }
        rc = batch_write(&d->batch, tick, false);
        if (rc < 0) {
            report_error("cannot write a batch: %s", report_strerror(rc));
            dash_close(d, EXIT_ERROR);
            return;
        }
        batch_sched_done(&d->sched, tick);
        dash_arm_ticker(d);
        if (d->state == DASH_FULL) {
            trace_event("resumed");
            dash_start_reading(d); /* the batch is empty again */
        }
        break;
    case DASH_ENDED:
        /* Cannot happen: ending closes the timer, and a closed timer
         * never fires. */
        break;
    }
}
/* end */

static void dash_on_alloc(uv_handle_t *handle, size_t hint, uv_buf_t *out)
{
    struct dash *d = handle->data;
    size_t room;

    (void)hint;
    /* libuv reads straight into the framer's free space: one read
     * callback handles at most that much, a bounded slice. */
    out->base = line_framer_space(&d->framer, &room);
    out->len = room;
}

/* Moves the complete lines from the framer into the pending batch.
 * Returns 0, -EMSGSIZE (a line too long) or -ENOMEM. */
static int dash_take_events(struct dash *d)
{
    const char *line;
    size_t len;
    int rc;
    /* Asked once per read, not once per event: under a flood every
     * instruction per event counts. */
    bool tracing = trace_enabled();

    while ((rc = line_framer_next(&d->framer, &line, &len)) == 1) {
        if (tracing)
            trace_bytes("event", line, len);
        if (batch_add(&d->batch, line, len) < 0)
            return -ENOMEM;
    }
    return rc;
}

/* libuv also reports UV_EOF when the source reset the connection right
 * behind its last bytes: it sees the hang-up before it would read the
 * error. The socket still holds that error; ask for it, so a reset is not
 * taken for an orderly end (DB-6). Returns 0 or a negative errno. */
static int dash_pending_error(struct dash *d)
{
    uv_os_fd_t fd;
    int err = 0;
    socklen_t len = sizeof(err);

    if (uv_fileno((uv_handle_t *)&d->tcp, &fd) < 0 ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return 0;
    return -err;
}

static void dash_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b)
{
    struct dash *d = stream->data;
    int rc;

    (void)b; /* the bytes are already in the framer */
    switch (d->state) {
    case DASH_READING:
        if (nread == UV_EOF) {
            /* A partial line before the end is not an event (COM-6). */
            trace_event("closed%s",
                        line_framer_pending(&d->framer) > 0 ? " mid-line" : "");
            dash_end(d, dash_pending_error(d));
        } else if (nread < 0) {
            dash_end(d, (int)nread); /* a reset, most likely */
        } else if (nread > 0) {
            trace_event("read %zd", nread);
            line_framer_commit(&d->framer, (size_t)nread);
            rc = dash_take_events(d);
            if (rc < 0) {
                dash_end(d, rc);
            } else if (batch_full(&d->batch)) {
                trace_event("paused until the next tick");
                uv_read_stop(stream);
                d->state = DASH_FULL;
            }
        }
        /* nread == 0: nothing to read after all (EAGAIN); wait. */
        break;
    case DASH_CONNECTING:
    case DASH_FULL:
    case DASH_ENDED:
        /* Cannot happen: reading runs only in DASH_READING. */
        break;
    }
}

static void dash_on_connect(uv_connect_t *req, int status)
{
    struct dash *d = req->data;

    switch (d->state) {
    case DASH_CONNECTING:
        if (status < 0) {
            dash_end(d, status); /* refused...: no batch, just the error */
            break;
        }
        trace_event("connected");
        dash_start_reading(d);
        break;
    case DASH_ENDED:
        /* Closed while connecting (UV_ECANCELED): nothing to do. */
        break;
    case DASH_READING:
    case DASH_FULL:
        /* Cannot happen: a connect is pending only in DASH_CONNECTING. */
        break;
    }
}

/* Creates the dashboard and starts both activities: the connect and the
 * ticker. Returns 0 (the result arrives in *exit_status once the loop
 * has run) or -ENOMEM (nothing was started). */
static int dash_start(uv_loop_t *loop, int *exit_status)
{
    struct dash *d = calloc(1, sizeof(*d));
    char shown[ADDR_TEXT_MAX];
    int rc;

    if (d == NULL || line_framer_init(&d->framer, LINE_MAX_BYTES) < 0) {
        free(d);
        return -ENOMEM;
    }
    d->exit_status = exit_status;
    uv_tcp_init(loop, &d->tcp);
    uv_timer_init(loop, &d->ticker);
    d->tcp.data = d->ticker.data = d->connect_req.data = d;
    d->open_handles = 2;
    d->state = DASH_CONNECTING;
    batch_sched_init(&d->sched, clock_start_us(), cli.tick_ms);
    dash_arm_ticker(d);

    trace_event("connecting %s",
                addr_format((const struct sockaddr *)&cli.source.ss, shown,
                            sizeof(shown)));
    rc = uv_tcp_connect(&d->connect_req, &d->tcp,
                        (const struct sockaddr *)&cli.source.ss,
                        dash_on_connect);
    if (rc < 0)
        dash_end(d, rc);
    return 0;
}
/* STUB
// TODO: creates the dashboard and starts the connect and the ticker; the
// callbacks store the exit status in *exit_status at the end and close
// every handle. Returns 0, or -ENOMEM when nothing was started.
static int dash_start(uv_loop_t *loop, int *exit_status)
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
    if (!cli_dashboard(argc, argv, &cli, &status))
        return status;
    uv_loop_init(&loop);
    if (dash_start(&loop, &status) < 0) {
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
