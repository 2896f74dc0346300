/* Unit tests for fut/comb: timeout, select, join. */
#include "fut/chan.h"
#include "fut/comb.h"
#include "fut/timer.h"
#include "futtest.h"

#define LATE_MS 400

/* --- timeout ------------------------------------------------------------- */

Test(timeout, passes_the_inner_result_when_it_is_first)
{
    uv_loop_t loop;

    uv_loop_init(&loop);
    cr_assert_eq(
        ft_run(&loop, fut_timeout(&loop, 5000, countdown(3, 42, NULL, NULL))),
        42);
    ft_close_loop(&loop);
}

Test(timeout, expires_with_etimedout_never_early)
{
    uv_loop_t loop;
    int drops = 0;
    int64_t start;
    struct fut *inner, *f;
    struct probe p = {0};

    uv_loop_init(&loop);
    start = clock_now_ms();
    inner = fut_sleep_until(&loop, start + 60000);
    f = fut_timeout(&loop, 50, inner);
    cr_assert_eq(ft_poll(f, &p), FUT_PENDING);
    ft_drive(&loop, f, NULL, NULL);
    cr_assert_eq(fut_result(f), -ETIMEDOUT);
    cr_assert_geq(clock_now_ms(), start + 50, "timed out early");
    cr_assert_lt(clock_now_ms(), start + 50 + LATE_MS);
    /* The inner sleep was cancelled at the deadline, not at the drop: its
     * timer is closing, so the loop has nothing left to wait for. */
    uv_run(&loop, UV_RUN_NOWAIT);
    cr_assert_eq(uv_loop_alive(&loop), 0);
    fut_drop(f);
    (void)drops;
    ft_close_loop(&loop);
}

Test(timeout, a_ready_result_wins_a_tie_with_the_deadline)
{
    uv_loop_t loop;
    int64_t deadline;
    struct probe p = {0};
    struct fut *f;

    uv_loop_init(&loop);
    /* Both already due when first polled: the inner result wins. */
    f = fut_deadline(&loop, clock_now_ms() - 10, fut_ready(7));
    cr_assert_eq(ft_poll(f, &p), FUT_READY);
    cr_assert_eq(fut_result(f), 7);
    fut_drop(f);
    /* Same deadline for the inner sleep and the timeout. */
    deadline = clock_now_ms() + 30;
    f = fut_deadline(&loop, deadline, fut_sleep_until(&loop, deadline));
    ft_drive(&loop, f, NULL, NULL);
    cr_assert_eq(fut_result(f), 0, "the deadline beat a ready result");
    fut_drop(f);
    ft_close_loop(&loop);
}

/* Three sleeps of 40 ms in a row: a deadline computed once (100 ms) cuts
 * the third; one re-armed per step would let all three finish. */
struct three_sleeps {
    struct fut base;
    uv_loop_t *loop;
    struct fut *op;
    int done;
};

static enum fut_poll three_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct three_sleeps *s = (struct three_sleeps *)f;

    while (s->done < 3) {
        if (s->op == NULL)
            s->op = fut_sleep_until(s->loop, clock_now_ms() + 40);
        if (fut_poll(s->op, ctx) == FUT_PENDING)
            return FUT_PENDING;
        fut_clear(&s->op);
        s->done++;
    }
    f->result = 0;
    return FUT_READY;
}

static void three_drop(struct fut *f)
{
    fut_clear(&((struct three_sleeps *)f)->op);
    fut_mem_free(f);
}

static const struct fut_vtable three_vt = {"three-sleeps", three_poll,
                                           three_drop};

Test(timeout, covers_the_whole_operation_not_each_step)
{
    uv_loop_t loop;
    struct three_sleeps *s;
    int64_t start;

    uv_loop_init(&loop);
    s = (struct three_sleeps *)fut_alloc(&three_vt, sizeof *s);
    s->loop = &loop;
    start = clock_now_ms();
    cr_assert_eq(ft_run(&loop, fut_timeout(&loop, 100, &s->base)), -ETIMEDOUT);
    cr_assert_geq(clock_now_ms(), start + 100);
    cr_assert_lt(clock_now_ms(), start + 100 + LATE_MS);
    ft_close_loop(&loop);
}

