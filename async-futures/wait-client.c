/* wait-client: wait for one client, but not for ever (the async-futures
 * way: a timeout wrapped around the accept future).
 *
 * Accepting is a future like any other, so bounding it needs nothing
 * special: fut_timeout() races it against one deadline and, when the
 * deadline wins, drops it. Notice:
 *   - dropping a pending accept takes no connection: a client that comes
 *     later is not half-accepted, and closing the listener right after
 *     makes its connect be refused (WC-3);
 *   - the steps read in order, top to bottom: accept (bounded), close the
 *     listener, write "hello\n" with the write-all future, close.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <uv.h>

#include "addr.h"
#include "cli.h"
#include "fut/comb.h"
#include "fut/exec.h"
#include "fut/tcp.h"
#include "lsock.h"
#include "proc.h"
#include "report.h"
#include "trace.h"

/* The command line (common/cli.h); set once in main(), then only read. */
static struct wait_client_cli cli;

/* BEGIN SOLUTION */
/* What a client that came in time gets, before it is closed. */
static const char greeting[] = "hello\n";

/* Greets the client c (borrowed) and prints its address. Returns the exit
 * status. */
static int greet(struct fut_exec *ex, struct fut_tcp *c)
{
    char shown[ADDR_TEXT_MAX];
    struct addr peer;
    int rc = fut_tcp_peer(c, &peer);

    if (rc == 0) {
        addr_format((const struct sockaddr *)&peer.ss, shown, sizeof shown);
        trace_event("accepted %s", shown);
        rc = fut_exec_block_on(
            ex, fut_tcp_write_all(c, greeting, sizeof greeting - 1), "greet");
    }
    if (rc < 0) {
        trace_event("error %s", report_strerror(rc));
        report_error("%s", report_strerror(rc));
        return EXIT_ERROR;
    }
    trace_event("sent %zu", sizeof greeting - 1);
    printf("client %s\n", shown);
    if (fflush(stdout) != 0) {
        report_error("stdout: %s", report_strerror(-errno));
        return EXIT_ERROR;
    }
    return EXIT_DONE;
}

/* Waits for one client on l (borrowed) and serves it. Closes l before it
 * returns. Returns the exit status. */
static int wait_client(uv_loop_t *loop, struct fut_exec *ex,
                       struct fut_tcp_listener *l)
{
    struct fut_tcp *conn = NULL;
    int rc, status;

    /* lesson:wait-client-af-timeout */
    /* The accept, under one deadline computed here, once. When it passes,
     * the accept future is dropped: no connection is taken. */
    trace_event("deadline %lld ms", (long long)cli.timeout_ms);
    rc = fut_exec_block_on(
        ex, fut_timeout(loop, cli.timeout_ms, fut_tcp_accept(l, &conn)),
        "accept");
    /* Whoever won, stop listening now: a late client is refused. */
    fut_tcp_listener_close(l);
    /* end */
    if (rc == -ETIMEDOUT) {
        trace_event("timed-out");
        report_timeout(cli.timeout_ms);
        return EXIT_TIMEOUT;
    }
    if (rc < 0) {
        trace_event("error %s", report_strerror(rc));
        report_error("accept: %s", report_strerror(rc));
        return EXIT_ERROR;
    }
    status = greet(ex, conn);
    fut_tcp_close(conn);
    trace_event("closed");
    return status;
}
/* STUB
// TODO: waits for one client on l (borrowed) under ONE deadline, closes
// l, greets the client with "hello\n", prints "client HOST:PORT" and
// closes it. Returns the exit status (EXIT_TIMEOUT when no client came).
static int wait_client(uv_loop_t *loop, struct fut_exec *ex,
                       struct fut_tcp_listener *l)
{
    (void)loop;
    (void)ex;
    fut_tcp_listener_close(l);
    report_error("not written yet");
    return EXIT_ERROR;
}
END SOLUTION */

int main(int argc, char **argv)
{
    uv_loop_t loop;
    struct fut_exec *ex;
    struct fut_tcp_listener *l;
    int status = EXIT_ERROR;
    int rc;

    proc_setup();
    if (!cli_wait_client(argc, argv, &cli, &status))
        return status;
    uv_loop_init(&loop);
    ex = fut_exec_new(&loop);
    if (ex == NULL) {
        report_error("out of memory");
        return EXIT_ERROR;
    }
    /* Listening, the ready line, and the answer to running out of
     * descriptors are common/lsock.h's, as in every track. */
    rc = fut_tcp_listen(&loop, &cli.listen, "ERR busy\n", &l);
    if (rc < 0) {
        lsock_report_failure(&cli.listen, rc);
    } else if ((rc = fut_tcp_listener_announce(l)) < 0) {
        report_error("stdout: %s", report_strerror(rc));
        fut_tcp_listener_close(l);
    } else {
        status = wait_client(&loop, ex, l);
    }
    fut_exec_free(ex);
    /* Only close callbacks are left for the loop to run. */
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        report_error("a libuv handle was left open");
    return status;
}
