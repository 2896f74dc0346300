/* journal: an event journal with replay (the async-futures way: one main
 * loop that selects, and a task for every connection).
 *
 * The tasks, and what each one waits for:
 *
 *   main loop   the next of four things, in a select: the shutdown signal,
 *               the flush tick, a new subscriber, an event (during a
 *               replay: its end, the signal, an event). It alone numbers
 *               events, keeps the records not yet in the file (j.pending),
 *               writes them (a flush) and starts replays.
 *   acceptor    the next connection (server.c, the plumbing every futures
 *               server shares); it spawns a client task for it.
 *   client      its first line: PUB or SUB. A publisher then reads lines
 *               and sends each one to the main loop. A subscriber takes
 *               its place in line for a replay (reading meanwhile, so that
 *               it notices at once when its client leaves), waits for the
 *               replay to be over, then writes its queue of live records
 *               as they come (outq.c).
 *
 * The file's check at start and the replay's reading are jfile.c's.
 *
 * What to notice:
 *
 *   - The pause of JR-7 is not written anywhere. While a replay runs,
 *     the main loop selects over its end, the signal and the events, but
 *     not over the flush tick: the writer is paused because nobody polls
 *     it (next_turn).
 *   - No gap, no duplicate (JR-4). Between two awaits nothing else runs,
 *     so the end of the flush before a replay (the file now holds every
 *     event numbered so far) and the subscriber joining the live list
 *     (every later event is queued for it) happen at one instant: no lock
 *     is needed to draw that line. Its queue is held (not written) until
 *     its replay has sent the file.
 *   - Publishers never wait (JR-7, JR-9). They send to an unbounded
 *     channel, so a send never waits for room; the main loop keeps taking
 *     events even during a replay (only a flush, a few ms, holds it up),
 *     so the channel stays short. A bounded channel would make publishers
 *     wait for the main loop, exactly what JR-7 forbids. The records then
 *     go to each subscriber's own queue, bounded by --max-backlog in bytes.
 *   - Closing a subscriber is cancelling its task (fut_task_cancel): its
 *     future is dropped wherever it waits, in the middle of a write say,
 *     and its drop function closes the socket. The shutdown cancels every
 *     client at once by dropping their scope.
 *   - A replay that takes too long is a timeout around the replay future,
 *     fut_timeout(), which drops it at the deadline (JR-8).
 *
 * The price of one main loop doing all of this: while it awaits a flush
 * (a few ms on libuv's thread pool), events wait in the channel, and live
 * subscribers get nothing new.
 *
 * One thread: everything below runs on the loop's thread, except the file
 * system calls, which libuv runs on its thread pool (fut/fs.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "buf.h"
#include "cli.h"
#include "clock.h"
#include "fut/chan.h"
#include "fut/co.h"
#include "fut/comb.h"
#include "fut/exec.h"
#include "fut/fs.h"
#include "fut/sig.h"
#include "fut/tcp.h"
#include "fut/timer.h"
#include "jfile.h"
#include "jrec.h"
#include "lsock.h"
#include "outq.h"
#include "proc.h"
#include "report.h"
#include "server.h"
#include "trace.h"

/* ------------------------------------------------------------------------
 * Options and state */

/* The command line (common/cli.h); set once in main(), then only read. */
static struct journal_cli cli;

/* An event read by a publisher, on its way to the main loop. */
struct event {
    size_t len;
    char bytes[];
};

/* Where a subscriber stands. */
enum sub_state {
    SUB_NONE,      /* not a subscriber (yet) */
    SUB_QUEUED,    /* in j.line, waiting for its replay */
    SUB_REPLAYING, /* in j.subs, being replayed: its queue is held */
    SUB_LIVE,      /* in j.subs: every new event is queued and written */
};

/* A connection's task, and as a subscriber what the main loop feeds.
 * server_client_close(&c->sc, why) is how the main loop closes it. */
struct client {
    struct server_client sc; /* conn, id, task: the server's part */
    struct co co;
    struct fut *op;   /* the step being awaited, or NULL */
    const char *line; /* the line read, borrowed from conn */
    size_t len;
    const char *refusal; /* "ERR ...\n" to send before closing, or NULL */
    int rc;
    /* As a subscriber. */
    enum sub_state sub;
    struct outq q;              /* its live records (JR-9) */
    struct fut *turn;           /* the ring that ends its replay, or NULL */
    struct client *prev, *next; /* in j.line or j.subs */
};

