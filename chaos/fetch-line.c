/* fetch-line, small and self-contained: the program chaos/README.md and
 * lesson 01 use to show what short writes and EINTR do to a program.
 *
 * It keeps the whole fetch-line contract (docs/programs.md) with blocking
 * calls only, each bounded by the time left before one deadline. Built
 * three ways (the Makefile's chaos rules):
 *
 *   build/chaos/fetch-line                 correct
 *   build/chaos/fetch-line-ignores-send    -DCHAOS_WRONG_SEND: one send(),
 *                                          its return value ignored
 *   build/chaos/fetch-line-eintr-fatal     -DCHAOS_WRONG_EINTR: EINTR is
 *                                          treated as a failure
 *
 * On loopback the two wrong ones pass every conformance test: the kernel
 * takes a short line whole and never interrupts a call. Under the chaos
 * shim they fail, and the correct one does not. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_LINE 65536  /* bytes before the '\n' (COM-6) */
#define SLICE_US 250000 /* longest socket timeout armed at once */

static int64_t start_us; /* monotonic time at start */
static int64_t deadline_us;
static long timeout_ms = 5000;
static int tracing;

static int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void trace(const char *what)
{
    if (tracing)
        fprintf(stderr, "%8.3f %s\n", (double)(now_us() - start_us) / 1e3,
                what);
}

static void usage(void)
{
    fprintf(stderr, "fetch-line: usage: fetch-line --connect HOST:PORT "
                    "[--timeout-ms N] [--send TEXT] [--trace]\n");
    exit(2);
}

__attribute__((format(printf, 1, 2), noreturn)) static void
fail(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "fetch-line: error: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

__attribute__((noreturn)) static void timed_out(void)
{
    fprintf(stderr, "fetch-line: timed out after %ld ms\n", timeout_ms);
    exit(124);
}

/* HOST:PORT or [IPv6]:PORT, HOST an IPv4 address or localhost. */
static int parse_addr(const char *text, struct sockaddr_storage *ss,
                      socklen_t *len)
{
    char host[64];
    const char *colon = strrchr(text, ':');
    char *end;
    unsigned long port;
    size_t hl;

    if (!colon || colon == text || !colon[1])
        return -1;
    port = strtoul(colon + 1, &end, 10);
    if (*end || port == 0 || port > 65535 || colon[1] < '0' || colon[1] > '9')
        return -1;
    hl = (size_t)(colon - text);
    if (text[0] == '[') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

        if (hl < 3 || text[hl - 1] != ']' || hl - 2 >= sizeof(host))
            return -1;
        memcpy(host, text + 1, hl - 2);
        host[hl - 2] = '\0';
        memset(a6, 0, sizeof(*a6));
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*a6);
        return inet_pton(AF_INET6, host, &a6->sin6_addr) == 1 ? 0 : -1;
    }
    if (hl >= sizeof(host))
        return -1;
    memcpy(host, text, hl);
    host[hl] = '\0';
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    memset(a4, 0, sizeof(*a4));
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    *len = sizeof(*a4);
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    return inet_pton(AF_INET, host, &a4->sin_addr) == 1 ? 0 : -1;
}

/* Gives the next blocking call on fd the time left, at most one slice:
 * long socket timeouts fire late, short ones on time. Exits 124 when the
 * deadline has passed. The deadline itself never moves. */
static void arm(int fd, int optname)
{
    int64_t left = deadline_us - now_us();
    struct timeval tv;

    if (left <= 0)
        timed_out();
    if (left > SLICE_US)
        left = SLICE_US;
    tv.tv_sec = (time_t)(left / 1000000);
    tv.tv_usec = (suseconds_t)(left % 1000000);
    if (setsockopt(fd, SOL_SOCKET, optname, &tv, sizeof(tv)) < 0)
        fail("setsockopt: %s", strerror(errno));
}

/* Whether a failed call only ran out of its slice or was interrupted:
 * then the deadline decides, on the next arm(). */
static int retry(int err)
{
#ifdef CHAOS_WRONG_EINTR
    /* WRONG: "interrupted" is taken for "failed". */
    return err == EAGAIN || err == EWOULDBLOCK || err == EINPROGRESS ||
           err == EALREADY;
#else
    return err == EAGAIN || err == EWOULDBLOCK || err == EINTR ||
           err == EINPROGRESS || err == EALREADY;
#endif
}

