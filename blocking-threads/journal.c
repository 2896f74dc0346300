/* journal: an event journal with replay, on blocking threads (JR-1..13).
 *
 * Publishers send lines; the journal numbers them (SEQ), keeps them in
 * memory, appends them to a file every --flush-ms, and streams them to
 * subscribers: first everything stored so far (the replay, read back from
 * the file), then every new event as it is published.
 *
 * The threads, and the one thing each of them blocks on:
 *
 *   main        accept() (in server.c), one connection thread per client.
 *   signals     sigwait() for SIGINT or SIGTERM (in server.c), then starts
 *               the shutdown.
 *   flusher     sleeps until the oldest pending event is --flush-ms old,
 *               then write()s everything pending to the file.
 *   connection  recv() from its client. A publisher's thread publishes
 *               each line. A subscriber's thread only watches for its
 *               client leaving; it starts a second thread, the writer:
 *   writer      send() to its subscriber: the replay, then live events,
 *               as fast as that subscriber reads and no faster.
 *
 * Two mutexes, always taken in this order:
 *
 *   j.file_lock  whoever holds it owns the file: the flusher while it
 *                writes, a replay from its flush to its last read. While
 *                a replay holds it, the flusher waits for it: that wait IS
 *                the pause of JR-7, nothing else is needed.
 *   j.lock       everything else: SEQ, the pending records, the
 *                subscribers and their queues. Held only for a few memory
 *                operations and never across a call that waits for a peer
 *                or the disk (a --trace line aside), so a publisher is
 *                never held up by a replay or a slow subscriber (JR-7,
 *                JR-9).
 *
 * Never wait for j.file_lock while holding j.lock: the flusher holds
 * j.file_lock when it asks for j.lock, so the other order could deadlock.
 *
 * Why no channel here, when the other programs of this track use chan?
 * A bounded channel makes a fast sender wait for a slow receiver. That is
 * exactly what a publisher must never do (JR-9), and a subscriber's limit
 * is in bytes, not in items. So each subscriber gets a byte queue that
 * publishers append to under j.lock, with a condition variable its writer
 * sleeps on, and a publisher that would overfill it closes the subscriber
 * instead of waiting.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "addr.h"
#include "bsock.h"
#include "buf.h"
#include "cli.h"
#include "clock.h"
#include "jfile.h"
#include "jrec.h"
#include "line.h"
#include "lsock.h"
#include "proc.h"
#include "report.h"
#include "server.h"
#include "trace.h"

/* ------------------------------------------------------------------------
 * Options and state */

/* The command line (common/cli.h); set once in main(), then only read. */
static struct journal_cli cli;

/* Bytes per read() of the file, and per send() of a subscriber's queue. */
enum { IO_CHUNK = 64 * 1024 };

/* A subscriber. It lives on its connection thread's stack: that thread
 * starts the writer, and returns only after the subscriber has left
 * j.subs and the writer has been joined, so no one can see it after. */
struct sub {
    struct server_conn *conn; /* its connection (borrowed) */
    pthread_t writer;         /* started and joined by the connection */

    /* Guarded by j.lock. */
    uint64_t ticket;     /* its place in the queue for replays */
    bool live;           /* in j.subs: publish() queues events for it */
    bool closed;         /* shut down for good: nothing more is queued for
                          * it and its writer stops */
    bool reset;          /* dropped for not reading: close with a reset */
    struct buf out;      /* events queued, not yet taken by the writer */
    uint64_t refused;    /* bytes of the writer's batch the kernel refused
                          * and has not taken since: 0 while the
                          * subscriber keeps up (JR-9) */
    bool replaying;      /* from its turn to its live phase: what is
                          * queued meanwhile counts, since nothing takes
                          * it before the replay ends (step 5 below) */
    pthread_cond_t wake; /* its writer sleeps here: out grew, or closed */
    struct sub *next;    /* in j.subs */
};

/* BEGIN SOLUTION */
static struct journal {
    pthread_mutex_t file_lock;
    /* Guarded by file_lock. */
    struct jfile file; /* the journal file */
    bool file_failed;  /* a write failed: never write again (JR-12) */