/* BEGIN SOLUTION */
/* What the tasks share. One thread: no locks; the main loop owns what it
 * does not say otherwise. */
static struct journal {
    uv_loop_t *loop;
    struct fut_exec *ex;
    struct server *server;     /* the acceptor and every client */
    struct fut_chan *events;   /* struct event *, from publishers */
    struct fut_chan *arrivals; /* a message per subscriber joining j.line */
    struct jfile_start f;      /* the file, its size (whole records only), and
                             the SEQ of the last event numbered */
    struct buf pending;        /* records numbered, not yet in the file */
    size_t pending_count;
    size_t flushing; /* bytes of the flush in flight */
    size_t flushing_count;
    struct client *subs; /* live subscribers (the one replayed too) */
    struct client *line, *line_end; /* waiting for a replay, oldest first */
    struct client *replaying;       /* the subscriber being replayed, or NULL */
    struct fut *replay;             /* its replay under a timeout, or NULL */
    int status; /* the exit status: an error ends the loop */
} j = {.pending = BUF_INIT};

/* ------------------------------------------------------------------------
 * The file */

/* (The check at start and the replay's reading are jfile.c's.) */

/* Returns a future that writes every pending record at the end of the
 * file (it takes them: pending is empty afterwards). */
static struct fut *flush(void)
{
    j.flushing = j.pending.len;
    j.flushing_count = j.pending_count;
    j.pending_count = 0;
    if (j.flushing == 0)
        return fut_ready(0);
    return fut_file_write(j.f.file, (int64_t)j.f.size, &j.pending);
}

/* After a flush: on success the file has grown; on failure (JR-12) it is
 * reported, and j.status ends the main loop, which cuts the file back to
 * its last whole record before it exits. */
static void flushed(int rc)
{
    if (rc < 0) {
        report_error("writing %s: %s", cli.file, report_strerror(rc));
        j.status = EXIT_ERROR;
        return;
    }
    if (j.flushing == 0)
        return;
    j.f.size += j.flushing;
    trace_event("flush %zu records, %zu bytes", j.flushing_count, j.flushing);
}

/* ------------------------------------------------------------------------
 * Live fan-out */

/* What the main loop does between awaits: number events, queue them for
 * the subscribers, close those that cannot take them. */

/* Closes subscriber c: gives up its replay if it is the one replayed
 * (writing resumes), then cancels its task, whose drop closes the
 * connection. c is gone when this returns. */
static void close_subscriber(struct client *c, const char *why)
{
    if (c == j.replaying) {
        fut_clear(&j.replay);
        j.replaying = NULL;
        trace_event("replay-end %s", why);
        trace_event("resumed");
    }
    server_client_close(&c->sc, why);
}

/* Takes c out of the list it is in (j.line, or j.subs). */
static void client_unlink(struct client *c)
{
    struct client **head = c->sub == SUB_QUEUED ? &j.line : &j.subs;

    if (c->sub == SUB_NONE)
        return;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        *head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    else if (c->sub == SUB_QUEUED)
        j.line_end = c->prev;
    c->prev = c->next = NULL;
    c->sub = SUB_NONE;
}

/* Queues one record for every live subscriber (JR-9): never waits, and a
 * subscriber that cannot take it is closed instead. The one being
 * replayed gets it too, in its queue, which is held until the replay
 * ends: that queue starts right after the replay's snapshot (JR-4). */
static void queue_for_subscribers(const char *record, size_t len)
{
    struct client *c, *next;

    for (c = j.subs; c != NULL; c = next) {
        int rc = outq_push(&c->q, record, len, (uint64_t)cli.max_backlog);

        next = c->next; /* c may be closed */
        if (rc == -ENOBUFS) {
            trace_event("backlog-exceeded #%" PRIu64 " %" PRIu64 " bytes",
                        c->sc.id, c->q.unsent + len);
            close_subscriber(c, "backlog exceeded");
        } else if (rc < 0) {
            close_subscriber(c, "out of memory");
        } else if (c != j.replaying) {
            outq_ring(&c->q);
        }
    }
}

/* Numbers ev (JR-3), adds it to the pending records and to every live
 * subscriber's queue, and frees it. */
static void number_event(struct event *ev)
{
    size_t start = j.pending.len;

    if (jrec_format(&j.pending, j.f.last_seq + 1, ev->bytes, ev->len) < 0) {
        report_error("out of memory");
        j.status = EXIT_ERROR;
    } else {
        j.f.last_seq++;
        j.pending_count++;
        trace_event("event %" PRIu64, j.f.last_seq);
        queue_for_subscribers(j.pending.data + start, j.pending.len - start);
    }
    free(ev);
}

