/* chaos shim: an LD_PRELOAD library that makes the kernel unkind to
 * sockets, within what the kernel is allowed to do (chaos/README.md).
 *
 * On stream sockets only (fstat says S_ISSOCK, SO_TYPE says SOCK_STREAM;
 * files, pipes, terminals and datagram sockets pass through untouched) it:
 *   - caps every read and write to a random 1..KIT_CHAOS_MAX_IO bytes;
 *   - makes blocking calls fail with EINTR, where the kernel could;
 *   - makes non-blocking calls fail with EAGAIN, in bounded runs;
 *   - delays connect and accept by a random 0..KIT_CHAOS_DELAY_MS ms.
 *
 * Every decision comes from one counter-based random stream seeded by
 * KIT_CHAOS_SEED: decision k is mix(seed, k), so threads only share an
 * atomic counter, and a single-threaded program that makes the same calls
 * sees the same faults again. Every fault is logged (KIT_CHAOS_LOG) with
 * the system call that got it, so a failure can name it.
 *
 * The shim has no API: it replaces libc's symbols and calls the real ones
 * through dlsym(RTLD_NEXT, ...). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* Prototypes for the interposed symbols that no header declares. */
ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
                       struct sockaddr *from, socklen_t *len);

/* ---------------------------------------------------------------------
 * Settings, read once from the environment at load time. */

static uint64_t chaos_seed = 1;
static unsigned chaos_max_io = 7;      /* cap: 1..max_io bytes a call */
static unsigned chaos_eintr_pct = 10;  /* per eligible blocking call */
static unsigned chaos_eagain_pct = 10; /* per non-blocking call */
static unsigned chaos_eagain_run = 3;  /* injected EAGAINs in a row, max */
static unsigned chaos_eintr_run = 3;   /* injected EINTRs in a row, max */
static unsigned chaos_delay_ms;        /* connect/accept delay, max */
static int chaos_log_fd = -1;          /* the fault log, or -1 */

/* The log is cut back to nothing when it grows past this, so it always
 * holds the most recent faults and never fills a disk. */
#define CHAOS_LOG_MAX (256 * 1024)
static atomic_long chaos_log_size;

/* The random stream: decision k is mix(seed + k * golden). */
static atomic_uint_fast64_t chaos_counter;

/* Consecutive injected faults per descriptor (fd & CHAOS_FDS-1), reset
 * whenever a call reaches the kernel: a program that retries always gets
 * through after at most a run of faults, so nothing is starved. */
#define CHAOS_FDS 4096
static atomic_uchar chaos_run[CHAOS_FDS];

/* Signals with a handler installed without SA_RESTART (bit sig-1). Kept
 * up to date by the interposed sigaction() and signal(). */
static atomic_uint_fast64_t chaos_no_restart;

/* The real functions. */
static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_readv)(int, const struct iovec *, int);
static ssize_t (*real_recv)(int, void *, size_t, int);
static ssize_t (*real_recvfrom)(int, void *, size_t, int, struct sockaddr *,
                                socklen_t *);
static ssize_t (*real_recvmsg)(int, struct msghdr *, int);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_send)(int, const void *, size_t, int);
static ssize_t (*real_sendto)(int, const void *, size_t, int,
                              const struct sockaddr *, socklen_t);
static ssize_t (*real_sendmsg)(int, const struct msghdr *, int);
static int (*real_accept)(int, struct sockaddr *, socklen_t *);
static int (*real_accept4)(int, struct sockaddr *, socklen_t *, int);
static int (*real_connect)(int, const struct sockaddr *, socklen_t);
static int (*real_sigaction)(int, const struct sigaction *, struct sigaction *);
static sighandler_t (*real_signal)(int, sighandler_t);
static ssize_t (*real_read_chk)(int, void *, size_t, size_t);
static ssize_t (*real_recv_chk)(int, void *, size_t, size_t, int);
static ssize_t (*real_recvfrom_chk)(int, void *, size_t, size_t, int,
                                    struct sockaddr *, socklen_t *);