    pthread_mutex_t lock;
    /* Guarded by lock. */
    uint64_t last_seq;         /* SEQ of the last event read */
    struct buf pending;        /* records read but not yet in the file */
    size_t pending_count;      /* how many records pending holds */
    int64_t pending_since;     /* when the oldest pending record arrived */
    pthread_cond_t flush_wake; /* the flusher sleeps here */
    struct sub *subs;          /* live subscribers */
    uint64_t next_ticket;      /* the ticket the next subscriber gets */
    uint64_t now_serving;      /* the ticket whose replay may run now */
    pthread_cond_t turn;       /* subscribers wait here for their turn */
    bool stopping;             /* shutdown has started */
    int status;                /* the exit status */

    /* Set before any thread starts, then read-only. */
    struct server *server;
} j = {
    .file_lock = PTHREAD_MUTEX_INITIALIZER,
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .pending = BUF_INIT,
    .turn = PTHREAD_COND_INITIALIZER,
    .status = EXIT_DONE,
};

/* Starts the shutdown (see Main). */
static void journal_stop(int status);

/* ------------------------------------------------------------------------
 * The file */

/* Appends count records to the file; j.file_lock must be held. Returns 0
 * or a negative errno; on the first failure, reports it and stops the journal (JR-12): jfile has
 * cut the file back to whole records, and it is never written again. */
static int file_write(const struct buf *records, size_t count)
{
    int rc;

    if (j.file_failed)
        return -EIO;
    if (records->len == 0)
        return 0;
    rc = jfile_append(&j.file, records->data, records->len);
    if (rc < 0) {
        j.file_failed = true;
        report_error("writing %s: %s", cli.file, report_strerror(rc));
        journal_stop(EXIT_ERROR);
        return rc;
    }
    trace_event("flush %zu records", count);
    return 0;
}

/* Moves the pending records into *out (its old contents are freed).
 * Returns how many there are. j.lock must be held. */
static size_t take_pending_locked(struct buf *out)
{
    size_t count = j.pending_count;

    buf_move(out, &j.pending);
    j.pending_count = 0;
    return count;
}

/* Writes whatever is pending. j.file_lock must be held, j.lock not. */
static void flush_pending(void)
{
    struct buf batch = BUF_INIT;
    size_t count;

    pthread_mutex_lock(&j.lock);
    count = take_pending_locked(&batch);
    pthread_mutex_unlock(&j.lock);
    /* j.lock is free again before the write: publishers go on meanwhile. */
    file_write(&batch, count);
    buf_free(&batch);
}

/* pthread_cond_timedwait() until deadline_ms on the monotonic clock; cv
 * must have been created with CLOCK_MONOTONIC (see main). */
static void cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *m,
                            int64_t deadline_ms)
{
    struct timespec ts = {
        .tv_sec = (time_t)(deadline_ms / 1000),
        .tv_nsec = (long)(deadline_ms % 1000) * 1000000,
    };

    pthread_cond_timedwait(cv, m, &ts);
}

/* The flusher thread (JR-6): writes the pending records once the oldest
 * of them is flush_ms old. */
static void *flusher_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&j.lock);
    while (!j.stopping) {
        int64_t due = j.pending_since + cli.flush_ms;

        if (j.pending.len == 0) {
            pthread_cond_wait(&j.flush_wake, &j.lock);
        } else if (!clock_passed(due)) {
            cond_wait_until(&j.flush_wake, &j.lock, due);
        } else {
            /* Let go of j.lock before asking for the file: while a replay
             * holds j.file_lock, this thread waits right here, and
             * publishers must not wait with it. */
            pthread_mutex_unlock(&j.lock);
            pthread_mutex_lock(&j.file_lock);
            flush_pending();
            pthread_mutex_unlock(&j.file_lock);
            pthread_mutex_lock(&j.lock);
        }
    }
    pthread_mutex_unlock(&j.lock);
    return NULL;
}

/* ------------------------------------------------------------------------
 * Live fan-out */

static void sub_register_locked(struct sub *s)
{
    if (s->closed || s->live)
        return;
    s->live = true;
    s->next = j.subs;
    j.subs = s;
}

static void sub_unregister_locked(struct sub *s)
{
    struct sub **p;

    if (!s->live)
        return;
    for (p = &j.subs; *p != s; p = &(*p)->next)
        ;
    *p = s->next;
    s->live = false;
}

/* Closes subscriber s for good: no more events are queued for it, its
 * writer stops, and its socket is shut down so that the blocking calls
 * of both its threads return at once. shutdown() does not block, so it is
 * fine under j.lock; closing the socket is left to the server, after the
 * connection thread returns. */
