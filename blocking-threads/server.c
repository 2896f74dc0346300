/* server: a TCP server with one thread per connection, on blocking calls. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bsock.h"
#include "clock.h"
#include "report.h"
#include "trace.h"

enum {
    THREAD_STACK = 256 * 1024, /* see server_spawn() */
    REFUSE_MS = 200,           /* time a refused client gets to take its
                                * last line */
    SHED_SLEEP_MS = 50,        /* pause when no descriptor can be freed */
};

/* The server's record of one connection thread. */
struct client {
    struct server_conn conn; /* what serve() sees; conn.fd is guarded by
                              * s->lock once the thread runs */
    struct server *server;
    pthread_t thread;
    bool done;           /* s->lock: finished, may be joined */
    struct client *next; /* s->lock: in s->clients */
};

struct server {
    struct server_config cfg;
    int listen_fd;    /* read-only while server_run() runs */
    int spare_fd;     /* a descriptor kept in reserve (see below) */
    bool short_noted; /* the fd shortage has been reported */
    uint64_t last_id; /* server_run()'s thread only */

    pthread_mutex_t lock;
    /* Guarded by lock. */
    bool stopping;          /* server_stop() was called */
    int64_t open;           /* clients being served */
    struct client *clients; /* every thread not yet joined */
};

int server_spawn(pthread_t *t, void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    int rc;

    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, THREAD_STACK);
    rc = pthread_create(t, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    return -rc;
}

void server_refuse(int fd, const char *line)
{
    char sink[512];
    int n = 0;

    bsock_send_all(fd, line, strlen(line), clock_deadline_in(REFUSE_MS));
    shutdown(fd, SHUT_WR);
    /* Closing a socket that still holds bytes we did not read makes the
     * kernel send a reset, and a client that gets a reset may lose the
     * line we sent before it. So read what has already arrived, without
     * ever waiting (the client may send forever). */
    while (n++ < 64 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
        ;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int open_spare(void)
{
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static int server_listen(struct server *s, const struct addr *addr, char *shown,
                         size_t size)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int one = 1;
    int fd = bsock_socket(addr);

    if (fd < 0)
        return fd;
    /* SO_REUSEADDR: a restarted server can listen on its port again at
     * once, although connections of the old one linger in TIME_WAIT. */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)&addr->ss, addr->len) < 0 ||
        listen(fd, SOMAXCONN) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        int err = -errno;

        close(fd);
        return err;
    }
    addr_format((const struct sockaddr *)&ss, shown, size);
    s->listen_fd = fd;
    return 0;
}

struct server *server_new(const struct addr *addr,
                          const struct server_config *cfg, char *shown,
                          size_t size, int *err)
{
    struct server *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        *err = -ENOMEM;
        return NULL;
    }
    s->cfg = *cfg;
    s->listen_fd = -1;
    s->spare_fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    *err = server_listen(s, addr, shown, size);
    if (*err < 0) {
        server_free(s);
        return NULL;
    }
    s->spare_fd = open_spare();
    return s;
}

void server_stop(struct server *s)
{
    pthread_mutex_lock(&s->lock);
    if (!s->stopping) {
        s->stopping = true;
        /* On Linux, shutting a listening socket down makes a blocked
         * accept() return at once (EINVAL): the way to cancel it. */
        shutdown(s->listen_fd, SHUT_RDWR);
    }
    pthread_mutex_unlock(&s->lock);
}

static bool server_stopping(struct server *s)
{
    bool stopping;

    pthread_mutex_lock(&s->lock);
    stopping = s->stopping;
    pthread_mutex_unlock(&s->lock);
    return stopping;
}

/* A connection thread: serve, then close the socket, under s->lock so
 * that server_run() never shuts down a descriptor that was closed and
 * handed out again to someone else. */
static void *client_main(void *arg)
{
    struct client *c = arg;
    struct server *s = c->server;

    s->cfg.serve(&c->conn);
    pthread_mutex_lock(&s->lock);
    close(c->conn.fd);
    c->conn.fd = -1;
    c->done = true;
    s->open--;
    pthread_mutex_unlock(&s->lock);
    trace_event("closed #%" PRIu64, c->conn.id);
    return NULL;
}

/* Joins and frees the finished connection threads, or all of them
 * (waiting for each) when all is set. */
static void reap(struct server *s, bool all)
{
    struct client *list = NULL;
    struct client **p;

    pthread_mutex_lock(&s->lock);
    for (p = &s->clients; *p != NULL;) {
        struct client *c = *p;

        if (all || c->done) {
            *p = c->next;
            c->next = list;
            list = c;
        } else {
            p = &c->next;
        }
    }
    pthread_mutex_unlock(&s->lock);
    /* Joined without the lock: a thread that has not finished needs the
     * lock to finish. */
    while (list != NULL) {
        struct client *c = list;

        list = c->next;
        pthread_join(c->thread, NULL);
        free(c);
    }
}

