/* Unit tests for blocking-threads/bsock: blocking socket calls bounded by
 * one absolute deadline (FL-1, COM-6, COM-7). A peer that misbehaves on
 * purpose (trickles, never reads) runs in a thread of its own. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "bsock.h"
#include "clock.h"
#include "lsock.h"

/* A deadline the tests wait for, and how late a call may return after it
 * (a loaded machine; the kernel's slices). Wrong code is late by seconds
 * (a re-armed timeout against a trickle never returns at all). */
enum { DEADLINE_MS = 300, LATE_MAX_MS = 200, EARLY_MAX_MS = 5 };

/* The kernel's timer tick, at most (HZ is 100 or more). */
enum { KERNEL_TICK_MAX_US = 10000 };

/* A connected pair of stream sockets: fds[0] is read by bsock, fds[1] is
 * the peer. */
static void make_pair(int fds[2])
{
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
}

static void send_text(int fd, const char *text)
{
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
}

Test(bsock, socket_is_blocking_and_close_on_exec)
{
    struct addr a;
    int fd;

    cr_assert_eq(addr_parse("127.0.0.1:0", &a), 0);
    fd = bsock_socket(&a);
    cr_assert_geq(fd, 0);
    cr_assert_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    close(fd);
}

Test(bsock, connect_reaches_a_listener_and_reports_a_refusal)
{
    struct lsock l;
    struct addr any, there;
    int fd, closed_port;

    cr_assert_eq(addr_parse("127.0.0.1:0", &any), 0);
    cr_assert_eq(lsock_open(&l, &any, LSOCK_BLOCKING), 0);
    cr_assert_eq(addr_parse(l.shown, &there), 0);
    fd = bsock_socket(&there);
    cr_assert_eq(bsock_connect(fd, &there, clock_deadline_in(1000)), 0);
    close(fd);
    lsock_close(&l); /* the port is free now: a connect is refused */
    closed_port = bsock_socket(&there);
    cr_assert_eq(bsock_connect(closed_port, &there, clock_deadline_in(1000)),
                 -ECONNREFUSED);
    close(closed_port);
}

Test(bsock, arm_with_no_time_left_says_timed_out_never_zero)
{
    int fds[2];

    make_pair(fds);
    cr_assert_eq(bsock_arm(fds[0], SO_RCVTIMEO, clock_now_ms()), -ETIMEDOUT);
    cr_assert_eq(bsock_arm(fds[0], SO_RCVTIMEO, clock_now_ms() - 50),
                 -ETIMEDOUT);
    close(fds[0]);
    close(fds[1]);
}

Test(bsock, arm_sets_the_time_left_in_slices_of_at_most_250_ms)
{
    struct timeval tv;
    socklen_t len = sizeof(tv);
    int fds[2];

    make_pair(fds);
    cr_assert_eq(bsock_arm(fds[0], SO_RCVTIMEO, clock_deadline_in(5000)), 0);
    cr_assert_eq(getsockopt(fds[0], SOL_SOCKET, SO_RCVTIMEO, &tv, &len), 0);
    cr_assert_eq(tv.tv_sec, 0);
    cr_assert_gt(tv.tv_usec, 0);
    /* The kernel keeps the timeout in its own ticks: read back, it may be
     * rounded up by one. */
    cr_assert_leq(tv.tv_usec, 250 * 1000 + KERNEL_TICK_MAX_US, "%ld us",
                  (long)tv.tv_usec);
    close(fds[0]);
    close(fds[1]);
}

Test(bsock, send_all_delivers_every_byte)
{
    static char big[1 << 16], got[1 << 16];
    int fds[2];
    size_t n = 0;

    memset(big, 'b', sizeof(big));
    make_pair(fds);
    /* Smaller than the pair's buffers: it fits without a reader. */
    cr_assert_eq(bsock_send_all(fds[0], big, 1000, clock_deadline_in(1000)), 0);
    while (n < 1000) {
        ssize_t r = read(fds[1], got + n, sizeof(got) - n);

        cr_assert_gt(r, 0);
        n += (size_t)r;
    }
    cr_assert_eq(n, 1000);
    cr_assert_arr_eq(got, big, n);
    close(fds[0]);
    close(fds[1]);
}

Test(bsock, send_all_to_a_peer_that_never_reads_times_out_at_the_deadline)
{
    static char big[1 << 20];
    int fds[2];
    int64_t start = clock_now_ms(), took;
    int rc;

    make_pair(fds);
    rc = bsock_send_all(fds[0], big, sizeof(big), start + DEADLINE_MS);
    took = clock_now_ms() - start;
    cr_assert_eq(rc, -ETIMEDOUT);
    cr_assert_geq(took, DEADLINE_MS - EARLY_MAX_MS, "early: %lld ms",
                  (long long)took);
    cr_assert_leq(took, DEADLINE_MS + LATE_MAX_MS, "late: %lld ms",
                  (long long)took);
    close(fds[0]);
    close(fds[1]);
}

