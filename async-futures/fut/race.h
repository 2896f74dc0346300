/* race: the first success among N futures started over time, the others
 * cancelled: a staggered race, as a "happy eyeballs" connect needs.
 *
 * fut_select() (comb.h) takes futures that all exist and all run from the
 * start, and ends at the first one READY, success or failure. A race is
 * different in both ways:
 *   - its children do not exist yet: a factory makes child k when it is
 *     time to start it (leaf futures start their work at their first poll,
 *     fut.h P4, so making a child late IS starting it late);
 *   - a child that fails does not end the race: it only lets the next one
 *     start at once. The first child to SUCCEED (result >= 0) ends it.
 *
 * THE SCHEDULE
 *
 *  R1. Child 0 is made and polled in the race's first poll.
 *  R2. Child k+1 is made as soon as child k has failed, or stagger_ms after
 *      child k was made, whichever comes first. Children are made in index
 *      order, each at most once. A failure of an OLDER child (k-1 while k
 *      runs) does not hurry the schedule: the newest child has its chance.
 *  R3. stagger_ms == 0 makes every child in the first poll (a plain "first
 *      success of N"); stagger_ms < 0 makes the next one only when the
 *      newest has failed (one at a time, strictly in turn).
 *
 * THE END (structured concurrency: no child outlives the race)
 *
 *  R4. First success wins: the race is ready with the winner's result and
 *      *winner (if not NULL) set to its index. In that same poll every
 *      other child is dropped (cancelled, fut.h D1-D4) and no further child
 *      is made. When two children could succeed in one poll, the LOWER
 *      index wins (children are polled in index order, as select does).
 *  R5. All fail: once all n children have been made and every one of them
 *      has failed, the race is ready with the error of the one that failed
 *      LAST, in that same poll: nothing waits for a stagger timer once
 *      nothing is left to start. *winner is untouched.
 *  R6. Dropping the race drops every child still running and its stagger
 *      timer: cancellation reaches every attempt, however many are live.
 *
 * WHO OWNS WHAT
 *
 *  The race owns the children the factory returns (the factory returns a
 *  new future, never NULL; on -ENOMEM, fut_ready(-ENOMEM), which simply
 *  counts as a failed child) and one sleep (timer.h) at a time for the
 *  stagger. A child that is ready is dropped at once, so its resources go
 *  as soon as it lost. Outputs that are not an int go where the factory's
 *  children write them (e.g. fut_tcp_connect's *out); only a child that
 *  succeeded has written one, and only the winner succeeds.
 *
 * COST
 *
 *  The children share the race's waker, as select's branches do (comb.h):
 *  a wake re-polls every child still running (O(live) polls, spurious ones
 *  allowed by P3). One allocation for the race, one per child, one per
 *  stagger timer (a new sleep each time a child is made).
 */
#ifndef KIT_RACE_H
#define KIT_RACE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "fut/fut.h"

/* The most children one race may have. */
#define FUT_RACE_MAX 16

/* Makes child k (0 <= k < n) of a race: called by the race's poll at the
 * moment child k starts (R1-R3), once per k. Returns a new future, whose
 * ownership goes to the race. arg is the one given to fut_race_staggered.
 * May record that the child started (a trace line); must not poll or drop
 * the race. */
typedef struct fut *(*fut_race_make_fn)(void *arg, size_t k);

/* Returns a new future racing n children made by make(arg, k), started on
 * the schedule above (R1-R3), ready with the first success (R4) or the
 * last error (R5). loop is borrowed (for the stagger timer) and must
 * outlive the race's memory. arg is borrowed and must stay valid until the
 * race is ready or dropped. winner, if not NULL, must too.
 * 1 <= n <= FUT_RACE_MAX, else the race is ready at once with -EINVAL (make
 * is never called). If a stagger timer cannot be had, the race ends with
 * -ENOMEM (its children dropped): a schedule that cannot be kept is
 * reported, not silently changed into "all at once". */
struct fut *fut_race_staggered(uv_loop_t *loop, size_t n, int64_t stagger_ms,
                               fut_race_make_fn make, void *arg,
                               size_t *winner);

#endif
