/* Unit tests for common/lsock: listening, the ready line, accepting, and
 * the answer to running out of file descriptors (JR-1, JR-10, WC-1).
 * Criterion runs each test in a process of its own, so a test may lower
 * its own RLIMIT_NOFILE. (Valgrind keeps descriptors of its own at the
 * top of the table and does not let a program lower the limit: under
 * valgrind the descriptor tests fail at once, saying so.) */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "clock.h"
#include "lsock.h"
#include "report.h"

static const char busy[] = "ERR busy\n";

/* A listener on 127.0.0.1, on a port the kernel picks. */
static void listen_local(struct lsock *l, int flags)
{
    struct addr any;

    cr_assert_eq(addr_parse("127.0.0.1:0", &any), 0);
    cr_assert_eq(lsock_open(l, &any, flags), 0);
}

/* Where l really listens, for connect(). */
static struct addr where(const struct lsock *l)
{
    struct addr a;

    cr_assert_eq(addr_parse(l->shown, &a), 0, "shown is \"%s\"", l->shown);
    return a;
}

/* A client socket connected to l (the connection waits in the backlog). */
static int connect_to(const struct lsock *l)
{
    struct addr a = where(l);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    cr_assert_geq(fd, 0);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a.ss, a.len), 0, "%s",
                 strerror(errno));
    return fd;
}

/* Reads everything fd receives until the end, into got (size bytes, NUL
 * terminated). Returns the byte count, or -errno if the end was an error. */
static ssize_t read_all(int fd, char *got, size_t size)
{
    size_t n = 0;

    for (;;) {
        ssize_t r = read(fd, got + n, size - 1 - n);

        if (r < 0)
            return -errno;
        if (r == 0)
            break;
        n += (size_t)r;
    }
    got[n] = '\0';
    return (ssize_t)n;
}

/* Waits (up to a second) until fd holds at least want unread bytes. */
static void wait_readable_bytes(int fd, int want)
{
    int64_t deadline = clock_deadline_in(1000);
    int avail = 0;

    while (ioctl(fd, FIONREAD, &avail) == 0 && avail < want &&
           !clock_passed(deadline))
        sched_yield();
    cr_assert_geq(avail, want, "the client's bytes never arrived");
}

static void lower_fd_limit(void)
{
    struct rlimit few = {64, 64};

    if (setrlimit(RLIMIT_NOFILE, &few) < 0)
        cr_assert_fail("cannot lower RLIMIT_NOFILE here: %s", strerror(errno));
}

/* Fills the descriptor table; returns how many were taken (in fds[]). */
static int exhaust_fds(int *fds, int max)
{
    int n = 0;

    while (n < max && (fds[n] = open("/dev/null", O_RDONLY)) >= 0)
        n++;
    cr_assert_eq(errno, EMFILE);
    return n;
}

static void release_fds(int *fds, int n)
{
    while (n > 0)
        close(fds[--n]);
}

Test(lsock, open_reports_the_real_port_and_holds_a_spare)
{
    struct lsock l;
    struct addr a;

    listen_local(&l, LSOCK_BLOCKING);
    a = where(&l);
    cr_assert_str_neq(l.shown, "127.0.0.1:0", "the real port, not 0");
    cr_assert_neq(((struct sockaddr_in *)&a.ss)->sin_port, 0);
    cr_assert_geq(l.fd, 0);
    cr_assert_geq(l.spare_fd, 0);
    lsock_close(&l);
    cr_assert_eq(l.fd, -1);
    cr_assert_eq(l.spare_fd, -1);
    lsock_close(&l); /* a second close does nothing */
}

Test(lsock, open_on_a_port_in_use_fails_and_leaves_nothing_open)
{
    struct lsock first, second;
    struct addr taken;
    int before = dup(0), after;

    close(before);
    listen_local(&first, LSOCK_BLOCKING);
    taken = where(&first);
    cr_assert_eq(lsock_open(&second, &taken, LSOCK_BLOCKING), -EADDRINUSE);
    cr_assert_eq(second.fd, -1);
    cr_assert_eq(second.spare_fd, -1);
    lsock_close(&first);
    after = dup(0); /* the lowest free descriptor: nothing leaked */
    cr_assert_eq(after, before);
    close(after);
}

Test(lsock, announce_prints_the_ready_line_once, .init = cr_redirect_stdout)
{
    struct lsock l;
    char want[ADDR_TEXT_MAX + 16];

    listen_local(&l, LSOCK_BLOCKING);
    cr_assert_eq(lsock_announce(&l), 0);
    snprintf(want, sizeof(want), "listening on %s\n", l.shown);
    cr_assert_stdout_eq_str(want);
    lsock_close(&l);
}