static void sub_close_locked(struct sub *s)
{
    if (s->closed)
        return;
    s->closed = true;
    sub_unregister_locked(s);
    buf_free(&s->out);
    shutdown(s->conn->fd, SHUT_RDWR);
    pthread_cond_broadcast(&s->wake);
}

/* Whether s is over --max-backlog with len more bytes (JR-9). Slow is
 * the subscriber's doing, never ours: only while the kernel refuses what
 * s's writer offered (s->refused > 0) does its queue count. While the
 * kernel takes everything, the queue is only bytes the writer has not got
 * to yet (it was asleep, or not scheduled), and it takes them all at its
 * next turn: a subscriber that reads as fast as it can is never closed,
 * however large the burst. */
static bool sub_over_backlog_locked(const struct sub *s, size_t len)
{
    return (s->refused > 0 || s->replaying) &&
           s->refused + s->out.len + len > (uint64_t)cli.max_backlog;
}

/* Queues one record for every live subscriber (JR-9). Never waits: a
 * subscriber that cannot take it is closed instead. */
static void queue_for_subscribers_locked(const char *record, size_t len)
{
    struct sub *s = j.subs;

    while (s != NULL) {
        struct sub *next = s->next; /* s may leave the list */

        if (sub_over_backlog_locked(s, len)) {
            trace_event("backlog-exceeded #%" PRIu64 " %" PRIu64 " bytes",
                        s->conn->id, s->refused + s->out.len + len);
            s->reset = true;
            sub_close_locked(s);
        } else if (buf_append(&s->out, record, len) < 0) {
            sub_close_locked(s);
        } else {
            pthread_cond_signal(&s->wake);
        }
        s = next;
    }
}

/* Numbers one event and hands it to the file's pending records and to
 * every live subscriber: all under j.lock, all memory copies. Returns 0
 * or -ENOMEM. Called by publisher threads. */
static int publish(const char *event, size_t len)
{
    uint64_t seq = 0;
    size_t start;
    int rc;

    pthread_mutex_lock(&j.lock);
    start = j.pending.len;
    rc = jrec_format(&j.pending, j.last_seq + 1, event, len);
    if (rc == 0) {
        seq = ++j.last_seq;
        j.pending_count++;
        if (start == 0) {
            j.pending_since = clock_now_ms();
            pthread_cond_signal(&j.flush_wake);
        }
        queue_for_subscribers_locked(j.pending.data + start,
                                     j.pending.len - start);
    }
    pthread_mutex_unlock(&j.lock);
    if (rc == 0)
        trace_event("event %" PRIu64, seq);
    return rc;
}

static void sub_set_refused(struct sub *s, uint64_t refused)
{
    pthread_mutex_lock(&j.lock);
    s->refused = refused;
    pthread_mutex_unlock(&j.lock);
}

/* Sends one batch taken from s's queue. Each chunk is first offered
 * without waiting (MSG_DONTWAIT): only when the kernel refuses it does
 * the rest of the batch count as unsent (s->refused), and only then does
 * the writer wait for the subscriber to read. */
static int sub_send_batch(struct sub *s, const struct buf *batch)
{
    size_t done = 0;
    int rc = 0;

    while (rc == 0 && done < batch->len) {
        size_t n = batch->len - done < IO_CHUNK ? batch->len - done : IO_CHUNK;
        ssize_t sent = send(s->conn->fd, batch->data + done, n,
                            MSG_DONTWAIT | MSG_NOSIGNAL);

        if (sent > 0) {
            done += (size_t)sent;
            if (s->refused > 0) /* only this thread writes it */
                sub_set_refused(s, 0);
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            sub_set_refused(s, batch->len - done);
            /* No deadline: a subscriber may read as slowly as it likes.
             * If it falls too far behind, a publisher closes it
             * (--max-backlog) and the shutdown() makes this send()
             * return. */
            rc = bsock_send_all(s->conn->fd, batch->data + done, n,
                                BSOCK_FOREVER);
            done += n;
        } else if (errno != EINTR) {
            rc = -errno;
        }
    }
    sub_set_refused(s, 0);
    return rc;
}

