/* fetch-line-watchdog: the fetch-line contract, with the timeout kept by a
 * watchdog instead of by socket timeouts.
 *
 * A worker thread does the whole operation (connect, send, read a line)
 * with plain blocking calls and no timeout at all, then sends its result
 * over a channel. The main thread is the watchdog: it waits on the
 * channel until the deadline. The easy half is noticing the deadline. The
 * hard half is what comes next: the worker is still blocked in some
 * system call, and the operation must be *cancelled*, not abandoned
 * (FL-2). See watchdog_cancel() for why that takes care.
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

/* How often main shuts the socket down again while it waits for the
 * worker to answer a cancellation (see watchdog_cancel). */
enum { CANCEL_RETRY_MS = 10 };

/* The command line (common/cli.h); set once in main(), then only read. */
static struct fetch_line_cli cli;

/* What the worker sends to main: the line, or why there is none. The
 * channel owns it in flight; main frees it with free(). */
struct result {
    int rc;      /* 1: line holds the line; 0: the peer closed before a
                     '\n'; < 0: a negative errno (-ECANCELED if cancelled) */
    size_t len;  /* bytes in line */
    char line[]; /* the line, without its '\n' */
};

/* What main and the worker share.
 * Lock rule: `lock` guards the fields marked (lock). The socket number is
 * shared by two threads: the worker opens and closes it, main may shut it
 * down. Without the lock, main could shut down a number that the worker
 * has just closed, and that the system has already given to some other
 * file. */
struct job {
    pthread_mutex_t lock;
    int fd;               /* (lock) the socket while open, else -1 */
    bool cancelled;       /* (lock) set by main, never reset */
    struct chan *results; /* capacity 1: the worker's one result */
    pthread_t worker;     /* written by main before anyone reads it */
};

/* BEGIN SOLUTION */
/* Publishes fd, unless main has cancelled already.
 * Returns false when cancelled (the caller still owns fd). */
static bool job_publish_fd(struct job *job, int fd)
{
    bool ok;

    pthread_mutex_lock(&job->lock);
    ok = !job->cancelled;
    if (ok)
        job->fd = fd;
    pthread_mutex_unlock(&job->lock);
    return ok;
}

/* Whether main has cancelled the job (also a bsock_cancel check). */
static bool job_cancelled(void *arg)
{
    struct job *job = arg;
    bool cancelled;

    pthread_mutex_lock(&job->lock);
    cancelled = job->cancelled;
    pthread_mutex_unlock(&job->lock);
    return cancelled;
}

/* Closes the worker's socket: under the lock, so that main never sees a
 * number that is no longer ours. */
static void job_close_fd(struct job *job)
{
    pthread_mutex_lock(&job->lock);
    if (job->fd >= 0)
        close(job->fd);
    job->fd = -1;
    pthread_mutex_unlock(&job->lock);
    trace_event("closed");
}

/* Sends send_text and its '\n'. Returns 0 or a negative errno. */
static int worker_send(int fd)
{
    struct buf out = BUF_INIT;
    int rc = buf_puts(&out, cli.send_text);

    if (rc == 0)
        rc = buf_putc(&out, '\n');
    if (rc == 0)
        rc = bsock_send_all(fd, out.data, out.len, BSOCK_FOREVER);
    if (rc == 0)
        trace_event("sent %zu", out.len);
    buf_free(&out);
    return rc;
}

/* Connect, send, read, with no timeouts: the watchdog keeps the time.
 * Returns like bsock_read_line(): 1 with the line, 0 when the peer closed
 * (or main shut us down) before a '\n', or a negative errno (-ECANCELED).
 * A peer that keeps trickling could feed us for ever, even after shutdown
 * (bytes already queued are still handed out): the read asks the flag
 * before every call that may block. */
static int worker_fetch(struct job *job, int fd, struct line_framer *fr,
                        const char **line, size_t *len)
{
    char shown[ADDR_TEXT_MAX];
    int rc;

    trace_event("connecting %s",
                addr_format((const struct sockaddr *)&cli.peer.ss, shown,
                            sizeof(shown)));
    rc = bsock_connect(fd, &cli.peer, BSOCK_FOREVER);
    if (rc == 0 && job_cancelled(job))
        rc = -ECANCELED;
    if (rc < 0)
        return rc;
    trace_event("connected");
    if (cli.send_text != NULL) {
        rc = worker_send(fd);
        if (rc == 0 && job_cancelled(job))
            rc = -ECANCELED;
        if (rc < 0)
            return rc;
    }
    return bsock_read_line(fd, fr, BSOCK_FOREVER,
                           &(struct bsock_cancel){job_cancelled, job}, line,
                           len);
}

/* Returns a new result (free with free()), or NULL without memory. */
static struct result *result_new(int rc, const char *line, size_t len)
{
    struct result *res = malloc(sizeof(*res) + len);

    if (res != NULL) {
        res->rc = rc;
        res->len = len;
        if (len > 0)
            memcpy(res->line, line, len);
    }
    return res;
}

