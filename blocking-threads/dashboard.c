/* dashboard: every tick, print the events a source sent since the last one
 * (the blocking-threads way: one thread per activity, a channel between).
 *
 * Two things must happen at once: waiting for the source's next line, and
 * waiting for the next tick. A blocking recv() can only wait for one of
 * them, so each gets its own thread:
 *   - the reader thread blocks in recv(), cuts lines with the framer and
 *     sends them over a bounded channel to the main thread, all the lines
 *     one recv() brought in one message (a slice): one message per event
 *     would cost a malloc, a free and a channel hand-off (a lock, maybe a
 *     thread switch) per event;
 *   - the main thread keeps the schedule: it receives from the channel
 *     with a deadline, the next tick's due time, so a silent source never
 *     holds a tick back, and it looks at the clock after every message, so
 *     a flooding source cannot hold one back either.
 * The channel is bounded, and main stops taking from it while the batch
 * is full (batch_full()): if main falls behind, the reader waits, and the
 * source is slowed down by TCP itself (back-pressure), instead of events
 * piling up in memory.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "batch.h"
#include "bsock.h"
#include "buf.h"
#include "chan.h"
#include "cli.h"
#include "clock.h"
#include "line.h"
#include "proc.h"
#include "report.h"
#include "trace.h"

/* How many messages may wait in the channel before the reader waits. */
enum { EVENTS_QUEUED_MAX = 64 };

/* How often main shuts the socket down again while it waits for the
 * reader to answer a cancellation (see source_cancel). */
enum { CANCEL_RETRY_MS = 10 };

/* The command line (common/cli.h); set once in main(), then only read. */
static struct dashboard_cli cli;

/* What the reader sends to main. */
enum msg_kind {
    MSG_EVENTS, /* lines from the source, each ending in '\n', in
                   data[0..len) */
    MSG_END,    /* the last message: the source is done, err says how */
};

/* One message; the channel owns it in flight, the receiver frees it with
 * free(). */
struct msg {
    enum msg_kind kind;
    int err;        /* MSG_END: 0 when the source closed, else a negative
                         errno (-ECONNRESET, -EMSGSIZE ...) */
    bool connected; /* MSG_END: whether the connection was ever made */
    size_t len;     /* MSG_EVENTS: bytes in data */
    char data[];    /* MSG_EVENTS: the lines, '\n' after each */
};

/* What main and the reader share.
 * Lock rule: `lock` guards the fields marked (lock). The reader opens and
 * closes the socket; main only shuts it down, and only under the lock, so
 * it never touches a number that the reader has already closed. */
struct source {
    pthread_mutex_t lock;
    int fd;              /* (lock) the socket while open, else -1 */
    bool cancelled;      /* (lock) set by main, never reset */
    struct chan *events; /* reader -> main; the reader closes it last */
    pthread_t reader;    /* written by main before anyone reads it */
};

/* BEGIN SOLUTION */
/* Whether main has cancelled the reader (a bsock_cancel check). */
static bool source_cancelled(void *arg)
{
    struct source *src = arg;
    bool cancelled;

    pthread_mutex_lock(&src->lock);
    cancelled = src->cancelled;
    pthread_mutex_unlock(&src->lock);
    return cancelled;
}

/* Publishes fd, unless main has cancelled. Returns false when cancelled
 * (the caller still owns fd). */
static bool source_publish_fd(struct source *src, int fd)
{
    bool ok;

    pthread_mutex_lock(&src->lock);
    ok = !src->cancelled;
    if (ok)
        src->fd = fd;
    pthread_mutex_unlock(&src->lock);
    return ok;
}

static void source_close_fd(struct source *src)
{
    pthread_mutex_lock(&src->lock);
    if (src->fd >= 0)
        close(src->fd);
    src->fd = -1;
    pthread_mutex_unlock(&src->lock);
}

/* Sends main the line just read and every other complete line the
 * framer already holds, in one message: a slice of at most one framer's
 * worth. Returns 0, or -ENOMEM, or -EPIPE when the channel is closed. */
static int reader_send_slice(struct source *src, struct line_framer *fr,
                             const char *line, size_t len)
{
    struct buf slice = BUF_INIT;
    struct msg *m;
    int rc;

    do {
        rc = buf_append(&slice, line, len);
        if (rc == 0)
            rc = buf_putc(&slice, '\n');
    } while (rc == 0 && line_framer_next(fr, &line, &len) == 1);
    m = rc == 0 ? malloc(sizeof(*m) + slice.len) : NULL;
    if (m != NULL) {
        m->kind = MSG_EVENTS;
        m->len = slice.len;
        memcpy(m->data, slice.data, slice.len);
    }
    buf_free(&slice);
    if (m == NULL)
        return -ENOMEM;
    /* Blocks while the channel is full: main is behind, so we stop
     * reading, and the source has to wait for us. */
    if (chan_send(src->events, m) < 0) {
        free(m);
        return -EPIPE;
    }
    return 0;
}

