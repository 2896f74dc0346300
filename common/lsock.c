/* lsock: a listening socket, and accepting when descriptors run out. */
#define _GNU_SOURCE /* accept4() */
#include "lsock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "output.h"
#include "report.h"
#include "trace.h"

enum {
    /* lsock_turn_away(): how many times a send that found the buffer
     * full is tried again, a millisecond apart (see there). */
    TURN_AWAY_RETRIES = 3,
    /* ... and how much of what the client sent is read before the close,
     * in slices of DRAIN_SLICE bytes. */
    DRAIN_SLICES = 64,
    DRAIN_SLICE = 512,
};

static int open_spare(void)
{
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

int lsock_open(struct lsock *l, const struct addr *addr, int flags)
{
    int type = SOCK_STREAM | SOCK_CLOEXEC |
               ((flags & LSOCK_NONBLOCK) != 0 ? SOCK_NONBLOCK : 0);
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int one = 1;
    int fd;

    *l = (struct lsock){.fd = -1, .spare_fd = -1, .flags = flags};
    fd = socket(addr->ss.ss_family, type, 0);
    if (fd < 0)
        return -errno;
    /* SO_REUSEADDR: a restarted server can listen on its port again at
     * once, although connections of the old one linger in TIME_WAIT. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (const struct sockaddr *)&addr->ss, addr->len) < 0 ||
        listen(fd, SOMAXCONN) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        int err = -errno;

        close(fd);
        return err;
    }
    addr_format((const struct sockaddr *)&ss, l->shown, sizeof(l->shown));
    l->fd = fd;
    l->spare_fd = open_spare();
    return 0;
}

int lsock_announce(const struct lsock *l)
{
    char line[sizeof("listening on ") + ADDR_TEXT_MAX];
    int n = snprintf(line, sizeof(line), "listening on %s", l->shown);

    trace_event("listening %s", l->shown);
    return output_line(line, (size_t)n);
}

void lsock_report_failure(const struct addr *addr, int err)
{
    char shown[ADDR_TEXT_MAX];

    report_error(
        "listening on %s: %s",
        addr_format((const struct sockaddr *)&addr->ss, shown, sizeof(shown)),
        report_strerror(err));
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Sends msg[0..len) without ever blocking. Returns how many bytes went
 * out, and the error that stopped it in *err (0 when all went). */
static size_t send_whole(int fd, const char *msg, size_t len, int *err)
{
    size_t done = 0;
    int retries = 0;

    *err = 0;
    while (done < len) {
        ssize_t n =
            send(fd, msg + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n >= 0) {
            done += (size_t)n;
        } else if (errno == EINTR) {
            continue;
        } else if ((errno == EAGAIN || errno == EWOULDBLOCK) &&
                   retries++ < TURN_AWAY_RETRIES) {
            /* A socket we never wrote to has an empty send buffer of
             * kilobytes, so a short line always fits at once and this
             * never runs in practice. It is here so that "never cut
             * short" holds even if it did not fit: the wait is bounded
             * (a few ms), cheap enough even in an event loop's callback. */
            sleep_ms(1);
        } else {
            *err = errno == EAGAIN ? -EAGAIN : -errno;
            break;
        }
    }
    return done;
}

int lsock_turn_away(int fd, const char *msg)
{
    size_t len = strlen(msg);
    char sink[DRAIN_SLICE];
    int err;
    size_t sent = send_whole(fd, msg, len, &err);

    if (sent < len) {
        /* Cut short: make the close reset the connection, so the client
         * sees an error rather than a cut line and a clean end. */
        struct linger reset = {1, 0};

        setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
        return err;
    }
    shutdown(fd, SHUT_WR);
    /* Closing a socket that still holds bytes we did not read makes the
     * kernel send a reset, and a client that gets a reset may lose the
     * line we sent before it. So read what has already arrived, without
     * ever waiting (the client may send forever). */
    for (int i = 0; i < DRAIN_SLICES; i++)
        if (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) <= 0)
            break;
    return 0;
}

/* Takes the next waiting connection. Returns its socket or -errno. */
static int accept_next(struct lsock *l, struct sockaddr_storage *peer)
{
    struct sockaddr_storage ignored;
    socklen_t len = sizeof(*peer);
    int flags =
        SOCK_CLOEXEC | ((l->flags & LSOCK_NONBLOCK) != 0 ? SOCK_NONBLOCK : 0);
    int fd = accept4(l->fd, (struct sockaddr *)(peer ? peer : &ignored), &len,
                     flags);

    if (fd >= 0)
        return fd;
    return errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

/* What a failed accept means for the server: the short list of answers
 * lsock.h promises, instead of the dozen codes accept() may give. */
static int what_next(int err)
{
    switch (err) {
    case -EAGAIN:
    case -EMFILE:
        return err;
    case -ENFILE:
    case -ENOBUFS:
    case -ENOMEM:
        return -EMFILE; /* short of resources: rest, then try again */
    case -EBADF:
    case -EINVAL:
    case -ENOTSOCK:
    case -EOPNOTSUPP:
    case -EFAULT:
        return err; /* the listening socket itself is broken */
    default:
        /* ECONNABORTED, EPROTO, EINTR, EPERM, a network error passed on:
         * each concerns one connection, gone before we got it. */
        return -ECONNABORTED;
    }
}

/* Out of descriptors. The client stays queued, so calling accept again
 * at once would fail again at once: a loop that burns a core. The classic
 * way out is the spare descriptor: give it up, accept the client into its
 * place, take the spare back. If the spare cannot be had again, there is
 * no room for the client: tell it we are busy and close it (which makes
 * the room for the spare). If it can, descriptors were freed meanwhile (a
 * blocking accept may have waited a long time for this client): serve
 * it. Returns the client's socket, or a negative errno as lsock_accept. */
static int shed_one(struct lsock *l, struct sockaddr_storage *peer,
                    const char *busy_msg)
{
    int fd;

    if (l->spare_fd < 0) /* not taken back last time: try again */
        l->spare_fd = open_spare();
    if (l->spare_fd < 0)
        return -EMFILE;
    close(l->spare_fd);
    fd = accept_next(l, peer);
    l->spare_fd = open_spare();
    if (fd >= 0 && l->spare_fd >= 0) {
        l->short_noted = false;
        return fd;
    }
    if (fd >= 0) {
        trace_event("busy (out of file descriptors)");
        lsock_turn_away(fd, busy_msg);
        close(fd);
        l->spare_fd = open_spare();
        return -ECONNABORTED; /* turned one away: there may be more */
    }
    /* -EAGAIN: none was waiting after all (accept says EMFILE before it
     * looks). -EMFILE: even the spare did not make room. */
    return what_next(fd);
}

int lsock_accept(struct lsock *l, struct sockaddr_storage *peer,
                 const char *busy_msg)
{
    int fd = accept_next(l, peer);

    if (fd >= 0) {
        l->short_noted = false;
        return fd;
    }
    if (fd != -EMFILE && fd != -ENFILE)
        return what_next(fd);
    if (!l->short_noted)
        report_note("out of file descriptors (%s): turning clients away",
                    strerror(-fd));
    l->short_noted = true;
    return shed_one(l, peer, busy_msg);
}

void lsock_close(struct lsock *l)
{
    if (l->fd >= 0)
        close(l->fd);
    if (l->spare_fd >= 0)
        close(l->spare_fd);
    l->fd = -1;
    l->spare_fd = -1;
}
