/* outq: a connection's output queue on libuv's loop. */
#include "outq.h"

#include <errno.h>

static void outq_on_written(uv_write_t *req, int status);
static void outq_on_prepare(uv_prepare_t *prepare);

void outq_group_init(struct outq_group *g, uv_loop_t *loop, size_t max_unsent)
{
    uv_prepare_init(loop, &g->prepare);
    g->prepare.data = g;
    g->dirty = NULL;
    g->max_unsent = max_unsent;
}

void outq_group_close(struct outq_group *g)
{
    uv_close((uv_handle_t *)&g->prepare, NULL);
}

/* Puts q on its group's list for the next flush. The prepare handle runs
 * only while the list is not empty: an idle server does no work per turn,
 * and the handle does not keep an otherwise finished loop alive. */
static void outq_mark(struct outq *q)
{
    struct outq_group *g = q->group;

    if (q->dirty)
        return;
    if (g->dirty == NULL)
        uv_prepare_start(&g->prepare, outq_on_prepare);
    q->dirty = true;
    q->prev_dirty = NULL;
    q->next_dirty = g->dirty;
    if (g->dirty != NULL)
        g->dirty->prev_dirty = q;
    g->dirty = q;
}

static void outq_unmark(struct outq *q)
{
    struct outq_group *g = q->group;

    if (!q->dirty)
        return;
    if (q->prev_dirty != NULL)
        q->prev_dirty->next_dirty = q->next_dirty;
    else
        g->dirty = q->next_dirty;
    if (q->next_dirty != NULL)
        q->next_dirty->prev_dirty = q->prev_dirty;
    q->dirty = false;
    if (g->dirty == NULL)
        uv_prepare_stop(&g->prepare);
}

void outq_init(struct outq *q, struct outq_group *g, uv_stream_t *stream,
               outq_error_cb on_error)
{
    q->group = g;
    q->stream = stream;
    q->req.data = q;
    q->waiting = (struct buf)BUF_INIT;
    q->sending = (struct buf)BUF_INIT;
    q->held = false;
    q->dirty = false;
    q->prev_dirty = q->next_dirty = NULL;
    q->on_error = on_error;
    q->data = NULL;
}

/* Starts the next write if it may: nothing in flight, something waiting,
 * not held, and the stream not being closing. uv_write() tries the
 * kernel at once; what the kernel refuses stays in flight, and libuv
 * finishes it when the socket becomes writable. */
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

/* Writes q and checks its backlog: only now, after the offer, does what
 * the kernel refused count as unsent (JR-9). */
static void outq_flush_one(struct outq *q)
{
    int rc;

    if (uv_is_closing((uv_handle_t *)q->stream))
        return;
    rc = outq_start(q);
    if (rc == 0 && outq_unsent(q) > q->group->max_unsent)
        rc = -ENOBUFS;
    if (rc < 0 && q->on_error != NULL)
        q->on_error(q, rc);
}

void outq_flush(struct outq_group *g)
{
    /* An error callback may close connections, and closing one may push
     * bytes to others: take one queue off the list at a time. */
    while (g->dirty != NULL) {
        struct outq *q = g->dirty;

        outq_unmark(q);
        outq_flush_one(q);
    }
}

static void outq_on_prepare(uv_prepare_t *prepare)
{
    outq_flush(prepare->data);
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
    /* What waited meanwhile goes out with this turn's flush. */
    if (q->waiting.len > 0)
        outq_mark(q);
}

int outq_push(struct outq *q, const void *bytes, size_t n)
{
    int rc;

    if (n == 0)
        return 0;
    rc = buf_append(&q->waiting, bytes, n);
    if (rc < 0)
        return rc;
    outq_mark(q);
    return 0;
}

void outq_hold(struct outq *q)
{
    q->held = true;
}

int outq_release(struct outq *q)
{
    q->held = false;
    outq_mark(q);
    return 0;
}

size_t outq_unsent(const struct outq *q)
{
    /* libuv's write queue size counts the bytes of the write in flight
     * that the kernel has not accepted yet. */
    return q->waiting.len + uv_stream_get_write_queue_size(q->stream);
}

void outq_free(struct outq *q)
{
    outq_unmark(q);
    buf_free(&q->waiting);
    buf_free(&q->sending);
}