/* Serves a newly accepted socket in a thread of its own, or turns it away
 * (over max_clients, out of memory or threads). Takes ownership of fd. */
static void admit(struct server *s, int fd, const struct sockaddr_storage *ss)
{
    struct client *c = NULL;
    char peer[ADDR_TEXT_MAX];
    bool counted;
    int rc = -ENOMEM;

    addr_format((const struct sockaddr *)ss, peer, sizeof(peer));
    pthread_mutex_lock(&s->lock);
    counted = s->open < s->cfg.max_clients;
    if (counted)
        s->open++;
    pthread_mutex_unlock(&s->lock);
    if (counted)
        c = calloc(1, sizeof(*c));
    if (c != NULL) {
        c->conn.fd = fd;
        c->conn.id = ++s->last_id;
        memcpy(c->conn.peer, peer, sizeof(peer));
        c->server = s;
        trace_event("accepted #%" PRIu64 " %s", c->conn.id, peer);
        rc = server_spawn(&c->thread, client_main, c);
    }
    if (rc == 0) {
        pthread_mutex_lock(&s->lock);
        c->next = s->clients;
        s->clients = c;
        pthread_mutex_unlock(&s->lock);
        return;
    }
    trace_event("busy %s", peer);
    server_refuse(fd, s->cfg.busy_line);
    close(fd);
    free(c);
    if (counted) {
        pthread_mutex_lock(&s->lock);
        s->open--;
        pthread_mutex_unlock(&s->lock);
    }
}

/* accept() failed for lack of a file descriptor. The client stays queued,
 * so calling accept() again at once would fail again at once: a loop that
 * burns a core. The classic way out: keep one spare descriptor. Give it
 * up, accept the next client into its place, then take a spare again. If
 * that works, descriptors were freed meanwhile (accept() may have waited
 * for a client): serve the client. If not, tell it we are busy and close
 * it, which gives the spare back. Returns the client's socket or a
 * negative errno. */
static int accept_on_spare(struct server *s, struct sockaddr_storage *ss)
{
    socklen_t len = sizeof(*ss);
    int fd, err;

    if (s->spare_fd < 0) {
        sleep_ms(SHED_SLEEP_MS); /* no spare: at least do not spin */
        s->spare_fd = open_spare();
        return -EMFILE;
    }
    close(s->spare_fd);
    fd = accept(s->listen_fd, (struct sockaddr *)ss, &len);
    err = errno;
    s->spare_fd = open_spare();
    if (fd < 0)
        return -err;
    if (s->spare_fd >= 0)
        return fd;
    trace_event("busy (out of file descriptors)");
    server_refuse(fd, s->cfg.busy_line);
    close(fd);
    s->spare_fd = open_spare();
    return -EMFILE;
}

/* Waits for the next client. Returns its socket or a negative errno. */
static int accept_client(struct server *s, struct sockaddr_storage *ss)
{
    socklen_t len = sizeof(*ss);
    int fd = accept(s->listen_fd, (struct sockaddr *)ss, &len);

    if (fd < 0 && errno != EMFILE && errno != ENFILE)
        return -errno;
    if (fd < 0) {
        if (!s->short_noted)
            report_note("out of file descriptors (%s): turning clients "
                        "away",
                        strerror(errno));
        s->short_noted = true;
        fd = accept_on_spare(s, ss);
    }
    if (fd >= 0)
        s->short_noted = false;
    return fd;
}

/* Shuts every connection down, so that every thread returns soon. */
static void shut_down_all(struct server *s)
{
    pthread_mutex_lock(&s->lock);
    for (struct client *c = s->clients; c != NULL; c = c->next) {
        if (c->conn.fd >= 0)
            shutdown(c->conn.fd, SHUT_RDWR);
    }
    pthread_mutex_unlock(&s->lock);
}

int server_run(struct server *s)
{
    int rc = 0;

    for (;;) {
        struct sockaddr_storage ss;
        int fd = accept_client(s, &ss);

        if (fd >= 0) {
            reap(s, false);
            admit(s, fd, &ss);
            continue;
        }
        if (server_stopping(s))
            break;
        if (fd == -ENOBUFS || fd == -ENOMEM) {
            sleep_ms(SHED_SLEEP_MS); /* short of memory: do not spin */
        } else if (fd == -EBADF || fd == -EINVAL || fd == -ENOTSOCK) {
            rc = fd; /* the listening socket itself is broken */
            break;
        }
        /* Anything else (ECONNABORTED, EPROTO, network errors) concerns
         * one client that failed before we got it: accept the next. */
    }
    shut_down_all(s);
    reap(s, true);
    return rc;
}

void server_free(struct server *s)
{
    if (s == NULL)
        return;
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->spare_fd >= 0)
        close(s->spare_fd);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
