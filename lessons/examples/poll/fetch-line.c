/* fetch-line, by hand: one thread, non-blocking sockets and poll(2).
 *
 * The bridge between the blocking-threads track and libuv (lesson 02b):
 * the same program, the same contract, with no library between us and the
 * kernel. Nothing here waits inside a socket call. The socket is put in
 * non-blocking mode (O_NONBLOCK), so connect(), send() and recv() return
 * at once; when they cannot make progress they say so (EINPROGRESS,
 * EAGAIN) and we ask poll() to wait until the socket is READY for the next
 * attempt, or until the deadline, whichever comes first.
 *
 * Three things to notice:
 *   - poll() reports readiness, not completion: POLLIN means "a recv now
 *     would not block", not "the line is here". The loop goes round once
 *     per batch of bytes, and the operation's progress (which step, how
 *     much was sent, what was read) lives in a struct, not on the stack.
 *   - The deadline is poll()'s timeout, worked out again from the one
 *     absolute deadline on every turn. This is the whole of an event loop:
 *     wait for "any of these fds, or this time", handle what is ready,
 *     go round again.
 *   - A step handler must never block: while it waits, the loop cannot
 *     look at the clock. tests/mutants/poll-fetch-line-blocks-the-loop
 *     shows what happens when one does.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "buf.h"
#include "cli.h"
#include "clock.h"
#include "line.h"
#include "output.h"
#include "proc.h"
#include "report.h"
#include "trace.h"

/* The command line (common/cli.h); set once in main(), then only read. */
static struct fetch_line_cli cli;

/* fetch_run()'s answer when the peer closed before a '\n'. */
#define FETCH_CLOSED 2

/* lesson:poll-fetch-state */
/* Which wait the operation is in. Each value is one thing poll() is asked
 * to wait for; compare with lesson 01, where each is a line of code. */
enum fetch_step {
    STEP_CONNECTING, /* connect() said EINPROGRESS: wait for POLLOUT */
    STEP_SENDING,    /* request.len - sent bytes left: wait for POLLOUT */
    STEP_READING,    /* no '\n' yet: wait for POLLIN */
};

/* Everything that must survive from one turn of the loop to the next. */
struct fetch {
    enum fetch_step step;
    int fd;                    /* the socket, in O_NONBLOCK mode */
    int64_t deadline;          /* absolute, ms: computed once */
    struct buf request;        /* "TEXT\n", empty without --send */
    size_t sent;               /* bytes of request the kernel took */
    struct line_framer framer; /* the bytes read so far */
};
/* end */

/* Puts fd in non-blocking mode. Returns 0 or a negative errno. */
static int set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return -errno;
    return 0;
}

/* Starts the connect. A non-blocking connect() almost never finishes at
 * once: EINPROGRESS means the handshake has started, and the socket will
 * turn writable when it is over, either way. Returns 0 or a negative
 * errno (-ECONNREFUSED may come at once on some systems). */
static int fetch_connect(struct fetch *f)
{
    char shown[ADDR_TEXT_MAX];

    trace_event("connecting %s",
                addr_format((const struct sockaddr *)&cli.peer.ss, shown,
                            sizeof(shown)));
    f->step = STEP_CONNECTING;
    if (connect(f->fd, (const struct sockaddr *)&cli.peer.ss, cli.peer.len) ==
            0 ||
        errno == EINPROGRESS)
        return 0;
    return -errno;
}

/* lesson:poll-fetch-steps */
/* The connect is over (the socket turned writable): did it work? The
 * answer is in SO_ERROR, not in poll's flags. */
static int on_connected(struct fetch *f)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(f->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return -errno;
    if (err != 0)
        return -err; /* refused, unreachable ... */
    trace_event("connected");
    f->step = f->request.len > 0 ? STEP_SENDING : STEP_READING;
    return 0;
}

/* The socket has room: send what is left. The kernel may take only part
 * of it (a PARTIAL WRITE): we remember how much in f->sent, and the next
 * POLLOUT continues from there. MSG_NOSIGNAL: a peer that went away is
 * -EPIPE, not a SIGPIPE (COM-8). */
static int on_writable(struct fetch *f)
{
    ssize_t n = send(f->fd, f->request.data + f->sent, f->request.len - f->sent,
                     MSG_NOSIGNAL);

    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR
                   ? 0
                   : -errno;
    f->sent += (size_t)n;
    trace_event("sent %zd", n);
    if (f->sent == f->request.len)
        f->step = STEP_READING;
    return 0;
}

