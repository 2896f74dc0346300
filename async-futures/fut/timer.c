/* timer: sleep until a deadline, and an interval on an absolute schedule
 * (see timer.h). */
#include "fut/timer.h"

#include <assert.h>
#include <errno.h>

#include "clock.h"

/* --- sleep_until --------------------------------------------------------- */

/* lesson:fut-sleep */
struct sleep_fut {
    struct fut base;
    uv_loop_t *loop;
    uv_timer_t timer;       /* initialised by the first poll */
    int64_t deadline;       /* absolute, ms */
    struct fut_waker waker; /* from the latest poll */
    bool started;           /* the timer exists and must be closed */
};

static void sleep_fired(uv_timer_t *h)
{
    struct sleep_fut *s = h->data;

    fut_wake(&s->waker);
}

static enum fut_poll sleep_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct sleep_fut *s = (struct sleep_fut *)f;

    if (clock_passed(s->deadline)) {
        f->result = 0;
        return FUT_READY;
    }
    if (!s->started) {
        uv_timer_init(s->loop, &s->timer);
        s->timer.data = s;
        s->started = true;
    }
    s->waker = ctx->waker;
    /* Armed again on every poll that is still early: after a spurious poll
     * this costs a heap update, and after the timer fired a few ms early it
     * is the "never early" check. */
    uv_timer_start(&s->timer, sleep_fired, (uint64_t)clock_ms_left(s->deadline),
                   0);
    return FUT_PENDING;
}

static void sleep_closed(uv_handle_t *h)
{
    fut_mem_free(h->data);
}

static void sleep_drop(struct fut *f)
{
    struct sleep_fut *s = (struct sleep_fut *)f;

    if (!s->started) {
        fut_mem_free(f);
        return;
    }
    /* uv_close stops the timer at once: sleep_fired cannot run any more.
     * libuv needs the handle until sleep_closed, which frees the struct. */
    uv_close((uv_handle_t *)&s->timer, sleep_closed);
}
/* end */

static const struct fut_vtable sleep_vt = {"sleep", sleep_poll, sleep_drop};

struct fut *fut_sleep_until(uv_loop_t *loop, int64_t deadline_ms)
{
    struct sleep_fut *s = (struct sleep_fut *)fut_alloc(&sleep_vt, sizeof *s);

    if (s == NULL)
        return fut_ready(-ENOMEM);
    s->loop = loop;
    s->deadline = deadline_ms;
    return &s->base;
}

/* --- interval ------------------------------------------------------------ */

struct fut_interval {
    uv_timer_t timer; /* lives as long as the interval */
    int64_t start;    /* tick K is due at start + K * period */
    int64_t period;
    int64_t last;           /* the last tick delivered (0: none yet) */
    struct fut_waker waker; /* the pending tick future's, or empty */
    bool has_tick;          /* a tick future exists */
};

struct tick_fut {
    struct fut base;
    struct fut_interval *iv; /* borrowed */
    int64_t *out;            /* where the tick number goes */
};

static void interval_fired(uv_timer_t *h)
{
    struct fut_interval *iv = h->data;

    fut_wake(&iv->waker);
}

int64_t fut_interval_due(const struct fut_interval *iv, int64_t tick)
{
    return iv->start + tick * iv->period;
}

/* The latest tick due at time now (0 before the first one). */
static int64_t latest_due(const struct fut_interval *iv, int64_t now)
{
    if (now < iv->start + iv->period)
        return 0;
    return (now - iv->start) / iv->period;
}

static enum fut_poll tick_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct tick_fut *t = (struct tick_fut *)f;
    struct fut_interval *iv = t->iv;
    int64_t k = latest_due(iv, clock_now_ms());

    if (k > iv->last) {
        /* Ticks last+1 .. k-1, if any, are skipped here. */
        iv->last = k;
        *t->out = k;
        iv->waker = (struct fut_waker){NULL, NULL};
        uv_timer_stop(&iv->timer);
        f->result = 0;
        return FUT_READY;
    }
    iv->waker = ctx->waker;
    uv_timer_start(&iv->timer, interval_fired,
                   (uint64_t)clock_ms_left(fut_interval_due(iv, iv->last + 1)),
                   0);
    return FUT_PENDING;
}

static void tick_drop(struct fut *f)
{
    struct fut_interval *iv = ((struct tick_fut *)f)->iv;

    /* The timer belongs to the interval and stays open; stopping it is
     * enough for nothing to be woken. */
    uv_timer_stop(&iv->timer);
    iv->waker = (struct fut_waker){NULL, NULL};
    iv->has_tick = false;
    fut_mem_free(f);
}

static const struct fut_vtable tick_vt = {"interval-tick", tick_poll,
                                          tick_drop};

struct fut *fut_interval_tick(struct fut_interval *iv, int64_t *tick)
{
    struct tick_fut *t;

    assert(!iv->has_tick && "one tick future per interval at a time");
    t = (struct tick_fut *)fut_alloc(&tick_vt, sizeof *t);
    if (t == NULL)
        return fut_ready(-ENOMEM);
    t->iv = iv;
    t->out = tick;
    iv->has_tick = true;
    return &t->base;
}

struct fut_interval *fut_interval_new(uv_loop_t *loop, int64_t start_ms,
                                      int64_t period_ms)
{
    struct fut_interval *iv = fut_mem_alloc(sizeof *iv);

    if (iv == NULL)
        return NULL;
    iv->start = start_ms;
    iv->period = period_ms > 0 ? period_ms : 1;
    uv_timer_init(loop, &iv->timer);
    iv->timer.data = iv;
    return iv;
}

static void interval_closed(uv_handle_t *h)
{
    fut_mem_free(h->data);
}

void fut_interval_close(struct fut_interval *iv)
{
    if (iv == NULL)
        return;
    assert(!iv->has_tick && "drop the tick future before the interval");
    uv_close((uv_handle_t *)&iv->timer, interval_closed);
}
