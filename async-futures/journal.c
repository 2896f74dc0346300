/* journal: an event journal with replay (the async-futures way: one main
 * loop that selects, and a task for every connection).
 *
 * The tasks, and what each one waits for:
 *
 *   main loop   the next of four things, in a select: the shutdown signal,
 *               the flush tick, a new subscriber, an event. It alone
 *               numbers events, keeps the records not yet in the file
 *               (j.pending), writes them (a flush) and serves replays.
 *   acceptor    the next connection; it spawns a client task for it.
 *   client      its first line: PUB or SUB. A publisher then reads lines
 *               and sends each one to the main loop. A subscriber takes
 *               its place in line for a replay, waits for it to be over,
 *               then writes its queue of live records as they come.
 *
 * What to notice:
 *
 *   - The pause of JR-7 is not written anywhere. A replay is awaited in
 *     the main loop's "new subscriber" branch, and while it runs the loop
 *     selects over the replay, the signal and the events, but not over the
 *     flush tick: the writer is paused because nobody polls it.
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
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <uv.h>

#include "addr.h"
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
#include "jrec.h"
#include "proc.h"
#include "report.h"
#include "trace.h"

/* How much of the file is read at a time (the check at start, a replay). */
enum { CHUNK = 64 * 1024 };

/* Out of file descriptors, with none to spare for turning a client away:
 * how long the acceptor rests before it tries again. */
enum { RETRY_ACCEPT_MS = 100 };

/* The command line (common/cli.h); set once in main(), then only read. */
static struct journal_cli cli;

/* An event read by a publisher, on its way to the main loop. */
struct event {
    size_t len;
    char bytes[];
};

/* A connection's task, and as a subscriber what the main loop feeds. */
struct client {
    struct fut base;
    struct co co;
    struct fut_tcp *conn; /* owned */
    struct fut *op;       /* the step being awaited, or NULL */
    struct fut *task;     /* our own join handle: fut_task_cancel(task)
                               is how the main loop closes us */
    uint64_t id;          /* for --trace */
    const char *line;     /* the line read, borrowed from conn */
    size_t len;
    const char *refusal; /* "ERR ...\n" to send before closing, or NULL */
    const char *why;     /* why we were closed, for --trace */
    int rc;
    /* As a subscriber. */
    struct fut_chan *bell; /* holds a message: look at the queue */
    void *rung;            /* what a receive on the bell took */
    struct buf queue;      /* live records not handed to a write yet */
    struct buf out;        /* the records being written */
    uint64_t unsent;       /* queue.len + out.len: the backlog (JR-9) */
    bool live;             /* in j.subs: every new event is queued */
    struct client *prev, *next;
};

/* BEGIN SOLUTION */
/* What the tasks share. One thread: no locks; the main loop owns what it
 * does not say otherwise. */
static struct journal {
    uv_loop_t *loop;
    struct fut_exec *ex;
    struct fut_scope *scope; /* the acceptor and every client */
    struct fut_tcp_listener *listener;
    struct fut_chan *events;   /* struct event *, from publishers */
    struct fut_chan *arrivals; /* struct client *, waiting for a replay */
    struct fut_file *file;
    uint64_t size;      /* bytes in the file: whole records only */
    uint64_t last_seq;  /* SEQ of the last event numbered */
    struct buf pending; /* records numbered, not yet in the file */
    size_t pending_count;
    size_t flushing; /* bytes of the flush in flight */
    size_t flushing_count;
    struct client *subs; /* live subscribers (the one replayed too) */
    int64_t clients;     /* connections served (for --max-clients) */
    uint64_t next_id;
    struct client *replaying; /* the subscriber being replayed, or NULL */
    struct fut *replay;       /* its replay under a timeout, or NULL */
    int status;               /* the exit status: an error ends the loop */
} j = {.pending = BUF_INIT};

/* ---------------------------------------------------------------------
 * The file: the check at start, flushes. */

/* Opening the journal: open, check every record (JR-13), cut a torn last
 * line (JR-5). */
struct opening {
    struct fut base;
    struct co co;
    struct fut *op;
    struct jrec_scanner scan;
    struct buf chunk;
    uint64_t offset;
    int rc;
};

