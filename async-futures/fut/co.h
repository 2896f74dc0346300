/* co: coroutine macros, so that a future's poll function reads top to
 * bottom like the blocking code it replaces ("connect, then send, then read
 * a line"), the way async/.await does in Rust.
 *
 * They are the protothreads trick and nothing more: the body of poll is one
 * big `switch` on a saved resume point, and every await point is a `case`
 * label in it. Suspending saves __LINE__ and returns FUT_PENDING; the next
 * poll jumps straight back to that label. There is no separate stack, so:
 *
 *   WHAT THEY EXPAND TO
 *
 *     CO_BEGIN(co)          switch ((co)->line) { case 0:
 *     CO_AWAIT(co, ctx, f)  (co)->line = __LINE__; case __LINE__:
 *                           if (fut_poll(f, ctx) == FUT_PENDING)
 *                               { record __FILE__:__LINE__; return PENDING; }
 *     CO_RETURN(co, s, rc)  (co)->line = CO_DONE; s->result = rc;
 *                           return FUT_READY;
 *     CO_END(co)            } plus a trap for a poll after ready (P5)
 *
 *   WHAT THEY FORBID (the compiler will not always tell you)
 *
 *   1. No local variable survives an await. When poll returns FUT_PENDING
 *      its stack frame is gone; on the next poll the locals are
 *      uninitialised again. Whatever must live across an await is a field
 *      of the future's struct. (A local set after an await and used before
 *      the next one is fine.)
 *   2. No `switch` of your own around an await: its case labels would
 *      capture the resume jump. A switch between two awaits is fine.
 *   3. Two awaits on one source line would share one label: one per line.
 *   4. No CO_ macro outside the CO_BEGIN/CO_END pair, and one pair per
 *      function.
 *   5. The future being awaited must be a field (e.g. s->op), since the
 *      expression is evaluated again on every resume.
 *
 *   THE SAME THING WRITTEN BY HAND
 *
 *   A fetch that connects, then reads a line, with CO_ macros:
 *
 *       CO_BEGIN(&s->co);
 *       s->op = fut_tcp_connect(loop, addr, &s->conn);
 *       CO_AWAIT_TAKE(&s->co, ctx, &s->op, s->rc);
 *       if (s->rc < 0)
 *           CO_RETURN(&s->co, s, s->rc);
 *       s->op = fut_tcp_read_line(s->conn, &s->line, &s->len);
 *       CO_AWAIT_TAKE(&s->co, ctx, &s->op, s->rc);
 *       CO_RETURN(&s->co, s, s->rc);
 *       CO_END(&s->co);
 *
 *   is, once the preprocessor is done, this state machine (lines 10 and 14
 *   stand for the __LINE__ of each await):
 *
 *       switch (s->co.line) {
 *       case 0:
 *           s->op = fut_tcp_connect(loop, addr, &s->conn);
 *           s->co.line = 10;
 *       case 10:
 *           if (fut_poll(s->op, ctx) == FUT_PENDING)
 *               return FUT_PENDING;          // resume at case 10
 *           s->rc = fut_result(s->op);
 *           fut_clear(&s->op);
 *           if (s->rc < 0) { ...; return FUT_READY; }
 *           s->op = fut_tcp_read_line(s->conn, &s->line, &s->len);
 *           s->co.line = 14;
 *       case 14:
 *           if (fut_poll(s->op, ctx) == FUT_PENDING)
 *               return FUT_PENDING;          // resume at case 14
 *           ...
 *       }
 *
 *   which is the manual-statemachine track's `enum state` with the states
 *   numbered by line instead of named: same struct of fields that survive
 *   a wait, same one-state-per-wait shape. What the macros buy is that the
 *   order of the steps is the order of the lines.
 *
 *   Dropping a coroutine future is not written with macros: its drop
 *   function drops whatever child future is held (fut_clear(&s->op)),
 *   closes what it owns, and frees the struct. Because the child is a
 *   field, cancelling at any await point is the same three lines.
 */
#ifndef KIT_CO_H
#define KIT_CO_H

#include <assert.h>

#include "fut/fut.h"

/* The resume point; a field of the coroutine's struct, zero at start. */
struct co {
    int line; /* 0: not started; __LINE__ of the await; CO_DONE: finished */
};

/* clang-format off: the macros are laid out by hand, to be read. */
#define CO_DONE (-1)

#define CO_BEGIN(co)                                                           \
    switch ((co)->line) {                                                      \
    case 0:

/* Polls the future f until it is ready, returning FUT_PENDING meanwhile.
 * Afterwards fut_result(f) is its output, and f still has to be dropped. */
#define CO_AWAIT(co, ctx, f)                                                   \
    do {                                                                       \
        (co)->line = __LINE__;                                                 \
        __attribute__((fallthrough));                                          \
    case __LINE__:                                                             \
        if (fut_poll((f), (ctx)) == FUT_PENDING) {                             \
            if ((ctx)->file == NULL) {                                         \
                (ctx)->file = __FILE__;                                        \
                (ctx)->line = __LINE__;                                        \
            }                                                                  \
            return FUT_PENDING;                                                \
        }                                                                      \
    } while (0)

/* Awaits f and stores its result in rc, but keeps f: for a future that
 * serves many awaits, such as a reusable one (fut.h, P6), which its owner
 * fut_reuse()s before the next await. */
#define CO_AWAIT_RESULT(co, ctx, f, rc)                                        \
    do {                                                                       \
        CO_AWAIT(co, ctx, f);                                                  \
        (rc) = fut_result(f);                                                  \
    } while (0)

/* Awaits *fp, stores its result in rc, drops it and sets *fp to NULL: the
 * usual way to await a child held in a field. rc may be a local only if it
 * is used before the next await. */
#define CO_AWAIT_TAKE(co, ctx, fp, rc)                                         \
    do {                                                                       \
        CO_AWAIT(co, ctx, *(fp));                                              \
        (rc) = fut_result(*(fp));                                              \
        fut_clear(fp);                                                         \
    } while (0)

/* Finishes the coroutine with result rc (self is the future's struct,
 * whose first member is `struct fut base`). */
#define CO_RETURN(co, self, rc)                                                \
    do {                                                                       \
        (co)->line = CO_DONE;                                                  \
        (self)->base.result = (rc);                                            \
        return FUT_READY;                                                      \
    } while (0)

#define CO_END(co)                                                             \
    default:                                                                   \
        assert(!"coroutine polled after it was ready (P5)");                   \
        }                                                                      \
        return FUT_READY

/* clang-format on */

#endif
