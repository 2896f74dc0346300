/* server: a TCP server with one thread per connection, on blocking calls. */
#include "server.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lsock.h"
#include "trace.h"

enum { THREAD_STACK = 256 * 1024 }; /* see server_spawn() */

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
    struct lsock listener;   /* server_run()'s thread only, but for the
                              * shutdown() in server_stop() */
    uint64_t last_id;        /* server_run()'s thread only */
    sigset_t signals;        /* SIGINT and SIGTERM, blocked by server_new */
    pthread_t signal_thread; /* runs while server_run() does */

    pthread_mutex_t lock;
    /* Guarded by lock. */
    bool stopping;          /* server_stop() was called */
    bool signalled;         /* a stop signal came (traced once) */
    bool signals_quit;      /* server_run() ends the signal thread */
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

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

struct server *server_new(const struct addr *addr,
                          const struct server_config *cfg, int *err)
{
    struct server *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        *err = -ENOMEM;
        return NULL;
    }
    s->cfg = *cfg;
    /* Blocked here, before any other thread exists, so every thread
     * inherits the mask and only the signal thread ever takes them. */
    sigemptyset(&s->signals);
    sigaddset(&s->signals, SIGINT);
    sigaddset(&s->signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &s->signals, NULL);
    *err = lsock_open(&s->listener, addr, LSOCK_BLOCKING);
    if (*err < 0) {
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

void server_stop(struct server *s)
{
    pthread_mutex_lock(&s->lock);
    if (!s->stopping) {
        s->stopping = true;
        /* On Linux, shutting a listening socket down makes a blocked
         * accept() return at once (EINVAL): the way to cancel it. */
        shutdown(s->listener.fd, SHUT_RDWR);
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
    lsock_turn_away(fd, s->cfg.busy_line);
    close(fd);
    free(c);
    if (counted) {
        pthread_mutex_lock(&s->lock);
        s->open--;
        pthread_mutex_unlock(&s->lock);
    }
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

int server_announce(const struct server *s)
{
    return lsock_announce(&s->listener);
}

/* The signal thread. SIGINT and SIGTERM are blocked in every thread, so
 * they stay pending until this thread takes one with sigwait(): a signal
 * becomes an ordinary event in an ordinary thread, which may lock mutexes
 * and call anything (a signal handler could do neither). It runs until
 * server_run() sets signals_quit and wakes it with a signal of its own;
 * it never returns earlier, so that pthread_kill() always finds it
 * alive. */
static void *signal_main(void *arg)
{
    struct server *s = arg;
    int sig;

    for (;;) {
        bool quit, first;

        if (sigwait(&s->signals, &sig) != 0)
            continue;
        pthread_mutex_lock(&s->lock);
        quit = s->signals_quit;
        first = !s->signalled;
        s->signalled = true;
        pthread_mutex_unlock(&s->lock);
        if (quit)
            return NULL;
        if (first)
            trace_event("shutdown %s", sig == SIGINT ? "SIGINT" : "SIGTERM");
        s->cfg.on_signal(sig);
    }
}

static void stop_signal_thread(struct server *s)
{
    pthread_mutex_lock(&s->lock);
    s->signals_quit = true;
    pthread_mutex_unlock(&s->lock);
    pthread_kill(s->signal_thread, SIGTERM);
    pthread_join(s->signal_thread, NULL);
}

/* Accepts until server_stop(). Returns 0 or the listening socket's
 * error. */
static int accept_loop(struct server *s)
{
    for (;;) {
        struct sockaddr_storage ss;
        /* Out of descriptors, lsock_accept() turns the waiting client
         * away itself (and says -ECONNABORTED: accept the next). */
        int fd = lsock_accept(&s->listener, &ss, s->cfg.busy_line);

        if (fd >= 0) {
            reap(s, false);
            admit(s, fd, &ss);
        } else if (server_stopping(s)) {
            return 0;
        } else if (fd == -EMFILE) {
            sleep_ms(LSOCK_REST_MS); /* nothing could be freed: rest */
        } else if (fd != -ECONNABORTED && fd != -EAGAIN) {
            return fd; /* the listening socket itself is broken */
        }
    }
}

int server_run(struct server *s)
{
    int rc = server_spawn(&s->signal_thread, signal_main, s);

    if (rc < 0)
        return rc;
    rc = accept_loop(s);
    shut_down_all(s);
    reap(s, true);
    stop_signal_thread(s);
    return rc;
}

void server_free(struct server *s)
{
    if (s == NULL)
        return;
    lsock_close(&s->listener);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
