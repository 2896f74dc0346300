/* ceiling: what the machine can do with the bench's bytes, and nothing else.
 *
 * The bench (bench/bench.py) runs this program next to every track so that
 * each track's numbers can be read as a fraction of the machine's ceiling,
 * measured in the same run on the same loaded machine. It moves the same
 * bytes as the programs, but parses nothing, keeps no schedule and has one
 * thread that blocks in read(2) and write(2):
 *
 *   ceiling copy --connect HOST:PORT
 *       the dashboard's flood: reads the socket, writes what it read to
 *       stdout, exits 0 at end of file.
 *   ceiling fan --listen HOST:PORT --subs S
 *       the journal's fan-out: prints "listening on HOST:PORT", accepts S
 *       subscribers, then one publisher; each sends its 4-byte role line
 *       ("SUB\n", "PUB\n"), read and dropped. Every chunk the publisher
 *       sends is written to each subscriber in turn; exits 0 when the
 *       publisher closes.
 *   ceiling sleep --ms N
 *       a deadline: prints "sleeping", waits N ms in poll(2) and exits 0
 *       (start-up, one timer and the exit: the least lateness a program
 *       can have; asleep, the least memory a process takes).
 *
 * Not a track and not a model to copy: it never gives up on a slow
 * subscriber, has no deadline on anything and exits on the first error.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { CEILING_CHUNK = 65536, CEILING_ROLE_BYTES = 4, CEILING_SUBS_MAX = 4096 };

static void ceiling_die(const char *what)
{
    fprintf(stderr, "ceiling: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void ceiling_usage(void)
{
    fprintf(stderr, "ceiling: usage: copy --connect HOST:PORT | fan --listen "
                    "HOST:PORT --subs S | sleep --ms N\n");
    exit(2);
}

/* Parses "A.B.C.D:PORT" into addr; exits 2 when it is not one. */
static void ceiling_parse_addr(const char *text, struct sockaddr_in *addr)
{
    char host[64];
    const char *colon = strrchr(text, ':');

    if (colon == NULL || (size_t)(colon - text) >= sizeof host)
        ceiling_usage();
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_port = htons((unsigned short)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &addr->sin_addr) != 1)
        ceiling_usage();
}

/* Writes all of buf to fd, however many write(2) calls it takes. */
static void ceiling_write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            ceiling_die("write");
        buf += n;
        len -= (size_t)n;
    }
}

/* Reads exactly len bytes (a role line) from fd. */
static void ceiling_read_exact(int fd, char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = read(fd, buf, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            ceiling_die("read of the role line");
        buf += n;
        len -= (size_t)n;
    }
}

/* copy: socket to stdout until end of file. */
static int ceiling_copy(const char *where)
{
    static char buf[CEILING_CHUNK];
    struct sockaddr_in addr;
    int fd;

    ceiling_parse_addr(where, &addr);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
        ceiling_die("connect");
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            ceiling_die("read");
        if (n == 0)
            break;
        ceiling_write_all(STDOUT_FILENO, buf, (size_t)n);
    }
    close(fd);
    return 0;
}

/* Listens on where and prints the port it got, as the journal does. */
static int ceiling_listen(const char *where)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    int one = 1;
    int fd;

    ceiling_parse_addr(where, &addr);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        ceiling_die("socket");
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 ||
        listen(fd, 128) < 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) < 0)
        ceiling_die("listen");
    printf("listening on %s:%d\n", inet_ntoa(addr.sin_addr),
           ntohs(addr.sin_port));
    fflush(stdout);
    return fd;
}

/* Accepts one client and drops its role line. */
static int ceiling_accept_role(int lfd)
{
    char role[CEILING_ROLE_BYTES];
    int one = 1;
    int fd = accept(lfd, NULL, NULL);

    if (fd < 0)
        ceiling_die("accept");
    /* Small writes go out at once, as in the tracks (latency is measured). */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ceiling_read_exact(fd, role, sizeof role);
    return fd;
}

/* fan: one publisher's bytes to every subscriber, chunk by chunk. */
static int ceiling_fan(const char *where, int nsubs)
{
    static char buf[CEILING_CHUNK];
    static int subs[CEILING_SUBS_MAX];
    int lfd = ceiling_listen(where);
    int pub;

    for (int i = 0; i < nsubs; i++)
        subs[i] = ceiling_accept_role(lfd);
    pub = ceiling_accept_role(lfd);
    for (;;) {
        ssize_t n = read(pub, buf, sizeof buf);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            ceiling_die("read");
        if (n == 0)
            break;
        for (int i = 0; i < nsubs; i++)
            ceiling_write_all(subs[i], buf, (size_t)n);
    }
    for (int i = 0; i < nsubs; i++)
        close(subs[i]);
    close(pub);
    close(lfd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "copy") == 0 &&
        strcmp(argv[2], "--connect") == 0)
        return ceiling_copy(argv[3]);
    if (argc == 6 && strcmp(argv[1], "fan") == 0 &&
        strcmp(argv[2], "--listen") == 0 && strcmp(argv[4], "--subs") == 0) {
        int nsubs = atoi(argv[5]);

        if (nsubs < 1 || nsubs > CEILING_SUBS_MAX)
            ceiling_usage();
        return ceiling_fan(argv[3], nsubs);
    }
    if (argc == 4 && strcmp(argv[1], "sleep") == 0 &&
        strcmp(argv[2], "--ms") == 0) {
        /* The line says it is running (the bench reads its memory then). */
        printf("sleeping\n");
        fflush(stdout);
        poll(NULL, 0, atoi(argv[3]));
        return 0;
    }
    ceiling_usage();
    return 2;
}
