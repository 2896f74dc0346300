/* clock: the monotonic clock in milliseconds, and absolute deadlines. */
#include "clock.h"

#include <time.h>

/* Written once by clock_mark_start(), before any thread exists, and only
 * read afterwards, so it needs no lock. */
static int64_t start_us;

int64_t clock_now_us(void)
{
    struct timespec ts;

    /* CLOCK_MONOTONIC cannot jump when someone sets the wall clock, so a
     * deadline computed from it means what it says. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t clock_now_ms(void)
{
    return clock_now_us() / 1000;
}

void clock_mark_start(void)
{
    start_us = clock_now_us();
}

int64_t clock_start_ms(void)
{
    return start_us / 1000;
}

int64_t clock_start_us(void)
{
    return start_us;
}

int64_t clock_since_start_ms(void)
{
    return (clock_now_us() - start_us) / 1000;
}

int64_t clock_deadline_in(int64_t timeout_ms)
{
    return clock_now_ms() + timeout_ms;
}

int64_t clock_ms_left(int64_t deadline_ms)
{
    int64_t left = deadline_ms - clock_now_ms();

    return left > 0 ? left : 0;
}

int clock_passed(int64_t deadline_ms)
{
    return clock_now_ms() >= deadline_ms;
}
