/* Unit tests for fut/chan: the bounded channel between futures. */
#include "fut/chan.h"
#include "futtest.h"

static int msgs[8]; /* messages are pointers to these */

Test(chan, delivers_messages_in_order)
{
    uv_loop_t loop;
    struct fut_chan *ch = fut_chan_new(4);
    void *got = NULL;

    uv_loop_init(&loop);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(ft_run(&loop, fut_chan_send(ch, &msgs[i])), 0);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(ft_run(&loop, fut_chan_recv(ch, &got)), 1);
        cr_assert_eq(got, &msgs[i]);
    }
    fut_chan_free(ch);
    ft_close_loop(&loop);
}

Test(chan, send_waits_while_full_and_is_woken_by_a_receive)
{
    struct fut_chan *ch = fut_chan_new(1);
    struct probe p = {0};
    struct fut *s;
    void *got;

    cr_assert_eq(fut_chan_try_send(ch, &msgs[0]), 0);
    s = fut_chan_send(ch, &msgs[1]);
    cr_assert_eq(ft_poll(s, &p), FUT_PENDING);
    cr_assert_eq(fut_chan_try_recv(ch, &got), 1);
    cr_assert_eq(p.wakes, 1, "the waiting sender was not woken");
    cr_assert_eq(ft_poll(s, &p), FUT_READY);
    cr_assert_eq(fut_result(s), 0);
    fut_drop(s);
    cr_assert_eq(fut_chan_try_recv(ch, &got), 1);
    cr_assert_eq(got, &msgs[1]);
    fut_chan_free(ch);
}

Test(chan, receive_waits_while_empty_and_is_woken_by_a_send)
{
    struct fut_chan *ch = fut_chan_new(2);
    struct probe p = {0};
    void *got = NULL;
    struct fut *r = fut_chan_recv(ch, &got);

    cr_assert_eq(ft_poll(r, &p), FUT_PENDING);
    cr_assert_eq(fut_chan_try_send(ch, &msgs[3]), 0);
    cr_assert_eq(p.wakes, 1);
    cr_assert_eq(ft_poll(r, &p), FUT_READY);
    cr_assert_eq(fut_result(r), 1);
    cr_assert_eq(got, &msgs[3]);
    fut_drop(r);
    fut_chan_free(ch);
}

Test(chan, close_drains_then_ends_receives_and_refuses_sends)
{
    struct fut_chan *ch = fut_chan_new(2);
    struct probe p = {0}, q = {0};
    void *got = NULL;
    struct fut *waiting = fut_chan_recv(ch, &got);
    struct fut *f;

    cr_assert_eq(ft_poll(waiting, &q), FUT_PENDING);
    cr_assert_eq(fut_chan_try_send(ch, &msgs[0]), 0);
    fut_chan_close(ch);
    cr_assert_geq(q.wakes, 1);
    cr_assert_eq(ft_poll(waiting, &q), FUT_READY);
    cr_assert_eq(fut_result(waiting), 1, "the queued message comes first");
    fut_drop(waiting);
    f = fut_chan_recv(ch, &got);
    cr_assert_eq(ft_poll(f, &p), FUT_READY);
    cr_assert_eq(fut_result(f), 0, "closed and empty");
    fut_drop(f);
    f = fut_chan_send(ch, &msgs[1]);
    cr_assert_eq(ft_poll(f, &p), FUT_READY);
    cr_assert_eq(fut_result(f), -EPIPE);
    fut_drop(f);
    cr_assert_eq(fut_chan_try_send(ch, &msgs[1]), -EPIPE);
    fut_chan_free(ch);
}

Test(chan, a_cancelled_send_gives_the_message_back)
{
    struct fut_chan *ch = fut_chan_new(1);
    struct probe p = {0};
    struct fut *s;
    void *got;

    cr_assert_eq(fut_chan_try_send(ch, &msgs[0]), 0);
    s = fut_chan_send(ch, &msgs[1]);
    cr_assert_eq(ft_poll(s, &p), FUT_PENDING);
    fut_drop(s);
    /* msgs[1] was never queued: the caller still has it. */
    cr_assert_eq(fut_chan_len(ch), 1);
    cr_assert_eq(fut_chan_try_recv(ch, &got), 1);
    cr_assert_eq(got, &msgs[0]);
    cr_assert_eq(fut_chan_try_recv(ch, &got), 0);
    cr_assert_eq(p.wakes, 0, "a dropped send was woken");
    fut_chan_free(ch);
}