static struct fut *make_timeout(uv_loop_t *loop, void *arg)
{
    (void)arg;
    return fut_timeout(loop, 25, fut_sleep_until(loop, clock_now_ms() + 60));
}

Test(timeout, can_be_dropped_at_every_pending_point)
{
    struct ft_cancel_case c = {.make = make_timeout};

    cr_assert_geq(ft_cancel_everywhere(&c, 50), 2);
}

/* --- select -------------------------------------------------------------- */

Test(select, says_which_branch_won)
{
    uv_loop_t loop;
    size_t winner = 99;
    int64_t now;
    struct fut *fs[3];

    uv_loop_init(&loop);
    now = clock_now_ms();
    fs[0] = fut_sleep_until(&loop, now + 5000);
    fs[1] = fut_sleep_until(&loop, now + 20);
    fs[2] = fut_never();
    cr_assert_eq(ft_run(&loop, fut_select(fs, 3, &winner)), 0);
    cr_assert_eq(winner, 1);
    ft_close_loop(&loop);
}

Test(select, lowest_index_wins_when_several_are_ready_at_once)
{
    int polls[3] = {0}, drops[3] = {0};
    size_t winner = 99;
    struct probe p = {0};
    struct fut *fs[3] = {fut_never(), countdown(0, 11, &polls[1], &drops[1]),
                         countdown(0, 12, &polls[2], &drops[2])};
    struct fut *f = fut_select(fs, 3, &winner);

    cr_assert_eq(ft_poll(f, &p), FUT_READY);
    cr_assert_eq(winner, 1, "the header promises the lowest index");
    cr_assert_eq(fut_result(f), 11);
    cr_assert_eq(polls[2], 0, "a branch after the winner was polled");
    cr_assert_eq(drops[1] + drops[2], 2, "losers are dropped at once");
    fut_drop(f);
}

Test(select, a_losing_receive_leaves_its_message_queued)
{
    struct fut_chan *a = fut_chan_new(1), *b = fut_chan_new(1);
    static int m1, m2;
    void *got_a = NULL, *got_b = NULL;
    size_t winner = 99;
    struct probe p = {0};
    struct fut *fs[2];
    struct fut *f;

    fut_chan_try_send(a, &m1);
    fut_chan_try_send(b, &m2);
    fs[0] = fut_chan_recv(a, &got_a);
    fs[1] = fut_chan_recv(b, &got_b);
    f = fut_select(fs, 2, &winner);
    cr_assert_eq(ft_poll(f, &p), FUT_READY);
    cr_assert_eq(winner, 0);
    cr_assert_eq(got_a, &m1);
    cr_assert_null(got_b);
    cr_assert_eq(fut_chan_len(b), 1, "the loser lost a message");
    fut_drop(f);
    fut_chan_try_recv(b, &got_b);
    fut_chan_free(a);
    fut_chan_free(b);
}

static struct fut *make_select(uv_loop_t *loop, void *arg)
{
    struct fut *fs[2];

    (void)arg;
    fs[0] = fut_sleep_until(loop, clock_now_ms() + 60);
    fs[1] = fut_sleep_until(loop, clock_now_ms() + 20);
    return fut_select(fs, 2, NULL);
}

Test(select, can_be_dropped_at_every_pending_point)
{
    struct ft_cancel_case c = {.make = make_select};

    cr_assert_geq(ft_cancel_everywhere(&c, 50), 2);
}

Test(select, refuses_zero_branches)
{
    struct probe p = {0};
    struct fut *f = fut_select(NULL, 0, NULL);

    cr_assert_eq(ft_poll(f, &p), FUT_READY);
    cr_assert_eq(fut_result(f), -EINVAL);
    fut_drop(f);
}

/* --- join ---------------------------------------------------------------- */

Test(join, waits_for_every_branch_and_keeps_each_result)
{
    uv_loop_t loop;
    int results[3] = {0};
    int64_t start;
    struct fut *fs[3];

    uv_loop_init(&loop);
    start = clock_now_ms();
    fs[0] = fut_sleep_until(&loop, start + 40);
    fs[1] = countdown(2, 5, NULL, NULL);
    fs[2] = fut_sleep_until(&loop, start + 20);
    cr_assert_eq(ft_run(&loop, fut_join(fs, 3, results)), 0);
    cr_assert_geq(clock_now_ms(), start + 40);
    cr_assert_eq(results[0], 0);
    cr_assert_eq(results[1], 5);
    cr_assert_eq(results[2], 0);
    ft_close_loop(&loop);
}