static void connect_by_deadline(int fd, const struct sockaddr_storage *ss,
                                socklen_t len)
{
    for (;;) {
        arm(fd, SO_SNDTIMEO);
        /* A connect cut short (timeout or signal) goes on in the kernel;
         * calling connect() again waits for it, or says EISCONN when it
         * is already done. */
        if (connect(fd, (const struct sockaddr *)ss, len) == 0 ||
            errno == EISCONN)
            return;
        if (!retry(errno))
            fail("connect: %s", strerror(errno));
    }
}

/* Sends all n bytes: send() may take fewer than asked, and then the rest
 * is still ours to send. */
static void send_all(int fd, const char *p, size_t n)
{
#ifdef CHAOS_WRONG_SEND
    /* WRONG: one send(), as if it always took everything. */
    arm(fd, SO_SNDTIMEO);
    if (send(fd, p, n, MSG_NOSIGNAL) < 0 && !retry(errno))
        fail("send: %s", strerror(errno));
#else
    while (n > 0) {
        ssize_t sent;

        arm(fd, SO_SNDTIMEO);
        sent = send(fd, p, n, MSG_NOSIGNAL);
        if (sent > 0) {
            p += sent;
            n -= (size_t)sent;
        } else if (sent < 0 && !retry(errno)) {
            fail("send: %s", strerror(errno));
        }
    }
#endif
}

/* Reads until the first '\n' and prints what came before it. A recv()
 * returns whatever has arrived, a byte or a whole buffer: the line is
 * only complete when its '\n' is in. */
static void read_line(int fd)
{
    static char buf[MAX_LINE + 1];
    size_t len = 0;

    for (;;) {
        char *nl;
        ssize_t got;

        if (len == sizeof(buf))
            fail("line too long");
        arm(fd, SO_RCVTIMEO);
        got = recv(fd, buf + len, sizeof(buf) - len, 0);
        if (got == 0)
            fail("peer closed the connection before a newline");
        if (got < 0) {
            if (!retry(errno))
                fail("recv: %s", strerror(errno));
            continue;
        }
        nl = memchr(buf + len, '\n', (size_t)got);
        len += (size_t)got;
        if (nl) {
            trace("line");
            if (fwrite(buf, 1, (size_t)(nl - buf), stdout) !=
                    (size_t)(nl - buf) ||
                putchar('\n') == EOF || fflush(stdout) == EOF)
                fail("writing stdout: %s", strerror(errno));
            return;
        }
    }
}

static long parse_ms(const char *s)
{
    char *end;
    long v;

    if (!s || *s < '0' || *s > '9')
        usage();
    errno = 0;
    v = strtol(s, &end, 10);
    if (*end || errno || v < 1)
        usage();
    return v;
}

int main(int argc, char **argv)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    const char *send_text = NULL;
    int have_addr = 0, fd;

    start_us = now_us();
    signal(SIGPIPE, SIG_IGN); /* a closed peer is an error, not a kill */
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];

        if (strcmp(opt, "--help") == 0) {
            printf("usage: fetch-line --connect HOST:PORT [--timeout-ms N] "
                   "[--send TEXT] [--trace]\n");
            return 0;
        } else if (strcmp(opt, "--trace") == 0) {
            tracing = 1;
        } else if (i + 1 >= argc) {
            usage();
        } else if (strcmp(opt, "--connect") == 0) {
            if (parse_addr(argv[++i], &ss, &len) < 0)
                usage();
            have_addr = 1;
        } else if (strcmp(opt, "--timeout-ms") == 0) {
            timeout_ms = parse_ms(argv[++i]);
        } else if (strcmp(opt, "--send") == 0) {
            send_text = argv[++i];
        } else {
            usage();
        }
    }
    if (!have_addr)
        usage();
    deadline_us = start_us + (int64_t)timeout_ms * 1000;
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        fail("socket: %s", strerror(errno));
    trace("connecting");
    connect_by_deadline(fd, &ss, len);
    trace("connected");
    if (send_text) {
        size_t n = strlen(send_text);
        char *msg = malloc(n + 1);

        if (!msg)
            fail("out of memory");
        memcpy(msg, send_text, n);
        msg[n] = '\n';
        send_all(fd, msg, n + 1);
        free(msg);
        trace("sent");
    }
    read_line(fd);
    close(fd);
    return 0;
}