static int opening_failed(struct opening *o)
{
    if (o->rc == -EINVAL) /* line k of a journal holds SEQ k */
        report_error("%s line %" PRIu64 ": not a journal record"
                     " (expected \"%" PRIu64 " EVENT\")",
                     cli.file, o->scan.bad_line, o->scan.bad_line);
    else
        report_error("%s: %s", cli.file, report_strerror(o->rc));
    return o->rc;
}

static enum fut_poll opening_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct opening *o = (struct opening *)f;

    CO_BEGIN(&o->co);
    o->op = fut_file_open(j.loop, cli.file, O_RDWR | O_CREAT, 0644, &j.file);
    CO_AWAIT_TAKE(&o->co, ctx, &o->op, o->rc);
    while (o->rc >= 0) {
        o->op = fut_file_read(j.file, (int64_t)o->offset, CHUNK, &o->chunk);
        CO_AWAIT_TAKE(&o->co, ctx, &o->op, o->rc);
        if (o->rc <= 0)
            break;
        o->offset += o->chunk.len;
        o->rc = jrec_scanner_feed(&o->scan, o->chunk.data, o->chunk.len);
    }
    if (o->rc < 0)
        CO_RETURN(&o->co, o, opening_failed(o));
    j.size = o->scan.valid_bytes;
    j.last_seq = o->scan.last_seq;
    if (j.size < o->offset) {
        o->op = fut_file_truncate(j.file, (int64_t)j.size);
        CO_AWAIT_TAKE(&o->co, ctx, &o->op, o->rc);
        if (o->rc < 0)
            CO_RETURN(&o->co, o, opening_failed(o));
        report_note("cut a torn last line (%" PRIu64 " bytes) from %s",
                    o->offset - j.size, cli.file);
    }
    CO_RETURN(&o->co, o, 0);
    CO_END(&o->co);
}

static void opening_drop(struct fut *f)
{
    struct opening *o = (struct opening *)f;

    fut_clear(&o->op);
    jrec_scanner_free(&o->scan);
    buf_free(&o->chunk);
    fut_mem_free(f);
}

static const struct fut_vtable opening_vt = {"opening", opening_poll,
                                             opening_drop};

static struct fut *opening_new(void)
{
    struct opening *o = (struct opening *)fut_alloc(&opening_vt, sizeof *o);

    if (o == NULL)
        return fut_ready(-ENOMEM);
    if (jrec_scanner_init(&o->scan) < 0) {
        fut_mem_free(&o->base);
        return fut_ready(-ENOMEM);
    }
    return &o->base;
}

/* Returns a future that writes every pending record at the end of the
 * file (it takes them: pending is empty afterwards). */
static struct fut *flush(void)
{
    j.flushing = j.pending.len;
    j.flushing_count = j.pending_count;
    j.pending_count = 0;
    if (j.flushing == 0)
        return fut_ready(0);
    return fut_file_write(j.file, (int64_t)j.size, &j.pending);
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
    j.size += j.flushing;
    trace_event("flush %zu records, %zu bytes", j.flushing_count, j.flushing);
}

/* ---------------------------------------------------------------------
 * Events and subscribers: what the main loop does between awaits. */

/* Tells c's task to look at its queue. The bell holds one message: if
 * one is there already (-EAGAIN), the task will look anyway. */
static void ring(struct client *c)
{
    int rc = fut_chan_try_send(c->bell, c);

    (void)rc;
}

/* Closes subscriber c: gives up its replay if it is the one replayed,
 * then cancels its task, whose drop closes the connection. c is gone
 * when this returns. */
static void close_subscriber(struct client *c, const char *why)
{
    if (c == j.replaying) {
        fut_clear(&j.replay);
        j.replaying = NULL;
    }
    c->why = why;
    fut_task_cancel(c->task);
}

/* Queues one record for every live subscriber (JR-9): never waits, and a
 * subscriber that cannot take it is closed instead. The one being
 * replayed gets it too, in its queue, which is held until the replay
 * ends: that queue starts right after the replay's snapshot (JR-4). */