/* Reads lines from fd and sends them to main until the source ends.
 * Returns 0 when the source closed, or a negative errno. */
static int reader_loop(struct source *src, int fd, struct line_framer *fr)
{
    /* recv() has no timeout: main keeps the time. */
    const struct bsock_cancel cancel = {source_cancelled, src};
    const char *line;
    size_t len;
    int rc;

    /* bsock_read_line() calls recv() only when no complete line is
     * buffered; the slice then takes the lines that recv() brought. A
     * line too long is reported by the next bsock_read_line(). */
    while ((rc = bsock_read_line(fd, fr, BSOCK_FOREVER, &cancel, &line,
                                 &len)) == 1) {
        rc = reader_send_slice(src, fr, line, len);
        if (rc < 0)
            return rc;
    }
    if (rc == 0) /* a partial line before the end is not an event (COM-6) */
        trace_event("closed%s", line_framer_pending(fr) > 0 ? " mid-line" : "");
    return rc;
}

/* Connects, then reads. Returns like reader_loop(); *connected says
 * whether the connection was made. */
static int reader_run(struct source *src, struct line_framer *fr,
                      bool *connected)
{
    char shown[ADDR_TEXT_MAX];
    int fd = bsock_socket(&cli.source);
    int rc;

    if (fd < 0)
        return fd;
    if (!source_publish_fd(src, fd)) {
        close(fd);
        return -ECANCELED;
    }
    trace_event("connecting %s",
                addr_format((const struct sockaddr *)&cli.source.ss, shown,
                            sizeof(shown)));
    rc = bsock_connect(fd, &cli.source, BSOCK_FOREVER);
    if (rc == 0) {
        *connected = true;
        trace_event("connected");
        rc = reader_loop(src, fd, fr);
    }
    source_close_fd(src);
    return rc;
}

/* The reader thread. Its last words are a MSG_END, then it closes the
 * channel: main learns how the source ended, then that nothing follows. */
static void *reader_main(void *arg)
{
    struct source *src = arg;
    struct line_framer fr;
    bool connected = false;
    int rc = line_framer_init(&fr, LINE_MAX_BYTES);
    struct msg *end;

    if (rc == 0)
        rc = reader_run(src, &fr, &connected);
    line_framer_free(&fr);
    end = malloc(sizeof(*end));
    if (end != NULL) {
        end->kind = MSG_END;
        end->err = rc;
        end->connected = connected;
        end->len = 0;
        if (chan_send(src->events, end) < 0)
            free(end);
    }
    /* Without memory for the MSG_END, closing alone still ends main's
     * wait (chan_recv fails with -EPIPE): the error is then unknown. */
    chan_close(src->events);
    return NULL;
}

/* Takes one message from the reader: its events go into the batch; the
 * end is kept in *end. Returns 0 or a negative errno. */
static int take_message(struct msg *m, struct batch *pending, struct msg **end)
{
    bool tracing = trace_enabled(); /* once per slice, not per event */
    const char *line = m->data;
    const char *stop = m->data + m->len;
    int rc = 0;

    if (m->kind == MSG_END) {
        *end = m;
        return 0;
    }
    while (rc == 0 && line < stop) {
        const char *nl = memchr(line, '\n', (size_t)(stop - line));

        if (tracing)
            trace_bytes("event", line, (size_t)(nl - line));
        rc = batch_add(pending, line, (size_t)(nl - line));
        line = nl + 1;
    }
    free(m);
    return rc;
}

/* Waits for the reader's next message until `due`, unless the batch is
 * full (a flood): then it only waits for `due`, and the reader, once the
 * channel is full too, stops reading. Returns like chan_recv_until(). */
static int wait_message(struct source *src, const struct batch *pending,
                        void **item, int64_t due)
{
    struct timespec ts;
    int64_t left;

    if (!batch_full(pending))
        return chan_recv_until(src->events, item, due);
    left = clock_ms_left(due);
    ts.tv_sec = left / 1000;
    ts.tv_nsec = (left % 1000) * 1000000;
    nanosleep(&ts, NULL);
    return -ETIMEDOUT;
}

/* lesson:dashboard-tick */
/* The main thread's loop: a batch at every tick until the source ends.
 * The schedule is absolute (common/batch.h): tick K is due at start +
 * K * tick_ms, so a late tick does not push the next ones back. Returns 0
 * with the reader's last message in *end (NULL if it had no memory for
 * one), or a negative errno when writing failed. */
