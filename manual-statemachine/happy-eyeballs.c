/* happy-eyeballs: race connects to several addresses of one service, keep
 * the first that connects, cancel the others, then fetch a line from the
 * winner (the manual-statemachine way: libuv callbacks, explicit states).
 *
 * Nothing blocks, so racing is cheap: an attempt is a handle with a
 * pending connect, and starting one more costs a struct, not a thread.
 * What takes care is keeping every piece consistent by hand:
 *   - each attempt has its own state, and every callback looks at it
 *     first: a connect callback can still arrive for an attempt we
 *     cancelled (with UV_ECANCELED), and must then do nothing;
 *   - ONE stagger timer, restarted whenever an attempt starts, says when
 *     the next is due; a failure of the newest attempt starts the next at
 *     once instead; ONE deadline timer covers the race, the send and the
 *     read (HE-5);
 *   - cancelling a loser is closing its handle: the pending connect ends
 *     with it, and the kernel never completes it later (HE-2);
 *   - memory is freed only in the last close callback, when libuv holds
 *     no pointer into it any more.
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
static struct happy_eyeballs_cli cli;

/* lesson:sm-he-states */
enum attempt_state {
    ATTEMPT_IDLE,       /* not started: its handle does not exist yet */
    ATTEMPT_CONNECTING, /* uv_tcp_connect is pending */
    ATTEMPT_FAILED,     /* the connect failed; the handle is closing */
    ATTEMPT_WON,        /* connected first: the run goes on with it */
    ATTEMPT_CANCELLED,  /* closed while connecting (another attempt won,
                           or the run ended); the handle is closing, and
                           the connect callback, still due, does nothing */
};

enum race_state {
    RACE_RACING,    /* attempts are connecting; none has won yet */
    RACE_SENDING,   /* uv_write of "TEXT\n" to the winner is pending */
    RACE_READING,   /* reading the winner's first line */
    RACE_DONE,      /* the line was printed; the handles are closing */
    RACE_TIMED_OUT, /* the deadline passed first; the handles are closing */
    RACE_FAILED,    /* an error was reported; the handles are closing */
};

struct race;

/* One connect attempt. Lives inside struct race. */
struct attempt {
    enum attempt_state state;
    int number;               /* 1, 2 ... in --connect order */
    const struct addr *peer;  /* borrowed from cli */
    struct race *race;        /* the race it belongs to */
    uv_tcp_t tcp;             /* initialised when the attempt starts */
    uv_connect_t connect_req; /* must stay valid until on_connect runs */
};

/* Everything that must survive from one callback to the next. */
struct race {
    enum race_state state;
    struct attempt attempts[CLI_MAX_ATTEMPTS];
    size_t started;            /* attempts started so far, in order */
    size_t failed;             /* attempts whose connect failed */
    int last_error;            /* the latest failure, for HE-4 */
    struct attempt *winner;    /* set when an attempt wins */
    uv_timer_t stagger;        /* fires when the next attempt is due */
    uv_timer_t deadline;       /* fires once, when the budget is spent */
    uv_write_t write_req;      /* must stay valid until on_sent runs */
    struct buf request;        /* "TEXT\n", empty without --send */
    struct line_framer framer; /* the winner's bytes so far */
    int open_handles;          /* handles whose close callback is due */
    int *exit_status;          /* main's variable: the result goes there */
};
/* end */

/* BEGIN SOLUTION */
/* lesson:sm-he-close */
/* The last close callback frees the race, and nothing earlier may: every
 * handle lives inside it, and libuv holds a pointer to a handle until
 * that handle's close callback has run. */
static void race_handle_closed(struct race *r)
{
    if (--r->open_handles > 0)
        return;
    trace_event("closed");
    buf_free(&r->request);
    line_framer_free(&r->framer);
    free(r);
}
/* end */