static void queue_for_subscribers(const char *record, size_t len)
{
    struct client *c, *next;

    for (c = j.subs; c != NULL; c = next) {
        next = c->next; /* c may be closed */
        if (c->unsent + len > (uint64_t)cli.max_backlog) {
            trace_event("backlog-exceeded #%" PRIu64 " %" PRIu64 " bytes",
                        c->id, c->unsent + len);
            close_subscriber(c, "backlog exceeded");
        } else if (buf_append(&c->queue, record, len) < 0) {
            close_subscriber(c, "out of memory");
        } else {
            c->unsent += len;
            if (c != j.replaying)
                ring(c);
        }
    }
}

/* Numbers ev (JR-3), adds it to the pending records and to every live
 * subscriber's queue, and frees it. */
static void number_event(struct event *ev)
{
    size_t start = j.pending.len;

    if (jrec_format(&j.pending, j.last_seq + 1, ev->bytes, ev->len) < 0) {
        report_error("out of memory");
        j.status = EXIT_ERROR;
    } else {
        j.last_seq++;
        j.pending_count++;
        trace_event("event %" PRIu64, j.last_seq);
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

/* ---------------------------------------------------------------------
 * The replay: the file's first `end` bytes, to one subscriber. */

struct replay {
    struct fut base;
    struct co co;
    struct fut_tcp *conn; /* borrowed: the subscriber's */
    struct fut *op;
    uint64_t offset, end;
    struct buf chunk;
    int rc;
};

static size_t replay_chunk(const struct replay *r)
{
    return r->end - r->offset < CHUNK ? (size_t)(r->end - r->offset) : CHUNK;
}

static enum fut_poll replay_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct replay *r = (struct replay *)f;

    CO_BEGIN(&r->co);
    while (r->offset < r->end) {
        r->op = fut_file_read(j.file, (int64_t)r->offset, replay_chunk(r),
                              &r->chunk);
        CO_AWAIT_TAKE(&r->co, ctx, &r->op, r->rc);
        if (r->rc <= 0) /* 0: the file is shorter than it was */
            CO_RETURN(&r->co, r, r->rc < 0 ? r->rc : -EIO);
        r->op = fut_tcp_write_all(r->conn, r->chunk.data, r->chunk.len);
        CO_AWAIT_TAKE(&r->co, ctx, &r->op, r->rc);
        if (r->rc < 0)
            CO_RETURN(&r->co, r, r->rc);
        r->offset += r->chunk.len;
    }
    CO_RETURN(&r->co, r, 0);
    CO_END(&r->co);
}

/* Cancelled at a read: the read already in libuv's pool finishes there,
 * with memory of its own (fut/fs.h), after writing may have resumed; it
 * reads bytes before `end` and flushes write after it, so the two never
 * touch the same bytes. Cancelled at a write: what reached libuv is sent,
 * unless the subscriber is closed, which is what follows. */
static void replay_drop(struct fut *f)
{
    struct replay *r = (struct replay *)f;

    fut_clear(&r->op);
    buf_free(&r->chunk);
    fut_mem_free(f);
}

static const struct fut_vtable replay_vt = {"replay", replay_poll, replay_drop};

static struct fut *replay_new(struct fut_tcp *conn, uint64_t end)
{
    struct replay *r = (struct replay *)fut_alloc(&replay_vt, sizeof *r);

    if (r == NULL)
        return fut_ready(-ENOMEM);
    r->conn = conn;
    r->end = end;
    return &r->base;
}

/* Starts c's replay, right after the flush: the snapshot is the whole
 * file, and c joins the live list now, its queue held. Nothing can run
 * between the end of that flush and this (JR-4). */
static void start_replay(struct client *c)
{
    c->live = true;
    c->prev = NULL;
    c->next = j.subs;
    if (j.subs != NULL)
        j.subs->prev = c;
    j.subs = c;
    j.replaying = c;
    trace_event("replay-start #%" PRIu64 " %" PRIu64 " bytes", c->id, j.size);
    trace_event("paused");
    j.replay =
        fut_timeout(j.loop, cli.replay_timeout_ms, replay_new(c->conn, j.size));
}

/* Ends the replay with its result rc (-ECANCELED when the main loop gave
 * it up): its subscriber is released, or closed (JR-8). */
static void end_replay(int rc)
{
    struct client *c = j.replaying;

    fut_clear(&j.replay);
    j.replaying = NULL;
    trace_event("replay-end %s", rc == 0 ? "done" : report_strerror(rc));
    trace_event("resumed");
    if (c == NULL)
        return; /* closed meanwhile, for its backlog */
    if (rc == 0)
        ring(c); /* its queue is no longer held */
    else
        close_subscriber(c, rc == -ETIMEDOUT ? "replay timed out"
                                             : report_strerror(rc));
}

/* ---------------------------------------------------------------------
 * The main loop. */

/* The branches of a turn, in order of priority (the lowest index wins a
 * tie): the signal first, the tick before a flood of events (it is not
 * held back by them), a subscriber before events (a flood does not keep
 * replays waiting). */
enum { ON_SIGNAL, ON_TICK, ON_SUBSCRIBER, ON_EVENT };

/* ... and of a turn while a replay runs: no tick (the writer is paused),
 * no new subscriber (one replay at a time). */
enum { REPLAY_OVER, REPLAY_SIGNAL, REPLAY_EVENT };

struct main_loop {
    struct fut base;
    struct co co;
    struct fut *op;          /* the select being awaited, or NULL */
    struct fut *sig;         /* SIGINT or SIGTERM; lives across turns */
    struct fut_interval *iv; /* the flush tick (JR-6) */
    int64_t tick;
    size_t winner; /* the branch that won */
    void *msg;     /* what the winning receive took */
    int rc;
};

/* Both selects set the winner to the signal's branch first: a select
 * that cannot even be made (-ENOMEM) then ends the loop. */
static struct fut *next_turn(struct main_loop *m)
{
    struct fut *fs[4];

    m->winner = ON_SIGNAL;
    /* fut_borrow: when another branch wins, the signal future is not
     * dropped (that would let the next signal kill us) but kept for the
     * next turn. Every other branch is made afresh each turn; dropping
     * them loses nothing. */
    fs[ON_SIGNAL] = fut_borrow(m->sig);
    fs[ON_TICK] = fut_interval_tick(m->iv, &m->tick);
    fs[ON_SUBSCRIBER] = fut_chan_recv(j.arrivals, &m->msg);
    fs[ON_EVENT] = fut_chan_recv(j.events, &m->msg);
    return fut_select(fs, 4, &m->winner);
}

static struct fut *replay_turn(struct main_loop *m)
{
    struct fut *fs[3];

    m->winner = REPLAY_SIGNAL;
    fs[REPLAY_OVER] = fut_borrow(j.replay);
    fs[REPLAY_SIGNAL] = fut_borrow(m->sig);
    fs[REPLAY_EVENT] = fut_chan_recv(j.events, &m->msg);
    return fut_select(fs, 3, &m->winner);
}

/* The signal's branch won: rc is the signal, or a negative errno when the
 * select could not even be made (see next_turn). */
static void stop_on(int rc)
{
    if (rc < 0) {
        report_error("%s", report_strerror(rc));
        j.status = EXIT_ERROR;
    }
}

/* Says where we listen (JR-1). */
static void say_listening(void)
{
    char shown[ADDR_TEXT_MAX];
    struct addr a;

    fut_tcp_listener_addr(j.listener, &a);
    addr_format((struct sockaddr *)&a.ss, shown, sizeof shown);
    trace_event("listening %s", shown);
    printf("listening on %s\n", shown);
    fflush(stdout);
}

/* Stops serving: the acceptor and every client task are cancelled, which
 * closes their connections, and the listener is closed: new connects are
 * refused. After this nothing more is read. */
static void stop_serving(void)
{
    fut_scope_drop(j.scope);
    j.scope = NULL;
    fut_tcp_listener_close(j.listener);
    j.listener = NULL;
}

static enum fut_poll main_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct main_loop *m = (struct main_loop *)f;

    CO_BEGIN(&m->co);
    /* A future starts at its first poll (fut.h, P4): poll the signal once
     * before anyone can know our port, so that from then on SIGTERM means
     * an orderly shutdown, never death. */
    if (fut_poll(m->sig, ctx) == FUT_PENDING) {
        say_listening();
    } else {
        report_error("cannot catch signals");
        j.status = EXIT_ERROR;
    }
    while (j.status == EXIT_DONE) {
        m->op = next_turn(m);
        CO_AWAIT_TAKE(&m->co, ctx, &m->op, m->rc);
        if (m->winner == ON_SIGNAL) {
            stop_on(m->rc);
            break;
        }
        if (m->winner == ON_EVENT) {
            number_events(m->msg);
            continue;
        }
        if (m->winner == ON_TICK) {
            m->op = flush(); /* JR-6 */
            CO_AWAIT_TAKE(&m->co, ctx, &m->op, m->rc);
            flushed(m->rc);
            continue;
        }
        /* lesson:af-journal-replay */
        /* A subscriber's turn (JR-8): flush (JR-6), then replay. While the
         * replay runs, each turn selects over it, the signal and events,
         * but not the tick: writing is paused (JR-7), events go on. */
        m->op = flush();
        CO_AWAIT_TAKE(&m->co, ctx, &m->op, m->rc);
        flushed(m->rc);
        if (j.status != EXIT_DONE)
            break;
        start_replay(m->msg);
        do {
            m->op = replay_turn(m);
            CO_AWAIT_TAKE(&m->co, ctx, &m->op, m->rc);
            if (m->winner == REPLAY_EVENT)
                number_events(m->msg); /* may close the one replayed */
        } while (m->winner == REPLAY_EVENT && j.replay != NULL &&
                 j.status == EXIT_DONE);
        end_replay(m->winner == REPLAY_OVER ? m->rc : -ECANCELED);
        /* end */
        if (m->winner == REPLAY_SIGNAL) {
            stop_on(m->rc);
            break;
        }
    }
    /* The end (JR-11): nothing more is read; what was read is numbered
     * and flushed. Then the file is cut to its whole records: after a
     * failed write, that drops what it left of a record (JR-12); after a
     * good flush the file has that size already. */
    trace_event("shutdown");
    stop_serving();
    if (j.status == EXIT_DONE) {
        number_events(NULL);
        m->op = flush();
        CO_AWAIT_TAKE(&m->co, ctx, &m->op, m->rc);
        flushed(m->rc);
    }
    m->op = fut_file_truncate(j.file, (int64_t)j.size);
    CO_AWAIT_TAKE(&m->co, ctx, &m->op, m->rc);
    CO_RETURN(&m->co, m, j.status);
    CO_END(&m->co);
}