Test(chan, a_cancelled_receive_loses_nothing)
{
    struct fut_chan *ch = fut_chan_new(2);
    struct probe p = {0};
    void *got = NULL;
    struct fut *r = fut_chan_recv(ch, &got);

    cr_assert_eq(ft_poll(r, &p), FUT_PENDING);
    cr_assert_eq(fut_chan_try_send(ch, &msgs[2]), 0);
    /* Woken, but dropped before it could take the message. */
    fut_drop(r);
    cr_assert_null(got);
    cr_assert_eq(fut_chan_len(ch), 1);
    cr_assert_eq(fut_chan_try_recv(ch, &got), 1);
    cr_assert_eq(got, &msgs[2]);
    fut_chan_free(ch);
}

Test(chan, a_woken_receiver_that_is_dropped_passes_the_wake_on)
{
    struct fut_chan *ch = fut_chan_new(2);
    struct probe p1 = {0}, p2 = {0};
    void *g1 = NULL, *g2 = NULL;
    struct fut *r1 = fut_chan_recv(ch, &g1);
    struct fut *r2 = fut_chan_recv(ch, &g2);

    cr_assert_eq(ft_poll(r1, &p1), FUT_PENDING);
    cr_assert_eq(ft_poll(r2, &p2), FUT_PENDING);
    cr_assert_eq(fut_chan_try_send(ch, &msgs[4]), 0);
    cr_assert_eq(p1.wakes, 1, "first in line is woken");
    cr_assert_eq(p2.wakes, 0, "only the first in line");
    fut_drop(r1);
    cr_assert_eq(p2.wakes, 1, "the wake was lost with the dropped one");
    cr_assert_eq(ft_poll(r2, &p2), FUT_READY);
    cr_assert_eq(g2, &msgs[4]);
    fut_drop(r2);
    fut_chan_free(ch);
}

/* Found by tests/fuzz (fuzz_chan, corpus/chan/lost-wake-after-close): the
 * receiver that takes the last message of a closed channel must wake the
 * next one, which is then ready with the end of the channel. */
Test(chan, the_last_message_of_a_closed_channel_wakes_the_next_receiver)
{
    struct fut_chan *ch = fut_chan_new(2);
    struct probe p1 = {0}, p2 = {0};
    void *g1 = NULL, *g2 = NULL;
    struct fut *r1 = fut_chan_recv(ch, &g1);
    struct fut *r2 = fut_chan_recv(ch, &g2);

    cr_assert_eq(ft_poll(r1, &p1), FUT_PENDING);
    cr_assert_eq(ft_poll(r2, &p2), FUT_PENDING);
    cr_assert_eq(fut_chan_try_send(ch, &msgs[5]), 0);
    fut_chan_close(ch);
    /* The close woke both; the second is polled first and must wait its
     * turn behind the first, which holds the message. */
    cr_assert_eq(ft_poll(r2, &p2), FUT_PENDING);
    p2.wakes = 0;
    cr_assert_eq(ft_poll(r1, &p1), FUT_READY);
    cr_assert_eq(fut_result(r1), 1);
    cr_assert_eq(g1, &msgs[5]);
    cr_assert_eq(p2.wakes, 1, "the second receiver would sleep for ever");
    cr_assert_eq(ft_poll(r2, &p2), FUT_READY);
    cr_assert_eq(fut_result(r2), 0, "closed and empty");
    fut_drop(r1);
    fut_drop(r2);
    fut_chan_free(ch);
}

Test(chan, waiting_senders_are_served_first_come_first_served)
{
    struct fut_chan *ch = fut_chan_new(1);
    struct probe p1 = {0}, p2 = {0};
    struct fut *s1, *s2;
    void *got;

    cr_assert_eq(fut_chan_try_send(ch, &msgs[0]), 0);
    s1 = fut_chan_send(ch, &msgs[1]);
    s2 = fut_chan_send(ch, &msgs[2]);
    cr_assert_eq(ft_poll(s1, &p1), FUT_PENDING);
    cr_assert_eq(ft_poll(s2, &p2), FUT_PENDING);
    cr_assert_eq(fut_chan_try_recv(ch, &got), 1);
    /* Room for one: the second may not jump the line. */
    cr_assert_eq(ft_poll(s2, &p2), FUT_PENDING);
    cr_assert_eq(ft_poll(s1, &p1), FUT_READY);
    cr_assert_eq(fut_chan_try_recv(ch, &got), 1);
    cr_assert_eq(got, &msgs[1]);
    cr_assert_geq(p2.wakes, 1);
    cr_assert_eq(ft_poll(s2, &p2), FUT_READY);
    fut_drop(s1);
    fut_drop(s2);
    cr_assert_eq(fut_chan_try_recv(ch, &got), 1);
    cr_assert_eq(got, &msgs[2]);
    fut_chan_free(ch);
}

/* --- cancellation at every pending point --------------------------------- */

/* The other side of the channel is a libuv timer that moves one message
 * per firing, so the future under test waits on a real loop. */