Test(lsock, report_failure_names_the_address_and_the_error,
     .init = cr_redirect_stderr)
{
    struct addr a;

    report_init("journal");
    cr_assert_eq(addr_parse("127.0.0.1:7", &a), 0);
    lsock_report_failure(&a, -EADDRINUSE);
    fflush(stderr);
    cr_assert_stderr_eq_str(
        "journal: error: listening on 127.0.0.1:7: Address already in use\n");
}

Test(lsock, nonblocking_accept_with_nobody_waiting_says_eagain)
{
    struct lsock l;

    listen_local(&l, LSOCK_NONBLOCK);
    cr_assert_eq(lsock_accept(&l, NULL, busy), -EAGAIN);
    lsock_close(&l);
}

Test(lsock, accept_returns_the_client_with_its_address_and_mode)
{
    struct lsock l;
    struct sockaddr_storage peer, mine;
    socklen_t len = sizeof(mine);
    char a[ADDR_TEXT_MAX], b[ADDR_TEXT_MAX];
    int client, fd;

    listen_local(&l, LSOCK_NONBLOCK);
    client = connect_to(&l);
    fd = lsock_accept(&l, &peer, busy);
    cr_assert_geq(fd, 0, "%s", strerror(-fd));
    cr_assert_eq(getsockname(client, (struct sockaddr *)&mine, &len), 0);
    cr_assert_str_eq(addr_format((struct sockaddr *)&peer, a, sizeof(a)),
                     addr_format((struct sockaddr *)&mine, b, sizeof(b)));
    cr_assert(fcntl(fd, F_GETFL) & O_NONBLOCK, "accepted as non-blocking");
    cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC, "close-on-exec");
    close(fd);
    close(client);
    lsock_close(&l);
}

Test(lsock, blocking_listener_accepts_blocking_sockets)
{
    struct lsock l;
    int client, fd;

    listen_local(&l, LSOCK_BLOCKING);
    client = connect_to(&l);
    fd = lsock_accept(&l, NULL, busy);
    cr_assert_geq(fd, 0);
    cr_assert_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    close(fd);
    close(client);
    lsock_close(&l);
}

Test(lsock, turn_away_sends_the_whole_line_then_a_clean_end)
{
    struct lsock l;
    char got[64];
    int client, fd;

    listen_local(&l, LSOCK_BLOCKING);
    client = connect_to(&l);
    fd = lsock_accept(&l, NULL, busy);
    cr_assert_eq(lsock_turn_away(fd, busy), 0);
    close(fd);
    cr_assert_eq(read_all(client, got, sizeof(got)), 9);
    cr_assert_str_eq(got, busy);
    close(client);
    lsock_close(&l);
}

Test(lsock, turn_away_reads_what_the_client_sent_so_the_line_is_not_lost)
{
    struct lsock l;
    char got[64], junk[2000];
    int client, fd, left = -1;

    memset(junk, 'x', sizeof(junk));
    listen_local(&l, LSOCK_BLOCKING);
    client = connect_to(&l);
    fd = lsock_accept(&l, NULL, busy);
    cr_assert_eq(write(client, junk, sizeof(junk)), (ssize_t)sizeof(junk));
    wait_readable_bytes(fd, sizeof(junk));
    cr_assert_eq(lsock_turn_away(fd, busy), 0);
    /* Unread bytes at close() would make the kernel reset the connection,
     * and the client could lose the line: none may be left. */
    cr_assert_eq(ioctl(fd, FIONREAD, &left), 0);
    cr_assert_eq(left, 0, "%d bytes left unread", left);
    close(fd);
    cr_assert_eq(read_all(client, got, sizeof(got)), 9, "a reset?");
    cr_assert_str_eq(got, busy);
    close(client);
    lsock_close(&l);
}

Test(lsock, turn_away_never_leaves_a_cut_line_before_a_clean_end)
{
    struct lsock l;
    static char big[1 << 20], got[4 << 20];
    int small = 4096, client, fd, rc;
    int64_t t0;
    ssize_t n;

    memset(big, 'x', sizeof(big));
    memset(big + sizeof(big) - 100, 'E', 99);
    big[sizeof(big) - 1] = '\0';
    listen_local(&l, LSOCK_BLOCKING);
    client = connect_to(&l);
    fd = lsock_accept(&l, NULL, busy);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    /* A "message" far larger than any send buffer: it cannot go whole. */
    t0 = clock_now_ms();
    rc = lsock_turn_away(fd, big);
    cr_assert_lt(rc, 0, "sent more than the buffers hold?");
    cr_assert_lt(clock_now_ms() - t0, 100, "the wait must stay bounded");
    close(fd);
    n = read_all(client, got, sizeof(got));
    cr_assert_eq(n, -ECONNRESET, "a cut message must end in a reset, got %zd",
                 n);
    close(client);
    lsock_close(&l);
}