static void main_drop(struct fut *f)
{
    struct main_loop *m = (struct main_loop *)f;

    fut_clear(&m->op);
    fut_clear(&j.replay); /* before its subscriber's connection closes */
    if (j.scope != NULL)
        stop_serving();
    fut_clear(&m->sig);
    fut_interval_close(m->iv);
    fut_mem_free(f);
}

static const struct fut_vtable main_vt = {"journal", main_poll, main_drop};

static struct fut *main_loop_new(void)
{
    struct main_loop *m = (struct main_loop *)fut_alloc(&main_vt, sizeof *m);

    if (m == NULL)
        return fut_ready(-ENOMEM);
    m->sig = fut_signal(j.loop);
    m->iv = fut_interval_new(j.loop, clock_now_ms(), cli.flush_ms);
    if (m->iv == NULL) {
        main_drop(&m->base);
        return fut_ready(-ENOMEM);
    }
    return &m->base;
}

/* ---------------------------------------------------------------------
 * Clients. */

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

/* A subscriber waits for the bell, or for its peer to leave (what a
 * subscriber sends means nothing, but EOF means it is gone). */
static struct fut *subscriber_wait(struct client *c)
{
    struct fut *fs[2];

    fs[0] = fut_chan_recv(c->bell, &c->rung);
    fs[1] = fut_tcp_read_line(c->conn, &c->line, &c->len);
    return fut_select(fs, 2, NULL);
}

