/* outq: a connection's output queue on libuv's loop. */
#include "outq.h"

#include <errno.h>

static void outq_on_written(uv_write_t *req, int status);

void outq_init(struct outq *q, uv_stream_t *stream, outq_error_cb on_error)
{
    q->stream = stream;
    q->req.data = q;
    q->waiting = (struct buf)BUF_INIT;
    q->sending = (struct buf)BUF_INIT;
    q->held = false;
    q->on_error = on_error;
    q->data = NULL;
}

/* Starts the next write if it may: nothing in flight, something waiting,
 * not held, and the stream not being closed. */
static int outq_start(struct outq *q)
{
    struct buf empty = q->sending;
    uv_buf_t b;
    int rc;

    if (q->sending.len > 0 || q->waiting.len == 0 || q->held ||
        uv_is_closing((uv_handle_t *)q->stream))
        return 0;
    /* Swap instead of copying: the waiting bytes become the write in
     * flight, and the old (empty) buffer collects what comes next. */
    q->sending = q->waiting;
    q->waiting = empty;
    b = uv_buf_init(q->sending.data, (unsigned)q->sending.len);
    rc = uv_write(&q->req, q->stream, &b, 1, outq_on_written);
    if (rc < 0) {
        /* A call that fails never calls its callback: swap back. */
        q->waiting = q->sending;
        q->sending = empty;
    }
    return rc;
}

static void outq_on_written(uv_write_t *req, int status)
{
    struct outq *q = req->data;

    if (status < 0) {
        /* UV_ECANCELED means the stream is closing: the owner knows, and
         * nothing more will be written. */
        if (status != UV_ECANCELED && q->on_error != NULL)
            q->on_error(q, status);
        return;
    }
    buf_clear(&q->sending);
    status = outq_start(q);
    if (status < 0 && q->on_error != NULL)
        q->on_error(q, status);
}

int outq_push(struct outq *q, const void *bytes, size_t n)
{
    const char *p = bytes;
    int rc;

    /* Nothing queued anywhere: offer the bytes to the kernel right away.
     * Usually it takes them all, and they never count as a backlog.
     * Order is kept: libuv refuses (UV_EAGAIN) while its own queue holds
     * bytes, and we do not try while ours does. */
    if (!q->held && q->waiting.len == 0 &&
        !uv_is_closing((uv_handle_t *)q->stream)) {
        uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);

        rc = uv_try_write(q->stream, &b, 1);
        if (rc > 0) {
            p += rc;
            n -= (size_t)rc;
        } else if (rc != UV_EAGAIN) {
            return rc; /* EPIPE, ECONNRESET...: the peer is gone */
        }
    }
    if (n == 0)
        return 0;
    rc = buf_append(&q->waiting, p, n);
    if (rc < 0)
        return rc;
    return outq_start(q);
}

void outq_hold(struct outq *q)
{
    q->held = true;
}

int outq_release(struct outq *q)
{
    q->held = false;
    return outq_start(q);
}

size_t outq_unsent(const struct outq *q)
{
    /* libuv's write queue size counts the bytes of the write in flight
     * that the kernel has not accepted yet. */
    return q->waiting.len + uv_stream_get_write_queue_size(q->stream);
}

void outq_free(struct outq *q)
{
    buf_free(&q->waiting);
    buf_free(&q->sending);
}