Test(lsock, out_of_descriptors_turns_the_waiting_client_away,
     .init = cr_redirect_stderr)
{
    struct lsock l;
    int fds[64], n, early, late, fd;
    char got[64];

    lower_fd_limit();
    listen_local(&l, LSOCK_NONBLOCK);
    early = socket(AF_INET, SOCK_STREAM, 0);
    late = socket(AF_INET, SOCK_STREAM, 0);
    n = exhaust_fds(fds, 64);
    {
        struct addr a = where(&l);

        cr_assert_eq(connect(early, (struct sockaddr *)&a.ss, a.len), 0);
        cr_assert_eq(lsock_accept(&l, NULL, busy), -ECONNABORTED);
        cr_assert_eq(read_all(early, got, sizeof(got)), 9);
        cr_assert_str_eq(got, busy);
        cr_assert_eq(lsock_accept(&l, NULL, busy), -EAGAIN, "none waits");
        /* Descriptors come back: the listener accepts again. */
        release_fds(fds, n);
        cr_assert_eq(connect(late, (struct sockaddr *)&a.ss, a.len), 0);
    }
    fd = lsock_accept(&l, NULL, busy);
    cr_assert_geq(fd, 0, "%s", strerror(-fd));
    cr_assert_geq(l.spare_fd, 0, "the spare was taken back");
    close(fd);
    close(early);
    close(late);
    lsock_close(&l);
}

/* Counts the lines of the redirected stderr that contain what. */
static int stderr_lines_with(const char *what)
{
    static char text[4096];
    size_t len;
    int count = 0;

    fflush(stderr);
    len = fread(text, 1, sizeof(text) - 1, cr_get_redirected_stderr());
    text[len] = '\0';
    for (char *p = text; (p = strstr(p, what)) != NULL; p++)
        count++;
    return count;
}

Test(lsock, the_shortage_is_reported_once_until_an_accept_succeeds,
     .init = cr_redirect_stderr)
{
    struct lsock l;
    struct addr a;
    int fds[64], n, c1, c2, c3, fd;

    lower_fd_limit();
    listen_local(&l, LSOCK_NONBLOCK);
    a = where(&l);
    c1 = socket(AF_INET, SOCK_STREAM, 0);
    c2 = socket(AF_INET, SOCK_STREAM, 0);
    c3 = socket(AF_INET, SOCK_STREAM, 0);
    n = exhaust_fds(fds, 64);
    cr_assert_eq(connect(c1, (struct sockaddr *)&a.ss, a.len), 0);
    cr_assert_eq(connect(c2, (struct sockaddr *)&a.ss, a.len), 0);
    cr_assert_eq(lsock_accept(&l, NULL, busy), -ECONNABORTED);
    cr_assert_eq(lsock_accept(&l, NULL, busy), -ECONNABORTED);
    release_fds(fds, n);
    cr_assert_eq(connect(c3, (struct sockaddr *)&a.ss, a.len), 0);
    fd = lsock_accept(&l, NULL, busy);
    cr_assert_geq(fd, 0);
    close(fd);
    cr_assert_eq(stderr_lines_with("out of file descriptors"), 1);
    close(c1);
    close(c2);
    close(c3);
    lsock_close(&l);
}

Test(lsock, without_a_spare_it_says_rest_and_leaves_the_client_queued,
     .init = cr_redirect_stderr)
{
    struct lsock l;
    struct addr a;
    int fds[64], n, early, fd;

    lower_fd_limit();
    listen_local(&l, LSOCK_NONBLOCK);
    a = where(&l);
    early = socket(AF_INET, SOCK_STREAM, 0);
    close(l.spare_fd);
    l.spare_fd = -1;
    n = exhaust_fds(fds, 64);
    cr_assert_eq(connect(early, (struct sockaddr *)&a.ss, a.len), 0);
    cr_assert_eq(lsock_accept(&l, NULL, busy), -EMFILE);
    cr_assert_eq(lsock_accept(&l, NULL, busy), -EMFILE, "still no room");
    close(fds[--n]); /* room again: the client waited, and is served */
    fd = lsock_accept(&l, NULL, busy);
    cr_assert_geq(fd, 0, "%s", strerror(-fd));
    close(fd);
    release_fds(fds, n);
    close(early);
    lsock_close(&l);
}

Test(lsock, accept_on_a_shut_down_listener_says_the_socket_failed)
{
    struct lsock l;
    int rc;

    listen_local(&l, LSOCK_BLOCKING);
    shutdown(l.fd, SHUT_RDWR);
    rc = lsock_accept(&l, NULL, busy);
    cr_assert(rc != -EAGAIN && rc != -ECONNABORTED && rc != -EMFILE && rc < 0,
              "got %d", rc);
    lsock_close(&l);
}