Test(join, reports_the_first_error_in_index_order)
{
    uv_loop_t loop;
    struct fut *fs[3];

    uv_loop_init(&loop);
    fs[0] = countdown(3, 1, NULL, NULL);
    fs[1] = countdown(2, -EPIPE, NULL, NULL);
    fs[2] = countdown(0, -ECONNRESET, NULL, NULL);
    cr_assert_eq(ft_run(&loop, fut_join(fs, 3, NULL)), -EPIPE);
    ft_close_loop(&loop);
}

Test(join, drops_each_branch_as_soon_as_it_is_ready)
{
    int drops[2] = {0};
    struct probe p = {0};
    struct fut *fs[2] = {countdown(0, 0, NULL, &drops[0]),
                         countdown(5, 0, NULL, &drops[1])};
    struct fut *f = fut_join(fs, 2, NULL);

    cr_assert_eq(ft_poll(f, &p), FUT_PENDING);
    cr_assert_eq(drops[0], 1);
    cr_assert_eq(drops[1], 0);
    fut_drop(f);
    cr_assert_eq(drops[1], 1);
}

static struct fut *make_join(uv_loop_t *loop, void *arg)
{
    struct fut *fs[2];

    (void)arg;
    fs[0] = fut_sleep_until(loop, clock_now_ms() + 30);
    fs[1] = fut_sleep_until(loop, clock_now_ms() + 15);
    return fut_join(fs, 2, NULL);
}

Test(join, can_be_dropped_at_every_pending_point)
{
    struct ft_cancel_case c = {.make = make_join};

    cr_assert_geq(ft_cancel_everywhere(&c, 50), 3);
}

/* --- borrow -------------------------------------------------------------- */

Test(borrow, keeps_the_future_across_selects_until_it_is_ready)
{
    int polls = 0, drops = 0;
    struct fut *kept = countdown(2, 7, &polls, &drops);
    struct probe p = {0};
    size_t winner = 99;
    struct fut *fs[2];
    struct fut *f;
    int turns = 0;

    /* Each turn, a select of the borrow and a branch ready at once: the
     * other branch wins, and only the borrow is dropped. */
    do {
        fs[0] = fut_borrow(kept);
        fs[1] = turns < 2 ? fut_ready(1) : fut_never();
        f = fut_select(fs, 2, &winner);
        while (ft_poll(f, &p) == FUT_PENDING)
            ;
        cr_assert_eq(drops, 0, "the borrow dropped what it borrowed");
        fut_drop(f);
        turns++;
    } while (winner == 1);
    cr_assert_eq(turns, 3);
    cr_assert_eq(fut_result(kept), 7);
    cr_assert_eq(polls, 3, "polled once by each turn that reached it");
    fut_drop(kept);
    cr_assert_eq(drops, 1);
}

static struct fut *borrowed_sleep;

static void borrow_case_setup(uv_loop_t *loop, void *arg)
{
    (void)arg;
    borrowed_sleep = fut_sleep_until(loop, clock_now_ms() + 30);
}

static struct fut *make_borrow(uv_loop_t *loop, void *arg)
{
    (void)loop;
    (void)arg;
    return fut_borrow(borrowed_sleep);
}

static void borrow_case_teardown(uv_loop_t *loop, void *arg)
{
    (void)loop;
    (void)arg;
    fut_drop(borrowed_sleep); /* still ours: the borrow left it alone */
}

Test(borrow, can_be_dropped_at_every_pending_point)
{
    struct ft_cancel_case c = {NULL, borrow_case_setup, make_borrow, NULL,
                               borrow_case_teardown};

    cr_assert_geq(ft_cancel_everywhere(&c, 50), 2);
}

/* --- select over borrowed branches ---------------------------------------- */

/* The loop the header describes: a channel receive reused for message
 * after message, and a branch that never wins, through one select reused
 * every turn. Nothing is dropped, and the losers are the same futures
 * turn after turn. */
