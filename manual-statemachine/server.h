/* server: a TCP server on libuv's loop, every connection a state machine.
 *
 * Every server of this track repeats the same plumbing: listen, accept
 * when the listening socket is readable, give each connection a framer
 * and an output queue, turn clients away when there are too many or no
 * file descriptor is left, answer a line too long, stop on SIGINT or
 * SIGTERM, and free each connection only in its close callback. This
 * module is that plumbing; what the lines mean is the program's, told
 * through the callbacks in struct server_config. What is not about the
 * event loop (the listening socket, the ready line, the answer to running
 * out of descriptors) is common/lsock.h's, as in every track.
 *
 * Why not uv_listen()? Out of file descriptors, libuv quietly accepts and
 * closes the waiting connections: the program is never told, so it could
 * neither log it nor answer "busy" (JR-10). So the listening socket is
 * watched with a uv_poll_t and accepted with lsock_accept(), which is
 * what any event loop does underneath.
 *
 * Ownership: struct server is the program's memory (usually a field of
 * its own state) and must stay valid until the loop has ended. Each
 * connection is allocated here, cfg.conn_size bytes, zeroed: a program
 * that needs fields of its own puts a struct server_conn FIRST in a
 * struct of its own and gives that struct's size. The server frees it in
 * its close callback, after cfg.on_leave; nothing else may free it.
 *
 * One loop, one thread: every function and callback runs on the loop's
 * thread. Callbacks may close connections, including the one they were
 * called for.
 *
 * --trace events: listening, accepted, busy, error, closed, paused
 * accepting, shutdown SIGINT|SIGTERM.
 */
#ifndef KIT_SERVER_H
#define KIT_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "addr.h"
#include "line.h"
#include "lsock.h"
#include "outq.h"

struct server;
struct server_conn;

struct server_config {
    size_t conn_size;      /* bytes per connection (see above) */
    int64_t max_clients;   /* connections at once; the next is busy */
    int64_t max_backlog;   /* unsent bytes a connection may have before it
                              is closed (JR-9) */
    const char *busy_line; /* what a client turned away gets */
    /* Each complete line c sent, in order (without its '\n'; borrowed
     * until the callback returns). Called only while c is CONN_OPEN. */
    void (*on_line)(struct server_conn *c, const char *line, size_t len);
    /* c stops being served (refused, or closing): let go of every
     * pointer to it. Called once per connection, before its close. */
    void (*on_leave)(struct server_conn *c);
    /* The server must stop: status EXIT_DONE after SIGINT or SIGTERM
     * (COM-8), EXIT_ERROR when the listening socket failed (reported).
     * Starts the program's orderly shutdown, which calls server_stop(). */
    void (*on_stop)(struct server *s, int status);
    /* Stopping, and the last connection's memory is gone: the program
     * may now finish (server_close()). */
    void (*on_idle)(struct server *s);
};

enum conn_state {
    CONN_OPEN,     /* reading: each line goes to cfg.on_line */
    CONN_REFUSING, /* a last "ERR ...\n" is being written, then close */
    CONN_CLOSING,  /* uv_close() was called; freed in its callback */
};

struct server_conn {
    enum conn_state state;
    bool left;                       /* cfg.on_leave was called */
    struct server *server;           /* borrowed */
    uv_tcp_t tcp;                    /* the connection */
    struct line_framer framer;       /* what it sent, cut into lines */
    struct outq out;                 /* what it has not taken yet */
    uv_write_t refuse_req;           /* the last "ERR ...\n" write */
    struct server_conn *prev, *next; /* in server->conns */
    char peer[ADDR_TEXT_MAX];        /* its address, for --trace */
};

enum server_state {
    SV_SERVING,  /* accepting and serving */
    SV_STOPPING, /* not accepting; connections are closing */
    SV_CLOSED,   /* server_close(): the last handles are closing */
};

enum listener_state {
    LS_ACCEPTING, /* the socket is polled; each wake-up accepts all */
    LS_RESTING,   /* out of descriptors, no spare: not polled until the
                     retry timer fires */
    LS_CLOSED,    /* stopped: the socket is closed */
};

struct server {
    enum server_state state;
    enum listener_state listener_state;
    struct server_config cfg;
    uv_loop_t *loop;
    void *data;            /* the program's */
    struct lsock listener; /* the listening socket and its spare */
    uv_poll_t poll;        /* readable: connections are waiting */
    uv_timer_t retry;      /* LS_RESTING: when to poll again */
    uv_signal_t sigint, sigterm;
    struct outq_group outs;    /* every connection's output queue, written
                                  once per turn of the loop */
    struct server_conn *conns; /* every connection not yet freed; one that
                                  is closing stays until its close callback,
                                  so walking the list while callbacks close
                                  connections is safe */
    int64_t connected;         /* connections not yet closing */
};

/* Listens on addr (borrowed) with lsock_open(); cfg is copied. No libuv
 * handle exists yet, so a program may still give up (server_discard).
 * Returns 0 or a negative errno (nothing left open). */
int server_listen(struct server *s, uv_loop_t *loop, const struct addr *addr,
                  const struct server_config *cfg);

/* Closes the socket of a server that was never started. */
void server_discard(struct server *s);

/* Starts serving: polls the listening socket, catches SIGINT and SIGTERM,
 * and prints the ready line (lsock_announce, JR-1). */
void server_start(struct server *s);

/* Stops accepting (connects are refused from now on) and closes every
 * connection (each gets cfg.on_leave). Idempotent. cfg.on_idle follows
 * once every connection is freed: at once, from here, if none is left. */
void server_stop(struct server *s);

/* Whether the server has stopped and every connection is freed. */
bool server_idle(const struct server *s);

/* Closes the last handles (the signals, kept until now so that a second
 * signal cannot kill an orderly shutdown). Call once server_idle(); the
 * loop then ends by itself, as far as the server is concerned. */
void server_close(struct server *s);

/* Queues bytes (borrowed) for c; they are written at the end of this turn
 * of the loop, with everything else queued for c meanwhile (outq.h). A
 * connection whose unsent bytes pass cfg.max_backlog after that write is
 * closed then (JR-9). Returns 0, or -1 when c was closed (out of memory). */
int server_send(struct server_conn *c, const char *bytes, size_t n);

/* Answers a last line msg (a string constant) and closes c once it is
 * sent (JR-2, COM-6). Reading stops at once: nothing c says matters any
 * more. */
void server_refuse(struct server_conn *c, const char *msg);

/* Closes c, whatever it was doing; why is traced (NULL: nothing). A
 * second call does nothing. c's memory goes in the close callback. */
void server_close_conn(struct server_conn *c, const char *why);

#endif
