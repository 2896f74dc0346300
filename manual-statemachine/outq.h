/* outq: a connection's output queue on libuv's loop.
 *
 * A server must never wait for a slow client, so what it sends to one is
 * queued here and handed to libuv one uv_write at a time. While a write is
 * in flight, new bytes wait in a second buffer; when the write ends, the
 * two buffers swap. Bytes that the kernel takes at once never wait at
 * all. The queue can be held (bytes wait, nothing is sent) and
 * released later: the journal holds a subscriber's live events while its
 * replay runs. outq_unsent() says how much the peer has not taken yet, for
 * a backlog limit.
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
 * (status is a negative errno, e.g. UV_EPIPE). The owner usually closes
 * the connection. */
typedef void (*outq_error_cb)(struct outq *q, int status);

struct outq {
    uv_stream_t *stream; /* borrowed: the connection written to */
    uv_write_t req;      /* the one write in flight */
    struct buf waiting;  /* bytes not yet handed to libuv */
    struct buf sending;  /* bytes of the write in flight: libuv reads
                              them until its callback, so they must not
                              move or be freed before */
    bool held;           /* true: bytes wait, nothing new is written */
    outq_error_cb on_error;
    void *data; /* for the owner */
};

/* Prepares q to write to stream (borrowed; it must stay valid until q is
 * freed). Nothing is allocated yet. */
void outq_init(struct outq *q, uv_stream_t *stream, outq_error_cb on_error);

/* Sends n bytes after those queued: when nothing is queued and q is not
 * held, as many as the kernel takes at once (uv_try_write); the rest is
 * copied to the end of the queue, and a write starts if none is in
 * flight. Returns 0, -ENOMEM, or the write's error (e.g. UV_EPIPE). */
int outq_push(struct outq *q, const void *bytes, size_t n);

/* Holds q: bytes pushed from now on wait until outq_release(). A write
 * already in flight finishes. */
void outq_hold(struct outq *q);

/* Releases q and starts writing what waited. Returns 0 or uv_write's
 * error. */
int outq_release(struct outq *q);

/* Bytes the kernel has not taken yet: those waiting, and what is left
 * of the write in flight. */
size_t outq_unsent(const struct outq *q);

/* Releases the buffers. Call it only after the stream's close callback
 * has run: until then libuv may still read `sending`. */
void outq_free(struct outq *q);

#endif
