/* happy-eyeballs: race connects to several addresses of one service, keep
 * the first that connects, cancel the others, then fetch a line from the
 * winner (the blocking-threads way: one thread per attempt).
 *
 * Each attempt is a thread blocked in connect(). The main thread starts
 * them one stagger apart, and learns of every attempt that ends through
 * one channel: waiting on it with a timeout (the next start, or the
 * deadline) is how main sleeps until something happens. Starting threads
 * is the easy half. The lesson is the other half: when one attempt wins,
 * the others are still blocked in connect(), and no call stops a thread.
 * Main makes each blocked connect() return by shutting its socket down,
 * waits until every attempt has said it is over, and only then joins them
 * (race_cancel_rest). Nothing is abandoned: when main goes on with the
 * winner, no other thread is left running and no other socket is open.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "bsock.h"
#include "buf.h"
#include "chan.h"
#include "cli.h"
#include "clock.h"
#include "line.h"
#include "output.h"
#include "proc.h"
#include "report.h"
#include "trace.h"

/* How often main shuts the sockets down again while it waits for the
 * cancelled attempts to answer (see race_cancel_rest). */
enum { CANCEL_RETRY_MS = 10 };

/* The command line (common/cli.h); set once in main(), then only read. */
static struct happy_eyeballs_cli cli;

struct race;

/* One connect attempt, and the thread that makes it.
 * Lock rule: race->lock guards the fields marked (lock). The thread opens
 * and closes its socket; main may shut it down to cancel the attempt, so
 * both touch the number only under the lock: main never shuts down a
 * number that was closed and given to some other file. */
struct attempt {
    int number;              /* 1, 2 ... in --connect order */
    const struct addr *peer; /* borrowed from cli */
    struct race *race;       /* the race it belongs to */
    pthread_t thread;        /* main only */
    bool joinable;           /* main only: thread was created */
    int fd;                  /* (lock) the socket while connecting, or -1 */
    bool cancelled;          /* (lock) set by main, never reset */
    /* The outcome, written by the thread before it sends the attempt
     * over race->ended, read by main after receiving it (the channel
     * orders the two). */
    int rc;     /* 0: connected, won_fd is the socket; or a -errno */
    int won_fd; /* the connected socket, owned by whoever reads rc */
};

/* Everything main and the attempt threads share. */
struct race {
    pthread_mutex_t lock; /* guards each attempt's (lock) fields */
    /* Every attempt sends itself here once, when its connect is over;
     * there is room for all of them, so a send never blocks. */
    struct chan *ended;
    int64_t deadline; /* the whole run's, computed once */
    struct attempt attempts[CLI_MAX_ATTEMPTS];
    size_t started;     /* main only: attempts started so far */
    size_t ended_count; /* main only: attempts received from `ended` */
};

/* BEGIN SOLUTION */
/* Publishes the attempt's socket, unless main has cancelled it already.
 * Returns false when cancelled (the caller still owns fd). */
static bool attempt_publish_fd(struct attempt *a, int fd)
{
    bool ok;

    pthread_mutex_lock(&a->race->lock);
    ok = !a->cancelled;
    if (ok)
        a->fd = fd;
    pthread_mutex_unlock(&a->race->lock);
    return ok;
}

/* After connect() returned rc: a connection nobody cancelled is handed
 * to main with the outcome; anything else is closed here, under the lock.
 * A connection made after main cancelled us is a loser that connected
 * anyway: it is closed without a byte sent (HE-2). Returns the outcome. */
static int attempt_finish(struct attempt *a, int rc)
{
    int fd;

    pthread_mutex_lock(&a->race->lock);
    fd = a->fd;
    a->fd = -1;
    if (a->cancelled)
        rc = -ECANCELED; /* whatever happened, it happened because of us */
    if (rc == 0)
        a->won_fd = fd;
    else
        close(fd);
    pthread_mutex_unlock(&a->race->lock);
    return rc;
}

/* Whether main has cancelled attempt arg (asked between two connect()
 * calls: after main's shutdown(), connecting again would be a new try). */
static bool attempt_cancelled(void *arg)
{
    struct attempt *a = arg;
    bool cancelled;

    pthread_mutex_lock(&a->race->lock);
    cancelled = a->cancelled;
    pthread_mutex_unlock(&a->race->lock);
    return cancelled;
}

/* An attempt's thread: one blocking connect, bounded by the run's
 * deadline, then one message to main. */