/* After the replay: sends s the events queued for it, until it closes. */
static void sub_send_live(struct sub *s)
{
    struct buf batch = BUF_INIT;
    int rc = 0;

    pthread_mutex_lock(&j.lock);
    s->replaying = false; /* its queue counts only after a refusal now */
    while (rc == 0) {
        while (!s->closed && s->out.len == 0)
            pthread_cond_wait(&s->wake, &j.lock);
        if (s->closed)
            break;
        /* Swap the queue with the (empty) batch: j.lock is held for a few
         * word copies, never for a send. */
        struct buf full = s->out;

        s->out = batch;
        batch = full;
        pthread_mutex_unlock(&j.lock);
        rc = sub_send_batch(s, &batch);
        buf_clear(&batch);
        pthread_mutex_lock(&j.lock);
    }
    pthread_mutex_unlock(&j.lock);
    buf_free(&batch);
}

/* ------------------------------------------------------------------------
 * Replay */

/* Waits until it is s's turn to replay (JR-8). A ticket lock: tickets are
 * handed out in the order subscribers arrive, and each one waits until
 * now_serving reaches its ticket. Returns 0, or -ECANCELED when s was
 * closed meanwhile (it must still pass the turn on: the next ticket waits
 * for exactly this one). */
static int sub_wait_turn(struct sub *s)
{
    int rc;

    pthread_mutex_lock(&j.lock);
    while (j.now_serving != s->ticket)
        pthread_cond_wait(&j.turn, &j.lock);
    rc = s->closed ? -ECANCELED : 0;
    s->replaying = true; /* until sub_send_live() */
    pthread_mutex_unlock(&j.lock);
    return rc;
}

static void sub_pass_turn(void)
{
    pthread_mutex_lock(&j.lock);
    j.now_serving++;
    pthread_cond_broadcast(&j.turn);
    pthread_mutex_unlock(&j.lock);
}

/* Sends the file's first `end` bytes to s, finishing by deadline.
 * j.file_lock is held: nothing writes to the file meanwhile. */
static int replay_send(struct sub *s, uint64_t end, int64_t deadline)
{
    char *chunk = malloc(IO_CHUNK);
    uint64_t done = 0;
    int rc = chunk != NULL ? 0 : -ENOMEM;

    while (rc == 0 && done < end) {
        size_t want = end - done < IO_CHUNK ? (size_t)(end - done) : IO_CHUNK;
        ssize_t got = jfile_read(&j.file, done, chunk, want);

        if (got <= 0) {
            rc = got < 0 ? (int)got : -EIO; /* shorter than it should be */
            break;
        }
        /* One deadline for the whole replay, computed once: each send()
         * gets only the time that is left (SO_SNDTIMEO, see bsock). */
        rc = bsock_send_all(s->conn->fd, chunk, (size_t)got, deadline);
        done += (uint64_t)got;
    }
    free(chunk);
    return rc;
}

/* lesson:journal-replay */
/* The replay (JR-4, JR-6, JR-7), in s's writer thread, on its turn.
 *
 *  1. Take j.file_lock: from now on the flusher cannot write, the file is
 *     paused. Publishers go on: they need j.lock only.
 *  2. Under j.lock, in ONE critical section, take the pending records AND
 *     register s as live. Events up to some SEQ n are now in the file or
 *     in `taken`; every event after n will be queued for s. Both sides of
 *     the line are drawn by the same lock hold, so no event falls between
 *     them (a gap) and none lands on both sides (a duplicate).
 *  3. Write `taken` to the file: the flush before a replay.
 *  4. Send the file's first `end` bytes to s: exactly events 1..n.
 *  5. Release j.file_lock: writing resumes, and the flusher writes what
 *     piled up meanwhile. Events after n reach s from its queue, in order,
 *     once this returns. (They count towards --max-backlog from step 2
 *     on: a subscriber that takes too long over its replay while events
 *     pour in is closed like any other slow one.)
 * Returns 0, or a negative errno (-ETIMEDOUT: s did not read in time). */
static int replay(struct sub *s)
{
    int64_t deadline = clock_deadline_in(cli.replay_timeout_ms);
    struct buf taken = BUF_INIT;
    size_t count;
    uint64_t end;
    int rc;

    pthread_mutex_lock(&j.file_lock);
    trace_event("paused");
    pthread_mutex_lock(&j.lock);
    count = take_pending_locked(&taken);
    sub_register_locked(s);
    pthread_mutex_unlock(&j.lock);

    rc = file_write(&taken, count);
    end = j.file.size;
    trace_event("replay-start #%" PRIu64 " %" PRIu64 " bytes", s->conn->id,
                end);
    if (rc == 0)
        rc = replay_send(s, end, deadline);
    trace_event("replay-end #%" PRIu64 " %s", s->conn->id,
                rc == 0 ? "done" : report_strerror(rc));
    pthread_mutex_unlock(&j.file_lock);
    trace_event("resumed");
    buf_free(&taken);
    return rc;
}
/* end */

