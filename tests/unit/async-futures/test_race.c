/* Unit tests for fut/race: the staggered race (race.h, R1-R6). */
#include "fut/race.h"
#include "fut/timer.h"
#include "futtest.h"

/* How late a start or an end may be on a loaded machine. Never early: the
 * lower bounds below are exact. */
#define LATE_MS 400

/* --- children whose life is planned ------------------------------------- */

/* A child that is ready with `value` after_ms ms after it was made, or
 * never (after_ms < 0). It counts its drops. */
struct later {
    struct fut base;
    struct fut *sleep; /* owned */
    int value;
    int *drops;
};

static enum fut_poll later_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct later *l = (struct later *)f;

    if (fut_poll(l->sleep, ctx) == FUT_PENDING)
        return FUT_PENDING;
    f->result = l->value;
    return FUT_READY;
}

static void later_drop(struct fut *f)
{
    struct later *l = (struct later *)f;

    (*l->drops)++;
    fut_clear(&l->sleep);
    fut_mem_free(f);
}

static const struct fut_vtable later_vt = {"later", later_poll, later_drop};

struct plan {
    int64_t after_ms; /* < 0: never ready */
    int value;
};

/* What a test's factory knows and records. */
struct kids {
    uv_loop_t *loop;
    struct plan plan[FUT_RACE_MAX];
    int64_t t0;
    int64_t made_at[FUT_RACE_MAX]; /* ms after t0 */
    int made;
    int drops[FUT_RACE_MAX];
};

static struct fut *make_kid(void *arg, size_t k)
{
    struct kids *s = arg;
    struct later *l = (struct later *)fut_alloc(&later_vt, sizeof *l);
    const struct plan *p = &s->plan[k];

    cr_assert_not_null(l);
    cr_assert_eq((size_t)s->made, k, "child %zu made out of order", k);
    s->made_at[k] = clock_now_ms() - s->t0;
    s->made++;
    l->value = p->value;
    l->drops = &s->drops[k];
    l->sleep = p->after_ms < 0
                   ? fut_never()
                   : fut_sleep_until(s->loop, clock_now_ms() + p->after_ms);
    return &l->base;
}

static void kids_init(struct kids *s, uv_loop_t *loop)
{
    *s = (struct kids){.loop = loop, .t0 = clock_now_ms()};
}

/* --- R1, R2: the schedule ----------------------------------------------- */

Test(race, makes_no_child_before_its_first_poll)
{
    uv_loop_t loop;
    struct kids s;
    struct probe p = {0};
    struct fut *f;

    uv_loop_init(&loop);
    kids_init(&s, &loop);
    s.plan[0] = (struct plan){-1, 0};
    s.plan[1] = (struct plan){-1, 0};
    f = fut_race_staggered(&loop, 2, 5000, make_kid, &s, NULL);
    cr_assert_eq(s.made, 0, "a child was made before the first poll (P4)");
    cr_assert_eq(ft_poll(f, &p), FUT_PENDING);
    cr_assert_eq(s.made, 1, "R1: child 0, and only it, at the first poll");
    fut_drop(f);
    cr_assert_eq(s.drops[0], 1);
    ft_close_loop(&loop);
}

Test(race, starts_the_next_child_one_stagger_after_the_last)
{
    uv_loop_t loop;
    struct kids s;
    struct probe p = {0};
    struct fut *f;
    const int64_t stagger = 60;

    uv_loop_init(&loop);
    kids_init(&s, &loop);
    for (int k = 0; k < 3; k++)
        s.plan[k] = (struct plan){-1, 0};
    f = fut_race_staggered(&loop, 3, stagger, make_kid, &s, NULL);
    while (s.made < 3) {
        int before = p.wakes;

        cr_assert_eq(ft_poll(f, &p), FUT_PENDING);
        if (s.made < 3)
            ft_wait_wake(&loop, &p, before, NULL, NULL);
    }
    for (int k = 1; k < 3; k++) {
        int64_t gap = s.made_at[k] - s.made_at[k - 1];

        cr_assert_geq(gap, stagger,
                      "child %d started %lld ms after the "
                      "one before: earlier than the stagger",
                      k, (long long)gap);
        cr_assert_lt(gap, stagger + LATE_MS, "child %d started late", k);
    }
    fut_drop(f);
    for (int k = 0; k < 3; k++)
        cr_assert_eq(s.drops[k], 1, "R6: child %d not dropped", k);
    ft_close_loop(&loop);
}