static void *attempt_main(void *arg)
{
    struct attempt *a = arg;
    int fd = bsock_socket(a->peer);
    int rc;

    if (fd < 0) {
        rc = fd;
    } else if (!attempt_publish_fd(a, fd)) {
        close(fd);
        rc = -ECANCELED;
    } else {
        struct bsock_cancel cancel = {attempt_cancelled, a};

        rc = attempt_finish(a, bsock_connect_cancellable(
                                   fd, a->peer, a->race->deadline, &cancel));
        if (rc == 0)
            trace_event("connected %d", a->number);
    }
    a->rc = rc;
    if (chan_send(a->race->ended, a) < 0)
        abort(); /* nobody closes the channel */
    return NULL;
}

/* Starts the next attempt's thread. One that cannot be started counts as
 * an attempt that failed at once. */
static void race_start_next(struct race *r)
{
    struct attempt *a = &r->attempts[r->started++];
    char shown[ADDR_TEXT_MAX];
    int rc;

    trace_event("attempt-start %d %s", a->number,
                addr_format((const struct sockaddr *)&a->peer->ss, shown,
                            sizeof(shown)));
    rc = pthread_create(&a->thread, NULL, attempt_main, a);
    a->joinable = rc == 0;
    if (rc != 0) {
        a->rc = -rc;
        if (chan_send(r->ended, a) < 0)
            abort();
    }
}

/* lesson:he-threads-race */
/* Runs the race until an attempt connects. Returns the winner, or NULL
 * with *why set: -ETIMEDOUT when the deadline passed, or the last
 * attempt's error when every attempt failed. */
static struct attempt *race_wait_winner(struct race *r, int *why)
{
    int64_t next_start = clock_now_ms(); /* attempt 1 starts at once */

    for (;;) {
        int64_t wake = r->deadline;
        void *item;
        struct attempt *a;

        if (clock_passed(r->deadline)) {
            *why = -ETIMEDOUT; /* nothing new starts after the deadline */
            return NULL;
        }
        if (r->started < cli.count && clock_now_ms() >= next_start) {
            race_start_next(r);
            next_start = clock_now_ms() + cli.stagger_ms;
        }
        /* Sleep until an attempt ends, the next start, or the deadline,
         * whichever comes first. */
        if (r->started < cli.count && next_start < wake)
            wake = next_start;
        if (chan_recv_until(r->ended, &item, wake) < 0)
            continue; /* the next start is due, or the deadline passed */
        a = item;
        r->ended_count++;
        if (a->rc == 0)
            return a;
        trace_event("attempt-failed %d %s", a->number, report_strerror(a->rc));
        *why = a->rc;
        if (r->ended_count == cli.count)
            return NULL; /* every attempt failed: nothing to wait for */
        /* The newest attempt failed: the next one starts now, not when
         * the stagger runs out (HE-1). */
        if (a == &r->attempts[r->started - 1])
            next_start = clock_now_ms();
    }
}
/* end */

/* lesson:he-threads-cancel */
/* Cancels every attempt still running, waits until each has answered,
 * and joins every thread. A thread blocked in connect() is woken by
 * shutdown(): on Linux, shutting down a socket that is still connecting
 * ends the handshake (the connect fails), and the SYN is never sent
 * again. As in fetch-line-watchdog, a thread may be just about to call
 * connect() when the shutdown comes, which then does nothing; so main
 * shuts down again every CANCEL_RETRY_MS until every attempt answered.
 * An attempt that connected before it saw the cancellation hands its
 * socket over like a winner; main closes it without a byte (HE-2). */
static void race_cancel_rest(struct race *r)
{
    size_t i;

    pthread_mutex_lock(&r->lock);
    for (i = 0; i < r->started; i++)
        r->attempts[i].cancelled = true;
    pthread_mutex_unlock(&r->lock);
    while (r->ended_count < r->started) {
        void *item;

        pthread_mutex_lock(&r->lock);
        for (i = 0; i < r->started; i++) {
            if (r->attempts[i].fd >= 0)
                shutdown(r->attempts[i].fd, SHUT_RDWR);
        }
        pthread_mutex_unlock(&r->lock);
        if (chan_recv_until(r->ended, &item,
                            clock_deadline_in(CANCEL_RETRY_MS)) < 0)
            continue;
        struct attempt *a = item;

        r->ended_count++;
        if (a->rc == 0)
            close(a->won_fd); /* connected anyway: closed, no byte sent */
        trace_event("cancelled %d", a->number);
    }
    for (i = 0; i < r->started; i++) {
        if (r->attempts[i].joinable)
            pthread_join(r->attempts[i].thread, NULL);
        r->attempts[i].joinable = false;
    }
    trace_event("joined");
}
/* end */

/* The whole race: returns the winner (its socket in won_fd, owned by the
 * caller), or NULL with *why as race_wait_winner() sets it. When it
 * returns, every other attempt is over and its thread joined. */
