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
 *   - the futures live as long as the loop, as in Rust's select! over
 *     `&mut` futures: one line reader (reused for line after line), one
 *     sleep per tick (kept across the turns it does not win), and one
 *     select that borrows them (fut_select_borrowed). A turn allocates
 *     nothing, so an event costs a few polls and no malloc;
 *   - reading goes in bounded slices (DB-3): after the tick's check, at
 *     most SLICE_LINES lines already buffered are taken before the tick
 *     is checked again, so a flood never holds a tick back, and the clock
 *     is read once per slice rather than once per event;
 *   - a flood costs bounded memory: once the batch is full (batch_full(),
 *     BATCH_LIMIT_BYTES in common/batch.h), the read branch is left out
 *     of the select until the next
 *     tick, and TCP slows the source down meanwhile. Not polling the read
 *     IS pausing it. The bound is large, so that it is the machine, not
 *     the tick, that sets how many events a second get through.
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

/* Lines taken from what is already buffered between two checks of the
 * tick: a few microseconds of work, so a tick is never held back. */
enum { SLICE_LINES = 64 };

/* The command line (common/cli.h); set once in main(), then only read. */
static struct dashboard_cli cli;

/* The branches of the select, in the order that breaks ties. */
enum { BRANCH_TICK, BRANCH_LINE, BRANCHES };

/* Everything that lives across an await. */
struct dash {
    struct fut base;
    struct co co;
    uv_loop_t *loop;
    struct fut *op;               /* the connect being awaited, or NULL */
    struct fut *tick;             /* the sleep until the next tick, or NULL */
    struct fut *lines;            /* the line reader, reused (fut.h, P6) */
    struct fut *branch[BRANCHES]; /* what the select polls this turn */
    struct fut *select;           /* borrows branch[], reused every turn */
    struct fut_tcp *conn;         /* NULL until connected */
    struct batch_sched sched;     /* which tick is due when (DB-1) */
    int64_t due;                  /* when the next tick is due, ms */
    size_t winner;                /* which branch of the select won */
    const char *line;             /* the event read, borrowed from conn */
    size_t len;
    struct batch batch; /* the events since the last tick */
    int rc;
};

/* BEGIN SOLUTION */
/* The tick branch won: writes the batch of the tick due now (the latest
 * one, if the program fell behind). Our own stdout is the one thing we let
 * block the loop (as the other tracks do), rather than queue batches
 * without bound. Then the sleep until the next tick takes the old one's
 * place in the select. Returns 0 or a negative errno. */
static int write_tick(struct dash *d)
{
    int64_t due;
    int64_t tick = batch_sched_next(&d->sched, clock_now_ms(), &due);
    int rc = batch_write(&d->batch, tick, false);

    batch_sched_done(&d->sched, tick);
    fut_clear(&d->tick);
    batch_sched_next(&d->sched, clock_now_ms(), &d->due);
    d->tick = fut_sleep_until(d->loop, d->due);
    return rc;
}

/* The line branch won with d->line: adds it, then up to SLICE_LINES more
 * lines that are already buffered (a poll of the reader that is ready at
 * once), before the select checks the tick again. Returns 1 to go on
 * (the reader is then pending, or reused for the next turn), the reader's
 * result when it ended (0 at EOF, < 0 on error), or a negative errno from
 * the batch. */
static int read_slice(struct dash *d, struct fut_ctx *ctx)
{
    int rc = batch_add(&d->batch, d->line, d->len);

    for (int i = 0; rc == 0 && i < SLICE_LINES; i++) {
        if (batch_full(&d->batch))
            break;
        fut_reuse(d->lines);
        if (fut_poll(d->lines, ctx) == FUT_PENDING)
            return 1; /* the select polls it again, still pending */
        rc = fut_result(d->lines);
        if (rc != 1)
            return rc; /* the source closed (0) or failed (< 0) */
        rc = batch_add(&d->batch, d->line, d->len);
    }
    if (rc == 0) {
        fut_reuse(d->lines);
        rc = 1;
    }
    return rc;
}

/* Which branches the next turn polls: the tick always (first: it wins
 * ties), the next event unless the batch is full. */
/* lesson:af-dashboard-next-turn */
static void next_turn(struct dash *d)
{
    d->branch[BRANCH_TICK] = d->tick;
    d->branch[BRANCH_LINE] = NULL;
    if (!batch_full(&d->batch))
        d->branch[BRANCH_LINE] = d->lines;
    else
        trace_event("paused until the next tick");
}
/* end */

/* Connected: the three long-lived futures of the loop. The constructors
 * never fail with NULL: an -ENOMEM surfaces as the first select's result. */
static void start_loop(struct dash *d)
{
    trace_event("connected");
    batch_sched_next(&d->sched, clock_now_ms(), &d->due);
    d->tick = fut_sleep_until(d->loop, d->due);
    d->lines = fut_tcp_read_line(d->conn, &d->line, &d->len);
    d->select = fut_select_borrowed(d->branch, BRANCHES, &d->winner);
}

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
    start_loop(d);
    for (;;) {
        next_turn(d);
        CO_AWAIT_RESULT(&d->co, ctx, d->select, d->rc);
        fut_reuse(d->select); /* polled again next turn (P6) */
        if (d->winner == BRANCH_TICK && d->rc == 0)
            d->rc = write_tick(d);
        else if (d->winner == BRANCH_LINE && d->rc == 1)
            d->rc = read_slice(d, ctx);
        if (d->rc < 0 || (d->winner == BRANCH_LINE && d->rc == 0))
            break; /* the source closed (0) or something failed (< 0) */
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
    fut_clear(&d->select); /* it borrows the two below */
    fut_clear(&d->tick);
    fut_clear(&d->lines); /* before its connection closes */
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