Test(race, a_failure_starts_the_next_child_at_once)
{
    uv_loop_t loop;
    struct kids s;
    size_t winner = 99;

    uv_loop_init(&loop);
    kids_init(&s, &loop);
    /* A stagger of 5 s: only the failures can start children 1 and 2. */
    s.plan[0] = (struct plan){30, -ECONNREFUSED};
    s.plan[1] = (struct plan){30, -ECONNRESET};
    s.plan[2] = (struct plan){30, 5};
    cr_assert_eq(ft_run(&loop, fut_race_staggered(&loop, 3, 5000, make_kid, &s,
                                                  &winner)),
                 5);
    cr_assert_eq(winner, 2);
    cr_assert_geq(s.made_at[1], 30);
    cr_assert_lt(s.made_at[1], 30 + LATE_MS,
                 "child 1 waited for the stagger after child 0 failed");
    cr_assert_geq(s.made_at[2] - s.made_at[1], 30);
    cr_assert_lt(s.made_at[2], 60 + LATE_MS);
    ft_close_loop(&loop);
}

Test(race, an_older_failure_does_not_hurry_the_schedule)
{
    uv_loop_t loop;
    struct kids s;
    struct probe p = {0};
    struct fut *f;

    uv_loop_init(&loop);
    kids_init(&s, &loop);
    /* Child 0 fails at 150 ms, while child 1 (made at 100 ms) still runs:
     * child 2 is due at 200 ms, one stagger after child 1, not at 150. */
    s.plan[0] = (struct plan){150, -ECONNREFUSED};
    s.plan[1] = (struct plan){-1, 0};
    s.plan[2] = (struct plan){-1, 0};
    f = fut_race_staggered(&loop, 3, 100, make_kid, &s, NULL);
    while (s.made < 3) {
        int before = p.wakes;

        cr_assert_eq(ft_poll(f, &p), FUT_PENDING);
        if (s.made < 3)
            ft_wait_wake(&loop, &p, before, NULL, NULL);
    }
    cr_assert_eq(s.drops[0], 1, "the failed child was not dropped at once");
    cr_assert_geq(s.made_at[2] - s.made_at[1], 100,
                  "child 2 started when child 0 failed, not child 1");
    fut_drop(f);
    ft_close_loop(&loop);
}

/* --- R3: the two limits of the stagger ---------------------------------- */

Test(race, a_stagger_of_zero_starts_every_child_at_once)
{
    uv_loop_t loop;
    struct kids s;
    struct probe p = {0};
    struct fut *f;

    uv_loop_init(&loop);
    kids_init(&s, &loop);
    for (int k = 0; k < 4; k++)
        s.plan[k] = (struct plan){-1, 0};
    f = fut_race_staggered(&loop, 4, 0, make_kid, &s, NULL);
    cr_assert_eq(ft_poll(f, &p), FUT_PENDING);
    cr_assert_eq(s.made, 4);
    fut_drop(f);
    ft_close_loop(&loop);
}

Test(race, a_negative_stagger_starts_the_next_only_after_a_failure)
{
    uv_loop_t loop;
    struct kids s;
    struct probe p = {0};
    struct fut *f;
    int before;

    uv_loop_init(&loop);
    kids_init(&s, &loop);
    s.plan[0] = (struct plan){40, -ECONNREFUSED};
    s.plan[1] = (struct plan){-1, 0};
    s.plan[2] = (struct plan){-1, 0};
    f = fut_race_staggered(&loop, 3, -1, make_kid, &s, NULL);
    for (int polls = 0; s.made < 2; polls++) {
        cr_assert_lt(polls, 100);
        before = p.wakes;
        cr_assert_eq(ft_poll(f, &p), FUT_PENDING);
        if (s.made < 2)
            ft_wait_wake(&loop, &p, before, NULL, NULL);
    }
    cr_assert_geq(s.made_at[1], 40);
    /* Child 1 never ends, so child 2 never starts, however long we wait:
     * nothing at all is left to wake the race. */
    uv_run(&loop, UV_RUN_NOWAIT);
    cr_assert_eq(uv_loop_alive(&loop), 0, "a timer is armed for nothing");
    cr_assert_eq(s.made, 2);
    fut_drop(f);
    ft_close_loop(&loop);
}

