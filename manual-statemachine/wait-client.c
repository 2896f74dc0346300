/* wait-client: wait for one client, but not for ever (the
 * manual-statemachine way: libuv callbacks and an explicit state).
 *
 * Nothing blocks here, so accept has nothing to be bounded: the loop
 * waits for two things at once, a connection on the listening socket and
 * ONE deadline timer, and whichever callback comes first decides. Notice:
 *   - the state says who won; the loser's callback may still run in the
 *     same turn of the loop and must see that it lost;
 *   - ending is closing: the listening socket is closed as soon as the
 *     wait is over, so a late client is refused, not left in the backlog;
 *   - the program leaves only after every close callback has run.
 * The listening socket is common/lsock.h's, watched with a uv_poll_t and
 * accepted with lsock_accept(), as in the journal's server (server.h says
 * why not uv_listen()).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
#include <uv.h>

#include "addr.h"
#include "cli.h"
#include "clock.h"
#include "lsock.h"
#include "proc.h"
#include "report.h"
#include "trace.h"

/* The command line (common/cli.h); set once in main(), then only read. */
static struct wait_client_cli cli;

/* lesson:wait-client-sm-states */
enum wait_state {
    WAIT_LISTENING, /* waiting for a client and for the deadline */
    WAIT_GREETING,  /* a client came; uv_write of "hello\n" is pending */
    WAIT_DONE,      /* the client was greeted; the handles are closing */
    WAIT_TIMED_OUT, /* the deadline came first; the handles are closing */
    WAIT_FAILED,    /* an error was reported; the handles are closing */
};

/* Everything that must survive from one callback to the next. It lives
 * in main()'s frame, which outlives the loop. */
struct wait {
    enum wait_state state;
    struct lsock listener;    /* the listening socket (common/lsock.h) */
    uv_poll_t poll;           /* readable: a client is waiting */
    uv_tcp_t client;          /* the client, once accepted */
    uv_timer_t deadline;      /* fires once, when the wait is over */
    uv_write_t write_req;     /* must stay valid until wait_on_greeted */
    char peer[ADDR_TEXT_MAX]; /* the client's HOST:PORT */
    int exit_status;
};
/* end */

/* BEGIN SOLUTION */
/* What a client that came in time gets, before it is closed. */
static char greeting[] = "hello\n";

static void wait_on_closed(uv_handle_t *handle)
{
    (void)handle; /* nothing to free: every handle lives in struct wait */
}

/* Stops waiting: closes the listening socket and the timer. Closing the
 * socket is what makes a late connect be refused. */
static void wait_stop_listening(struct wait *w)
{
    uv_close((uv_handle_t *)&w->poll, wait_on_closed);
    /* uv_close() has stopped watching the socket, so it may be closed at
     * once (libuv's documentation says so). */
    lsock_close(&w->listener);
    uv_close((uv_handle_t *)&w->deadline, wait_on_closed);
}

static void wait_fail(struct wait *w, const char *what, int err)
{
    trace_event("error %s", report_strerror(err));
    report_error("%s: %s", what, report_strerror(err));
    w->state = WAIT_FAILED;
    w->exit_status = EXIT_ERROR;
}

/* lesson:wait-client-sm-deadline */
static void wait_on_deadline(uv_timer_t *timer)
{
    struct wait *w = timer->data;

    switch (w->state) {
    case WAIT_LISTENING:
        /* Stop listening first: from here on a connect is refused. */
        w->state = WAIT_TIMED_OUT;
        w->exit_status = EXIT_TIMEOUT;
        wait_stop_listening(w);
        trace_event("timed-out");
        report_timeout(cli.timeout_ms);
        break;
    case WAIT_GREETING:
    case WAIT_DONE:
    case WAIT_TIMED_OUT:
    case WAIT_FAILED:
        /* Cannot happen: leaving WAIT_LISTENING closes the timer, and a
         * closed timer never fires. */
        break;
    }
}
/* end */

static void wait_on_greeted(uv_write_t *req, int status)
{
    struct wait *w = req->data;

    if (status < 0) {
        wait_fail(w, "write", status);
    } else {
        trace_event("sent %zu", sizeof(greeting) - 1);
        printf("client %s\n", w->peer);
        if (fflush(stdout) != 0) {
            wait_fail(w, "stdout", -errno);
        } else {
            w->state = WAIT_DONE;
            w->exit_status = EXIT_DONE;
        }
    }
    uv_close((uv_handle_t *)&w->client, wait_on_closed);
    trace_event("closed");
}