Test(bsock, read_line_hands_out_each_buffered_line_in_order)
{
    struct line_framer fr;
    const char *line;
    size_t len;
    int fds[2];

    make_pair(fds);
    cr_assert_eq(line_framer_init(&fr, 100), 0);
    send_text(fds[1], "one\ntwo\n");
    close(fds[1]); /* both lines already sent: the second needs no recv */
    cr_assert_eq(bsock_read_line(fds[0], &fr, BSOCK_FOREVER, NULL, &line, &len),
                 1);
    cr_assert_eq(len, 3);
    cr_assert_arr_eq(line, "one", 3);
    cr_assert_eq(bsock_read_line(fds[0], &fr, BSOCK_FOREVER, NULL, &line, &len),
                 1);
    cr_assert_arr_eq(line, "two", 3);
    cr_assert_eq(bsock_read_line(fds[0], &fr, BSOCK_FOREVER, NULL, &line, &len),
                 0, "the end of the stream");
    cr_assert_eq(line_framer_pending(&fr), 0);
    line_framer_free(&fr);
    close(fds[0]);
}

Test(bsock, read_line_says_when_the_peer_closed_mid_line)
{
    struct line_framer fr;
    const char *line;
    size_t len;
    int fds[2];

    make_pair(fds);
    cr_assert_eq(line_framer_init(&fr, 100), 0);
    send_text(fds[1], "half");
    close(fds[1]);
    cr_assert_eq(bsock_read_line(fds[0], &fr, clock_deadline_in(1000), NULL,
                                 &line, &len),
                 0);
    cr_assert_eq(line_framer_pending(&fr), 4);
    line_framer_free(&fr);
    close(fds[0]);
}

Test(bsock, read_line_refuses_a_line_over_the_limit)
{
    struct line_framer fr;
    const char *line;
    size_t len;
    int fds[2];

    make_pair(fds);
    cr_assert_eq(line_framer_init(&fr, 8), 0);
    send_text(fds[1], "0123456789\n");
    cr_assert_eq(bsock_read_line(fds[0], &fr, clock_deadline_in(1000), NULL,
                                 &line, &len),
                 -EMSGSIZE);
    line_framer_free(&fr);
    close(fds[0]);
    close(fds[1]);
}

/* A peer that sends one byte (never a '\n') every TRICKLE_MS until told
 * to stop: each byte wakes the reader well before the deadline. */
enum { TRICKLE_MS = 40 };

struct trickle {
    int fd;
    bool stop; /* lock */
    pthread_mutex_t lock;
};

static void *trickle_main(void *arg)
{
    struct trickle *t = arg;

    for (;;) {
        struct timespec ts = {0, TRICKLE_MS * 1000000L};
        bool stop;

        pthread_mutex_lock(&t->lock);
        stop = t->stop;
        pthread_mutex_unlock(&t->lock);
        if (stop || write(t->fd, "x", 1) != 1)
            return NULL;
        nanosleep(&ts, NULL);
    }
}

Test(bsock, read_line_deadline_covers_the_whole_line_against_a_trickle,
     .timeout = 10)
{
    struct trickle t = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct line_framer fr;
    const char *line;
    size_t len;
    pthread_t peer;
    int fds[2], rc;
    int64_t start, took;

    make_pair(fds);
    t.fd = fds[1];
    cr_assert_eq(line_framer_init(&fr, 1000), 0);
    cr_assert_eq(pthread_create(&peer, NULL, trickle_main, &t), 0);
    start = clock_now_ms();
    rc = bsock_read_line(fds[0], &fr, start + DEADLINE_MS, NULL, &line, &len);
    took = clock_now_ms() - start;
    pthread_mutex_lock(&t.lock);
    t.stop = true;
    pthread_mutex_unlock(&t.lock);
    pthread_join(peer, NULL);
    cr_assert_eq(rc, -ETIMEDOUT, "is the timeout re-armed on every read?");
    cr_assert_geq(took, DEADLINE_MS - EARLY_MAX_MS);
    cr_assert_leq(took, DEADLINE_MS + LATE_MAX_MS, "late: %lld ms",
                  (long long)took);
    cr_assert_gt(line_framer_pending(&fr), 0, "the trickle was read");
    line_framer_free(&fr);
    close(fds[0]);
    close(fds[1]);
}

/* A bsock_cancel check that counts how often it was asked. */
struct asked {
    int count;
    bool answer;
};

static bool cancelled_after_counting(void *arg)
{
    struct asked *a = arg;

    a->count++;
    return a->answer;
}

Test(bsock, read_line_asks_the_cancel_check_before_each_recv_only)
{
    struct asked asked = {0, false};
    const struct bsock_cancel cancel = {cancelled_after_counting, &asked};
    struct line_framer fr;
    const char *line;
    size_t len;
    int fds[2];

    make_pair(fds);
    cr_assert_eq(line_framer_init(&fr, 100), 0);
    send_text(fds[1], "a\nb\n");
    cr_assert_eq(
        bsock_read_line(fds[0], &fr, BSOCK_FOREVER, &cancel, &line, &len), 1);
    cr_assert_eq(asked.count, 1, "once, before the one recv");
    /* "b" is buffered: handed out without asking (no recv needed). */
    cr_assert_eq(
        bsock_read_line(fds[0], &fr, BSOCK_FOREVER, &cancel, &line, &len), 1);
    cr_assert_eq(asked.count, 1);
    asked.answer = true;
    send_text(fds[1], "c\n");
    cr_assert_eq(
        bsock_read_line(fds[0], &fr, BSOCK_FOREVER, &cancel, &line, &len),
        -ECANCELED);
    cr_assert_eq(asked.count, 2);
    line_framer_free(&fr);
    close(fds[0]);
    close(fds[1]);
}