/* --- R4: the first success wins, the others are dropped at once ---------- */

Test(race, the_first_success_wins_and_the_losers_are_dropped_in_that_poll)
{
    uv_loop_t loop;
    struct kids s;
    size_t winner = 99;
    struct fut *f;

    uv_loop_init(&loop);
    kids_init(&s, &loop);
    /* Child 0 never ends; child 1 (made at 30 ms) succeeds 20 ms later;
     * child 2 would be made at 60 ms. */
    s.plan[0] = (struct plan){-1, 0};
    s.plan[1] = (struct plan){20, 42};
    s.plan[2] = (struct plan){-1, 0};
    f = fut_race_staggered(&loop, 3, 30, make_kid, &s, &winner);
    ft_drive(&loop, f, NULL, NULL);
    cr_assert_eq(fut_result(f), 42);
    cr_assert_eq(winner, 1);
    cr_assert_eq(s.drops[0], 1, "the loser still runs after the win");
    cr_assert_eq(s.drops[1], 1, "the finished winner is kept");
    cr_assert_eq(s.made, 2, "a child was started after the win");
    /* Nothing is left running: the stagger timer was dropped too. */
    uv_run(&loop, UV_RUN_NOWAIT);
    cr_assert_eq(uv_loop_alive(&loop), 0, "something still runs");
    fut_drop(f);
    cr_assert_eq(s.drops[0] + s.drops[1], 2, "a child was dropped twice");
    ft_close_loop(&loop);
}

Test(race, the_lowest_index_wins_when_two_succeed_in_one_poll)
{
    uv_loop_t loop;
    struct kids s;
    size_t winner = 99;

    uv_loop_init(&loop);
    kids_init(&s, &loop);
    s.plan[0] = (struct plan){0, 10};
    s.plan[1] = (struct plan){0, 11};
    cr_assert_eq(
        ft_run(&loop, fut_race_staggered(&loop, 2, 0, make_kid, &s, &winner)),
        10);
    cr_assert_eq(winner, 0);
    ft_close_loop(&loop);
}

/* --- R5: all fail -------------------------------------------------------- */

Test(race, all_failing_gives_the_error_of_the_last_to_fail)
{
    uv_loop_t loop;
    struct kids s;
    size_t winner = 99;

    uv_loop_init(&loop);
    kids_init(&s, &loop);
    /* Child 0 fails LAST in time, though it was made first: at 400 ms,
     * long after child 1 (made at 20 ms, failing at once) and child 2
     * (made at once after it, failing 10 ms later). The wide gap keeps the
     * order of the failures whatever the machine's load. */
    s.plan[0] = (struct plan){400, -ECONNREFUSED};
    s.plan[1] = (struct plan){0, -ENETUNREACH};
    s.plan[2] = (struct plan){10, -EHOSTUNREACH};
    cr_assert_eq(
        ft_run(&loop, fut_race_staggered(&loop, 3, 20, make_kid, &s, &winner)),
        -ECONNREFUSED);
    cr_assert_eq(winner, 99, "a winner was named though all failed");
    cr_assert_eq(s.made, 3);
    ft_close_loop(&loop);
}

