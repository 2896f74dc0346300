/* server: a TCP server whose clients are tasks, on the futures library.
 *
 * Every futures server repeats the same plumbing: listen, accept in a task
 * of its own, run each client as a task, turn clients away when there are
 * too many, and at the end cancel them all. This module is that plumbing.
 * What to do with a client is the caller's: a future it makes for each
 * connection, whose struct starts with struct server_client. What is not
 * about futures (the listening socket, the ready line, the answer to
 * running out of descriptors) is common/lsock.h's, as in every track.
 *
 * Stopping is cancelling, as everywhere in this track: the acceptor and
 * every client are tasks of one scope, and server_stop() drops the scope,
 * which drops each task's future wherever it waits (its drop function
 * closes what it holds), then closes the listening socket.
 *
 * --trace events: accepted #N HOST:PORT, busy, closed #N [why].
 * One thread: everything here runs on the loop's thread.
 */
#ifndef KIT_SERVER_H
#define KIT_SERVER_H

#include <stdint.h>
#include <uv.h>

#include "addr.h"
#include "fut/exec.h"
#include "fut/tcp.h"

struct server;

/* The first member of every client's future. The server fills it in
 * before the client's first poll. */
struct server_client {
    struct fut base; /* the client's future; its maker sets vt */
    struct server *server;
    struct fut_tcp *conn; /* closed by server_client_release() */
    struct fut *task;     /* the task's own join handle, or NULL */
    uint64_t id;          /* 1, 2, 3 ... in accept order ("#3") */
    const char *why;      /* why it was closed, for --trace, or NULL */
};

struct server_config {
    int64_t max_clients;   /* clients served at once; the next is busy */
    const char *busy_line; /* what a client turned away gets, e.g.
                            * "ERR busy\n" (must outlive the server) */
    /* Returns a new client future (fut_alloc() of a struct that starts
     * with struct server_client), or NULL on -ENOMEM. Its drop function
     * must call server_client_release(), then free it. */
    struct server_client *(*new_client)(void *arg);
    void *arg;
};

/* Returns a new server listening on addr (borrowed) whose tasks run on ex
 * (borrowed), or NULL with *err set to a negative errno. cfg is copied.
 * Nothing is accepted before server_start(). Free with server_free().
 * It also tells malloc to take buffers of 64 KiB and more from mmap, for
 * the whole process (server.c says why). */
struct server *server_new(struct fut_exec *ex, uv_loop_t *loop,
                          const struct addr *addr,
                          const struct server_config *cfg, int *err);

/* Prints the ready line, "listening on HOST:PORT" with the real port.
 * Call once, when the server accepts. 0 or a negative errno. */
int server_announce(const struct server *s);

/* The address s listens on (its real port after port 0). 0 or -errno. */
int server_addr(const struct server *s, struct addr *out);

/* Starts the acceptor task. Returns 0, or -ENOMEM. */
int server_start(struct server *s);

/* Stops serving: cancels the acceptor and every client task now (each
 * client's drop closes its connection), then closes the listening socket:
 * connects are refused from here. May be called more than once. Not from
 * a task of the server's (the acceptor or a client). */
void server_stop(struct server *s);

/* Stops s if needed and frees it. s may be NULL. */
void server_free(struct server *s);

/* Closes client c: cancels its task (its future is dropped at once, or
 * when its poll returns if it is the one running). why is shown by
 * --trace. c is gone when this returns, unless it is the task running. */
void server_client_close(struct server_client *c, const char *why);

/* For a client's drop function: traces "closed", closes the connection,
 * lets go of the task's handle and of the client's place (the count for
 * max_clients). Does not free c. */
void server_client_release(struct server_client *c);

#endif
