/* outq: a connection's output queue on libuv's loop.
 *
 * A server must never wait for a slow client, so what it sends to one is
 * queued here and handed to libuv one uv_write at a time. While a write is
 * in flight, new bytes wait in a second buffer; when the write ends, the
 * two buffers swap. The queue can be held (bytes wait, nothing is sent)
 * and released later: the journal holds a subscriber's live events while
 * its replay runs. outq_unsent() says how much the peer has not taken
 * yet, for a backlog limit.
 *
 * Pushing never writes. The queues of one loop belong to a group, and the
 * group writes every queue that got bytes once per turn of the loop, just
 * before the loop waits (a uv_prepare_t): all the events a read callback
 * published go to each subscriber in ONE write, not one write per event.
 * A state machine has a natural place for that: the end of the turn, when
 * every callback that could add bytes has run. With one write per event,
 * a burst of 10,000 events to 50 subscribers costs 500,000 syscalls; with
 * one write per turn, a handful.
 *
 * The flush is also where the backlog limit is checked (JR-9): right after
 * the bytes were offered to the kernel, so only what the kernel refused
 * counts, never what the loop had simply not written yet.
 *
 * One loop, one thread: every function is called from the loop's thread.
 */
#ifndef KIT_OUTQ_H
#define KIT_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "buf.h"

struct outq;

/* Called when a write fails for a reason other than the stream closing
 * (status is a negative errno, e.g. UV_EPIPE), or with -ENOBUFS when the
 * peer left more than the group's max_unsent bytes unsent. The owner
 * usually closes the connection. */
typedef void (*outq_error_cb)(struct outq *q, int status);

/* The queues of one loop, written together once per turn. */
struct outq_group {
    uv_prepare_t prepare; /* runs outq_flush() before the loop waits */
    struct outq *dirty;   /* queues with something to do since the last
                             flush (a doubly-linked list) */
    size_t max_unsent;    /* a queue over this after a flush fails with
                             -ENOBUFS */
};

struct outq {
    struct outq_group *group; /* borrowed: flushes this queue */
    uv_stream_t *stream;      /* borrowed: the connection written to */
    uv_write_t req;           /* the one write in flight */
    struct buf waiting;       /* bytes not yet handed to libuv */
    struct buf sending;       /* bytes of the write in flight: libuv reads
                                   them until its callback, so they must
                                   not move or be freed before */
    bool held;                /* true: bytes wait, nothing new is written */
    bool dirty;               /* in group->dirty */
    struct outq *prev_dirty, *next_dirty;
    outq_error_cb on_error;
    void *data; /* for the owner */
};

/* Prepares g on loop; a queue over max_unsent bytes after a flush fails
 * (see outq_error_cb). g must stay valid until outq_group_close()'s
 * handle has closed. */
void outq_group_init(struct outq_group *g, uv_loop_t *loop, size_t max_unsent);

/* Writes, now, every queue of g that got bytes (or was released, or whose
 * write ended) since the last flush, and checks each against max_unsent.
 * The group calls it by itself once per turn of the loop; tests call it
 * directly. Error callbacks run from here. */
void outq_flush(struct outq_group *g);

/* Closes g's handle. Call it once every queue of g has been freed. */
void outq_group_close(struct outq_group *g);

/* Prepares q, in group g (borrowed), to write to stream (borrowed; it
 * must stay valid until q is freed). Nothing is allocated yet. */
void outq_init(struct outq *q, struct outq_group *g, uv_stream_t *stream,
               outq_error_cb on_error);

/* Queues n bytes (borrowed, copied) after those queued; they are written
 * at the group's next flush. Returns 0 or -ENOMEM. */
int outq_push(struct outq *q, const void *bytes, size_t n);

/* Holds q: bytes pushed from now on wait until outq_release(). A write
 * already in flight finishes. */
void outq_hold(struct outq *q);

/* Releases q: what waited is written at the next flush. Returns 0. */
int outq_release(struct outq *q);

/* Bytes the kernel has not taken yet: those waiting, and what is left
 * of the write in flight. */
size_t outq_unsent(const struct outq *q);

/* Releases the buffers and leaves the group. Call it only after the
 * stream's close callback has run: until then libuv may still read
 * `sending`. */
void outq_free(struct outq *q);

#endif