/* Close callbacks: a timer's data is the race, a socket's its attempt. */
static void race_on_timer_closed(uv_handle_t *handle)
{
    race_handle_closed(handle->data);
}

static void attempt_on_closed(uv_handle_t *handle)
{
    race_handle_closed(((struct attempt *)handle->data)->race);
}

static void attempt_close(struct attempt *a)
{
    uv_close((uv_handle_t *)&a->tcp, attempt_on_closed);
}

/* Closes an attempt that is still connecting: the pending connect is
 * cancelled with the handle (its callback comes with UV_ECANCELED). */
static void attempt_cancel(struct attempt *a)
{
    a->state = ATTEMPT_CANCELLED;
    attempt_close(a);
    trace_event("cancelled %d", a->number);
}

/* lesson:sm-he-end */
/* Every end goes through here: set the final state, record the exit
 * status, close every handle still open. Closing a socket cancels
 * whatever was pending on it; the peers see the close at once (HE-6). */
static void race_end(struct race *r, enum race_state end, int status)
{
    size_t i;

    r->state = end;
    *r->exit_status = status;
    for (i = 0; i < r->started; i++) {
        struct attempt *a = &r->attempts[i];

        if (a->state == ATTEMPT_CONNECTING)
            attempt_cancel(a);
        else if (a->state == ATTEMPT_WON)
            attempt_close(a);
    }
    uv_close((uv_handle_t *)&r->stagger, race_on_timer_closed);
    uv_close((uv_handle_t *)&r->deadline, race_on_timer_closed);
}
/* end */

static void race_fail(struct race *r, int err)
{
    trace_event("error %s", report_strerror(err));
    report_error("%s", report_strerror(err));
    race_end(r, RACE_FAILED, EXIT_ERROR);
}

static void race_on_deadline(uv_timer_t *timer)
{
    struct race *r = timer->data;

    switch (r->state) {
    case RACE_RACING:
    case RACE_SENDING:
    case RACE_READING:
        trace_event("timed-out");
        report_timeout(cli.timeout_ms);
        race_end(r, RACE_TIMED_OUT, EXIT_TIMEOUT);
        break;
    case RACE_DONE:
    case RACE_TIMED_OUT:
    case RACE_FAILED:
        /* Cannot happen: every end closes the timer. */
        break;
    }
}

/* --- the winner: send the request, read one line ------------------------ */

static void race_on_alloc(uv_handle_t *handle, size_t hint, uv_buf_t *out)
{
    struct attempt *a = handle->data;
    size_t room;

    (void)hint;
    out->base = line_framer_space(&a->race->framer, &room);
    out->len = room;
}

/* Prints the line and ends, or waits for more bytes. */
static void race_scan(struct race *r)
{
    const char *line;
    size_t len;
    int rc = line_framer_next(&r->framer, &line, &len);

    if (rc == 0)
        return; /* no '\n' yet: stay in RACE_READING */
    if (rc < 0) {
        race_fail(r, rc); /* -EMSGSIZE: line too long */
        return;
    }
    trace_bytes("line", line, len);
    rc = output_line(line, len);
    if (rc < 0) {
        report_error("stdout: %s", report_strerror(rc));
        race_end(r, RACE_FAILED, EXIT_ERROR);
        return;
    }
    race_end(r, RACE_DONE, EXIT_DONE);
}

/* The winner failing is the end: there is no falling back to another
 * address after a win (HE-3). */
static void race_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b)
{
    struct race *r = ((struct attempt *)stream->data)->race;

    (void)b; /* the bytes are already in the framer */
    if (r->state != RACE_READING)
        return; /* cannot happen: closing the socket stops reading */
    if (nread > 0) {
        trace_event("read %zd", nread);
        line_framer_commit(&r->framer, (size_t)nread);
        race_scan(r);
    } else if (nread == UV_EOF) {
        trace_event("error closed before a newline");
        report_error("peer closed the connection before a newline");
        race_end(r, RACE_FAILED, EXIT_ERROR);
    } else if (nread < 0) {
        race_fail(r, (int)nread);
    }
}

