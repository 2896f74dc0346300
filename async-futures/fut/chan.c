/* chan: a bounded channel between futures of one loop (see chan.h). */
#include "fut/chan.h"

#include <assert.h>
#include <errno.h>

/* A future waiting for its turn, linked into the channel's list. The node
 * lives inside the future, so waiting allocates nothing. */
struct waiter {
    struct waiter *prev, *next;
    struct fut_waker waker; /* from the latest poll */
    bool linked;            /* on a list */
};

struct wlist {
    struct waiter *head, *tail; /* oldest first */
};

struct fut_chan {
    void **ring; /* cap slots */
    size_t cap;
    bool unbounded; /* full: the ring grows instead of senders waiting */
    size_t first;   /* slot of the oldest message */
    size_t len;     /* messages queued */
    bool closed;
    struct wlist senders;   /* waiting for room */
    struct wlist receivers; /* waiting for a message */
};

static void wl_push(struct wlist *l, struct waiter *w)
{
    w->next = NULL;
    w->prev = l->tail;
    if (l->tail != NULL)
        l->tail->next = w;
    else
        l->head = w;
    l->tail = w;
    w->linked = true;
}

static void wl_remove(struct wlist *l, struct waiter *w)
{
    if (!w->linked)
        return;
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        l->head = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    else
        l->tail = w->prev;
    w->prev = w->next = NULL;
    w->linked = false;
}

static void wl_wake_head(const struct wlist *l)
{
    if (l->head != NULL)
        fut_wake(&l->head->waker);
}

static void wl_wake_all(const struct wlist *l)
{
    for (struct waiter *w = l->head; w != NULL; w = w->next)
        fut_wake(&w->waker);
}

/* First come, first served: a future may go ahead if nobody is waiting,
 * or if it is the one at the head of the line. */
static bool my_turn(const struct wlist *l, const struct waiter *w)
{
    return w->linked ? l->head == w : l->head == NULL;
}

/* Parks w (in line, if not yet) with the waker of this poll. */
static enum fut_poll wait_in(struct wlist *l, struct waiter *w,
                             const struct fut_ctx *ctx)
{
    w->waker = ctx->waker;
    if (!w->linked)
        wl_push(l, w);
    return FUT_PENDING;
}

/* Makes room for one more message in a full unbounded channel: a ring
 * twice the size, the messages moved to its start in order. Returns 0, or
 * -ENOMEM (the channel is unchanged then). */
static int grow(struct fut_chan *ch)
{
    void **ring = fut_mem_alloc(2 * ch->cap * sizeof *ring);

    if (ring == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < ch->len; i++)
        ring[i] = ch->ring[(ch->first + i) % ch->cap];
    fut_mem_free(ch->ring);
    ch->ring = ring;
    ch->first = 0;
    ch->cap *= 2;
    return 0;
}

/* A full unbounded channel grows; a bounded one is left as it is (its
 * senders wait). Returns 0, or -ENOMEM when the ring could not grow. */
static int make_room(struct fut_chan *ch)
{
    if (ch->unbounded && ch->len == ch->cap)
        return grow(ch);
    return 0;
}

/* --- send ---------------------------------------------------------------- */

struct send_fut {
    struct fut base;
    struct fut_chan *ch; /* borrowed */
    void *msg;           /* the caller's until this future is ready with 0 */
    struct waiter w;
};

static enum fut_poll send_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct send_fut *s = (struct send_fut *)f;
    struct fut_chan *ch = s->ch;
    int rc;

    if (ch->closed) {
        wl_remove(&ch->senders, &s->w);
        f->result = -EPIPE;
        return FUT_READY;
    }
    rc = make_room(ch);
    if (rc < 0) {
        wl_remove(&ch->senders, &s->w);
        f->result = rc;
        return FUT_READY;
    }
    if (ch->len == ch->cap || !my_turn(&ch->senders, &s->w))
        return wait_in(&ch->senders, &s->w, ctx);
    ch->ring[(ch->first + ch->len) % ch->cap] = s->msg;
    ch->len++;
    wl_remove(&ch->senders, &s->w);
    wl_wake_head(&ch->receivers);
    if (ch->len < ch->cap)
        wl_wake_head(&ch->senders); /* room for the next one in line too */
    f->result = 0;
    return FUT_READY;
}

static void send_drop(struct fut *f)
{
    struct send_fut *s = (struct send_fut *)f;
    struct fut_chan *ch = s->ch;

    if (s->w.linked) {
        wl_remove(&ch->senders, &s->w);
        /* We may have been woken for room we now never use: pass it on. */
        if (ch->len < ch->cap)
            wl_wake_head(&ch->senders);
    }
    fut_mem_free(f);
}

