/* Unit tests for common/clock: the monotonic clock and deadlines (COM-7).
 * Timing checks only ever compare against a sleep the test itself made,
 * with a wide tolerance: the machine may be busy. */
#include <criterion/criterion.h>
#include <time.h>

#include "clock.h"

/* How late a sleep may wake on a loaded machine. */
#define SLACK_MS 2000

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0)
        ;
}

Test(clock, ms_and_us_read_the_same_clock)
{
    int64_t us = clock_now_us();
    int64_t ms = clock_now_ms();

    cr_assert_geq(ms, us / 1000);
    cr_assert_leq(ms, us / 1000 + SLACK_MS);
}

Test(clock, never_goes_backwards)
{
    int64_t last = clock_now_us();

    for (int i = 0; i < 100000; i++) {
        int64_t now = clock_now_us();

        cr_assert_geq(now, last);
        last = now;
    }
}

Test(clock, counts_from_mark_start)
{
    clock_mark_start();
    int64_t start_us = clock_start_us();

    cr_assert_eq(clock_start_ms(), start_us / 1000);
    cr_assert_leq(clock_since_start_ms(), SLACK_MS);
    sleep_ms(30);
    cr_assert_geq(clock_since_start_ms(), 30);
    cr_assert_leq(clock_since_start_ms(), 30 + SLACK_MS);
    cr_assert_eq(clock_start_us(), start_us); /* reading changes nothing */
}

Test(clock, deadline_is_now_plus_timeout)
{
    int64_t before = clock_now_ms();
    int64_t deadline = clock_deadline_in(500);
    int64_t after = clock_now_ms();

    cr_assert_geq(deadline, before + 500);
    cr_assert_leq(deadline, after + 500);
}

Test(clock, ms_left_shrinks_and_passed_turns_true)
{
    int64_t deadline = clock_deadline_in(50);

    cr_assert_not(clock_passed(deadline));
    cr_assert_leq(clock_ms_left(deadline), 50);
    sleep_ms(60);
    cr_assert(clock_passed(deadline));
    cr_assert_eq(clock_ms_left(deadline), 0);
}

Test(clock, ms_left_is_never_negative)
{
    int64_t long_ago = clock_now_ms() - 100000;

    cr_assert_eq(clock_ms_left(long_ago), 0);
    cr_assert(clock_passed(long_ago));
}

Test(clock, deadline_now_has_passed_already)
{
    /* now >= deadline: a zero timeout means "do not wait at all". */
    cr_assert(clock_passed(clock_deadline_in(0)));
    cr_assert_eq(clock_ms_left(clock_deadline_in(0)), 0);
}