static void race_start_reading(struct race *r)
{
    int rc = uv_read_start((uv_stream_t *)&r->winner->tcp, race_on_alloc,
                           race_on_read);

    if (rc < 0) {
        race_fail(r, rc);
        return;
    }
    r->state = RACE_READING;
}

static void race_on_sent(uv_write_t *req, int status)
{
    struct race *r = req->data;

    switch (r->state) {
    case RACE_SENDING:
        if (status < 0) {
            race_fail(r, status);
            break;
        }
        trace_event("sent %zu", r->request.len);
        race_start_reading(r);
        break;
    case RACE_TIMED_OUT:
    case RACE_FAILED:
        /* Closed while the write was pending (UV_ECANCELED). */
        break;
    case RACE_RACING:
    case RACE_READING:
    case RACE_DONE:
        /* Cannot happen: a write is pending only in RACE_SENDING. */
        break;
    }
}

static void race_start_sending(struct race *r)
{
    uv_buf_t b = uv_buf_init(r->request.data, (unsigned)r->request.len);
    int rc = uv_write(&r->write_req, (uv_stream_t *)&r->winner->tcp, &b, 1,
                      race_on_sent);

    if (rc < 0) {
        race_fail(r, rc);
        return;
    }
    r->state = RACE_SENDING;
}

/* --- the race ------------------------------------------------------------- */

static void race_start_next(struct race *r);
static void race_on_stagger(uv_timer_t *timer);

/* lesson:sm-he-win */
/* Attempt a connected first. Every other attempt still connecting is
 * cancelled now, and the stagger timer stopped, so nothing new starts
 * (HE-2). A loser whose connect had already completed in the kernel is
 * closed the same way, before a byte was sent. */
static void race_win(struct race *r, struct attempt *a)
{
    size_t i;

    a->state = ATTEMPT_WON;
    r->winner = a;
    trace_event("won %d", a->number);
    uv_timer_stop(&r->stagger);
    for (i = 0; i < r->started; i++) {
        if (r->attempts[i].state == ATTEMPT_CONNECTING)
            attempt_cancel(&r->attempts[i]);
    }
    if (r->request.len > 0)
        race_start_sending(r);
    else
        race_start_reading(r);
}
/* end */

/* lesson:sm-he-fail */
/* Attempt a's connect failed with err. When every attempt has failed, the
 * run ends at once (HE-4); when the newest one failed, the next starts at
 * once instead of at the stagger timer (HE-1). */
static void attempt_fail(struct attempt *a, int err)
{
    struct race *r = a->race;

    a->state = ATTEMPT_FAILED;
    attempt_close(a);
    trace_event("attempt-failed %d %s", a->number, report_strerror(err));
    r->failed++;
    r->last_error = err;
    if (r->failed == cli.count) {
        trace_event("error all attempts failed");
        report_error("all %zu attempts failed (%s)", cli.count,
                     report_strerror(err));
        race_end(r, RACE_FAILED, EXIT_ERROR);
    } else if (a == &r->attempts[r->started - 1] && r->started < cli.count) {
        race_start_next(r);
    }
}
/* end */

static void attempt_on_connect(uv_connect_t *req, int status)
{
    struct attempt *a = req->data;

    switch (a->state) {
    case ATTEMPT_CONNECTING:
        if (status < 0) {
            attempt_fail(a, status); /* refused, unreachable ... */
            break;
        }
        trace_event("connected %d", a->number);
        race_win(a->race, a);
        break;
    case ATTEMPT_CANCELLED:
        /* Closed while connecting (UV_ECANCELED): nothing to do. */
        break;
    case ATTEMPT_IDLE:
    case ATTEMPT_FAILED:
    case ATTEMPT_WON:
        /* Cannot happen: a connect is pending only in CONNECTING. */
        break;
    }
}