/* ------------------------------------------------------------------------
 * Clients */

static void *sub_writer_main(void *arg)
{
    struct sub *s = arg;
    int rc = sub_wait_turn(s);

    if (rc == 0)
        rc = replay(s);
    sub_pass_turn();
    if (rc == 0)
        sub_send_live(s);
    pthread_mutex_lock(&j.lock);
    if (rc == -ETIMEDOUT) /* JR-8: it did not read its replay in time */
        s->reset = true;
    sub_close_locked(s);
    pthread_mutex_unlock(&j.lock);
    return NULL;
}

/* A publisher (JR-3): every line is an event, until EOF or an error. */
static void serve_publisher(struct server_conn *c, struct line_framer *f)
{
    const char *line;
    size_t len;
    int rc;

    trace_event("pub #%" PRIu64, c->id);
    while ((rc = bsock_read_line(c->fd, f, BSOCK_FOREVER, NULL, &line, &len)) ==
           1) {
        if (publish(line, len) < 0) {
            report_error("out of memory: closing publisher %s", c->peer);
            return;
        }
    }
    if (rc == -EMSGSIZE) /* COM-6 */
        lsock_turn_away(c->fd, "ERR line too long\n");
}

/* A subscriber (JR-4): the writer thread does the sending; this thread
 * only reads, to notice the client leaving (EOF or an error), and then
 * closes it so that the writer stops too. A client that only shuts down
 * its sending side counts as gone: EOF is all a reader can see. */
static void serve_subscriber(struct server_conn *c)
{
    struct sub s = {.conn = c, .out = BUF_INIT};
    char sink[512];
    ssize_t n;
    int rc;

    pthread_cond_init(&s.wake, NULL);
    pthread_mutex_lock(&j.lock);
    s.ticket = j.next_ticket++;
    pthread_mutex_unlock(&j.lock);
    trace_event("sub #%" PRIu64 " ticket %" PRIu64, c->id, s.ticket);
    rc = server_spawn(&s.writer, sub_writer_main, &s);
    if (rc < 0) {
        report_note("cannot serve subscriber %s: %s", c->peer,
                    report_strerror(rc));
        /* Its ticket is taken: the next subscriber waits for it. */
        sub_wait_turn(&s);
        sub_pass_turn();
    } else {
        /* Whatever a subscriber sends after SUB means nothing: drop it. */
        while ((n = recv(c->fd, sink, sizeof(sink), 0)) > 0 ||
               (n < 0 && errno == EINTR))
            ;
        pthread_mutex_lock(&j.lock);
        sub_close_locked(&s);
        pthread_mutex_unlock(&j.lock);
        pthread_join(s.writer, NULL);
    }
    if (s.reset) {
        /* Dropped for not reading: linger 0 makes the server's close()
         * send a reset and throw away what it did not read. A normal
         * close would leave the kernel pushing those bytes (megabytes,
         * maybe) at a peer that does not read, for minutes. */
        struct linger now = {1, 0};

        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &now, sizeof(now));
    }
    buf_free(&s.out);
    pthread_cond_destroy(&s.wake);
}

/* A connection thread (server.c calls it): the first line picks the role
 * (JR-2). */
static void serve(struct server_conn *c)
{
    struct line_framer f;
    const char *line;
    size_t len;
    int rc = line_framer_init(&f, LINE_MAX_BYTES);

    if (rc == 0)
        rc = bsock_read_line(c->fd, &f, BSOCK_FOREVER, NULL, &line, &len);
    if (rc == 1 && len == 3 && memcmp(line, "PUB", 3) == 0) {
        serve_publisher(c, &f);
    } else if (rc == 1 && len == 3 && memcmp(line, "SUB", 3) == 0) {
        line_framer_free(&f); /* a subscriber's lines are never read */
        serve_subscriber(c);
    } else if (rc == 1) {
        lsock_turn_away(c->fd, "ERR expected PUB or SUB\n");
    } else if (rc == -EMSGSIZE) {
        lsock_turn_away(c->fd, "ERR line too long\n");
    }
    line_framer_free(&f);
}

