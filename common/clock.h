/* clock: the monotonic clock in milliseconds, and absolute deadlines.
 *
 * Every deadline in the kit is absolute: computed once from the monotonic
 * clock ("now + timeout"), then compared against the clock again. Nothing
 * re-arms a timeout per read. A student should notice that "time left" is
 * always derived from a deadline, never stored.
 *
 * All functions are thread-safe (they only read the clock).
 */
#ifndef KIT_CLOCK_H
#define KIT_CLOCK_H

#include <stdint.h>

/* Milliseconds on the monotonic clock (CLOCK_MONOTONIC), with an arbitrary
 * origin. Never goes backwards. */
int64_t clock_now_ms(void);

/* Same clock in microseconds, for sub-millisecond trace stamps. */
int64_t clock_now_us(void);

/* Records "now" as the program's start. Call once, first thing in main();
 * clock_since_start_* and trace stamps count from here. */
void clock_mark_start(void);

/* The start recorded by clock_mark_start(), in ms and us. */
int64_t clock_start_ms(void);
int64_t clock_start_us(void);

/* Milliseconds since clock_mark_start(), as a whole number (rounded down). */
int64_t clock_since_start_ms(void);

/* Absolute deadline timeout_ms from now. */
int64_t clock_deadline_in(int64_t timeout_ms);

/* Milliseconds left until deadline: 0 when it has passed, never negative. */
int64_t clock_ms_left(int64_t deadline_ms);

/* Whether the deadline has passed (now >= deadline). */
int clock_passed(int64_t deadline_ms);

#endif
