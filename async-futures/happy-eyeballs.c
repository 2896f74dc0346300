/* happy-eyeballs: connect to the first of several addresses that answers,
 * cancel the other attempts, then fetch one line from the winner, all
 * within one deadline (the async-futures way: a staggered race of connect
 * futures, inside one coroutine, inside one timeout).
 *
 * Notice three things:
 *   - the schedule (start the next attempt when the last one failed, or
 *     one stagger after it started) is not written here at all: it is the
 *     library's fut_race_staggered() (fut/race.h), general enough to race
 *     anything. This file only says how to make attempt K;
 *   - cancelling the losers is dropping them. The race drops every other
 *     attempt in the poll where the winner connects; each attempt's drop
 *     closes its half-open socket (HE-2), synchronously, and there is no
 *     thread to stop or callback to outwait;
 *   - after the race the attempts are gone, so nothing can "fall back" to
 *     another address once the winner fails (HE-3): the code that would do
 *     it has nothing left to call.
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
#include "fut/race.h"
#include "fut/tcp.h"
#include "output.h"
#include "proc.h"
#include "report.h"
#include "trace.h"

/* The command line (common/cli.h); set once in main(), then only read. */
static struct happy_eyeballs_cli cli;

/* Results of our own, beside the negative errno values. */
#define HE_EOF        (-ENODATA) /* the winner closed before a '\n' */
#define HE_ALL_FAILED (-ENXIO)   /* no attempt connected: see race_error */

/* The error of the attempt that failed last, when they all failed. */
static int race_error;

/* The run: the race, then send and read on the winner. Everything that
 * lives across an await. */
struct run {
    struct fut base;
    struct co co;
    uv_loop_t *loop;
    struct fut *op;       /* the step being awaited, or NULL */
    struct fut_tcp *conn; /* the winner's connection; NULL until it won */
    size_t winner;        /* its index in cli.peers */
    struct buf request;   /* "TEXT\n", empty without --send */
    const char *line;     /* the line read, borrowed from conn */
    size_t len;
    int rc;
};

/* BEGIN SOLUTION */
/* One connect attempt, as a child of the race: a connect future plus the
 * trace lines that show the race in the demos (who started, who failed,
 * who was cancelled). */
struct attempt {
    struct fut base;
    struct fut *connect; /* owned; NULL once it finished */
    size_t k;            /* index in cli.peers (traced from 1) */
};

static enum fut_poll attempt_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct attempt *a = (struct attempt *)f;

    if (fut_poll(a->connect, ctx) == FUT_PENDING)
        return FUT_PENDING;
    f->result = fut_result(a->connect);
    fut_clear(&a->connect);
    if (f->result < 0)
        trace_event("attempt-failed %zu %s", a->k + 1,
                    report_strerror(f->result));
    else
        trace_event("connected %zu", a->k + 1);
    return FUT_READY;
}

/* lesson:af-he-cancel */
/* Dropped while still connecting: the race was won by another attempt, or
 * the deadline passed. Dropping the connect future closes its socket now,
 * before it can complete (HE-2). */
static void attempt_drop(struct fut *f)
{
    struct attempt *a = (struct attempt *)f;

    if (a->connect != NULL)
        trace_event("cancelled %zu", a->k + 1);
    fut_clear(&a->connect);
    fut_mem_free(f);
}
/* end */

static const struct fut_vtable attempt_vt = {"attempt", attempt_poll,
                                             attempt_drop};

/* lesson:af-he-attempt */
/* The race's factory: called at the moment attempt k is due (race.h,
 * R1-R2). Making the connect future here is what starts it late. */
static struct fut *attempt_new(void *arg, size_t k)
{
    struct run *s = arg;
    struct attempt *a = (struct attempt *)fut_alloc(&attempt_vt, sizeof *a);
    const struct sockaddr *peer = (struct sockaddr *)&cli.peers[k].ss;
    char shown[ADDR_TEXT_MAX];

    if (a == NULL)
        return fut_ready(-ENOMEM);
    trace_event("attempt-start %zu %s", k + 1,
                addr_format(peer, shown, sizeof shown));
    a->k = k;
    /* Only the winner's connect writes s->conn: the race ends in the
     * poll where one succeeds, and a dropped connect writes nothing. */
    a->connect = fut_tcp_connect(s->loop, peer, &s->conn);
    return &a->base;
}
/* end */

