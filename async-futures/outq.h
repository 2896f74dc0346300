/* outq: a subscriber's output queue, on the futures library.
 *
 * A server must never wait for a slow client, so what it sends to one is
 * queued here: outq_push() only appends to a buffer and checks the
 * backlog limit (JR-9), it never waits. The client's own task awaits
 * outq_serve(), which hands the queue to one write at a time (new bytes
 * wait in the queue meanwhile) and, whenever nothing is queued, waits for
 * the bell that outq_ring() rings, or for the peer to leave. Holding the
 * queue (the journal does, while a subscriber's replay runs) is simply
 * not ringing it and not serving it yet.
 *
 * What counts against the limit is the client's doing, never ours: bytes
 * count as unsent only once they were offered to the kernel and refused.
 * While the last write's bytes all went to the kernel, nothing is unsent,
 * however much waits in the queue for the serving task's next turn (a
 * burst from the publishers is not the subscriber's fault). Once the
 * kernel refused some (they wait in libuv's write queue), those, and
 * every byte queued behind them, are unsent: the socket is full, and
 * offering more would be refused too. So a subscriber that reads as fast
 * as it can is never closed, and one that stops reading is closed once
 * the kernel's buffers are full and max more bytes came. A held queue
 * (before outq_serve) counts whole: nothing drains it yet.
 *
 * One thread: every function is called from the loop's thread.
 */
#ifndef KIT_OUTQ_H
#define KIT_OUTQ_H

#include <stdint.h>

#include "buf.h"
#include "fut/chan.h"
#include "fut/tcp.h"

struct outq {
    struct fut_chan *bell; /* holds a message: look at the queue */
    void *rung;            /* what a receive on the bell took */
    struct buf queue;      /* bytes not handed to a write yet */
    struct buf out;        /* the bytes being written */
    struct fut_tcp *conn;  /* where outq_serve() offers them, or NULL */
    uint64_t unsent;       /* the backlog at the last push (JR-9) */
};

/* Makes q empty, with its bell. Returns 0 or -ENOMEM. */
int outq_init(struct outq *q);

/* Releases q's memory. Every future on q must have been dropped. */
void outq_free(struct outq *q);

/* Queues len bytes (copied). Returns 0; -ENOBUFS when the backlog (the
 * bytes the kernel refused, and those queued behind them: see above)
 * would pass max bytes; -ENOMEM. Nothing is queued on failure. Does not
 * ring. */
int outq_push(struct outq *q, const char *bytes, size_t len, uint64_t max);

/* Tells the task serving q to look at the queue. Never waits: the bell
 * holds one message, and a second ring before it is taken is not needed. */
void outq_ring(struct outq *q);

/* Returns a new future, ready with 1 once q is rung (the message is
 * taken). */
struct fut *outq_rung(struct outq *q);

/* Returns a new future that writes what q holds to conn (both borrowed;
 * q remembers conn until the future is dropped, to count what it refused)
 * as it comes, and reads conn meanwhile: what the peer sends is ignored,
 * but its end is the end. Ready with 0 when the peer closed, or a
 * negative errno (-EMSGSIZE: it sent a line over the limit; -EPIPE ...).
 * Dropped: the write in flight is cancelled as fut_tcp_write_all says. */
struct fut *outq_serve(struct outq *q, struct fut_tcp *conn);

#endif