Test(race, all_failing_ends_at_once_without_waiting_for_the_stagger)
{
    uv_loop_t loop;
    struct kids s;
    int64_t start;

    uv_loop_init(&loop);
    kids_init(&s, &loop);
    for (int k = 0; k < 3; k++)
        s.plan[k] = (struct plan){20, -ECONNREFUSED - k};
    start = clock_now_ms();
    cr_assert_eq(
        ft_run(&loop, fut_race_staggered(&loop, 3, 5000, make_kid, &s, NULL)),
        -ECONNREFUSED - 2);
    cr_assert_geq(clock_now_ms() - start, 60);
    cr_assert_lt(clock_now_ms() - start, 60 + LATE_MS,
                 "the race waited for a stagger timer after the last failure");
    ft_close_loop(&loop);
}

Test(race, children_failing_in_their_first_poll_all_run_in_one_poll)
{
    struct kids s;
    struct probe p = {0};
    struct fut *f;
    uv_loop_t loop;

    uv_loop_init(&loop);
    kids_init(&s, &loop);
    for (int k = 0; k < 5; k++)
        s.plan[k] = (struct plan){0, -ECONNREFUSED};
    f = fut_race_staggered(&loop, 5, 5000, make_kid, &s, NULL);
    cr_assert_eq(ft_poll(f, &p), FUT_READY);
    cr_assert_eq(fut_result(f), -ECONNREFUSED);
    cr_assert_eq(s.made, 5);
    fut_drop(f);
    ft_close_loop(&loop);
}

/* A factory out of memory returns fut_ready(-ENOMEM) (fut.h): the race
 * takes it as a child that failed at once, and goes on to the next. */
static struct fut *make_nomem_then_kid(void *arg, size_t k)
{
    struct kids *s = arg;

    if (k == 0) {
        s->made++;
        return fut_ready(-ENOMEM);
    }
    return make_kid(arg, k);
}

Test(race, a_child_that_could_not_be_made_counts_as_failed)
{
    uv_loop_t loop;
    struct kids s;
    size_t winner = 99;

    uv_loop_init(&loop);
    kids_init(&s, &loop);
    s.plan[1] = (struct plan){10, 8};
    cr_assert_eq(
        ft_run(&loop, fut_race_staggered(&loop, 2, 5000, make_nomem_then_kid,
                                         &s, &winner)),
        8);
    cr_assert_eq(winner, 1);
    cr_assert_lt(s.made_at[1], LATE_MS, "child 1 waited for the stagger");
    ft_close_loop(&loop);
}

/* --- limits -------------------------------------------------------------- */

Test(race, refuses_zero_or_too_many_children)
{
    struct kids s = {0};
    struct probe p = {0};
    size_t bad[] = {0, FUT_RACE_MAX + 1};

    for (size_t i = 0; i < 2; i++) {
        struct fut *f =
            fut_race_staggered(NULL, bad[i], 10, make_kid, &s, NULL);

        cr_assert_eq(ft_poll(f, &p), FUT_READY);
        cr_assert_eq(fut_result(f), -EINVAL);
        fut_drop(f);
    }
    cr_assert_eq(s.made, 0);
}

/* --- R6: cancellation at every pending point ----------------------------- */

static struct kids cancel_kids;

static struct fut *make_cancel_race(uv_loop_t *loop, void *arg)
{
    (void)arg;
    kids_init(&cancel_kids, loop);
    /* 0 fails at 40 ms; 1 (made at 15) never ends; 2 (made at 30) wins at
     * 55: pending points with 1, 2 and 3 children and a timer running. */
    cancel_kids.plan[0] = (struct plan){40, -ECONNREFUSED};
    cancel_kids.plan[1] = (struct plan){-1, 0};
    cancel_kids.plan[2] = (struct plan){25, 3};
    return fut_race_staggered(loop, 4, 15, make_kid, &cancel_kids, NULL);
}

Test(race, can_be_dropped_at_every_pending_point)
{
    struct ft_cancel_case c = {.make = make_cancel_race};

    /* At least: first poll, timer at 15, timer at 30, win at 55. */
    cr_assert_geq(ft_cancel_everywhere(&c, 50), 4);
    for (int k = 0; k < cancel_kids.made; k++)
        cr_assert_eq(cancel_kids.drops[k], 1, "child %d dropped %d times", k,
                     cancel_kids.drops[k]);
}
