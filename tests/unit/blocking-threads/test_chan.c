/* Unit tests for blocking-threads/chan: the bounded channel between
 * threads. Blocking behaviour is checked with a helper thread: the test
 * waits until the helper is blocked in the channel (chan_waiters), checks
 * that it stays blocked, then wakes it from the other side. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "chan.h"
#include "clock.h"

/* How long a blocked helper must stay blocked before the test wakes it:
 * a call that returns on its own within this time was never going to
 * wait for the other side. */
enum { STILL_BLOCKED_MS = 100 };

/* A deadline never ends early; on a busy machine it may end late, by up
 * to this much before we call it wrong. */
enum { LATE_TOLERANCE_MS = 1000 };

/* Waits forever compared to the pauses above: a test that gets here
 * failed to wake a thread. */
enum { FAR_DEADLINE_MS = 10000 };

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Items are small numbers disguised as pointers: the channel never looks
 * at them. */
static void *item(uintptr_t n)
{
    return (void *)n;
}

/* A helper thread's work: one call on a channel and what came of it. */
struct call {
    struct chan *c;
    void *item;       /* to send, or received */
    int64_t deadline; /* for recv_until */
    int rc;           /* the call's result */
    atomic_bool done; /* set once the call returned */
    int64_t took_ms;  /* how long the call blocked */
};

static void *do_send(void *arg)
{
    struct call *call = arg;
    int64_t t0 = clock_now_ms();

    call->rc = chan_send(call->c, call->item);
    call->took_ms = clock_now_ms() - t0;
    atomic_store(&call->done, true);
    return NULL;
}

static void *do_recv(void *arg)
{
    struct call *call = arg;
    int64_t t0 = clock_now_ms();

    call->rc = chan_recv(call->c, &call->item);
    call->took_ms = clock_now_ms() - t0;
    atomic_store(&call->done, true);
    return NULL;
}

static void *do_recv_until(void *arg)
{
    struct call *call = arg;
    int64_t t0 = clock_now_ms();

    call->rc = chan_recv_until(call->c, &call->item, call->deadline);
    call->took_ms = clock_now_ms() - t0;
    atomic_store(&call->done, true);
    return NULL;
}

static void start(pthread_t *t, void *(*fn)(void *), struct call *call)
{
    cr_assert_eq(pthread_create(t, NULL, fn, call), 0);
}

/* Returns once n threads are blocked in c: the test then acts on a thread
 * that is surely waiting, however busy the machine, and never sooner. */
static void wait_for_waiters(struct chan *c, size_t n)
{
    int64_t deadline = clock_deadline_in(FAR_DEADLINE_MS);

    while (chan_waiters(c) < n) {
        cr_assert(!clock_passed(deadline),
                  "no thread blocked in the "
                  "channel within %d ms",
                  FAR_DEADLINE_MS);
        sleep_ms(1);
    }
}

/* The helper running `call` has blocked in c and stays blocked for
 * STILL_BLOCKED_MS: what it waits for has not happened yet. */
static void assert_blocked(struct chan *c, struct call *call, const char *why)
{
    wait_for_waiters(c, 1);
    sleep_ms(STILL_BLOCKED_MS);
    cr_assert_not(atomic_load(&call->done), "%s", why);
    cr_assert_eq(chan_waiters(c), 1, "%s", why);
}

/* Counts the items chan_free() drops. */
static atomic_int dropped;

static void count_drop(void *it)
{
    (void)it;
    atomic_fetch_add(&dropped, 1);
}

Test(chan, new_refuses_zero_capacity)
{
    cr_assert_null(chan_new(0));
}

Test(chan, recv_returns_items_in_the_order_sent)
{
    struct chan *c = chan_new(4);
    void *got;

    for (uintptr_t i = 1; i <= 4; i++)
        cr_assert_eq(chan_send(c, item(i)), 0);
    for (uintptr_t i = 1; i <= 4; i++) {
        cr_assert_eq(chan_recv(c, &got), 0);
        cr_assert_eq(got, item(i));
    }
    chan_free(c, NULL);
}

Test(chan, ring_keeps_order_across_many_wraps)
{
    struct chan *c = chan_new(3);
    uintptr_t next_in = 1, next_out = 1;
    void *got;

    /* Two in, one out, then drain: the ring's head goes round and round. */
    while (next_out <= 1000) {
        while (next_in - next_out < 2)
            cr_assert_eq(chan_send(c, item(next_in++)), 0);
        cr_assert_eq(chan_recv(c, &got), 0);
        cr_assert_eq(got, item(next_out), "got %p, want %lu", got,
                     (unsigned long)next_out);
        next_out++;
    }
    chan_free(c, NULL);
}

