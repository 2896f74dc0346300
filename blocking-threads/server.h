/* server: a TCP server with one thread per connection, on blocking calls.
 *
 * Every threaded server repeats the same plumbing: listen, accept in a
 * loop, start a thread for each client, turn clients away when there are
 * too many or no file descriptor is left, and at the end shut every
 * connection down and join every thread. This module is that plumbing.
 * What to do with a client is the caller's serve() function, which runs in
 * the client's own thread and knows nothing of the others. What is not
 * about threads (the listening socket, the ready line, the answer to
 * running out of descriptors) is common/lsock.h's, as in every track.
 *
 * Stopping is cooperative, as everywhere in this track: server_stop()
 * shuts the listening socket down, so the accept() that server_run() is
 * blocked in returns; server_run() then shuts every connection down, so
 * every recv() or send() blocked on one returns, and joins every thread.
 *
 * --trace events: accepted, busy, closed, shutdown SIGINT|SIGTERM.
 */
#ifndef KIT_SERVER_H
#define KIT_SERVER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

/* One client, as serve() sees it. */
struct server_conn {
    int fd;                   /* the socket; the server closes it once
                               * serve() has returned, never before */
    uint64_t id;              /* 1, 2, 3 ... in accept order ("#3") */
    char peer[ADDR_TEXT_MAX]; /* the client's HOST:PORT */
};

struct server_config {
    int64_t max_clients;   /* clients served at once; the next is busy */
    const char *busy_line; /* what a client turned away gets, e.g.
                            * "ERR busy\n" */
    /* Serves c in c's own thread; c stays valid until it returns. May
     * block as long as it likes: server_run() shuts c->fd down to end it.
     * Must not close c->fd. */
    void (*serve)(struct server_conn *c);
    /* Called in the server's signal thread for every SIGINT or SIGTERM
     * while server_run() runs (COM-8): starts the program's own orderly
     * shutdown, which ends with server_stop(). */
    void (*on_signal)(int signum);
};

struct server;

/* Returns a new server listening on addr (common/lsock.h: SO_REUSEADDR,
 * backlog SOMAXCONN, a spare descriptor for EMFILE), or returns NULL and
 * sets *err to a negative errno. cfg is copied. Free with server_free().
 * Blocks SIGINT and SIGTERM in the calling thread: call it before any
 * other thread exists, so that every thread inherits the mask and only
 * the server's signal thread takes them (they stay blocked after
 * server_run(), so a late signal cannot kill an orderly shutdown). */
struct server *server_new(const struct addr *addr,
                          const struct server_config *cfg, int *err);

/* Prints the ready line, "listening on HOST:PORT" with the real port
 * (lsock_announce). Call once, before server_run(). 0 or a negative errno. */
int server_announce(const struct server *s);

/* Accepts clients and serves each in a thread of its own, until
 * server_stop(), with a thread that waits for SIGINT and SIGTERM and
 * passes them to cfg.on_signal. Then shuts every connection down and
 * joins every thread (the signal thread last) before it returns. Returns 0, or a negative errno if the listening
 * socket failed for good (connections are shut down and joined then too).
 * Runs in one thread (usually main). Running out of file descriptors is
 * reported once per shortage and served on (lsock_accept): the client
 * waiting is told busy_line and closed, and no loop spins. */
int server_run(struct server *s);

/* Makes server_run() stop accepting and return. Any thread, any time,
 * any number of times. */
void server_stop(struct server *s);

/* Closes the listening socket and frees s, after server_run() returned
 * (or was never called). s may be NULL. */
void server_free(struct server *s);

/* Starts a thread with the small stack every thread of this track uses
 * (256 KiB instead of the default 8 MiB, which would add up to gigabytes
 * of address space for a thousand clients). Returns 0 or a negative errno
 * (-EAGAIN: too many threads). */
int server_spawn(pthread_t *t, void *(*fn)(void *), void *arg);

#endif