/* Takes the client on fd (ours to close), stops listening, greets it. */
static void wait_greet(struct wait *w, int fd,
                       const struct sockaddr_storage *peer)
{
    uv_buf_t b = uv_buf_init(greeting, sizeof(greeting) - 1);
    int rc;

    wait_stop_listening(w);
    uv_tcp_init(w->poll.loop, &w->client);
    w->client.data = w;
    rc = uv_tcp_open(&w->client, fd);
    if (rc < 0)
        close(fd); /* not the handle's yet */
    if (rc == 0) {
        addr_format((const struct sockaddr *)peer, w->peer, sizeof(w->peer));
        trace_event("accepted %s", w->peer);
        w->state = WAIT_GREETING;
        rc = uv_write(&w->write_req, (uv_stream_t *)&w->client, &b, 1,
                      wait_on_greeted);
    }
    if (rc < 0) {
        wait_fail(w, "accept", rc);
        uv_close((uv_handle_t *)&w->client, wait_on_closed);
    }
}

/* lesson:wait-client-sm-connection */
static void wait_on_readable(uv_poll_t *poll, int status, int events)
{
    struct wait *w = poll->data;
    struct sockaddr_storage peer;
    int fd;

    (void)events;
    switch (w->state) {
    case WAIT_LISTENING:
        fd = status < 0 ? status
                        : lsock_accept(&w->listener, &peer, "ERR busy\n");
        if (fd == -EAGAIN || fd == -ECONNABORTED)
            break; /* nobody after all, or one who left: wait on */
        if (fd < 0) {
            wait_fail(w, "accept", fd);
            wait_stop_listening(w);
            break;
        }
        wait_greet(w, fd, &peer);
        break;
    case WAIT_GREETING:
    case WAIT_DONE:
    case WAIT_TIMED_OUT:
    case WAIT_FAILED:
        /* Cannot happen: leaving WAIT_LISTENING closes the poll handle,
         * and a closed handle is never called back. The socket is
         * closed too, so a second client is refused. */
        break;
    }
}
/* end */

/* Listens and starts the deadline. Returns 0, or a negative errno when
 * listening failed (nothing was started then). */
static int wait_start(uv_loop_t *loop, struct wait *w)
{
    int rc = lsock_open(&w->listener, &cli.listen, LSOCK_NONBLOCK);

    if (rc < 0)
        return rc;
    uv_poll_init_socket(loop, &w->poll, w->listener.fd);
    uv_timer_init(loop, &w->deadline);
    w->poll.data = w->deadline.data = w->write_req.data = w;
    w->state = WAIT_LISTENING;
    uv_poll_start(&w->poll, UV_READABLE, wait_on_readable);
    /* The one deadline, counted from the start of the program (WC-3).
     * libuv's timers count from the loop's cached "now": refresh it. */
    uv_update_time(loop);
    uv_timer_start(&w->deadline, wait_on_deadline,
                   (uint64_t)clock_ms_left(clock_start_ms() + cli.timeout_ms),
                   0);
    return 0;
}
/* STUB
// TODO: listens on cli.listen (lsock_open, non-blocking), watches the
// socket and starts ONE deadline timer; the callbacks (a client waiting,
// the timer) then drive w->state to its end, set w->exit_status and close
// every handle. Returns 0, or a negative errno when listening failed.
static int wait_start(uv_loop_t *loop, struct wait *w)
{
    (void)loop;
    (void)w;
    return -ENOSYS;
}
END SOLUTION */

int main(int argc, char **argv)
{
    uv_loop_t loop;
    struct wait w = {0};
    int status, rc;

    proc_setup();
    if (!cli_wait_client(argc, argv, &cli, &status))
        return status;
    uv_loop_init(&loop);
    w.exit_status = EXIT_ERROR;
    rc = wait_start(&loop, &w);
    if (rc < 0) {
        lsock_report_failure(&cli.listen, rc);
    } else {
        lsock_announce(&w.listener);
        trace_event("deadline %lld ms", (long long)cli.timeout_ms);
    }
    /* Runs until every handle is closed and its close callback has run:
     * only then is it safe to leave. */
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        report_error("a libuv handle was left open");
    return w.exit_status;
}