Test(select_borrowed, a_loop_keeps_every_branch_and_reuses_the_winner)
{
    struct fut_chan *ch = fut_chan_new(4);
    static int msgs[3];
    int drops = 0;
    void *got = NULL;
    size_t winner = 99;
    struct probe p = {0};
    struct fut *slots[2] = {countdown(1000, 0, NULL, &drops), NULL};
    struct fut *sel = fut_select_borrowed(slots, 2, &winner);

    slots[1] = fut_chan_recv(ch, &got);
    for (int i = 0; i < 3; i++)
        fut_chan_try_send(ch, &msgs[i]);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(ft_poll(sel, &p), FUT_READY);
        cr_assert_eq(winner, 1);
        cr_assert_eq(fut_result(sel), 1);
        cr_assert_eq(got, &msgs[i], "message %d out of order", i);
        fut_reuse(slots[1]);
        fut_reuse(sel);
    }
    cr_assert_eq(ft_poll(sel, &p), FUT_PENDING, "the channel is empty");
    cr_assert_eq(drops, 0, "a borrowed branch was dropped");
    fut_drop(sel);
    cr_assert_eq(drops, 0, "dropping the select dropped a branch");
    fut_drop(slots[0]);
    fut_drop(slots[1]);
    fut_chan_free(ch);
}

Test(select_borrowed, lowest_index_wins_and_a_null_slot_is_paused)
{
    int polls[2] = {0}, drops[2] = {0};
    size_t winner = 99;
    struct probe p = {0};
    struct fut *slots[2] = {countdown(0, 11, &polls[0], &drops[0]),
                            countdown(0, 12, &polls[1], &drops[1])};
    struct fut *held = slots[0];
    struct fut *held2 = slots[1];
    struct fut *sel = fut_select_borrowed(slots, 2, &winner);

    cr_assert_eq(ft_poll(sel, &p), FUT_READY);
    cr_assert_eq(winner, 0, "the header promises the lowest index");
    cr_assert_eq(polls[1], 0, "a branch after the winner was polled");
    fut_reuse(sel);
    slots[0] = NULL; /* paused: its owner keeps it */
    cr_assert_eq(ft_poll(sel, &p), FUT_READY);
    cr_assert_eq(winner, 1);
    cr_assert_eq(fut_result(sel), 12);
    cr_assert_eq(polls[0], 1, "a paused branch was polled");
    fut_reuse(sel);
    slots[1] = NULL;
    cr_assert_eq(ft_poll(sel, &p), FUT_READY);
    cr_assert_eq(fut_result(sel), -EINVAL, "no branch at all");
    fut_drop(sel);
    cr_assert_eq(drops[0] + drops[1], 0);
    fut_drop(held);
    fut_drop(held2);
}

static struct fut *lent[2];
static void *lent_msg;
static struct fut_chan *lent_chan;

static void select_borrowed_setup(uv_loop_t *loop, void *arg)
{
    (void)arg;
    lent_chan = fut_chan_new(1);
    lent[0] = fut_sleep_until(loop, clock_now_ms() + 30);
    lent[1] = fut_chan_recv(lent_chan, &lent_msg);
}

static struct fut *make_select_borrowed(uv_loop_t *loop, void *arg)
{
    (void)loop;
    (void)arg;
    return fut_select_borrowed(lent, 2, NULL);
}

static void select_borrowed_teardown(uv_loop_t *loop, void *arg)
{
    (void)loop;
    (void)arg;
    fut_drop(lent[0]); /* still ours: the select only borrowed them */
    fut_drop(lent[1]);
    fut_chan_free(lent_chan);
}

Test(select_borrowed, can_be_dropped_at_every_pending_point)
{
    struct ft_cancel_case c = {NULL, select_borrowed_setup,
                               make_select_borrowed, NULL,
                               select_borrowed_teardown};

    cr_assert_geq(ft_cancel_everywhere(&c, 50), 2);
}

Test(select_borrowed, refuses_a_bad_count)
{
    struct probe p = {0};
    struct fut *f = fut_select_borrowed(NULL, 0, NULL);

    cr_assert_eq(ft_poll(f, &p), FUT_READY);
    cr_assert_eq(fut_result(f), -EINVAL);
    fut_drop(f);
}
