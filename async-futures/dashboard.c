/* dashboard: every tick, print the events a source sent since the last one
 * (the async-futures way: one coroutine that selects over "the next tick"
 * and "the next event").
 *
 * The whole program is one loop: wait for whichever comes first, the next
 * tick of an absolute schedule or the next line from the source; a tick
 * writes the batch, a line joins it. Notice:
 *   - the tick is the FIRST branch of the select, and select lets the
 *     lowest index win a tie: when a tick is due, it is written even if
 *     events are pouring in (DB-3), and the losing read loses nothing
 *     (its bytes stay buffered for the next one);
 *   - which tick comes next, and when, is common/batch.h's schedule, as in
 *     every track: a sleep until that absolute time is the tick branch,
 *     and a program that fell behind writes one late batch (the latest
 *     tick due), never a burst (DB-1);
 *   - a flood costs bounded memory: once a batch holds BATCH_BYTES_MAX
 *     bytes, the read branch is left out of the select until the next
 *     tick, and TCP slows the source down meanwhile. Not polling the read
 *     IS pausing it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "addr.h"
#include "batch.h"
#include "cli.h"
#include "clock.h"
#include "fut/co.h"
#include "fut/comb.h"
#include "fut/exec.h"
#include "fut/tcp.h"
#include "fut/timer.h"
#include "line.h"
#include "proc.h"
#include "report.h"
#include "trace.h"

/* How many bytes of JSON may wait for the next tick before reading stops
 * until that tick (a few longest lines' worth). */
enum { BATCH_BYTES_MAX = 16 * LINE_MAX_BYTES };

/* The command line (common/cli.h); set once in main(), then only read. */
static struct dashboard_cli cli;

/* Everything that lives across an await. */
struct dash {
    struct fut base;
    struct co co;
    uv_loop_t *loop;
    struct fut *op;          /* the select being awaited, or NULL */
    struct fut_tcp *conn;    /* NULL until connected */
    struct batch_sched sched; /* which tick is due when (DB-1) */
    int64_t due;             /* when the next tick is due, ms */
    size_t winner;           /* which branch of the select won */
    const char *line;        /* the event read, borrowed from conn */
    size_t len;
    struct batch batch;      /* the events since the last tick */
    int rc;
};

/* BEGIN SOLUTION */
/* The tick branch won: writes the batch of the tick due now (the latest
 * one, if the program fell behind). Our own stdout is the one thing we let
 * block the loop (as the other tracks do), rather than queue batches
 * without bound. Returns 0 or a negative errno. */
static int write_tick(struct dash *d)
{
    int64_t due;
    int64_t tick = batch_sched_next(&d->sched, clock_now_ms(), &due);
    int rc = batch_write(&d->batch, tick, false);

    batch_sched_done(&d->sched, tick);
    return rc;
}

/* The select of one turn: the next tick first (it wins ties), then the
 * next event unless the batch is full. */
/* lesson:af-dashboard-next-turn */
static struct fut *next_turn(struct dash *d)
{
    struct fut *fs[2];
    size_t n = 0;

    batch_sched_next(&d->sched, clock_now_ms(), &d->due);
    fs[n++] = fut_sleep_until(d->loop, d->due);
    if (batch_bytes(&d->batch) < BATCH_BYTES_MAX)
        fs[n++] = fut_tcp_read_line(d->conn, &d->line, &d->len);
    else
        trace_event("paused until the next tick");
    return fut_select(fs, n, &d->winner);
}
/* end */

/* lesson:af-dashboard-select */
static enum fut_poll dash_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct dash *d = (struct dash *)f;

    CO_BEGIN(&d->co);
    d->op =
        fut_tcp_connect(d->loop, (struct sockaddr *)&cli.source.ss, &d->conn);
    CO_AWAIT_TAKE(&d->co, ctx, &d->op, d->rc);
    if (d->rc < 0)
        CO_RETURN(&d->co, d, d->rc);
    trace_event("connected");
    for (;;) {
        d->op = next_turn(d);
        CO_AWAIT_TAKE(&d->co, ctx, &d->op, d->rc);
        if (d->winner == 0 && d->rc == 0)
            d->rc = write_tick(d);
        else if (d->winner == 1 && d->rc == 1)
            d->rc = batch_add(&d->batch, d->line, d->len);
        else
            break; /* the source closed (0) or failed (< 0) */
        if (d->rc < 0)
            break;
    }
    /* The last batch, marked final, then the error if there was one. */
    if (d->rc == 0)
        trace_event("closed by the source");
    if (batch_write(&d->batch, batch_sched_final(&d->sched), true) < 0 &&
        d->rc == 0)
        d->rc = -EIO;
    CO_RETURN(&d->co, d, d->rc);
    CO_END(&d->co);
}
/* end */

static void dash_drop(struct fut *f)
{
    struct dash *d = (struct dash *)f;

    fut_clear(&d->op);
    fut_tcp_close(d->conn);
    batch_free(&d->batch);
    fut_mem_free(f);
}

static const struct fut_vtable dash_vt = {"dashboard", dash_poll, dash_drop};

static struct fut *dash_new(uv_loop_t *loop)
{
    struct dash *d = (struct dash *)fut_alloc(&dash_vt, sizeof *d);

    if (d == NULL)
        return fut_ready(-ENOMEM);
    d->loop = loop;
    batch_sched_init(&d->sched, clock_start_us(), cli.tick_ms);
    d->batch = (struct batch)BATCH_INIT;
    return &d->base;
}
/* STUB
// TODO: the dashboard as a future: connect, then a batch on every tick
// whatever the events do. Resolves to 0 or a negative errno.
static struct fut *dash_new(uv_loop_t *loop)
{
    (void)loop;
    return fut_ready(-ENOSYS);
}
END SOLUTION */

int main(int argc, char **argv)
{
    uv_loop_t loop;
    struct fut_exec *ex;
    char shown[ADDR_TEXT_MAX];
    int status = EXIT_ERROR;
    int rc;

    proc_setup();
    if (!cli_dashboard(argc, argv, &cli, &status))
        return status;
    uv_loop_init(&loop);
    ex = fut_exec_new(&loop);
    if (ex == NULL) {
        report_error("out of memory");
        return EXIT_ERROR;
    }
    trace_event("connecting %s",
                addr_format((const struct sockaddr *)&cli.source.ss, shown,
                            sizeof shown));
    rc = fut_exec_block_on(ex, dash_new(&loop), "dashboard");
    status = EXIT_DONE;
    if (rc < 0) {
        trace_event("error %s", report_strerror(rc));
        report_error("%s", report_strerror(rc));
        status = EXIT_ERROR;
    }
    fut_exec_free(ex);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        report_error("a libuv handle was left open");
    return status;
}