static void *chaos_sym(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);

    if (!p) {
        static const char msg[] = "chaos: cannot find a libc symbol\n";
        /* A missing write() cannot be reported with write(). */
        if (real_write)
            real_write(2, msg, sizeof(msg) - 1);
        abort();
    }
    return p;
}

static unsigned chaos_env(const char *name, unsigned fallback)
{
    const char *s = getenv(name);
    char *end;
    unsigned long v;

    if (!s || !*s)
        return fallback;
    v = strtoul(s, &end, 10);
    return *end ? fallback : (unsigned)v;
}

static void chaos_load_symbols(void)
{
    real_write = chaos_sym("write");
    real_read = chaos_sym("read");
    real_readv = chaos_sym("readv");
    real_recv = chaos_sym("recv");
    real_recvfrom = chaos_sym("recvfrom");
    real_recvmsg = chaos_sym("recvmsg");
    real_writev = chaos_sym("writev");
    real_send = chaos_sym("send");
    real_sendto = chaos_sym("sendto");
    real_sendmsg = chaos_sym("sendmsg");
    real_accept = chaos_sym("accept");
    real_accept4 = chaos_sym("accept4");
    real_connect = chaos_sym("connect");
    real_sigaction = chaos_sym("sigaction");
    real_signal = chaos_sym("signal");
    real_read_chk = chaos_sym("__read_chk");
    real_recv_chk = chaos_sym("__recv_chk");
    real_recvfrom_chk = chaos_sym("__recvfrom_chk");
}

/* A real function, its address looked up first if need be. Another
 * preloaded library can call into the shim before the shim's constructor
 * has run: AddressSanitizer's runtime, which must be loaded first, installs
 * its signal handlers with sigaction() while it starts. */
#define REAL(name)                                                             \
    (real_##name ? real_##name : (chaos_load_symbols(), real_##name))

/* Runs when the library is loaded, before the program's main(). */
__attribute__((constructor)) static void chaos_init(void)
{
    const char *seed = getenv("KIT_CHAOS_SEED");
    const char *dir = getenv("KIT_CHAOS_LOG");

    chaos_load_symbols();
    if (seed && *seed)
        chaos_seed = strtoull(seed, NULL, 10);
    chaos_max_io = chaos_env("KIT_CHAOS_MAX_IO", chaos_max_io);
    if (chaos_max_io == 0)
        chaos_max_io = 1;
    chaos_eintr_pct = chaos_env("KIT_CHAOS_EINTR", chaos_eintr_pct);
    chaos_eagain_pct = chaos_env("KIT_CHAOS_EAGAIN", chaos_eagain_pct);
    chaos_eagain_run = chaos_env("KIT_CHAOS_EAGAIN_RUN", chaos_eagain_run);
    chaos_eintr_run = chaos_env("KIT_CHAOS_EINTR_RUN", chaos_eintr_run);
    chaos_delay_ms = chaos_env("KIT_CHAOS_DELAY_MS", 0);
    if (dir && *dir) {
        char path[4096];

        snprintf(path, sizeof(path), "%s/chaos-%ld.log", dir, (long)getpid());
        chaos_log_fd =
            open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    }
}

/* ---------------------------------------------------------------------
 * Randomness, logging, and what the kernel would allow. */

/* splitmix64's finaliser: turns a counter into well-spread bits. */
static uint64_t chaos_mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static uint64_t chaos_next(void)
{
    uint64_t k = atomic_fetch_add(&chaos_counter, 1);

    return chaos_mix(chaos_seed + (k + 1) * 0x9e3779b97f4a7c15ULL);
}

/* One line in the fault log: "pid 123 seed 42: send(fd 5) ...". The
 * write() to a file is not intercepted (the shim leaves files alone). */
__attribute__((format(printf, 1, 2))) static void chaos_log(const char *fmt,
                                                            ...)
{
    char line[256];
    int n;
    va_list ap;

    if (chaos_log_fd < 0)
        return;
    n = snprintf(line, sizeof(line), "pid %ld seed %llu: ", (long)getpid(),
                 (unsigned long long)chaos_seed);
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    if (atomic_fetch_add(&chaos_log_size, n) > CHAOS_LOG_MAX) {
        /* Start again from nothing: the newest faults matter most. */
        if (ftruncate(chaos_log_fd, 0) == 0)
            atomic_store(&chaos_log_size, n);
    }
    REAL(write)(chaos_log_fd, line, (size_t)n);
}

/* Stream sockets only (TCP, Unix stream): a datagram cut short would be
 * a different datagram, which no kernel does. */
static int chaos_is_socket(int fd)
{
    struct stat st;
    int type = 0;
    socklen_t len = sizeof(type);
    int saved = errno;
    int yes = fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) &&
              getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
              type == SOCK_STREAM;

    errno = saved;
    return yes;
}