static int print_line(const char *line, size_t len)
{
    trace_bytes("line", line, len);
    return output_line(line, len);
}

/* lesson:af-he-steps */
static enum fut_poll run_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct run *s = (struct run *)f;

    CO_BEGIN(&s->co);
    s->op = fut_race_staggered(s->loop, cli.count, cli.stagger_ms, attempt_new,
                               s, &s->winner);
    CO_AWAIT_TAKE(&s->co, ctx, &s->op, s->rc);
    if (s->rc < 0) {
        race_error = s->rc;
        CO_RETURN(&s->co, s, HE_ALL_FAILED);
    }
    /* The losers are gone already: the race dropped them as it ended. */
    trace_event("won %zu", s->winner + 1);
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
        CO_RETURN(&s->co, s, s->rc == 0 ? HE_EOF : s->rc);
    CO_RETURN(&s->co, s, print_line(s->line, s->len));
    CO_END(&s->co);
}
/* end */

/* Cancelling at any await point: drop the pending step (the race, which
 * drops every attempt; or a send or read on the winner), close the winner
 * if there is one, free. */
static void run_drop(struct fut *f)
{
    struct run *s = (struct run *)f;

    fut_clear(&s->op);
    if (s->conn != NULL)
        fut_tcp_close(s->conn);
    buf_free(&s->request);
    fut_mem_free(f);
}

static const struct fut_vtable run_vt = {"happy-eyeballs", run_poll, run_drop};

static struct fut *run_new(uv_loop_t *loop)
{
    struct run *s = (struct run *)fut_alloc(&run_vt, sizeof *s);

    if (s == NULL)
        return fut_ready(-ENOMEM);
    s->loop = loop;
    s->request = (struct buf)BUF_INIT;
    if (cli.send_text != NULL && (buf_puts(&s->request, cli.send_text) < 0 ||
                                  buf_putc(&s->request, '\n') < 0)) {
        run_drop(&s->base);
        return fut_ready(-ENOMEM);
    }
    return &s->base;
}
/* STUB
// TODO: the run as a future: race the connects (fut_race_staggered in
// fut/race.h, one attempt per address in cli.peers, cli.stagger_ms apart),
// then on the winner only, send the line if any, read one line and print
// it. Resolves to 0, HE_EOF, HE_ALL_FAILED (race_error set to the last
// attempt's error) or a negative errno; main puts it under the deadline.
static struct fut *run_new(uv_loop_t *loop)
{
    (void)loop;
    return fut_ready(-ENOSYS);
}
END SOLUTION */

/* The exit status for the run's result, with its one message. */
static int report_result(int rc)
{
    switch (rc) {
    case 0:
        return EXIT_DONE;
    case -ETIMEDOUT:
        trace_event("timed-out");
        report_timeout(cli.timeout_ms);
        return EXIT_TIMEOUT;
    case HE_ALL_FAILED:
        trace_event("error all %zu attempts failed", cli.count);
        report_error("all %zu attempts failed (%s)", cli.count,
                     report_strerror(race_error));
        return EXIT_ERROR;
    case HE_EOF:
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
    int status = EXIT_ERROR;
    int rc;

    proc_setup();
    if (!cli_happy_eyeballs(argc, argv, &cli, &status))
        return status;
    uv_loop_init(&loop);
    ex = fut_exec_new(&loop);
    if (ex == NULL) {
        report_error("out of memory");
        return EXIT_ERROR;
    }
    trace_event("deadline %lld ms", (long long)cli.timeout_ms);
    /* lesson:af-he-timeout */
    /* The race, the send and the read, under one deadline computed here. */
    rc = fut_exec_block_on(ex,
                           fut_timeout(&loop, cli.timeout_ms, run_new(&loop)),
                           "happy-eyeballs");
    /* end */
    status = report_result(rc);
    /* Every attempt was dropped, its socket closed, by now; the loop only
     * has close callbacks left to run. */
    fut_exec_free(ex);
    uv_run(&loop, UV_RUN_DEFAULT);
    trace_event("closed");
    if (uv_loop_close(&loop) != 0)
        report_error("a libuv handle was left open");
    return status;
}