/* Numbers first (if not NULL), then every other event waiting in the
 * channel. Even a flood ends: the publishers do not run meanwhile. */
static void number_events(struct event *first)
{
    struct event *ev;

    if (first != NULL)
        number_event(first);
    while (fut_chan_try_recv(j.events, (void **)&ev) == 1)
        number_event(ev);
}

/* ------------------------------------------------------------------------
 * Replay: one subscriber at a time, in arrival order (JR-8) */

/* A subscriber takes its place at the end of the line for a replay, and
 * tells the main loop (JR-8). */
static int line_join(struct client *c)
{
    int rc = fut_chan_try_send(j.arrivals, &j);

    if (rc < 0)
        return rc;
    c->sub = SUB_QUEUED;
    c->next = NULL;
    c->prev = j.line_end;
    if (j.line_end != NULL)
        j.line_end->next = c;
    else
        j.line = c;
    j.line_end = c;
    return 0;
}

/* Starts c's replay, right after the flush: the snapshot is the whole
 * file, and c joins the live list now, its queue held. Nothing can run
 * between the end of that flush and this (JR-4). */
static void start_replay(struct client *c)
{
    client_unlink(c); /* from the line */
    c->sub = SUB_REPLAYING;
    c->prev = NULL;
    c->next = j.subs;
    if (j.subs != NULL)
        j.subs->prev = c;
    j.subs = c;
    j.replaying = c;
    trace_event("replay-start #%" PRIu64 " %" PRIu64 " bytes", c->sc.id,
                j.f.size);
    trace_event("paused");
    j.replay = fut_timeout(j.loop, cli.replay_timeout_ms,
                           jfile_replay(j.f.file, c->sc.conn, j.f.size));
}

/* Ends the replay with its result rc: its subscriber goes live, or is
 * closed (JR-8). */
static void end_replay(int rc)
{
    struct client *c = j.replaying;

    if (rc != 0) {
        close_subscriber(c, rc == -ETIMEDOUT ? "replay timed out"
                                             : report_strerror(rc));
        return;
    }
    fut_clear(&j.replay);
    j.replaying = NULL;
    trace_event("replay-end done");
    trace_event("resumed");
    c->sub = SUB_LIVE;
    outq_ring(&c->q); /* its queue is no longer held */
}

/* ------------------------------------------------------------------------
 * Clients */

/* Hands the event in line to the main loop. The channel has no bound:
 * this never waits (JR-7). Returns 0, or a negative errno. */
static int publish(const char *line, size_t len)
{
    struct event *ev = malloc(sizeof *ev + len);
    int rc = ev != NULL ? 0 : -ENOMEM;

    if (rc == 0) {
        ev->len = len;
        memcpy(ev->bytes, line, len);
        rc = fut_chan_try_send(j.events, ev);
    }
    if (rc < 0)
        free(ev);
    return rc;
}

static bool says(const struct client *c, const char *word)
{
    return c->len == strlen(word) && memcmp(c->line, word, c->len) == 0;
}

/* A subscriber waits for `wait`, or for its peer to leave (what a
 * subscriber sends means nothing, but EOF means it is gone). */
static struct fut *wait_or_read(struct client *c, struct fut *wait)
{
    struct fut *fs[2];

    fs[0] = wait;
    fs[1] = fut_tcp_read_line(c->sc.conn, &c->line, &c->len);
    return fut_select(fs, 2, NULL);
}

/* A subscriber's part of its client's task (JR-4), a future the client
 * awaits. Ready with 0 when the peer left, or a negative errno. */
struct subscriber {
    struct fut base;
    struct co co;
    struct client *c; /* whose task this is */
    struct fut *op;   /* the step being awaited, or NULL */
    int rc;
};