static struct attempt *race_run(struct race *r, int *why)
{
    struct attempt *winner = race_wait_winner(r, why);

    if (winner != NULL)
        trace_event("won %d", winner->number);
    race_cancel_rest(r);
    return winner;
}
/* STUB
// TODO: the race. Start attempt 1 at once (a thread blocked in connect(),
// see attempt_main), attempt k+1 cli.stagger_ms after attempt k started or
// as soon as attempt k failed, and learn of every attempt that ends over
// r->ended. The first to connect wins: cancel every other one (shut its
// socket down), wait until each has answered, join every thread. Returns
// the winner (its socket in won_fd), or NULL with *why = -ETIMEDOUT when
// r->deadline passed, or the last error when every attempt failed.
static struct attempt *race_run(struct race *r, int *why)
{
    (void)r;
    (void)why;
    // Exits: returning NULL would be reported as attempts that failed.
    report_error("not written yet");
    exit(EXIT_ERROR);
}
END SOLUTION */

/* On the winner: sends the --send line, if any, and reads one line, all
 * before the run's deadline. Returns 1 with the line in *line and *len
 * (borrowed from fr), 0 when the peer closed before a '\n', or a
 * negative errno. */
static int fetch_from(int fd, int64_t deadline, struct line_framer *fr,
                      const char **line, size_t *len)
{
    if (cli.send_text != NULL) {
        struct buf out = BUF_INIT;
        int rc = buf_puts(&out, cli.send_text);

        if (rc == 0)
            rc = buf_putc(&out, '\n');
        if (rc == 0)
            rc = bsock_send_all(fd, out.data, out.len, deadline);
        if (rc == 0)
            trace_event("sent %zu", out.len);
        buf_free(&out);
        if (rc < 0)
            return rc;
    }
    return bsock_read_line(fd, fr, deadline, NULL, line, len);
}

/* Says why there is no line, on stderr; returns the exit status. */
static int report_failure(int rc, bool won)
{
    if (rc == -ETIMEDOUT) {
        trace_event("timed-out");
        report_timeout(cli.timeout_ms);
        return EXIT_TIMEOUT;
    }
    if (!won) {
        trace_event("error all attempts failed");
        report_error("all %zu attempts failed (%s)", cli.count,
                     report_strerror(rc));
    } else if (rc == 0) {
        trace_event("error closed before a newline");
        report_error("peer closed the connection before a newline");
    } else {
        trace_event("error %s", report_strerror(rc));
        report_error("%s", report_strerror(rc));
    }
    return EXIT_ERROR;
}

/* The race, then the line from the winner. Returns the exit status. */
static int happy_eyeballs(struct race *r, struct line_framer *fr)
{
    struct attempt *winner;
    const char *line;
    size_t len;
    int rc = 0;

    trace_event("deadline %lld ms", (long long)cli.timeout_ms);
    winner = race_run(r, &rc);
    if (winner == NULL)
        return report_failure(rc, false);
    rc = fetch_from(winner->won_fd, r->deadline, fr, &line, &len);
    /* Closing the socket is what tells the winner we are gone (HE-6). */
    close(winner->won_fd);
    trace_event("closed");
    if (rc != 1)
        return report_failure(rc, true);
    trace_bytes("line", line, len);
    rc = output_line(line, len);
    if (rc < 0) {
        report_error("stdout: %s", report_strerror(rc));
        return EXIT_ERROR;
    }
    return EXIT_DONE;
}

int main(int argc, char **argv)
{
    static struct race race; /* big, and main's for the whole run */
    struct line_framer fr;
    int status;
    size_t i;

    proc_setup();
    if (!cli_happy_eyeballs(argc, argv, &cli, &status))
        return status;
    /* Computed ONCE: the race, the send and the read share it. */
    race.deadline = clock_deadline_in(cli.timeout_ms);
    for (i = 0; i < cli.count; i++) {
        race.attempts[i] = (struct attempt){.number = (int)i + 1,
                                            .peer = &cli.peers[i],
                                            .race = &race,
                                            .fd = -1,
                                            .won_fd = -1};
    }
    race.ended = chan_new(CLI_MAX_ATTEMPTS);
    if (race.ended == NULL || pthread_mutex_init(&race.lock, NULL) != 0 ||
        line_framer_init(&fr, LINE_MAX_BYTES) < 0) {
        report_error("out of memory");
        chan_free(race.ended, NULL);
        return EXIT_ERROR;
    }
    status = happy_eyeballs(&race, &fr);
    /* Every thread is joined: nothing else can touch these any more. */
    line_framer_free(&fr);
    chan_free(race.ended, NULL);
    pthread_mutex_destroy(&race.lock);
    return status;
}