/* A call blocks unless the descriptor is O_NONBLOCK or the call passes
 * MSG_DONTWAIT. */
static int chaos_nonblocking(int fd, int flags)
{
    int fl = fcntl(fd, F_GETFL);

    return (flags & MSG_DONTWAIT) || (fl >= 0 && (fl & O_NONBLOCK));
}

/* Whether the socket has a timeout for this direction (SO_RCVTIMEO or
 * SO_SNDTIMEO): then the kernel never restarts the call, and on Linux even
 * a stop and continue (Ctrl-Z, fg) with no handler at all makes it fail
 * with EINTR (signal(7)). */
static int chaos_has_timeout(int fd, int optname)
{
    struct timeval tv = {0, 0};
    socklen_t len = sizeof(tv);

    if (getsockopt(fd, SOL_SOCKET, optname, &tv, &len) < 0)
        return 0;
    return tv.tv_sec != 0 || tv.tv_usec != 0;
}

/* THE EINTR RULE. A blocking socket call may fail with EINTR when a
 * signal could interrupt it and the kernel would not restart it:
 *   1. some signal has a handler installed without SA_RESTART; or
 *   2. the socket has a timeout for the call's direction (SO_RCVTIMEO for
 *      accept and reads, SO_SNDTIMEO for connect and writes).
 * Nothing else: a program with only SA_RESTART handlers (or none) and no
 * socket timeouts never sees an injected EINTR. */
static int chaos_eintr_legal(int fd, int optname)
{
    return atomic_load(&chaos_no_restart) != 0 ||
           chaos_has_timeout(fd, optname);
}

enum chaos_dir { CHAOS_IN, CHAOS_OUT };

/* Decides whether this call fails without reaching the kernel: returns
 * EINTR or EAGAIN (the errno to fail with) or 0 (go ahead). name is the
 * call, for the log. */
static int chaos_fault(const char *name, int fd, int flags, enum chaos_dir dir)
{
    unsigned draw = (unsigned)(chaos_next() % 100);
    atomic_uchar *run = &chaos_run[fd & (CHAOS_FDS - 1)];
    int err = 0;

    if (draw < chaos_eintr_pct) {
        if (atomic_load(run) < chaos_eintr_run &&
            !chaos_nonblocking(fd, flags) &&
            chaos_eintr_legal(fd, dir == CHAOS_IN ? SO_RCVTIMEO : SO_SNDTIMEO))
            err = EINTR;
    } else if (draw < chaos_eintr_pct + chaos_eagain_pct) {
        if (atomic_load(run) < chaos_eagain_run && chaos_nonblocking(fd, flags))
            err = EAGAIN;
    }
    if (err) {
        atomic_fetch_add(run, 1);
        chaos_log("%s(fd %d) -> %s (injected)", name, fd,
                  err == EINTR ? "EINTR" : "EAGAIN");
    } else {
        atomic_store(run, 0);
    }
    return err;
}

/* The size this call may move: n, or less when the cap draws less. */
static size_t chaos_cap(size_t n)
{
    size_t cap = 1 + (size_t)(chaos_next() % chaos_max_io);

    return n < cap ? n : cap;
}