Test(chan, recv_blocks_while_empty_until_an_item_is_sent, .timeout = 20)
{
    struct chan *c = chan_new(1);
    struct call call = {.c = c};
    pthread_t t;

    start(&t, do_recv, &call);
    assert_blocked(c, &call, "recv returned from an empty channel");
    cr_assert_eq(chan_send(c, item(7)), 0);
    pthread_join(t, NULL);
    cr_assert_eq(call.rc, 0);
    cr_assert_eq(call.item, item(7));
    chan_free(c, NULL);
}

Test(chan, send_blocks_while_full_until_an_item_is_received, .timeout = 20)
{
    struct chan *c = chan_new(2);
    struct call call = {.c = c, .item = item(3)};
    pthread_t t;
    void *got;

    cr_assert_eq(chan_send(c, item(1)), 0);
    cr_assert_eq(chan_send(c, item(2)), 0);
    start(&t, do_send, &call);
    assert_blocked(c, &call, "send returned on a full channel");
    cr_assert_eq(chan_recv(c, &got), 0);
    cr_assert_eq(got, item(1));
    pthread_join(t, NULL);
    cr_assert_eq(call.rc, 0);
    for (uintptr_t i = 2; i <= 3; i++) {
        cr_assert_eq(chan_recv(c, &got), 0);
        cr_assert_eq(got, item(i));
    }
    chan_free(c, NULL);
}

Test(chan, recv_until_times_out_when_empty, .timeout = 20)
{
    struct chan *c = chan_new(1);
    int64_t deadline = clock_deadline_in(200);
    void *got = NULL;

    cr_assert_eq(chan_recv_until(c, &got, deadline), -ETIMEDOUT);
    /* Never early: the clock says the deadline has passed ... */
    cr_assert(clock_passed(deadline), "returned %lld ms early",
              (long long)(deadline - clock_now_ms()));
    /* ... and not very late either. */
    cr_assert_lt(clock_now_ms(), deadline + LATE_TOLERANCE_MS);
    cr_assert_null(got, "*item set on a timeout");
    chan_free(c, NULL);
}

Test(chan, recv_until_with_a_past_deadline_returns_at_once)
{
    struct chan *c = chan_new(1);
    int64_t t0 = clock_now_ms();
    void *got;

    cr_assert_eq(chan_recv_until(c, &got, t0 - 1000), -ETIMEDOUT);
    cr_assert_lt(clock_now_ms() - t0, LATE_TOLERANCE_MS);
    chan_free(c, NULL);
}

Test(chan, recv_until_returns_a_queued_item_even_after_the_deadline)
{
    struct chan *c = chan_new(1);
    void *got;

    cr_assert_eq(chan_send(c, item(5)), 0);
    cr_assert_eq(chan_recv_until(c, &got, clock_now_ms() - 1000), 0);
    cr_assert_eq(got, item(5));
    chan_free(c, NULL);
}

Test(chan, recv_until_returns_an_item_sent_before_the_deadline, .timeout = 20)
{
    struct chan *c = chan_new(1);
    struct call call = {.c = c, .deadline = clock_deadline_in(FAR_DEADLINE_MS)};
    pthread_t t;

    start(&t, do_recv_until, &call);
    assert_blocked(c, &call, "recv_until returned from an empty channel");
    cr_assert_eq(chan_send(c, item(9)), 0);
    pthread_join(t, NULL);
    cr_assert_eq(call.rc, 0);
    cr_assert_eq(call.item, item(9));
    /* Woken by the send, not by the far deadline. */
    cr_assert_lt(call.took_ms, FAR_DEADLINE_MS / 2);
    chan_free(c, NULL);
}

Test(chan, close_wakes_a_blocked_recv, .timeout = 20)
{
    struct chan *c = chan_new(1);
    struct call call = {.c = c};
    pthread_t t;

    start(&t, do_recv, &call);
    assert_blocked(c, &call, "recv returned from an empty channel");
    chan_close(c);
    pthread_join(t, NULL);
    cr_assert_eq(call.rc, -EPIPE);
    chan_free(c, NULL);
}