static enum fut_poll client_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct client *c = (struct client *)f;

    CO_BEGIN(&c->co);
    c->op = fut_tcp_read_line(c->conn, &c->line, &c->len);
    CO_AWAIT_TAKE(&c->co, ctx, &c->op, c->rc);
    if (c->rc == 1 && says(c, "PUB")) { /* JR-3 */
        trace_event("pub #%" PRIu64, c->id);
        do {
            c->op = fut_tcp_read_line(c->conn, &c->line, &c->len);
            CO_AWAIT_TAKE(&c->co, ctx, &c->op, c->rc);
        } while (c->rc == 1 && publish(c->line, c->len) == 0);
    } else if (c->rc == 1 && says(c, "SUB")) { /* JR-4 */
        trace_event("sub #%" PRIu64, c->id);
        /* Take a place in line (JR-8). The main loop replays us, writing
         * to our connection, then rings: until then we must not end. So
         * the wait for that ring is made before we join the line: once in
         * line, nothing can fail. */
        c->op = fut_chan_recv(c->bell, &c->rung);
        if (fut_is_nomem(c->op) || fut_chan_try_send(j.arrivals, c) < 0)
            CO_RETURN(&c->co, c, -ENOMEM);
        CO_AWAIT_TAKE(&c->co, ctx, &c->op, c->rc);
        for (;;) {
            if (c->queue.len == 0) {
                c->op = subscriber_wait(c);
                CO_AWAIT_TAKE(&c->co, ctx, &c->op, c->rc);
                if (c->rc <= 0)
                    break; /* the peer left (0) or failed */
                continue;  /* rung, or a line: a subscriber's mean nothing */
            }
            buf_move(&c->out, &c->queue);
            c->op = fut_tcp_write_all(c->conn, c->out.data, c->out.len);
            CO_AWAIT_TAKE(&c->co, ctx, &c->op, c->rc);
            if (c->rc < 0)
                break;
            c->unsent -= c->out.len;
            buf_clear(&c->out);
        }
    } else if (c->rc == 1) {
        c->refusal = "ERR expected PUB or SUB\n"; /* JR-2 */
    }
    if (c->rc == -EMSGSIZE)
        c->refusal = "ERR line too long\n"; /* COM-6 */
    if (c->refusal != NULL) {
        c->why = "refused";
        c->op = fut_tcp_write_all(c->conn, c->refusal, strlen(c->refusal));
        CO_AWAIT_TAKE(&c->co, ctx, &c->op, c->rc);
    }
    CO_RETURN(&c->co, c, 0);
    CO_END(&c->co);
}

