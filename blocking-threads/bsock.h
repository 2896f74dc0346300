/* bsock: blocking TCP calls bounded by an absolute deadline.
 *
 * A blocking socket call has no deadline argument; what Linux offers is a
 * per-socket timeout for each kind of call: SO_SNDTIMEO bounds send() and
 * also connect(), SO_RCVTIMEO bounds recv(). These are *relative* and
 * apply to one call at a time, so to respect one deadline over a whole
 * operation, every call must first set the option to the time that is
 * left, computed again from the deadline. When the option runs out the
 * call fails with EAGAIN (or EINPROGRESS for connect); that is only a
 * timeout if the deadline has passed on our own clock, otherwise we set the
 * time left again and call again.
 *
 * Every deadline is absolute, in ms on the clock of common/clock.h, or
 * BSOCK_FOREVER for a call with no timeout at all. Functions return 0 or a
 * count on success and a negative errno on failure (-ETIMEDOUT when the
 * deadline passed). They are thread-safe in the way the system calls are:
 * one thread per call on a given socket.
 */
#ifndef KIT_BSOCK_H
#define KIT_BSOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr.h"
#include "line.h"

/* A deadline that never comes: the call blocks as long as it takes. */
#define BSOCK_FOREVER INT64_MAX

/* Returns a new blocking TCP socket (close-on-exec) for addr's family, or
 * a negative errno. The caller owns it and closes it with close(). */
int bsock_socket(const struct addr *addr);

/* Sets the socket option optname (SO_SNDTIMEO or SO_RCVTIMEO) of fd to the
 * time left until deadline_ms, in slices of at most 250 ms because the
 * kernel fires long socket timeouts late (no timeout for BSOCK_FOREVER).
 * A slice that runs out looks like a deadline to the call (EAGAIN), so
 * callers always ask the clock whether the deadline really passed.
 * Returns 0, -ETIMEDOUT when no time is left, or another negative errno.
 * Careful: the kernel reads a zero timeout as "wait forever", so "no time
 * left" must never be passed on as zero; it is a timeout. */
int bsock_arm(int fd, int optname, int64_t deadline_ms);

/* Connects fd to addr, waiting no later than deadline_ms.
 * Returns 0 or a negative errno (-ECONNREFUSED, -ETIMEDOUT ...). */
int bsock_connect(int fd, const struct addr *addr, int64_t deadline_ms);

/* Sends all n bytes of data (borrowed), waiting no later than deadline_ms.
 * Returns 0 or a negative errno (-EPIPE, -ECONNRESET, -ETIMEDOUT ...).
 * Never raises SIGPIPE. */
int bsock_send_all(int fd, const void *data, size_t n, int64_t deadline_ms);

/* Another thread's way to stop a read or a connect: asked before every
 * recv() (see bsock_read_line), because a peer that trickles bytes would
 * otherwise keep a reader going after its socket was shut down (bytes
 * already queued are still handed out), and before every connect() (see
 * bsock_connect_cancellable). */
struct bsock_cancel {
    bool (*cancelled)(void *arg); /* true: stop */
    void *arg;                    /* borrowed; passed to cancelled() */
};

/* bsock_connect, and -ECANCELED as soon as cancel (may be NULL) says so,
 * asked before every connect() call: a socket that another thread shut
 * down while it was connecting must not be connected again. */
int bsock_connect_cancellable(int fd, const struct addr *addr,
                              int64_t deadline_ms,
                              const struct bsock_cancel *cancel);

/* Reads from fd into the framer fr until fr holds a complete line, and
 * hands it out in *line and *len (borrowed from fr, valid until the next
 * call on fr; lines fr already holds come first, without a recv()). Each
 * recv() is bounded by deadline_ms (SO_RCVTIMEO armed to the time left
 * before EVERY call), or not bounded at all with BSOCK_FOREVER; cancel may
 * be NULL. Traces "read N" after each recv(). Returns 1, 0 when the peer
 * closed first (line_framer_pending(fr) then says whether mid-line), or a
 * negative errno: -EMSGSIZE (a line too long), -ETIMEDOUT, -ECANCELED,
 * -ECONNRESET ... */
int bsock_read_line(int fd, struct line_framer *fr, int64_t deadline_ms,
                    const struct bsock_cancel *cancel, const char **line,
                    size_t *len);

#endif