static void chaos_log_short(const char *name, int fd, size_t asked, ssize_t got)
{
    if (got >= 0 && (size_t)got < asked)
        chaos_log("%s(fd %d, %zu bytes) -> %zd (short %s)", name, fd, asked,
                  got, strncmp(name, "re", 2) == 0 ? "read" : "write");
}

/* Copies iov into out (room for max entries) holding at most cap bytes;
 * returns the entry count. */
static int chaos_trim_iov(const struct iovec *iov, int cnt, size_t cap,
                          struct iovec *out, int max)
{
    int n = 0;

    for (int i = 0; i < cnt && cap > 0 && n < max; i++) {
        if (iov[i].iov_len == 0)
            continue;
        out[n].iov_base = iov[i].iov_base;
        out[n].iov_len = iov[i].iov_len < cap ? iov[i].iov_len : cap;
        cap -= out[n].iov_len;
        n++;
    }
    return n;
}

static size_t chaos_iov_total(const struct iovec *iov, int cnt)
{
    size_t total = 0;

    for (int i = 0; i < cnt; i++)
        total += iov[i].iov_len;
    return total;
}

static void chaos_delay(const char *name, int fd)
{
    struct timespec ts;
    unsigned ms;

    if (chaos_delay_ms == 0)
        return;
    ms = (unsigned)(chaos_next() % (chaos_delay_ms + 1));
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    chaos_log("%s(fd %d) delayed %u ms", name, fd, ms);
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

#define CHAOS_FAIL(err)                                                        \
    do {                                                                       \
        errno = (err);                                                         \
        return -1;                                                             \
    } while (0)

/* ---------------------------------------------------------------------
 * Reads. MSG_WAITALL asks the kernel for the whole amount; it gives less
 * only when a signal interrupts (rule above) or a timeout strikes, so a
 * MSG_WAITALL read is capped only when EINTR would be legal. */

static size_t chaos_read_cap(int fd, int flags, size_t n)
{
    if ((flags & MSG_WAITALL) && !chaos_nonblocking(fd, flags) &&
        !chaos_eintr_legal(fd, SO_RCVTIMEO))
        return n;
    return chaos_cap(n);
}

ssize_t read(int fd, void *buf, size_t n)
{
    size_t m;
    ssize_t got;
    int err;

    if (n == 0 || !chaos_is_socket(fd))
        return REAL(read)(fd, buf, n);
    if ((err = chaos_fault("read", fd, 0, CHAOS_IN)))
        CHAOS_FAIL(err);
    m = chaos_cap(n);
    got = REAL(read)(fd, buf, m);
    chaos_log_short("read", fd, n, got);
    return got;
}

ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
    if (n > buflen || !chaos_is_socket(fd))
        return REAL(read_chk)(fd, buf, n, buflen);
    return read(fd, buf, n);
}

ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
    struct iovec mine[8];
    size_t total;
    ssize_t got;
    int err;

    if (!chaos_is_socket(fd) || (total = chaos_iov_total(iov, cnt)) == 0)
        return REAL(readv)(fd, iov, cnt);
    if ((err = chaos_fault("readv", fd, 0, CHAOS_IN)))
        CHAOS_FAIL(err);
    got = REAL(readv)(fd, mine,
                      chaos_trim_iov(iov, cnt, chaos_cap(total), mine, 8));
    chaos_log_short("readv", fd, total, got);
    return got;
}

ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *from,
                 socklen_t *fromlen)
{
    ssize_t got;
    int err;

    if (n == 0 || !chaos_is_socket(fd))
        return REAL(recvfrom)(fd, buf, n, flags, from, fromlen);
    if ((err = chaos_fault("recv", fd, flags, CHAOS_IN)))
        CHAOS_FAIL(err);
    got = REAL(recvfrom)(fd, buf, chaos_read_cap(fd, flags, n), flags, from,
                         fromlen);
    chaos_log_short("recv", fd, n, got);
    return got;
}