/* However the client ends (done, or cancelled at any await), this is the
 * one place that lets go of it. */
static void client_drop(struct fut *f)
{
    struct client *c = (struct client *)f;

    fut_clear(&c->op);
    if (c->live) {
        if (c->prev != NULL)
            c->prev->next = c->next;
        else
            j.subs = c->next;
        if (c->next != NULL)
            c->next->prev = c->prev;
    }
    trace_event("closed #%" PRIu64 "%s%s", c->id, c->why != NULL ? " " : "",
                c->why != NULL ? c->why : "");
    fut_tcp_close(c->conn);
    fut_chan_free(c->bell);
    buf_free(&c->queue);
    buf_free(&c->out);
    fut_clear(&c->task); /* our own handle: detaches, frees it */
    j.clients--;
    fut_mem_free(f);
}

static const struct fut_vtable client_vt = {"client", client_poll, client_drop};

/* Serves conn (takes it) in a task of its own. */
static void spawn_client(struct fut_tcp *conn, uint64_t id)
{
    struct client *c = (struct client *)fut_alloc(&client_vt, sizeof *c);
    struct fut *task;

    if (c == NULL || (c->bell = fut_chan_new(1)) == NULL) {
        report_note("out of memory: turning a client away");
        fut_mem_free((struct fut *)c);
        fut_tcp_close(conn);
        return;
    }
    c->conn = conn;
    c->id = id;
    j.clients++;
    task = fut_scope_spawn(j.scope, &c->base, "client");
    if (!fut_is_nomem(task))
        c->task = task; /* the task has not run yet: it runs from the loop */
}

