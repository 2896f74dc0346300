/* Unit tests for fut/timer: sleep_until and interval. */
#include "fut/timer.h"
#include "futtest.h"

/* Deadlines may be late by this much on a busy machine, never early. */
#define LATE_MS 400

Test(sleep, is_ready_at_once_when_the_deadline_has_passed)
{
    uv_loop_t loop;
    struct probe p = {0};
    struct fut *f;

    uv_loop_init(&loop);
    f = fut_sleep_until(&loop, clock_now_ms() - 1);
    cr_assert_eq(ft_poll(f, &p), FUT_READY);
    cr_assert_eq(fut_result(f), 0);
    fut_drop(f);
    ft_close_loop(&loop);
}

Test(sleep, is_never_early_and_not_much_late)
{
    uv_loop_t loop;
    int64_t deadline;

    uv_loop_init(&loop);
    for (int i = 0; i < 5; i++) {
        deadline = clock_now_ms() + 30 + 7 * i;
        cr_assert_eq(ft_run(&loop, fut_sleep_until(&loop, deadline)), 0);
        cr_assert_geq(clock_now_ms(), deadline, "woke early");
        cr_assert_lt(clock_now_ms(), deadline + LATE_MS);
    }
    ft_close_loop(&loop);
}

Test(sleep, does_nothing_until_polled)
{
    uv_loop_t loop;
    struct fut *f;

    uv_loop_init(&loop);
    f = fut_sleep_until(&loop, clock_now_ms() + 10000);
    /* No timer exists before the first poll: the loop has nothing to do. */
    cr_assert_eq(uv_loop_alive(&loop), 0);
    fut_drop(f);
    ft_close_loop(&loop);
}

static struct fut *make_sleep(uv_loop_t *loop, void *arg)
{
    (void)arg;
    return fut_sleep_until(loop, clock_now_ms() + 20);
}

Test(sleep, can_be_dropped_at_every_pending_point)
{
    struct ft_cancel_case c = {.make = make_sleep};

    cr_assert_geq(ft_cancel_everywhere(&c, 50), 2);
}

/* --- interval ------------------------------------------------------------ */

Test(interval, ticks_on_an_absolute_schedule_never_early)
{
    uv_loop_t loop;
    int64_t start, tick = 0;
    struct fut_interval *iv;

    uv_loop_init(&loop);
    start = clock_now_ms();
    iv = fut_interval_new(&loop, start, 40);
    for (int64_t k = 1; k <= 4; k++) {
        cr_assert_eq(ft_run(&loop, fut_interval_tick(iv, &tick)), 0);
        cr_assert_eq(tick, k);
        cr_assert_geq(clock_now_ms(), start + 40 * k, "tick %ld early",
                      (long)k);
        cr_assert_lt(clock_now_ms(), start + 40 * k + LATE_MS);
    }
    fut_interval_close(iv);
    ft_close_loop(&loop);
}

Test(interval, skips_missed_ticks_instead_of_bursting)
{
    uv_loop_t loop;
    int64_t start, tick = 0;
    struct fut_interval *iv;
    struct probe p = {0};
    struct fut *f;

    uv_loop_init(&loop);
    /* Started 3.5 periods ago: ticks 1, 2, 3 are all due. */
    start = clock_now_ms() - 350;
    iv = fut_interval_new(&loop, start, 100);
    f = fut_interval_tick(iv, &tick);
    cr_assert_eq(ft_poll(f, &p), FUT_READY);
    cr_assert_eq(tick, 3, "got tick %ld, not the latest due", (long)tick);
    fut_drop(f);
    /* The next one waits for its own due time: no burst of 1 and 2. */
    f = fut_interval_tick(iv, &tick);
    cr_assert_eq(ft_poll(f, &p), FUT_PENDING);
    ft_drive(&loop, f, NULL, NULL);
    cr_assert_eq(tick, 4);
    cr_assert_geq(clock_now_ms(), fut_interval_due(iv, 4));
    fut_drop(f);
    fut_interval_close(iv);
    ft_close_loop(&loop);
}

Test(interval, a_dropped_tick_is_not_consumed)
{
    uv_loop_t loop;
    int64_t tick = 0;
    struct fut_interval *iv;
    struct probe p = {0};
    struct fut *f;

    uv_loop_init(&loop);
    iv = fut_interval_new(&loop, clock_now_ms(), 30);
    f = fut_interval_tick(iv, &tick);
    cr_assert_eq(ft_poll(f, &p), FUT_PENDING);
    fut_drop(f);
    cr_assert_eq(ft_run(&loop, fut_interval_tick(iv, &tick)), 0);
    cr_assert_eq(tick, 1);
    fut_interval_close(iv);
    ft_close_loop(&loop);
}

static struct fut_interval *case_iv;
static int64_t case_tick;

static void iv_setup(uv_loop_t *loop, void *arg)
{
    (void)arg;
    case_iv = fut_interval_new(loop, clock_now_ms(), 15);
}

static struct fut *iv_make(uv_loop_t *loop, void *arg)
{
    (void)loop;
    (void)arg;
    return fut_interval_tick(case_iv, &case_tick);
}

static void iv_teardown(uv_loop_t *loop, void *arg)
{
    (void)loop;
    (void)arg;
    fut_interval_close(case_iv);
}

Test(interval, tick_can_be_dropped_at_every_pending_point)
{
    struct ft_cancel_case c = {
        .setup = iv_setup, .make = iv_make, .teardown = iv_teardown};

    cr_assert_geq(ft_cancel_everywhere(&c, 50), 2);
}
