/* comb: combinators, futures made of other futures without knowing what
 * those do: a deadline over any future, the first of N, all of N.
 *
 * They take ownership of the futures given to them and drop each one as
 * soon as it is no longer needed: a loser of a select at the moment the
 * winner is known, the inner future of a timeout at the moment the
 * deadline passes. Dropping a combinator drops whatever it still holds, so
 * cancellation goes all the way down (fut.h, D1-D4).
 *
 * Two exceptions BORROW instead, for loops: fut_borrow() and
 * fut_select_borrowed(). A loop that selects turn after turn keeps its
 * futures (a signal, a tick, a line reader) for its whole life and lends
 * them to each turn's select, so a branch that did not win survives the
 * turn, and nothing is allocated per turn. That is the kit's idiom for a
 * select loop, as Rust's select! over `&mut` futures.
 *
 * Cost, stated honestly: the children share their parent's waker, so when
 * any of them wakes, the parent polls every child that is still pending
 * (O(N) polls per wake, most of them spurious, which fut.h's P3 allows).
 * Per-child wakers would avoid that at the price of one waker struct per
 * child; for the handful of branches a program selects over, re-polling is
 * cheaper than the bookkeeping.
 */
#ifndef KIT_COMB_H
#define KIT_COMB_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "fut/fut.h"

/* Returns a new future that runs inner until the absolute deadline_ms.
 * Ready with inner's result if inner is ready first, or with -ETIMEDOUT
 * once the deadline has passed (inner is then dropped, i.e. cancelled, at
 * once). Inner is polled BEFORE the deadline is checked, so when both are
 * ready in the same poll the result wins. Takes ownership of inner. */
struct fut *fut_deadline(uv_loop_t *loop, int64_t deadline_ms,
                         struct fut *inner);

/* fut_deadline() with deadline_ms = now + timeout_ms, computed once, here:
 * a timeout covers the whole of inner, however many steps it takes. */
struct fut *fut_timeout(uv_loop_t *loop, int64_t timeout_ms, struct fut *inner);

/* The most futures select and join take. */
#define FUT_COMB_MAX 16

/* Returns a new future that is ready as soon as one of fs[0..n) is ready,
 * with that future's result; *winner (if not NULL) is set to its index.
 * Every other branch is dropped in that same poll.
 *
 * Choice when several are ready at once: the LOWEST INDEX wins. Branches
 * are polled in index order and polling stops at the first one that is
 * ready, so a later branch that could also have finished is not polled and
 * loses nothing (a channel receive keeps its message queued). This bias is
 * on purpose and predictable: put the branch that must win a tie first
 * (e.g. the tick before the events). Takes ownership of fs[0..n) (the
 * array itself is borrowed, copied). 1 <= n <= FUT_COMB_MAX. */
struct fut *fut_select(struct fut *const *fs, size_t n, size_t *winner);

/* Returns a new future that polls f (borrowed) and is ready when f is,
 * with f's result, but whose drop does NOT drop f. For a future that must
 * outlive one select, as Rust's `&mut fut` does in a select loop: each
 * turn selects over fut_borrow(f) and whatever else; when another branch
 * wins, only the borrow is dropped, and f, untouched, waits for the next
 * turn's select. (A signal future is the classic case: dropping it would
 * let the next signal kill the program.) f must outlive the borrow, and
 * once f has been ready it must not be polled again (fut.h, P5): its
 * owner takes the result and drops it (or reuses it, P6). f keeps the
 * waker of its latest poll, so borrow it only within one task. In a loop,
 * fut_select_borrowed() below does the same for every branch without
 * allocating a borrow and a select each turn. */
struct fut *fut_borrow(struct fut *f);

/* A select that OWNS nothing, for a loop: the idiom of fut_borrow() above
 * (select over borrowed futures, so that the losers survive the turn they
 * did not win) without its price of one select and one borrow allocated
 * per branch per turn. Each poll polls *slots[0], *slots[1] ... in index
 * order (the array is borrowed, read again at every poll, and must stay
 * valid until the select is dropped; a NULL slot is left out of that
 * poll, which is how a loop pauses a branch) and is ready as soon as one
 * of them is, with its result; *winner (if not NULL) is set to its index.
 * As in fut_select(), the LOWEST INDEX wins a tie.
 *
 * Nothing is dropped, ever: the winner is ready (its owner takes its
 * output, then drops it, or reuses it if it is reusable, fut.h P6), the
 * others stay pending, their wakers in place, for the next turn. The
 * select itself is reusable (P6): take its result, fut_reuse() it, poll
 * it again. So a loop over long-lived branches allocates nothing per turn:
 *
 *     slots = {tick, lines};                  made once
 *     sel = fut_select_borrowed(slots, 2, &winner);
 *     loop: await sel; fut_reuse(sel);
 *           winner 0: write, drop the tick, slots[0] = the next tick;
 *           winner 1: use the line, fut_reuse(lines).
 *
 * Every branch is polled with the select's waker, so the branches must
 * belong to the task that polls the select, and they must outlive it (or
 * be taken out of their slot before they are dropped). Ready with -EINVAL
 * when every slot is NULL. 1 <= n <= FUT_COMB_MAX. */
struct fut *fut_select_borrowed(struct fut *const *slots, size_t n,
                                size_t *winner);

/* Returns a new future that is ready once every one of fs[0..n) is ready,
 * each dropped as soon as it is. results (if not NULL; n ints, must stay
 * valid until ready or dropped) receives each one's result. The join's own
 * result is 0, or the first negative result in index order. Takes
 * ownership of fs[0..n). 1 <= n <= FUT_COMB_MAX. */
struct fut *fut_join(struct fut *const *fs, size_t n, int *results);

#endif