/* lesson:sm-he-start */
/* Starts the next attempt, and restarts the one stagger timer: the one
 * after it is due cli.stagger_ms from now, unless this one fails first. */
static void race_start_next(struct race *r)
{
    struct attempt *a = &r->attempts[r->started++];
    char shown[ADDR_TEXT_MAX];
    int rc;

    trace_event("attempt-start %d %s", a->number,
                addr_format((const struct sockaddr *)&a->peer->ss, shown,
                            sizeof(shown)));
    uv_tcp_init(r->stagger.loop, &a->tcp);
    a->tcp.data = a->connect_req.data = a;
    r->open_handles++;
    a->state = ATTEMPT_CONNECTING;
    if (r->started < cli.count)
        uv_timer_start(&r->stagger, race_on_stagger, (uint64_t)cli.stagger_ms,
                       0);
    rc = uv_tcp_connect(&a->connect_req, &a->tcp,
                        (const struct sockaddr *)&a->peer->ss,
                        attempt_on_connect);
    if (rc < 0)
        attempt_fail(a, rc); /* e.g. EMFILE: no socket could be made */
}
/* end */

/* The stagger ran out with no win and no failure of the newest attempt:
 * the next one starts. */
static void race_on_stagger(uv_timer_t *timer)
{
    struct race *r = timer->data;

    if (r->state == RACE_RACING && r->started < cli.count)
        race_start_next(r);
}

/* Creates the race and starts it: the deadline timer and attempt 1.
 * Returns 0 (the result then arrives in *exit_status once the loop has
 * run) or -ENOMEM (nothing was started). */
static int race_start(uv_loop_t *loop, int *exit_status)
{
    struct race *r = calloc(1, sizeof(*r));
    size_t i;

    if (r == NULL || line_framer_init(&r->framer, LINE_MAX_BYTES) < 0 ||
        (cli.send_text != NULL && (buf_puts(&r->request, cli.send_text) < 0 ||
                                   buf_putc(&r->request, '\n') < 0))) {
        if (r != NULL) {
            line_framer_free(&r->framer);
            buf_free(&r->request);
        }
        free(r);
        return -ENOMEM;
    }
    r->exit_status = exit_status;
    r->state = RACE_RACING;
    for (i = 0; i < cli.count; i++) {
        r->attempts[i].state = ATTEMPT_IDLE;
        r->attempts[i].number = (int)i + 1;
        r->attempts[i].peer = &cli.peers[i];
        r->attempts[i].race = r;
    }
    uv_timer_init(loop, &r->stagger);
    uv_timer_init(loop, &r->deadline);
    r->stagger.data = r->deadline.data = r->write_req.data = r;
    r->open_handles = 2;

    /* The one deadline: started here, never restarted. libuv's timers
     * count from the loop's cached "now", so refresh it first. */
    uv_update_time(loop);
    uv_timer_start(&r->deadline, race_on_deadline, (uint64_t)cli.timeout_ms, 0);
    trace_event("deadline %lld ms", (long long)cli.timeout_ms);
    race_start_next(r);
    return 0;
}
/* STUB
// TODO: creates the race and starts it: the deadline timer, the stagger
// timer and attempt 1; the callbacks drive it to its end, which stores the
// exit status in *exit_status and closes every handle. Returns 0, or
// -ENOMEM when nothing was started.
static int race_start(uv_loop_t *loop, int *exit_status)
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
    if (!cli_happy_eyeballs(argc, argv, &cli, &status))
        return status;
    uv_loop_init(&loop);
    if (race_start(&loop, &status) < 0) {
        report_error("out of memory");
        uv_loop_close(&loop);
        return EXIT_ERROR;
    }
    /* Runs until every handle is closed and its close callback has run:
     * only then is it safe to leave. */
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        report_error("a libuv handle was left open");
    return status;
}
