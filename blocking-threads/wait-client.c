/* wait-client: wait for one client, but not for ever (the blocking-threads
 * way: a socket timeout on the listening socket).
 *
 * accept() blocks until a client comes, and it takes no timeout argument.
 * Two ways around that fit this track:
 *   - a socket timeout: on Linux, SO_RCVTIMEO on a LISTENING socket also
 *     bounds accept(), which then fails with EAGAIN. Exactly as fetch-line
 *     does before each recv(), we set it to the time left until one
 *     deadline (bsock_arm, in slices) and call accept() again until a
 *     client comes or our own clock says the deadline passed;
 *   - a watchdog thread that sleeps until the deadline and then shuts the
 *     listening socket down, which makes the blocked accept() return
 *     (EINVAL); fetch-line-watchdog shows that shape.
 * We pick the first: one thread, no shared state, nothing to join. Its
 * cost is that it depends on a Linux behaviour (POSIX does not say that
 * SO_RCVTIMEO applies to accept); the watchdog works anywhere shutdown()
 * wakes accept(), but needs a second thread and a handshake with it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "bsock.h"
#include "cli.h"
#include "clock.h"
#include "lsock.h"
#include "proc.h"
#include "report.h"
#include "trace.h"

/* The command line (common/cli.h); set once in main(), then only read. */
static struct wait_client_cli cli;

/* What a client that came in time gets, before it is closed. */
static const char greeting[] = "hello\n";

/* BEGIN SOLUTION */
/* lesson:wait-client-blocking-accept */
/* Accepts one client on l no later than deadline, with its address in
 * *peer. Returns the new socket (the caller closes it), -ETIMEDOUT, or
 * another negative errno. */
static int accept_by(struct lsock *l, int64_t deadline,
                     struct sockaddr_storage *peer)
{
    for (;;) {
        /* Before EVERY accept: the time left, from the one deadline. */
        int rc = bsock_arm(l->fd, SO_RCVTIMEO, deadline);

        if (rc < 0)
            return rc; /* -ETIMEDOUT: no time left */
        rc = lsock_accept(l, peer, "ERR busy\n");
        /* -EAGAIN: a slice of SO_RCVTIMEO ran out; our own clock says at
         * the top of the loop whether it was the deadline. -ECONNABORTED:
         * a client gave up while queued (or was turned away for lack of
         * descriptors); wait for the next one. */
        if (rc != -EAGAIN && rc != -ECONNABORTED)
            return rc;
    }
}
/* end */
/* STUB
// TODO: accepts one client on l, but gives up at deadline:
// accept() has no timeout argument, so find a way to bound it with
// blocking calls only. Returns the new socket (the caller closes it),
// -ETIMEDOUT when no client came in time, or another negative errno.
static int accept_by(struct lsock *l, int64_t deadline,
                     struct sockaddr_storage *peer)
{
    (void)l;
    (void)deadline;
    (void)peer;
    return -ENOSYS;
}
END SOLUTION */

/* Greets the client on fd (borrowed) and prints its address. Returns the
 * exit status. */
static int serve(int fd, const struct sockaddr_storage *peer)
{
    char shown[ADDR_TEXT_MAX];
    int rc;

    addr_format((const struct sockaddr *)peer, shown, sizeof(shown));
    trace_event("accepted %s", shown);
    /* A fresh socket takes six bytes at once; the deadline only bounds
     * the wait for a client, so the send gets a short time of its own. */
    rc = bsock_send_all(fd, greeting, sizeof(greeting) - 1,
                        clock_deadline_in(1000));
    if (rc < 0) {
        trace_event("error %s", report_strerror(rc));
        report_error("%s", report_strerror(rc));
        return EXIT_ERROR;
    }
    trace_event("sent %zu", sizeof(greeting) - 1);
    printf("client %s\n", shown);
    if (fflush(stdout) != 0) {
        report_error("stdout: %s", report_strerror(-errno));
        return EXIT_ERROR;
    }
    return EXIT_DONE;
}

int main(int argc, char **argv)
{
    struct lsock l;
    struct sockaddr_storage peer;
    int64_t deadline;
    int status, fd;

    proc_setup();
    if (!cli_wait_client(argc, argv, &cli, &status))
        return status;
    fd = lsock_open(&l, &cli.listen, LSOCK_BLOCKING);
    if (fd < 0) {
        lsock_report_failure(&cli.listen, fd);
        return EXIT_ERROR;
    }
    /* Computed once, from the start of the program (WC-3 counts from
     * there), and never pushed back. */
    deadline = clock_start_ms() + cli.timeout_ms;
    lsock_announce(&l);
    trace_event("deadline %lld ms", (long long)cli.timeout_ms);

    fd = accept_by(&l, deadline, &peer);
    /* Closed before anything else, so that once we are done, a connect
     * is refused rather than left waiting in the backlog (WC-3). */
    lsock_close(&l);
    if (fd == -ETIMEDOUT) {
        trace_event("timed-out");
        report_timeout(cli.timeout_ms);
        return EXIT_TIMEOUT;
    }
    if (fd < 0) {
        trace_event("error %s", report_strerror(fd));
        report_error("accept: %s", report_strerror(fd));
        return EXIT_ERROR;
    }
    status = serve(fd, &peer);
    close(fd);
    trace_event("closed");
    return status;
}
