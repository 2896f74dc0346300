/* outq: a subscriber's output queue (see outq.h). */
#include "outq.h"

#include <errno.h>

#include "fut/co.h"
#include "fut/comb.h"

int outq_init(struct outq *q)
{
    *q = (struct outq){.queue = BUF_INIT, .out = BUF_INIT};
    q->bell = fut_chan_new(1);
    return q->bell != NULL ? 0 : -ENOMEM;
}

void outq_free(struct outq *q)
{
    fut_chan_free(q->bell);
    q->bell = NULL;
    buf_free(&q->queue);
    buf_free(&q->out);
}

/* The bytes the kernel refused (waiting in libuv's write queue) and,
 * when there are any, every byte queued behind them (JR-9). A queue that
 * is held (not served yet: the journal's subscriber during its replay)
 * counts whole, so a replay that drags on while events pour in is bounded
 * too, as in the other tracks. */
static uint64_t outq_refused(const struct outq *q)
{
    size_t waiting;

    if (q->conn == NULL)
        return q->queue.len;
    waiting = fut_tcp_unsent(q->conn);
    return waiting > 0 ? (uint64_t)waiting + q->queue.len : 0;
}

int outq_push(struct outq *q, const char *bytes, size_t len, uint64_t max)
{
    uint64_t refused = outq_refused(q);

    if (refused > 0 && refused + len > max) {
        q->unsent = refused;
        return -ENOBUFS;
    }
    if (buf_append(&q->queue, bytes, len) < 0)
        return -ENOMEM;
    q->unsent = refused > 0 ? refused + len : 0;
    return 0;
}

void outq_ring(struct outq *q)
{
    int rc = fut_chan_try_send(q->bell, q);

    (void)rc; /* -EAGAIN: rung already, the task will look anyway */
}

struct fut *outq_rung(struct outq *q)
{
    return fut_chan_recv(q->bell, &q->rung);
}

/* --- serving ------------------------------------------------------------- */

struct serve_fut {
    struct fut base;
    struct co co;
    struct outq *q;       /* borrowed */
    struct fut_tcp *conn; /* borrowed */
    struct fut *op;       /* the step being awaited, or NULL */
    const char *line;     /* what the peer sent: ignored */
    size_t len;
    int rc;
};

/* The bell, or the peer: what it sends means nothing, its end does. */
static struct fut *rung_or_read(struct serve_fut *s)
{
    struct fut *fs[2];

    fs[0] = outq_rung(s->q);
    fs[1] = fut_tcp_read_line(s->conn, &s->line, &s->len);
    return fut_select(fs, 2, NULL);
}

static enum fut_poll serve_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct serve_fut *s = (struct serve_fut *)f;
    struct outq *q = s->q;

    CO_BEGIN(&s->co);
    for (;;) {
        if (q->queue.len == 0) {
            s->op = rung_or_read(s);
            CO_AWAIT_TAKE(&s->co, ctx, &s->op, s->rc);
            if (s->rc <= 0)
                CO_RETURN(&s->co, s, s->rc); /* the peer left, or failed */
            continue;                        /* rung, or a line: look again */
        }
        buf_move(&q->out, &q->queue);
        s->op = fut_tcp_write_all(s->conn, q->out.data, q->out.len);
        CO_AWAIT_TAKE(&s->co, ctx, &s->op, s->rc);
        if (s->rc < 0)
            CO_RETURN(&s->co, s, s->rc);
        q->unsent = 0; /* the kernel took it all */
        buf_clear(&q->out);
    }
    CO_END(&s->co);
}

static void serve_drop(struct fut *f)
{
    struct serve_fut *s = (struct serve_fut *)f;

    fut_clear(&s->op);
    s->q->conn = NULL;
    fut_mem_free(f);
}

static const struct fut_vtable serve_vt = {"outq-serve", serve_poll,
                                           serve_drop};

struct fut *outq_serve(struct outq *q, struct fut_tcp *conn)
{
    struct serve_fut *s = (struct serve_fut *)fut_alloc(&serve_vt, sizeof *s);

    if (s == NULL)
        return fut_ready(-ENOMEM);
    s->q = q;
    s->conn = conn;
    q->conn = conn;
    return &s->base;
}