ssize_t recv(int fd, void *buf, size_t n, int flags)
{
    return recvfrom(fd, buf, n, flags, NULL, NULL);
}

ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags)
{
    if (n > buflen)
        return REAL(recv_chk)(fd, buf, n, buflen, flags);
    return recvfrom(fd, buf, n, flags, NULL, NULL);
}

ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
                       struct sockaddr *from, socklen_t *len)
{
    if (n > buflen)
        return REAL(recvfrom_chk)(fd, buf, n, buflen, flags, from, len);
    return recvfrom(fd, buf, n, flags, from, len);
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    struct iovec mine[8];
    struct iovec *theirs;
    size_t total, cnt;
    ssize_t got;
    int err;

    if (!chaos_is_socket(fd) ||
        (total = chaos_iov_total(msg->msg_iov, (int)msg->msg_iovlen)) == 0)
        return REAL(recvmsg)(fd, msg, flags);
    if ((err = chaos_fault("recvmsg", fd, flags, CHAOS_IN)))
        CHAOS_FAIL(err);
    theirs = msg->msg_iov;
    cnt = msg->msg_iovlen;
    msg->msg_iov = mine;
    msg->msg_iovlen = (size_t)chaos_trim_iov(
        theirs, (int)cnt, chaos_read_cap(fd, flags, total), mine, 8);
    got = REAL(recvmsg)(fd, msg, flags);
    msg->msg_iov = theirs;
    msg->msg_iovlen = cnt;
    chaos_log_short("recvmsg", fd, total, got);
    return got;
}

/* ---------------------------------------------------------------------
 * Writes: always capped. On a non-blocking socket a short write is the
 * kernel's buffer filling up; on a blocking one it is what a signal or a
 * send timeout produces after some bytes went out. Either way the program
 * must send the rest itself. */

ssize_t write(int fd, const void *buf, size_t n)
{
    ssize_t put;
    int err;

    if (n == 0 || !chaos_is_socket(fd))
        return REAL(write)(fd, buf, n);
    if ((err = chaos_fault("write", fd, 0, CHAOS_OUT)))
        CHAOS_FAIL(err);
    put = REAL(write)(fd, buf, chaos_cap(n));
    chaos_log_short("write", fd, n, put);
    return put;
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    struct iovec mine[8];
    size_t total;
    ssize_t put;
    int err;

    if (!chaos_is_socket(fd) || (total = chaos_iov_total(iov, cnt)) == 0)
        return REAL(writev)(fd, iov, cnt);
    if ((err = chaos_fault("writev", fd, 0, CHAOS_OUT)))
        CHAOS_FAIL(err);
    put = REAL(writev)(fd, mine,
                       chaos_trim_iov(iov, cnt, chaos_cap(total), mine, 8));
    chaos_log_short("writev", fd, total, put);
    return put;
}

ssize_t sendto(int fd, const void *buf, size_t n, int flags,
               const struct sockaddr *to, socklen_t tolen)
{
    ssize_t put;
    int err;

    if (n == 0 || !chaos_is_socket(fd))
        return REAL(sendto)(fd, buf, n, flags, to, tolen);
    if ((err = chaos_fault("send", fd, flags, CHAOS_OUT)))
        CHAOS_FAIL(err);
    put = REAL(sendto)(fd, buf, chaos_cap(n), flags, to, tolen);
    chaos_log_short("send", fd, n, put);
    return put;
}

ssize_t send(int fd, const void *buf, size_t n, int flags)
{
    return sendto(fd, buf, n, flags, NULL, 0);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    struct iovec mine[8];
    struct msghdr copy;
    size_t total;
    ssize_t put;
    int err;

    if (!chaos_is_socket(fd) ||
        (total = chaos_iov_total(msg->msg_iov, (int)msg->msg_iovlen)) == 0)
        return REAL(sendmsg)(fd, msg, flags);
    if ((err = chaos_fault("sendmsg", fd, flags, CHAOS_OUT)))
        CHAOS_FAIL(err);
    copy = *msg;
    copy.msg_iov = mine;
    copy.msg_iovlen = (size_t)chaos_trim_iov(msg->msg_iov, (int)msg->msg_iovlen,
                                             chaos_cap(total), mine, 8);
    put = REAL(sendmsg)(fd, &copy, flags);
    chaos_log_short("sendmsg", fd, total, put);
    return put;
}

