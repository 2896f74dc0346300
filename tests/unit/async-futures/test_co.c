/* Unit tests for fut/co.h: a coroutine future written with the CO_ macros,
 * run to the end and cancelled at every one of its await points. */
#include <string.h>

#include "fut/chan.h"
#include "fut/co.h"
#include "fut/exec.h"
#include "fut/timer.h"
#include "futtest.h"

static int msgs[3];

/* Three times: sleep a little, take a message from `in`, pass it to
 * `out`. Everything that lives across an await is a field. */
struct relay {
    struct fut base;
    struct co co;
    uv_loop_t *loop;
    struct fut_chan *in, *out;
    struct fut *op; /* the child being awaited, or NULL */
    void *msg;
    int rc;
    int i;
};

static enum fut_poll relay_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct relay *s = (struct relay *)f;

    CO_BEGIN(&s->co);
    for (s->i = 0; s->i < 3; s->i++) {
        s->op = fut_sleep_until(s->loop, clock_now_ms() + 3);
        CO_AWAIT_TAKE(&s->co, ctx, &s->op, s->rc);
        s->op = fut_chan_recv(s->in, &s->msg);
        CO_AWAIT_TAKE(&s->co, ctx, &s->op, s->rc);
        if (s->rc == 0)
            CO_RETURN(&s->co, s, -EPIPE);
        s->op = fut_chan_send(s->out, s->msg);
        CO_AWAIT_TAKE(&s->co, ctx, &s->op, s->rc);
        if (s->rc < 0)
            CO_RETURN(&s->co, s, s->rc);
    }
    CO_RETURN(&s->co, s, s->i);
    CO_END(&s->co);
}

/* The relay under test in a cancellation case, or NULL once dropped. */
static struct relay *live_relay;

static void relay_drop(struct fut *f)
{
    struct relay *s = (struct relay *)f;

    if (live_relay == s)
        live_relay = NULL;

    /* Cancelling at any await point is the same line: drop the child. */
    fut_clear(&s->op);
    fut_mem_free(f);
}

static const struct fut_vtable relay_vt = {"relay", relay_poll, relay_drop};

static struct fut *relay_new(uv_loop_t *loop, struct fut_chan *in,
                             struct fut_chan *out)
{
    struct relay *s = (struct relay *)fut_alloc(&relay_vt, sizeof *s);

    cr_assert_not_null(s);
    s->loop = loop;
    s->in = in;
    s->out = out;
    return &s->base;
}

static void drain(struct fut_chan *ch)
{
    void *m;

    while (fut_chan_try_recv(ch, &m) == 1)
        ;
}

Test(co, a_coroutine_runs_its_steps_in_order)
{
    uv_loop_t loop;
    struct fut_exec *ex;
    struct fut_chan *in = fut_chan_new(4), *out = fut_chan_new(4);
    void *m;

    uv_loop_init(&loop);
    ex = fut_exec_new(&loop);
    for (int i = 0; i < 3; i++)
        fut_chan_try_send(in, &msgs[i]);
    cr_assert_eq(fut_exec_block_on(ex, relay_new(&loop, in, out), "relay"), 3);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(fut_chan_try_recv(out, &m), 1);
        cr_assert_eq(m, &msgs[i]);
    }
    fut_chan_free(in);
    fut_chan_free(out);
    fut_exec_free(ex);
    ft_close_loop(&loop);
}

Test(co, a_coroutine_ends_early_with_its_own_result)
{
    uv_loop_t loop;
    struct fut_exec *ex;
    struct fut_chan *in = fut_chan_new(4), *out = fut_chan_new(4);

    uv_loop_init(&loop);
    ex = fut_exec_new(&loop);
    fut_chan_try_send(in, &msgs[0]);
    fut_chan_close(in);
    cr_assert_eq(fut_exec_block_on(ex, relay_new(&loop, in, out), "relay"),
                 -EPIPE);
    drain(out);
    fut_chan_free(in);
    fut_chan_free(out);
    fut_exec_free(ex);
    ft_close_loop(&loop);
}

/* Cancellation: `in` is fed and `out` drained by the pump, one message a
 * turn, so the relay waits at each of its three kinds of await point. */
struct relay_case {
    struct fut_chan *in, *out;
    int fed;
};

static void relay_setup(uv_loop_t *loop, void *arg)
{
    struct relay_case *c = arg;

    (void)loop;
    c->in = fut_chan_new(1);
    c->out = fut_chan_new(1);
    c->fed = 0;
    fut_chan_try_send(c->out, &msgs[0]); /* full: the first send waits */
}

static struct fut *relay_make(uv_loop_t *loop, void *arg)
{
    struct relay_case *c = arg;
    struct fut *f = relay_new(loop, c->in, c->out);

    live_relay = (struct relay *)f;
    return f;
}

/* Plays both ends, but only for the side the relay is waiting on, so that
 * it really parks at every await point: the sleep, the receive (fed one
 * message) and the send (`out` drained by one). */
static void relay_pump(void *arg)
{
    struct relay_case *c = arg;
    const char *waiting;
    void *m;

    if (live_relay == NULL || live_relay->op == NULL)
        return;
    waiting = live_relay->op->vt->name;
    if (strcmp(waiting, "chan-recv") == 0 && c->fed < 3 &&
        fut_chan_try_send(c->in, &msgs[c->fed]) == 0)
        c->fed++;
    else if (strcmp(waiting, "chan-send") == 0)
        fut_chan_try_recv(c->out, &m);
}

static void relay_teardown(uv_loop_t *loop, void *arg)
{
    struct relay_case *c = arg;

    (void)loop;
    drain(c->in);
    drain(c->out);
    fut_chan_free(c->in);
    fut_chan_free(c->out);
}

Test(co, a_coroutine_can_be_dropped_at_every_await_point)
{
    struct relay_case rc;
    struct ft_cancel_case c = {&rc, relay_setup, relay_make, relay_pump,
                               relay_teardown};

    /* 3 rounds of sleep, receive, send: at least 9 pending points. */
    /* 3 rounds of 3 awaits, each of them pending once, then the end. */
    cr_assert_eq(ft_cancel_everywhere(&c, 200), 10);
}