/* ---------------------------------------------------------------------
 * The acceptor (JR-10). */

struct acceptor {
    struct fut base;
    struct co co;
    struct fut *op;
    struct fut_tcp *conn; /* accepted, not yet handed on */
    bool out_of_fds;      /* said so already, this time round */
    int rc;
};

static void trace_accepted(struct fut_tcp *conn, uint64_t id)
{
    char shown[ADDR_TEXT_MAX] = "?";
    struct addr peer;

    if (fut_tcp_peer(conn, &peer) == 0)
        addr_format((struct sockaddr *)&peer.ss, shown, sizeof shown);
    trace_event("accepted #%" PRIu64 " %s", id, shown);
}

static enum fut_poll acceptor_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct acceptor *a = (struct acceptor *)f;

    CO_BEGIN(&a->co);
    for (;;) {
        a->op = fut_tcp_accept(j.listener, &a->conn);
        CO_AWAIT_TAKE(&a->co, ctx, &a->op, a->rc);
        if (a->rc == 0 && j.clients < cli.max_clients) {
            a->out_of_fds = false;
            trace_accepted(a->conn, ++j.next_id);
            spawn_client(a->conn, j.next_id);
            a->conn = NULL;
        } else if (a->rc == 0) {
            trace_event("busy");
            a->op = fut_tcp_write_all(a->conn, "ERR busy\n", 9);
            CO_AWAIT_TAKE(&a->co, ctx, &a->op, a->rc);
            fut_tcp_close(a->conn);
            a->conn = NULL;
        } else {
            /* Out of file descriptors (or memory): the connection still
             * waits in the kernel. Turn it away with the spare descriptor
             * if we can; otherwise rest a little, or accept would fail
             * again at once, in a loop that burns a core. */
            if (!a->out_of_fds)
                report_note("accept: %s: turning clients away",
                            report_strerror(a->rc));
            a->out_of_fds = true;
            if (fut_tcp_turn_away(j.listener, "ERR busy\n") > 0) {
                trace_event("busy (out of file descriptors)");
                continue;
            }
            a->op = fut_sleep_until(j.loop, clock_deadline_in(RETRY_ACCEPT_MS));
            CO_AWAIT_TAKE(&a->co, ctx, &a->op, a->rc);
        }
    }
    CO_END(&a->co);
}

static void acceptor_drop(struct fut *f)
{
    struct acceptor *a = (struct acceptor *)f;

    fut_clear(&a->op);
    fut_tcp_close(a->conn);
    fut_mem_free(f);
}

static const struct fut_vtable acceptor_vt = {"acceptor", acceptor_poll,
                                              acceptor_drop};

/* Listens, and starts the acceptor. Returns 0, or -1 after reporting. */
static int start_serving(void)
{
    char shown[ADDR_TEXT_MAX];
    struct fut *acceptor;
    int rc = fut_tcp_listen(j.loop, (struct sockaddr *)&cli.listen.ss,
                            SOMAXCONN, &j.listener);

    if (rc < 0) {
        report_error("listening on %s: %s",
                     addr_format((const struct sockaddr *)&cli.listen.ss, shown,
                                 sizeof shown),
                     report_strerror(rc));
        return -1;
    }
    j.scope = fut_scope_new(j.ex);
    j.events = fut_chan_new_unbounded();
    j.arrivals = fut_chan_new_unbounded();
    acceptor = fut_alloc(&acceptor_vt, sizeof(struct acceptor));
    if (j.scope == NULL || j.events == NULL || j.arrivals == NULL ||
        acceptor == NULL) {
        report_error("out of memory");
        fut_mem_free(acceptor);
        return -1;
    }
    fut_drop(fut_scope_spawn(j.scope, acceptor, "acceptor")); /* detached */
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
    if (fut_exec_block_on(j.ex, opening_new(), "opening") == 0 &&
        start_serving() == 0)
        status = fut_exec_block_on(j.ex, main_loop_new(), "journal");
    if (status < 0) {
        report_error("%s", report_strerror(status));
        status = EXIT_ERROR;
    }
    if (j.scope != NULL)
        stop_serving();
    fut_file_close(j.file);
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