/* ------------------------------------------------------------------------
 * Main */

/* Starts the shutdown, from any thread: stop accepting (server_run() in
 * main returns once every connection is done) and wake the flusher.
 * status is the exit status; an error wins over a clean stop. */
static void journal_stop(int status)
{
    pthread_mutex_lock(&j.lock);
    if (status != EXIT_DONE)
        j.status = status;
    j.stopping = true;
    pthread_cond_broadcast(&j.flush_wake);
    pthread_mutex_unlock(&j.lock);
    server_stop(j.server);
}

/* SIGINT or SIGTERM (COM-8), from the server's signal thread. */
static void journal_on_signal(int signum)
{
    (void)signum;
    journal_stop(EXIT_DONE);
}

/* Opens and checks the journal file (JR-5, JR-13). Returns 0 or -1 after
 * reporting. */
static int open_file(void)
{
    int rc = jfile_open(&j.file, cli.file);

    if (rc == -EINVAL) {
        /* Line k of a journal holds SEQ k: the line number says which
         * record was expected. */
        report_error("%s line %" PRIu64 ": not a journal record"
                     " (expected \"%" PRIu64 " EVENT\")",
                     cli.file, j.file.bad_line, j.file.bad_line);
        return -1;
    }
    if (rc < 0) {
        report_error("%s: %s", cli.file, report_strerror(rc));
        return -1;
    }
    if (j.file.cut > 0)
        report_note("cut a torn last line (%" PRIu64 " bytes) from %s",
                    j.file.cut, cli.file);
    j.last_seq = j.file.last_seq;
    return 0;
}

/* Listens, and says where (JR-1). Returns 0 or -1 after reporting. */
static int open_server(void)
{
    const struct server_config cfg = {cli.max_clients, "ERR busy\n", serve,
                                      journal_on_signal};
    int rc;

    j.server = server_new(&cli.listen, &cfg, &rc);
    if (j.server == NULL) {
        lsock_report_failure(&cli.listen, rc);
        return -1;
    }
    server_announce(j.server);
    return 0;
}

/* The flusher's condition variable waits with deadlines on the monotonic
 * clock, like every deadline in the kit (the default is the wall clock,
 * which jumps when someone sets the time). */
static void init_flush_wake(void)
{
    pthread_condattr_t attr;

    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&j.flush_wake, &attr);
    pthread_condattr_destroy(&attr);
}

/* The orderly end (JR-11), once server_run() has returned, that is once
 * every connection thread has been joined: join the other threads, write
 * whatever is still pending, close and free everything. Returns the exit
 * status. */
static int shut_down(pthread_t flusher)
{
    int rc;

    pthread_join(flusher, NULL);
    /* Every other thread is gone: no publisher can add an event any more,
     * so this last flush writes every event the journal read. */
    pthread_mutex_lock(&j.file_lock);
    flush_pending();
    pthread_mutex_unlock(&j.file_lock);
    rc = jfile_close(&j.file);
    if (rc < 0 && !j.file_failed) {
        report_error("writing %s: %s", cli.file, report_strerror(rc));
        j.status = EXIT_ERROR;
    }
    server_free(j.server);
    buf_free(&j.pending);
    pthread_cond_destroy(&j.flush_wake);
    trace_event("shutdown done");
    return j.status;
}

int main(int argc, char **argv)
{
    pthread_t flusher;
    int status;

    proc_setup();
    if (!cli_journal(argc, argv, &cli, &status))
        return status;
    if (open_file() < 0)
        return EXIT_ERROR;
    if (open_server() < 0) {
        jfile_close(&j.file);
        return EXIT_ERROR;
    }
    init_flush_wake();
    if (server_spawn(&flusher, flusher_main, NULL) < 0) {
        report_error("cannot start threads");
        return EXIT_ERROR;
    }
    status = server_run(j.server);
    if (status < 0) {
        report_error("accept: %s", report_strerror(status));
        journal_stop(EXIT_ERROR);
    }
    return shut_down(flusher);
}
/* STUB
// TODO: the journal: its state, the flusher, publishers, subscribers with
// their replay, and the orderly shutdown on SIGINT/SIGTERM.
int main(int argc, char **argv)
{
    int status;

    proc_setup();
    if (!cli_journal(argc, argv, &cli, &status))
        return status;
    report_error("not written yet");
    return EXIT_ERROR;
}
END SOLUTION */
