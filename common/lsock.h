/* lsock: a listening socket, and accepting when descriptors run out.
 *
 * Every server of the kit listens, says where (JR-1, WC-1), accepts, and
 * must keep serving when the process runs out of file descriptors (JR-10).
 * None of that is about concurrency, so it lives here once, as plain
 * functions on file descriptors that each track calls from its own model:
 *   - blocking-threads: a blocking listening socket; lsock_accept() blocks
 *     in its thread until a client comes (or SO_RCVTIMEO runs out);
 *   - manual-statemachine: a non-blocking one, watched by a uv_poll_t;
 *     each "readable" callback calls lsock_accept() until -EAGAIN;
 *   - async-futures: the same, called from an accept future's poll.
 * (libuv's own uv_listen() would accept for the event-loop tracks, but out
 * of descriptors it quietly accepts and closes the waiting connections, so
 * the program could neither log it nor answer "busy".)
 *
 * Ownership: struct lsock is the caller's memory (a field, a local); the
 * two descriptors in it (the socket and a spare) are owned by it and
 * released by lsock_close(). A descriptor returned by lsock_accept() is
 * the caller's, to close with close(). lsock_turn_away() borrows its fd.
 *
 * Errors are negative errno values. One thread at a time per lsock (the
 * accepting one); lsock_turn_away() may run in any thread.
 */
#ifndef KIT_LSOCK_H
#define KIT_LSOCK_H

#include <stdbool.h>
#include <sys/socket.h>

#include "addr.h"

/* lsock_open() flags. */
enum {
    LSOCK_BLOCKING = 0, /* accept() waits for a client */
    LSOCK_NONBLOCK = 1, /* the listening socket and every accepted one are
                           non-blocking (for an event loop) */
};

/* How long a server should rest before accepting again after -EMFILE:
 * the connection stays queued, so accepting at once would fail at once,
 * a loop that burns a core. */
enum { LSOCK_REST_MS = 50 };

struct lsock {
    int fd;                    /* the listening socket, or -1 */
    int spare_fd;              /* a descriptor held in reserve, or -1 */
    int flags;                 /* as given to lsock_open() */
    bool short_noted;          /* the shortage was reported (once each) */
    char shown[ADDR_TEXT_MAX]; /* HOST:PORT really listened on */
};

/* Listens on addr (borrowed): SO_REUSEADDR, backlog SOMAXCONN,
 * close-on-exec, non-blocking with LSOCK_NONBLOCK. Fills l->shown with the
 * real address (the kernel's port for port 0) and takes the spare
 * descriptor. Returns 0, or a negative errno (-EADDRINUSE ...) with
 * nothing left open (l->fd and l->spare_fd are -1). */
int lsock_open(struct lsock *l, const struct addr *addr, int flags);

/* Says the server is ready: prints "listening on HOST:PORT" on stdout in
 * one write and flushes (JR-1, WC-1), and traces "listening HOST:PORT".
 * Call once, when the server really accepts. Returns 0 or a negative
 * errno (stdout failed). */
int lsock_announce(const struct lsock *l);

/* Reports that listening on addr failed, as every server words it:
 * "PROGRAM: error: listening on HOST:PORT: WHY". err is negative. */
void lsock_report_failure(const struct addr *addr, int err);

/* Accepts the next connection, the peer's address into *peer (may be
 * NULL). Returns the new socket (close-on-exec; non-blocking with
 * LSOCK_NONBLOCK; the caller owns it), or one of:
 *   -EAGAIN        none is waiting (non-blocking, or SO_RCVTIMEO ran out);
 *   -ECONNABORTED  a connection was lost before it was ours, or was
 *                  turned away for lack of descriptors: accept again now;
 *   -EMFILE        out of descriptors (or memory) and the spare could not
 *                  help: rest LSOCK_REST_MS before accepting again;
 *   anything else  the listening socket itself failed (-EINVAL once it
 *                  was shut down): stop accepting.
 * Out of descriptors, it gives the answer every server needs: close the
 * spare, accept the waiting client into its place, take the spare back;
 * if that fails there is no room for the client: turn it away with
 * busy_msg (lsock_turn_away) and close it (if it works, room was made
 * meanwhile, and the client is returned to be served). The shortage is
 * reported once (report_note) until an accept succeeds again. */
int lsock_accept(struct lsock *l, struct sockaddr_storage *peer,
                 const char *busy_msg);

/* Tells a client it is not served: writes msg (a short line such as
 * "ERR busy\n") to fd in full or not at all, never cut short, then stops
 * writing and reads, without waiting, what the client had already sent (so
 * that the close that follows does not reset the connection and lose the
 * line). Does not close fd: the caller does. Returns 0 once msg is sent,
 * or a negative errno; if only part could be sent, fd is set to reset the
 * connection when it is closed, so the client sees an error, never a cut
 * message followed by a clean end. Any thread; waits at most a few ms. */
int lsock_turn_away(int fd, const char *msg);

/* Closes the listening socket (connects are refused from now on) and the
 * spare. l may already be closed, or have failed to open. */
void lsock_close(struct lsock *l);

#endif