/* The worker thread: does the operation, sends exactly one result. */
static void *worker_main(void *arg)
{
    struct job *job = arg;
    struct line_framer fr;
    const char *line = NULL;
    size_t len = 0;
    int rc = line_framer_init(&fr, LINE_MAX_BYTES);
    int fd = rc < 0 ? rc : bsock_socket(&cli.peer);

    if (fd < 0) {
        rc = fd;
    } else if (!job_publish_fd(job, fd)) {
        close(fd);
        rc = -ECANCELED;
    } else {
        rc = worker_fetch(job, fd, &fr, &line, &len);
        if (rc != 1 && job_cancelled(job))
            rc = -ECANCELED; /* whatever failed, it failed because of us */
        job_close_fd(job);
    }
    /* A NULL result means "no memory"; main knows. The channel has room
     * for this one result, so this send never blocks. */
    if (chan_send(job->results, result_new(rc, line, rc == 1 ? len : 0)) < 0)
        abort(); /* only main closes the channel, after receiving */
    line_framer_free(&fr);
    return NULL;
}

/* lesson:watchdog-cancel */
/* Called when the deadline passed and the worker has not answered. It is
 * blocked in connect(), send() or recv(), and no call in this program can
 * simply stop a thread: pthread_cancel() would end it at some point we do
 * not choose, and pthread_kill() only delivers a signal. Joining it now
 * would wait for the peer, for as long as the peer likes. So we make its
 * blocked call return, and let it end on its own:
 *   - `cancelled` tells the worker to start nothing new;
 *   - shutdown(SHUT_RDWR) makes a blocked recv() return 0 and a blocked
 *     send() fail, and on Linux it also ends a connect() still waiting for
 *     the peer's handshake (it fails with ECONNRESET).
 * Two traps a student should notice:
 *   - the number in job->fd belongs to the worker, which closes it; main
 *     touches it only under the lock, so it never shuts down a number that
 *     was closed and given to some other file;
 *   - the worker may have checked `cancelled` and be just about to call
 *     connect(): a shutdown() that comes before the call has no effect on
 *     it (a connect() on a shut-down socket simply starts a new
 *     handshake). So we shut down again every CANCEL_RETRY_MS until the
 *     worker answers over the channel. Only then is joining it safe. */
static struct result *watchdog_cancel(struct job *job)
{
    void *item = NULL;
    int rc;

    pthread_mutex_lock(&job->lock);
    job->cancelled = true;
    pthread_mutex_unlock(&job->lock);
    do {
        pthread_mutex_lock(&job->lock);
        if (job->fd >= 0)
            shutdown(job->fd, SHUT_RDWR);
        pthread_mutex_unlock(&job->lock);
        rc = chan_recv_until(job->results, &item,
                             clock_deadline_in(CANCEL_RETRY_MS));
    } while (rc == -ETIMEDOUT);
    trace_event("cancelled");
    pthread_join(job->worker, NULL);
    trace_event("joined");
    return item;
}
/* end */

/* Prints the worker's result (stdout or stderr); returns the exit status. */
static int report_result(const struct result *res)
{
    int rc = res == NULL ? -ENOMEM : res->rc;

    if (rc == 1) {
        trace_bytes("line", res->line, res->len);
        rc = output_line(res->line, res->len);
        if (rc == 0)
            return EXIT_DONE;
        report_error("stdout: %s", report_strerror(rc));
    } else if (rc == 0) {
        trace_event("error closed before a newline");
        report_error("peer closed the connection before a newline");
    } else {
        trace_event("error %s", report_strerror(rc));
        report_error("%s", report_strerror(rc));
    }
    return EXIT_ERROR;
}

/* Runs the worker under the watchdog; returns the exit status. */
static int watch(struct job *job)
{
    /* Computed ONCE, before the worker starts. */
    int64_t deadline = clock_deadline_in(cli.timeout_ms);
    struct result *res;
    void *item = NULL;
    int rc, status;

    trace_event("deadline %lld ms", (long long)cli.timeout_ms);
    rc = pthread_create(&job->worker, NULL, worker_main, job);
    if (rc != 0) {
        report_error("pthread_create: %s", strerror(rc));
        return EXIT_ERROR;
    }
    rc = chan_recv_until(job->results, &item, deadline);
    if (rc == -ETIMEDOUT) {
        trace_event("timed-out");
        free(watchdog_cancel(job));
        report_timeout(cli.timeout_ms);
        return EXIT_TIMEOUT;
    }
    /* The worker answered: it has nothing left to do but return. */
    pthread_join(job->worker, NULL);
    trace_event("joined");
    res = item;
    status = report_result(res);
    free(res);
    return status;
}
/* STUB
// TODO: runs the operation on a worker thread under a watchdog: main
// waits for the worker's result until the one deadline, and on timeout
// cancels the worker (shuts its socket down) and joins it. Returns the
// exit status.
static int watch(struct job *job)
{
    (void)job;
    report_error("not written yet");
    return EXIT_ERROR;
}
END SOLUTION */

int main(int argc, char **argv)
{
    struct job job = {.fd = -1, .cancelled = false};
    int status;

    proc_setup();
    if (!cli_fetch_line("fetch-line-watchdog", argc, argv, &cli, &status))
        return status;
    job.results = chan_new(1);
    if (job.results == NULL || pthread_mutex_init(&job.lock, NULL) != 0) {
        report_error("out of memory");
        chan_free(job.results, free);
        return EXIT_ERROR;
    }
    status = watch(&job);
    /* The worker is joined: nothing else can touch the channel. A result
     * left in it (none, unless a variant forgot to take it) is freed. */
    chan_free(job.results, free);
    pthread_mutex_destroy(&job.lock);
    return status;
}