static enum fut_poll subscriber_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct subscriber *s = (struct subscriber *)f;
    struct client *c = s->c;

    CO_BEGIN(&s->co);
    trace_event("sub #%" PRIu64, c->sc.id);
    /* Take a place in line (JR-8). The main loop replays us, writing to
     * our connection, then rings: from then on we must not end before the
     * ring. So the wait for it is made before we join the line. Until our
     * turn comes we read, and a client that leaves is closed at once. */
    c->turn = outq_rung(&c->q);
    if (fut_is_nomem(c->turn) || line_join(c) < 0)
        CO_RETURN(&s->co, s, -ENOMEM);
    while (c->sub == SUB_QUEUED) {
        s->op = wait_or_read(c, fut_borrow(c->turn));
        CO_AWAIT_TAKE(&s->co, ctx, &s->op, s->rc);
        if (s->rc <= 0 && c->sub == SUB_QUEUED)
            CO_RETURN(&s->co, s, s->rc); /* it left before its turn */
    }
    if (c->sub != SUB_LIVE) /* the ring has not come yet */
        CO_AWAIT(&s->co, ctx, c->turn);
    fut_clear(&c->turn);
    s->op = outq_serve(&c->q, c->sc.conn); /* live (JR-4) */
    CO_AWAIT_TAKE(&s->co, ctx, &s->op, s->rc);
    CO_RETURN(&s->co, s, s->rc);
    CO_END(&s->co);
}

static void subscriber_drop(struct fut *f)
{
    fut_clear(&((struct subscriber *)f)->op);
    fut_mem_free(f);
}

static const struct fut_vtable subscriber_vt = {"subscriber", subscriber_poll,
                                                subscriber_drop};

static struct fut *subscriber_new(struct client *c)
{
    struct subscriber *s =
        (struct subscriber *)fut_alloc(&subscriber_vt, sizeof *s);

    if (s == NULL)
        return fut_ready(-ENOMEM);
    s->c = c;
    return &s->base;
}

static enum fut_poll client_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct client *c = (struct client *)f;

    CO_BEGIN(&c->co);
    c->op = fut_tcp_read_line(c->sc.conn, &c->line, &c->len);
    CO_AWAIT_RESULT(&c->co, ctx, c->op, c->rc);
    if (c->rc == 1 && says(c, "PUB")) { /* JR-3 */
        trace_event("pub #%" PRIu64, c->sc.id);
        do { /* one reader for every line (fut.h, P6): no malloc each */
            fut_reuse(c->op);
            CO_AWAIT_RESULT(&c->co, ctx, c->op, c->rc);
        } while (c->rc == 1 && publish(c->line, c->len) == 0);
    } else if (c->rc == 1 && says(c, "SUB")) {
        fut_clear(&c->op); /* the subscriber reads on its own */
        c->op = subscriber_new(c);
        CO_AWAIT_TAKE(&c->co, ctx, &c->op, c->rc);
    } else if (c->rc == 1) {
        c->refusal = "ERR expected PUB or SUB\n"; /* JR-2 */
    }
    if (c->rc == -EMSGSIZE)
        c->refusal = "ERR line too long\n"; /* COM-6 */
    if (c->refusal != NULL) {
        c->sc.why = "refused";
        fut_clear(&c->op);
        c->op = fut_tcp_write_all(c->sc.conn, c->refusal, strlen(c->refusal));
        CO_AWAIT_TAKE(&c->co, ctx, &c->op, c->rc);
    }
    CO_RETURN(&c->co, &c->sc, 0);
    CO_END(&c->co);
}

/* However the client ends (done, or cancelled at any await), this is the
 * one place that lets go of it. */
static void client_drop(struct fut *f)
{
    struct client *c = (struct client *)f;

    fut_clear(&c->op);
    fut_clear(&c->turn); /* after the select that may borrow it */
    client_unlink(c);
    server_client_release(&c->sc);
    outq_free(&c->q);
    fut_mem_free(f);
}

static const struct fut_vtable client_vt = {"client", client_poll, client_drop};

/* The server's new_client: a client future for a connection. */
static struct server_client *client_new(void *arg)
{
    struct client *c = (struct client *)fut_alloc(&client_vt, sizeof *c);

    (void)arg;
    if (c != NULL && outq_init(&c->q) < 0) {
        fut_mem_free(c);
        c = NULL;
    }
    return c != NULL ? &c->sc : NULL;
}

/* ------------------------------------------------------------------------
 * Main */

/* What can happen next, as the branches of the main loop's select. */
enum turn { ON_REPLAY_OVER, ON_SIGNAL, ON_TICK, ON_SUBSCRIBER, ON_EVENT };

/* The main loop's futures live as long as it does, as in Rust's select!
 * over `&mut` futures: a turn polls them through one select that borrows
 * them (fut_select_borrowed), and the ones that did not win wait on,
 * untouched, for the next turn. The winner is reused (fut.h, P6), so a
 * turn allocates nothing. */