/* The socket has bytes (or an EOF, or an error): read ONE batch, as many
 * as the kernel has and the framer has room for, then go back to the
 * loop. Readiness is not completion: the line may need many more turns.
 * Returns 1 with a line, 0 to wait again, FETCH_CLOSED, or -errno. */
static int on_readable(struct fetch *f, const char **line, size_t *len)
{
    size_t room;
    char *dst = line_framer_space(&f->framer, &room);
    ssize_t n = recv(f->fd, dst, room, 0);

    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR
                   ? 0
                   : -errno;
    if (n == 0)
        return FETCH_CLOSED;
    trace_event("read %zd", n);
    line_framer_commit(&f->framer, (size_t)n);
    return line_framer_next(&f->framer, line, len); /* 1, 0 or -EMSGSIZE */
}
/* end */

/* lesson:poll-fetch-loop */
/* The event loop: wait for the one event the current step needs, or the
 * deadline; handle it; go round. Returns 1 with the line in *line and *len
 * (borrowed from f->framer), FETCH_CLOSED, or a negative errno
 * (-ETIMEDOUT when the deadline passed). */
static int fetch_run(struct fetch *f, const char **line, size_t *len)
{
    for (;;) {
        struct pollfd p = {.fd = f->fd};
        int64_t left = clock_ms_left(f->deadline);
        int rc;

        if (left == 0)
            return -ETIMEDOUT;
        p.events = f->step == STEP_READING ? POLLIN : POLLOUT;
        /* The only place this program waits. The time left is recomputed
         * from the deadline every turn; the deadline itself never moves. */
        rc = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (rc < 0 && errno != EINTR)
            return -errno;
        if (rc <= 0)
            continue; /* timed out or interrupted: the clock decides */
        /* POLLERR and POLLHUP come whatever we asked for: the step's own
         * call (getsockopt, send, recv) then reports what happened. */
        switch (f->step) {
        case STEP_CONNECTING:
            rc = on_connected(f);
            break;
        case STEP_SENDING:
            rc = on_writable(f);
            break;
        case STEP_READING:
            rc = on_readable(f, line, len);
            break;
        }
        if (rc != 0)
            return rc;
    }
}
/* end */

/* Sets up *f for the command line: the request, the framer, the socket.
 * Returns 0 or a negative errno; fetch_free() releases what was taken. */
static int fetch_init(struct fetch *f)
{
    int rc = 0;

    memset(f, 0, sizeof(*f));
    f->fd = -1;
    if (cli.send_text != NULL) {
        rc = buf_puts(&f->request, cli.send_text);
        if (rc == 0)
            rc = buf_putc(&f->request, '\n');
    }
    if (rc == 0)
        rc = line_framer_init(&f->framer, LINE_MAX_BYTES);
    if (rc < 0)
        return rc;
    f->fd = socket(cli.peer.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (f->fd < 0)
        return -errno;
    return set_nonblocking(f->fd);
}

/* Closing the socket is what tells the peer we are gone (FL-2). */
static void fetch_free(struct fetch *f)
{
    if (f->fd >= 0) {
        close(f->fd);
        trace_event("closed");
    }
    buf_free(&f->request);
    line_framer_free(&f->framer);
}

/* Says why the fetch failed, on stderr, and returns the exit status. */
static int report_failure(int rc)
{
    if (rc == -ETIMEDOUT) {
        trace_event("timed-out");
        report_timeout(cli.timeout_ms);
        return EXIT_TIMEOUT;
    }
    if (rc == FETCH_CLOSED) {
        trace_event("error closed before a newline");
        report_error("peer closed the connection before a newline");
    } else {
        trace_event("error %s", report_strerror(rc));
        report_error("%s", report_strerror(rc));
    }
    return EXIT_ERROR;
}

int main(int argc, char **argv)
{
    struct fetch f;
    const char *line = NULL;
    size_t len = 0;
    int status, rc;

    proc_setup();
    if (!cli_fetch_line("fetch-line", argc, argv, &cli, &status))
        return status;
    rc = fetch_init(&f);
    if (rc == 0) {
        /* Computed ONCE: connect, send and every read share it. */
        f.deadline = clock_deadline_in(cli.timeout_ms);
        trace_event("deadline %lld ms", (long long)cli.timeout_ms);
        rc = fetch_connect(&f);
    }
    if (rc == 0)
        rc = fetch_run(&f, &line, &len);
    if (rc == 1) {
        trace_bytes("line", line, len);
        rc = output_line(line, len);
        status = rc < 0 ? EXIT_ERROR : EXIT_DONE;
        if (rc < 0)
            report_error("stdout: %s", report_strerror(rc));
    } else {
        status = report_failure(rc);
    }
    fetch_free(&f);
    return status;
}
