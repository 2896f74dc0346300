/* exec: a single-threaded executor that runs futures as tasks on a libuv
 * loop, with scopes for structured concurrency.
 *
 * A task is a future being driven to completion by the executor. Its waker
 * puts it on a ready queue; the queue is run once per loop turn, from a
 * uv_check_t (after libuv's I/O callbacks, which is where most wakes
 * happen). While the queue is not empty a uv_idle_t is active, so the loop
 * polls for I/O without blocking; when it is empty the loop sleeps in
 * epoll until a timer, a socket or a signal wakes a task. Nothing is polled
 * that was not woken.
 *
 * Budget: at most `budget` polls per loop turn (FUT_EXEC_BUDGET unless
 * set). A task that is always ready (it keeps waking itself) goes to the
 * back of the queue each time, and once the budget is spent the loop goes
 * back to I/O and timers before polling more: a busy task cannot starve
 * the sockets.
 *
 * Lost wakes: a task woken while it is being polled (by its own future, or
 * by a callback the poll triggered) is flagged, and queued again as soon
 * as the poll returns FUT_PENDING, instead of being parked.
 *
 * Scopes: every task belongs to a scope. fut_scope_drop() cancels the
 * scope's unfinished tasks at once (each task's future is dropped, with the
 * guarantees of fut.h), so no task outlives the code that started it.
 * fut_spawn() uses the executor's root scope, dropped by fut_exec_free().
 *
 * Join handles: spawning returns a future that becomes ready with the
 * task's result (-ECANCELED if it was cancelled first). Dropping the
 * handle does NOT cancel the task (it detaches it; its scope still bounds
 * its life); fut_task_cancel() does.
 *
 * Threads: everything here runs on the loop's thread only.
 */
#ifndef KIT_EXEC_H
#define KIT_EXEC_H

#include <stdio.h>
#include <uv.h>

#include "fut/fut.h"

/* Polls per loop turn, by default. Large enough that the queue seldom
 * waits, small enough that one turn stays short. */
#define FUT_EXEC_BUDGET 64

struct fut_exec;
struct fut_scope;

/* Returns a new executor on loop (borrowed: must stay valid until the
 * executor's memory is freed, see fut_exec_free), or NULL on -ENOMEM. */
struct fut_exec *fut_exec_new(uv_loop_t *loop);

/* Cancels every task still alive (their futures are dropped now) and
 * closes the executor's two handles. Its memory is freed by their close
 * callbacks: run the loop once more before uv_loop_close(). Must not be
 * called from inside a task (a task cannot wait for its own poll to end):
 * that aborts with a message naming the task. */
void fut_exec_free(struct fut_exec *ex);

/* Sets the most polls made per loop turn (>= 1). */
void fut_exec_set_budget(struct fut_exec *ex, unsigned budget);

/* Runs f as a task in the root scope. Takes ownership of f. name (a
 * string that must stay valid while the task lives, e.g. a literal) is
 * shown by fut_exec_dump(). Returns a new join handle (see above). */
struct fut *fut_spawn(struct fut_exec *ex, struct fut *f, const char *name);

/* Cancels the task of join handle h (borrowed) now, as fut_scope_drop()
 * does for every task of a scope: the task's future is dropped before
 * this returns (or, if that task is the one being polled right now, as
 * soon as its poll returns), and h becomes ready with -ECANCELED. Does
 * nothing when the task has finished already, or when h is not a join
 * handle (a spawn that ran out of memory returns a ready future instead).
 * A task may keep its own handle, so that others can cancel it: its drop
 * function then drops the handle. Otherwise h must still be dropped. */
void fut_task_cancel(struct fut *h);

/* Returns a new scope, or NULL on -ENOMEM. Free with fut_scope_drop(). */
struct fut_scope *fut_scope_new(struct fut_exec *ex);

/* Like fut_spawn(), in scope sc. */
struct fut *fut_scope_spawn(struct fut_scope *sc, struct fut *f,
                            const char *name);

/* Cancels every unfinished task of sc, synchronously, and frees sc. Join
 * handles of the cancelled tasks become ready with -ECANCELED. A task may
 * drop a scope it runs in: it is then cancelled as soon as its poll
 * returns. */
void fut_scope_drop(struct fut_scope *sc);

/* Number of tasks in sc that have not finished. */
unsigned fut_scope_live(const struct fut_scope *sc);

/* Spawns f (takes ownership) and runs the loop until it is finished.
 * Returns its result, or -EDEADLK if the loop ran out of things to wait
 * for while the task was still pending (everybody waiting on nobody): the
 * task is then cancelled. Other tasks keep their state. Not from a task. */
int fut_exec_block_on(struct fut_exec *ex, struct fut *f, const char *name);

/* Writes one line per live task to out: id, name, state, and for a parked
 * task the file:line of the await point where it waits (recorded by
 * co.h's CO_AWAIT; "-" for a task that is not a coroutine). */
void fut_exec_dump(const struct fut_exec *ex, FILE *out);

/* Counters, for the tests and the bench. */
struct fut_exec_stats {
    unsigned long polls;         /* task polls, in total */
    unsigned long turns;         /* loop turns that polled something */
    unsigned long most_per_turn; /* the most polls in one turn */
    unsigned long wakes_in_poll; /* wakes that arrived during a poll */
};
const struct fut_exec_stats *fut_exec_stats(const struct fut_exec *ex);

#endif