struct main_loop {
    struct fut base;
    struct co co;
    struct fut *op;          /* the step being awaited, or NULL */
    struct fut_interval *iv; /* the flush tick (JR-6) */
    /* The long-lived branches: SIGINT or SIGTERM, the next tick of iv,
     * a receive on j.arrivals, one on j.events (the replay is j's). */
    struct fut *keep[ON_EVENT + 1];
    struct fut *branch[ON_EVENT + 1]; /* what this turn polls, or NULL */
    struct fut *select;               /* borrows branch[], reused */
    int64_t tick;
    size_t winner; /* the branch that won: an enum turn */
    void *msg;     /* what the winning receive took */
    int rc;
};

/* lesson:af-journal-replay */
/* The branches of one turn, the lowest index winning a tie: the end of a
 * replay, the signal, the tick before a flood of events (it is not held
 * back by them), a subscriber before events (a flood does not keep
 * replays waiting). While a replay runs there is no tick, so writing is
 * paused (JR-7) just by not polling it, and no new subscriber (one replay
 * at a time, JR-8); events go on. A branch left out is not dropped: the
 * signal, the tick and the receives wait for a later turn. */
static void next_turn(struct main_loop *m)
{
    memcpy(m->branch, m->keep, sizeof m->branch);
    m->branch[ON_REPLAY_OVER] = j.replay;
    if (j.replay != NULL)
        m->branch[ON_TICK] = m->branch[ON_SUBSCRIBER] = NULL;
    m->winner = ON_SIGNAL; /* a select that cannot be made ends the loop */
}
/* end */

/* Takes the result of a turn's select. False when the loop must end: the
 * signal won, or a branch had no memory. Otherwise the winner is reused
 * for the next turn (fut.h, P6; the replay is end_replay's), so a turn
 * allocates nothing. */
static bool take_turn(struct main_loop *m)
{
    fut_reuse(m->select);
    if (m->rc < 0 && m->winner != ON_REPLAY_OVER) {
        report_error("%s", report_strerror(m->rc)); /* no memory */
        j.status = EXIT_ERROR;
        return false;
    }
    if (m->winner == ON_SIGNAL)
        return false;
    if (m->winner != ON_REPLAY_OVER)
        fut_reuse(m->branch[m->winner]);
    return true;
}

/* A future starts at its first poll (fut.h, P4): the signal is polled
 * once before anyone can know our port, so that from then on SIGTERM
 * means an orderly shutdown, never death. Then the ready line (JR-1). */
static void start(struct main_loop *m, struct fut_ctx *ctx)
{
    if (fut_poll(m->keep[ON_SIGNAL], ctx) != FUT_PENDING) {
        report_error("cannot catch signals");
        j.status = EXIT_ERROR;
    } else if (server_announce(j.server) < 0) {
        j.status = EXIT_ERROR;
    }
}

static enum fut_poll main_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct main_loop *m = (struct main_loop *)f;

    CO_BEGIN(&m->co);
    start(m, ctx);
    while (j.status == EXIT_DONE) {
        next_turn(m);
        CO_AWAIT_RESULT(&m->co, ctx, m->select, m->rc);
        if (!take_turn(m))
            break;
        if (m->winner == ON_EVENT) {
            number_events(m->msg); /* may close the one replayed */
        } else if (m->winner == ON_REPLAY_OVER) {
            end_replay(m->rc);
        } else if (m->winner == ON_TICK || j.line != NULL) {
            /* A flush at the tick (JR-6), and before a replay, whose
             * snapshot is then the whole file (JR-4). (A subscriber that
             * left while in line is gone from it: j.line may be NULL.) */
            m->op = flush();
            CO_AWAIT_TAKE(&m->co, ctx, &m->op, m->rc);
            flushed(m->rc);
            if (m->winner == ON_SUBSCRIBER && j.status == EXIT_DONE)
                start_replay(j.line);
        }
    }
    if (j.replaying != NULL) /* a signal or an error came during it */
        close_subscriber(j.replaying, "shutdown");
    /* The end (JR-11): nothing more is read; what was read is numbered
     * and flushed. Then the file is cut to its whole records: after a
     * failed write, that drops what it left of a record (JR-12); after a
     * good flush the file has that size already. */
    trace_event("shutdown");
    server_stop(j.server);
    if (j.status == EXIT_DONE) {
        number_events(NULL);
        m->op = flush();
        CO_AWAIT_TAKE(&m->co, ctx, &m->op, m->rc);
        flushed(m->rc);
    }
    m->op = fut_file_truncate(j.f.file, (int64_t)j.f.size);
    CO_AWAIT_TAKE(&m->co, ctx, &m->op, m->rc);
    CO_RETURN(&m->co, m, j.status);
    CO_END(&m->co);
}