/* ---------------------------------------------------------------------
 * accept and connect: delays, EINTR, EAGAIN. */

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    int err, rc;

    if (!chaos_is_socket(fd))
        return REAL(accept4)(fd, addr, len, flags);
    if ((err = chaos_fault("accept", fd, 0, CHAOS_IN)))
        CHAOS_FAIL(err);
    rc = REAL(accept4)(fd, addr, len, flags);
    /* The delay comes after the kernel's answer: the program learns of
     * the new client late, as on a loaded machine. */
    if (rc >= 0) {
        err = errno;
        chaos_delay("accept", fd);
        errno = err;
    }
    return rc;
}

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    return accept4(fd, addr, len, 0);
}

/* An interrupted blocking connect goes on in the kernel: a later connect()
 * on the same socket waits for it (0), or finds it done (EISCONN), or
 * reports its failure. To leave the socket in exactly that state, the
 * shim starts the handshake without blocking, then reports EINTR. */
static int chaos_connect_interrupted(int fd, const struct sockaddr *addr,
                                     socklen_t len)
{
    int fl = fcntl(fd, F_GETFL);
    int rc, saved;

    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return REAL(connect)(fd, addr, len);
    rc = REAL(connect)(fd, addr, len);
    saved = errno;
    fcntl(fd, F_SETFL, fl);
    /* EALREADY: a connect interrupted before is still going on; a
     * blocking call would wait for it, and a signal could interrupt that
     * wait too. */
    if (rc < 0 && (saved == EINPROGRESS || saved == EALREADY)) {
        chaos_log("connect(fd %d) -> EINTR (injected; the handshake goes "
                  "on)",
                  fd);
        CHAOS_FAIL(EINTR);
    }
    errno = saved;
    return rc;
}

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    atomic_uchar *run = &chaos_run[fd & (CHAOS_FDS - 1)];
    unsigned draw;

    if (!chaos_is_socket(fd))
        return REAL(connect)(fd, addr, len);
    chaos_delay("connect", fd);
    draw = (unsigned)(chaos_next() % 100);
    if (draw < chaos_eintr_pct && atomic_load(run) < chaos_eintr_run &&
        !chaos_nonblocking(fd, 0) && chaos_eintr_legal(fd, SO_SNDTIMEO)) {
        atomic_fetch_add(run, 1);
        return chaos_connect_interrupted(fd, addr, len);
    }
    atomic_store(run, 0);
    return REAL(connect)(fd, addr, len);
}

/* ---------------------------------------------------------------------
 * Signal handlers: the shim keeps track of which signals have a handler
 * that lets blocking calls fail with EINTR (no SA_RESTART). */

static void chaos_note_handler(int sig, void (*handler)(int), int restart)
{
    uint_fast64_t bit;

    if (sig < 1 || sig > 64)
        return;
    bit = (uint_fast64_t)1 << (sig - 1);
    if (handler != SIG_DFL && handler != SIG_IGN && !restart)
        atomic_fetch_or(&chaos_no_restart, bit);
    else
        atomic_fetch_and(&chaos_no_restart, ~bit);
}

int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    int rc = REAL(sigaction)(sig, act, old);

    if (rc == 0 && act)
        chaos_note_handler(sig, act->sa_handler,
                           (act->sa_flags & SA_RESTART) != 0);
    return rc;
}

/* glibc's signal() installs a handler with SA_RESTART (BSD semantics). */
sighandler_t signal(int sig, sighandler_t handler)
{
    sighandler_t old = REAL(signal)(sig, handler);

    if (old != SIG_ERR)
        chaos_note_handler(sig, handler, 1);
    return old;
}
