/* timer: futures that wait for a moment on the monotonic clock: a sleep
 * until an absolute deadline, and an interval that ticks on an absolute
 * schedule.
 *
 * Times are absolute milliseconds of clock_now_ms() (common/clock.h). A
 * deadline is computed once by the caller and never re-armed per wait, so
 * "time left" is always derived from it.
 *
 * Never early: libuv's timers count from the loop's cached "now", which
 * may be a few ms stale, so a libuv timer can fire before the deadline.
 * These futures check clock_now_ms() when polled and, if it is not time
 * yet, arm the timer again for what is left.
 *
 * Cost: each sleep owns one uv_timer_t (in its own struct, no second
 * allocation). libuv keeps timers in a heap, so starting or stopping one
 * is O(log n) and needs no system call. An interval owns one timer for its
 * whole life and reuses it for every tick.
 */
#ifndef KIT_TIMER_H
#define KIT_TIMER_H

#include <stdint.h>
#include <uv.h>

#include "fut/fut.h"

/* Returns a new future that is ready with 0 once clock_now_ms() >=
 * deadline_ms (at once if it has passed). Dropped while pending: its timer
 * is closed; nobody is woken. loop is borrowed and must outlive the
 * future's memory (freed in the timer's close callback). */
struct fut *fut_sleep_until(uv_loop_t *loop, int64_t deadline_ms);

/* An absolute schedule: tick K is due at start_ms + K * period_ms, for
 * K = 1, 2, 3 ...
 *
 * Skipping policy: a tick future is ready with the LATEST tick that is
 * due, and the ticks between the last one delivered and that one are
 * skipped, never delivered in a burst. If the program falls 3.5 periods
 * behind, the next tick it gets is the one due most recently, and the one
 * after it is due on the original schedule: there is no drift, and
 * missing ticks is visible in their numbers. */
struct fut_interval;

/* Returns a new interval, or NULL on -ENOMEM. Close with
 * fut_interval_close(). period_ms >= 1. */
struct fut_interval *fut_interval_new(uv_loop_t *loop, int64_t start_ms,
                                      int64_t period_ms);

/* Returns a new future that waits for the next tick of iv (borrowed: iv
 * must outlive the future) and is ready with 0, *tick set to the tick's
 * number K. Only one tick future of an interval may exist at a time.
 * Dropped while pending: the tick is not consumed; the next tick future
 * gets it. Reusable (fut.h, P6): after a tick, fut_reuse() it and poll it
 * again for the next one, so a loop keeps one tick future for its life. */
struct fut *fut_interval_tick(struct fut_interval *iv, int64_t *tick);

/* The time tick K is due: start + K * period. */
int64_t fut_interval_due(const struct fut_interval *iv, int64_t tick);

/* Closes iv; its memory is freed in the timer's close callback. Its tick
 * future must have been dropped first. */
void fut_interval_close(struct fut_interval *iv);

#endif