struct chan_case {
    struct fut_chan *ch;
    uv_timer_t timer;
    bool sending; /* the future under test sends (the timer receives) */
    void *got;
};

static void chan_case_tick(uv_timer_t *t)
{
    struct chan_case *c = t->data;
    void *m;

    if (c->sending)
        fut_chan_try_recv(c->ch, &m);
    else
        fut_chan_try_send(c->ch, &msgs[5]);
}

/* The cases run on an unbounded channel when set. */
static bool unbounded_case;

static void chan_case_setup(uv_loop_t *loop, void *arg)
{
    struct chan_case *c = arg;

    c->ch = unbounded_case ? fut_chan_new_unbounded() : fut_chan_new(1);
    c->got = NULL;
    if (c->sending)
        fut_chan_try_send(c->ch, &msgs[0]); /* full */
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    uv_timer_start(&c->timer, chan_case_tick, 15, 0);
}

static struct fut *chan_case_make(uv_loop_t *loop, void *arg)
{
    struct chan_case *c = arg;

    (void)loop;
    return c->sending ? fut_chan_send(c->ch, &msgs[1])
                      : fut_chan_recv(c->ch, &c->got);
}

static void chan_case_teardown(uv_loop_t *loop, void *arg)
{
    struct chan_case *c = arg;
    void *m;

    (void)loop;
    while (fut_chan_try_recv(c->ch, &m) == 1)
        ;
    fut_chan_free(c->ch);
    uv_close((uv_handle_t *)&c->timer, NULL);
}

Test(chan, send_can_be_dropped_at_every_pending_point)
{
    struct chan_case cc = {.sending = true};
    struct ft_cancel_case c = {&cc, chan_case_setup, chan_case_make, NULL,
                               chan_case_teardown};

    cr_assert_eq(ft_cancel_everywhere(&c, 10), 2);
}

Test(chan, receive_can_be_dropped_at_every_pending_point)
{
    struct chan_case cc = {.sending = false};
    struct ft_cancel_case c = {&cc, chan_case_setup, chan_case_make, NULL,
                               chan_case_teardown};

    cr_assert_eq(ft_cancel_everywhere(&c, 10), 2);
}

/* --- unbounded ----------------------------------------------------------- */

Test(chan, unbounded_sends_never_wait_and_keep_the_order_as_it_grows)
{
    struct fut_chan *ch = fut_chan_new_unbounded();
    static int many[1000];
    struct probe p = {0};
    struct fut *s;
    void *got;
    int next = 0;

    /* Taken out part way, so that the ring has wrapped when it grows. */
    for (int i = 0; i < 10; i++)
        cr_assert_eq(fut_chan_try_send(ch, &many[i]), 0);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(fut_chan_try_recv(ch, &got), 1);
        cr_assert_eq(got, &many[next++]);
    }
    for (int i = 10; i < 999; i++)
        cr_assert_eq(fut_chan_try_send(ch, &many[i]), 0);
    s = fut_chan_send(ch, &many[999]);
    cr_assert_eq(ft_poll(s, &p), FUT_READY, "a send waited");
    cr_assert_eq(fut_result(s), 0);
    fut_drop(s);
    cr_assert_eq(fut_chan_len(ch), 995);
    while (fut_chan_try_recv(ch, &got) == 1)
        cr_assert_eq(got, &many[next++]);
    cr_assert_eq(next, 1000);
    fut_chan_free(ch);
}

Test(chan, unbounded_receive_waits_and_can_be_dropped_at_every_pending_point)
{
    struct chan_case cc = {.sending = false};
    struct ft_cancel_case c = {&cc, chan_case_setup, chan_case_make, NULL,
                               chan_case_teardown};

    unbounded_case = true;
    cr_assert_eq(ft_cancel_everywhere(&c, 10), 2);
}

Test(chan, unbounded_channel_still_closes)
{
    struct fut_chan *ch = fut_chan_new_unbounded();
    struct probe p = {0};
    void *got = NULL;
    struct fut *r;

    cr_assert_eq(fut_chan_try_send(ch, &msgs[0]), 0);
    fut_chan_close(ch);
    cr_assert_eq(fut_chan_try_send(ch, &msgs[1]), -EPIPE);
    r = fut_chan_recv(ch, &got);
    cr_assert_eq(ft_poll(r, &p), FUT_READY);
    cr_assert_eq(fut_result(r), 1, "what was queued is still delivered");
    cr_assert_eq(got, &msgs[0]);
    fut_drop(r);
    r = fut_chan_recv(ch, &got);
    cr_assert_eq(ft_poll(r, &p), FUT_READY);
    cr_assert_eq(fut_result(r), 0);
    fut_drop(r);
    fut_chan_free(ch);
}