static void main_drop(struct fut *f)
{
    struct main_loop *m = (struct main_loop *)f;

    fut_clear(&m->op);
    fut_clear(&m->select); /* it borrows the futures below */
    fut_clear(&j.replay);  /* before its subscriber's connection closes */
    server_stop(j.server);
    for (size_t i = 0; i <= ON_EVENT; i++)
        fut_clear(&m->keep[i]);
    fut_interval_close(m->iv);
    fut_mem_free(f);
}

static const struct fut_vtable main_vt = {"journal", main_poll, main_drop};

static struct fut *main_loop_new(void)
{
    struct main_loop *m = (struct main_loop *)fut_alloc(&main_vt, sizeof *m);

    if (m == NULL)
        return fut_ready(-ENOMEM);
    m->keep[ON_SIGNAL] = fut_signal(j.loop);
    m->iv = fut_interval_new(j.loop, clock_now_ms(), cli.flush_ms);
    if (m->iv == NULL) {
        main_drop(&m->base);
        return fut_ready(-ENOMEM);
    }
    /* A constructor out of memory gives a future ready with -ENOMEM,
     * which the first turn's select reports. */
    m->keep[ON_TICK] = fut_interval_tick(m->iv, &m->tick);
    m->keep[ON_SUBSCRIBER] = fut_chan_recv(j.arrivals, &m->msg);
    m->keep[ON_EVENT] = fut_chan_recv(j.events, &m->msg);
    m->select = fut_select_borrowed(m->branch, ON_EVENT + 1, &m->winner);
    return &m->base;
}

/* Listens (JR-1, JR-10: server.c) and starts the acceptor. Returns 0, or
 * -1 after reporting. */
static int start_serving(void)
{
    struct server_config cfg = {cli.max_clients, "ERR busy\n", client_new,
                                NULL};
    int rc;

    j.server = server_new(j.ex, j.loop, &cli.listen, &cfg, &rc);
    if (j.server == NULL) {
        lsock_report_failure(&cli.listen, rc);
        return -1;
    }
    j.events = fut_chan_new_unbounded();
    j.arrivals = fut_chan_new_unbounded();
    if (j.events == NULL || j.arrivals == NULL || server_start(j.server) < 0) {
        report_error("out of memory");
        return -1;
    }
    return 0;
}

/* After an error, events read but never numbered may wait in the channel:
 * they are the only messages that own memory. */
static void drop_events(void)
{
    void *ev;

    while (j.events != NULL && fut_chan_try_recv(j.events, &ev) == 1)
        free(ev);
}

int main(int argc, char **argv)
{
    uv_loop_t loop;
    int status = EXIT_ERROR;

    proc_setup();
    if (!cli_journal(argc, argv, &cli, &status))
        return status;
    uv_loop_init(&loop);
    j.loop = &loop;
    j.ex = fut_exec_new(&loop);
    if (j.ex == NULL) {
        report_error("out of memory");
        return EXIT_ERROR;
    }
    /* Open and check the file, listen, serve: each step reads as it runs. */
    status = EXIT_ERROR;
    if (fut_exec_block_on(j.ex, jfile_open(&loop, cli.file, &j.f), "opening") ==
            0 &&
        start_serving() == 0)
        status = fut_exec_block_on(j.ex, main_loop_new(), "journal");
    if (status < 0) {
        report_error("%s", report_strerror(status));
        status = EXIT_ERROR;
    }
    server_free(j.server);
    j.server = NULL;
    fut_file_close(j.f.file);
    fut_exec_free(j.ex);
    /* Whatever was cancelled is closing; the loop runs the close
     * callbacks, and then it must be empty. */
    uv_run(&loop, UV_RUN_DEFAULT);
    drop_events();
    fut_chan_free(j.events);
    fut_chan_free(j.arrivals);
    buf_free(&j.pending);
    if (uv_loop_close(&loop) != 0) {
        report_error("a libuv handle was left open");
        status = EXIT_ERROR;
    }
    trace_event("closed");
    return status;
}
/* STUB
// TODO: the journal as tasks on one executor: its state, the acceptor,
// publishers, subscribers with their replay, the flushes, signals.
int main(int argc, char **argv)
{
    int status = EXIT_ERROR;

    proc_setup();
    if (!cli_journal(argc, argv, &cli, &status))
        return status;
    report_error("not written yet");
    return EXIT_ERROR;
}
END SOLUTION */