static const struct fut_vtable send_vt = {"chan-send", send_poll, send_drop};

struct fut *fut_chan_send(struct fut_chan *ch, void *msg)
{
    struct send_fut *s = (struct send_fut *)fut_alloc(&send_vt, sizeof *s);

    if (s == NULL)
        return fut_ready(-ENOMEM);
    s->ch = ch;
    s->msg = msg;
    return &s->base;
}

/* --- receive ------------------------------------------------------------- */

struct recv_fut {
    struct fut base;
    struct fut_chan *ch; /* borrowed */
    void **out;          /* written only by the poll that returns 1 */
    struct waiter w;
};

static void *take_oldest(struct fut_chan *ch)
{
    void *msg = ch->ring[ch->first];

    ch->first = (ch->first + 1) % ch->cap;
    ch->len--;
    wl_wake_head(&ch->senders); /* there is room now */
    return msg;
}

static enum fut_poll recv_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct recv_fut *r = (struct recv_fut *)f;
    struct fut_chan *ch = r->ch;

    if (ch->len > 0 && my_turn(&ch->receivers, &r->w)) {
        wl_remove(&ch->receivers, &r->w);
        *r->out = take_oldest(ch);
        /* Pass the wake on while the next in line has something to see: a
         * message, or the end of a closed channel (it would sleep for ever
         * otherwise: nothing else will wake it once the channel is closed). */
        if (ch->len > 0 || ch->closed)
            wl_wake_head(&ch->receivers);
        f->result = 1;
        return FUT_READY;
    }
    if (ch->len == 0 && ch->closed) {
        wl_remove(&ch->receivers, &r->w);
        wl_wake_head(&ch->receivers); /* every waiting receiver sees the end */
        f->result = 0;
        return FUT_READY;
    }
    return wait_in(&ch->receivers, &r->w, ctx);
}

static void recv_drop(struct fut *f)
{
    struct recv_fut *r = (struct recv_fut *)f;
    struct fut_chan *ch = r->ch;

    if (r->w.linked) {
        wl_remove(&ch->receivers, &r->w);
        if (ch->len > 0 || ch->closed)
            wl_wake_head(&ch->receivers);
    }
    fut_mem_free(f);
}

static const struct fut_vtable recv_vt = {"chan-recv", recv_poll, recv_drop};

struct fut *fut_chan_recv(struct fut_chan *ch, void **out)
{
    struct recv_fut *r = (struct recv_fut *)fut_alloc(&recv_vt, sizeof *r);

    if (r == NULL)
        return fut_ready(-ENOMEM);
    r->ch = ch;
    r->out = out;
    return &r->base;
}

/* --- the channel itself -------------------------------------------------- */

struct fut_chan *fut_chan_new(size_t capacity)
{
    struct fut_chan *ch = fut_mem_alloc(sizeof *ch);

    if (ch == NULL)
        return NULL;
    ch->cap = capacity > 0 ? capacity : 1;
    ch->ring = fut_mem_alloc(ch->cap * sizeof *ch->ring);
    if (ch->ring == NULL) {
        fut_mem_free(ch);
        return NULL;
    }
    return ch;
}

struct fut_chan *fut_chan_new_unbounded(void)
{
    struct fut_chan *ch = fut_chan_new(16);

    if (ch != NULL)
        ch->unbounded = true;
    return ch;
}

void fut_chan_free(struct fut_chan *ch)
{
    if (ch == NULL)
        return;
    assert(ch->senders.head == NULL && ch->receivers.head == NULL);
    fut_mem_free(ch->ring);
    fut_mem_free(ch);
}

void fut_chan_close(struct fut_chan *ch)
{
    if (ch->closed)
        return;
    ch->closed = true;
    wl_wake_all(&ch->senders);
    wl_wake_all(&ch->receivers);
}

int fut_chan_try_recv(struct fut_chan *ch, void **out)
{
    if (ch->len == 0)
        return 0;
    *out = take_oldest(ch);
    if (ch->closed) /* the receiver woken for this message must see the end */
        wl_wake_head(&ch->receivers);
    return 1;
}

int fut_chan_try_send(struct fut_chan *ch, void *msg)
{
    int rc;

    if (ch->closed)
        return -EPIPE;
    rc = make_room(ch);
    if (rc < 0)
        return rc;
    if (ch->len == ch->cap || ch->senders.head != NULL)
        return -EAGAIN;
    ch->ring[(ch->first + ch->len) % ch->cap] = msg;
    ch->len++;
    wl_wake_head(&ch->receivers);
    return 0;
}

size_t fut_chan_len(const struct fut_chan *ch)
{
    return ch->len;
}