Test(chan, close_wakes_a_blocked_recv_until_before_its_deadline, .timeout = 20)
{
    struct chan *c = chan_new(1);
    struct call call = {.c = c, .deadline = clock_deadline_in(FAR_DEADLINE_MS)};
    pthread_t t;

    start(&t, do_recv_until, &call);
    wait_for_waiters(c, 1);
    chan_close(c);
    pthread_join(t, NULL);
    cr_assert_eq(call.rc, -EPIPE, "closed, not timed out");
    cr_assert_lt(call.took_ms, FAR_DEADLINE_MS / 2);
    chan_free(c, NULL);
}

Test(chan, close_wakes_a_blocked_send_and_the_sender_keeps_its_item,
     .timeout = 20)
{
    struct chan *c = chan_new(1);
    struct call call = {.c = c, .item = item(2)};
    pthread_t t;
    void *got;

    cr_assert_eq(chan_send(c, item(1)), 0);
    start(&t, do_send, &call);
    assert_blocked(c, &call, "send returned on a full channel");
    chan_close(c);
    pthread_join(t, NULL);
    cr_assert_eq(call.rc, -EPIPE);
    /* Only the item sent before the close is in the channel. */
    cr_assert_eq(chan_recv(c, &got), 0);
    cr_assert_eq(got, item(1));
    cr_assert_eq(chan_recv(c, &got), -EPIPE);
    chan_free(c, NULL);
}

Test(chan, waiters_counts_the_threads_blocked_in_it, .timeout = 20)
{
    struct chan *c = chan_new(1);
    struct call recv_call = {.c = c};
    struct call send_call = {.c = c, .item = item(2)};
    pthread_t r, s;
    void *got;

    cr_assert_eq(chan_waiters(c), 0);
    start(&r, do_recv, &recv_call);
    wait_for_waiters(c, 1);
    cr_assert_eq(chan_send(c, item(1)), 0); /* wakes the receiver */
    pthread_join(r, NULL);
    cr_assert_eq(chan_waiters(c), 0, "a woken receiver still counted");
    cr_assert_eq(chan_send(c, item(1)), 0); /* full now */
    start(&s, do_send, &send_call);
    wait_for_waiters(c, 1);
    cr_assert_eq(chan_recv(c, &got), 0); /* makes room: the sender goes on */
    pthread_join(s, NULL);
    cr_assert_eq(chan_waiters(c), 0, "a woken sender still counted");
    chan_free(c, NULL);
}

Test(chan, send_after_close_fails_with_epipe)
{
    struct chan *c = chan_new(2);

    chan_close(c);
    cr_assert_eq(chan_send(c, item(1)), -EPIPE);
    chan_close(c); /* twice is harmless */
    chan_free(c, NULL);
}

Test(chan, recv_drains_queued_items_before_reporting_close)
{
    struct chan *c = chan_new(3);
    void *got;

    cr_assert_eq(chan_send(c, item(1)), 0);
    cr_assert_eq(chan_send(c, item(2)), 0);
    chan_close(c);
    cr_assert_eq(chan_recv(c, &got), 0);
    cr_assert_eq(got, item(1));
    cr_assert_eq(chan_recv_until(c, &got, clock_now_ms() - 1), 0);
    cr_assert_eq(got, item(2));
    cr_assert_eq(chan_recv(c, &got), -EPIPE);
    cr_assert_eq(chan_recv_until(c, &got, clock_deadline_in(1000)), -EPIPE);
    chan_free(c, NULL);
}

Test(chan, free_drops_every_item_still_queued)
{
    struct chan *c = chan_new(4);
    void *got;

    atomic_store(&dropped, 0);
    for (uintptr_t i = 1; i <= 4; i++)
        cr_assert_eq(chan_send(c, item(i)), 0);
    cr_assert_eq(chan_recv(c, &got), 0);
    chan_free(c, count_drop);
    cr_assert_eq(atomic_load(&dropped), 3);
}

Test(chan, free_accepts_null)
{
    chan_free(NULL, count_drop);
}

Test(chan, carries_heap_items_without_leaking, .timeout = 20)
{
    /* Ownership moves with the item: the receiver frees what it gets,
     * chan_free frees what nobody received (ASan and valgrind check). */
    struct chan *c = chan_new(2);
    void *got;

    cr_assert_eq(chan_send(c, malloc(16)), 0);
    cr_assert_eq(chan_send(c, malloc(16)), 0);
    cr_assert_eq(chan_recv(c, &got), 0);
    free(got);
    chan_free(c, free);
}