static int tick_loop(struct source *src, struct batch *pending,
                     struct batch_sched *sched, struct msg **end)
{
    *end = NULL;
    for (;;) {
        int64_t due, now, tick;
        void *item;
        int rc;

        batch_sched_next(sched, clock_now_ms(), &due);
        /* Wait for a message, but never past the tick's due time. */
        rc = wait_message(src, pending, &item, due);
        if (rc == -EPIPE)
            return 0; /* closed without a MSG_END: no memory for one */
        if (rc == 0) {
            rc = take_message(item, pending, end);
            if (rc < 0 || *end != NULL)
                return rc;
        }
        /* Look at the clock after EVERY message, not only when the
         * channel is empty: under a flood it never is. Late by whole
         * periods (the process was stopped, say)? Then the schedule hands
         * out only the most recent tick due: the missed ones are skipped,
         * never written in a burst. */
        now = clock_now_ms();
        tick = batch_sched_next(sched, now, &due);
        if (now >= due) {
            rc = batch_write(pending, tick, false);
            if (rc < 0)
                return rc;
            batch_sched_done(sched, tick);
        }
    }
}
/* end */

/* Stops the reader early (main can no longer write): the same two traps
 * as in fetch-line-watchdog. The reader may be blocked in recv(), in
 * connect(), or in chan_send() because the channel is full. `cancelled`
 * stops it from starting anything new, shutdown() wakes a recv() or a
 * connect(), and draining the channel wakes a chan_send(). A connect()
 * that starts just after a shutdown() is not woken by it, so the shutdown
 * is repeated until the reader's MSG_END arrives. Then it can be joined. */
static void source_cancel(struct source *src)
{
    void *item;
    int rc;

    pthread_mutex_lock(&src->lock);
    src->cancelled = true;
    pthread_mutex_unlock(&src->lock);
    do {
        pthread_mutex_lock(&src->lock);
        if (src->fd >= 0)
            shutdown(src->fd, SHUT_RDWR);
        pthread_mutex_unlock(&src->lock);
        rc = chan_recv_until(src->events, &item,
                             clock_deadline_in(CANCEL_RETRY_MS));
        if (rc == 0)
            free(item); /* an event nobody will see, or the MSG_END */
    } while (rc != -EPIPE);
    trace_event("cancelled");
}

/* How the source ended, on stdout and stderr. Returns the exit status. */
static int finish(struct batch *pending, const struct batch_sched *sched,
                  const struct msg *end)
{
    int err = end == NULL ? -ENOMEM : end->err;
    int rc = 0;

    /* No final batch when there never was a connection: it is then a
     * plain "could not connect" error. */
    if (end == NULL || end->connected)
        rc = batch_write(pending, batch_sched_final(sched), true);
    if (err == 0 && rc < 0) {
        err = rc;
        report_error("cannot write a batch: %s", report_strerror(rc));
    } else if (err < 0) {
        trace_event("error %s", report_strerror(err));
        report_error("%s", report_strerror(err));
    }
    return err == 0 ? EXIT_DONE : EXIT_ERROR;
}

/* Starts the reader, runs the ticks, ends both. Returns the exit status. */
static int dashboard(struct source *src)
{
    struct batch pending = BATCH_INIT;
    struct batch_sched sched;
    struct msg *end = NULL;
    int rc, status;

    batch_sched_init(&sched, clock_start_us(), cli.tick_ms);

    rc = pthread_create(&src->reader, NULL, reader_main, src);
    if (rc != 0) {
        report_error("pthread_create: %s", strerror(rc));
        return EXIT_ERROR;
    }
    rc = tick_loop(src, &pending, &sched, &end);
    if (rc < 0) {
        report_error("cannot write a batch: %s", report_strerror(rc));
        source_cancel(src);
        status = EXIT_ERROR;
    } else {
        status = finish(&pending, &sched, end);
    }
    /* The reader has sent its MSG_END: it is about to return, if it has
     * not already. Joining it is what guarantees it is gone. */
    pthread_join(src->reader, NULL);
    trace_event("joined");
    free(end);
    batch_free(&pending);
    return status;
}
/* STUB
// TODO: starts the reader thread, writes a batch every tick whatever the
// events do, ends both cleanly. Returns the exit status.
static int dashboard(struct source *src)
{
    (void)src;
    report_error("not written yet");
    return EXIT_ERROR;
}
END SOLUTION */

int main(int argc, char **argv)
{
    struct source src = {.fd = -1, .cancelled = false};
    int status;

    proc_setup();
    if (!cli_dashboard(argc, argv, &cli, &status))
        return status;
    src.events = chan_new(EVENTS_QUEUED_MAX);
    if (src.events == NULL || pthread_mutex_init(&src.lock, NULL) != 0) {
        report_error("out of memory");
        chan_free(src.events, free);
        return EXIT_ERROR;
    }
    status = dashboard(&src);
    chan_free(src.events, free);
    pthread_mutex_destroy(&src.lock);
    return status;
}
