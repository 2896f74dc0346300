/* race: the first success of N futures started over time (see race.h). */
#include "fut/race.h"

#include <errno.h>
#include <stdbool.h>

#include "clock.h"
#include "fut/timer.h"

struct race_fut {
    struct fut base;
    uv_loop_t *loop;
    fut_race_make_fn make;
    void *arg;
    size_t *winner;      /* where the winner's index goes, or NULL */
    int64_t stagger_ms;  /* 0: all at once; < 0: only after a failure */
    size_t n;            /* how many children in all */
    size_t started;      /* how many have been made so far */
    int last_error;      /* the result of the child that failed last */
    struct fut *stagger; /* owned: the sleep until the next start, or NULL */
    /* Owned. fs[k] is NULL before child k is made and after it failed (or
     * once the race is over): a failed child is dropped at once. */
    struct fut *fs[FUT_RACE_MAX];
};

/* Drops every child still running and the stagger timer: the end of the
 * race, whether it was won, lost, or dropped itself (R4-R6). */
static void race_drop_children(struct race_fut *r)
{
    for (size_t k = 0; k < r->started; k++)
        fut_clear(&r->fs[k]);
    fut_clear(&r->stagger);
}

/* Makes child number r->started, and arms the stagger timer for the one
 * after it (none after the last, none when only a failure starts the next,
 * none when all start at once). */
static void race_start_next(struct race_fut *r)
{
    size_t k = r->started++;

    r->fs[k] = r->make(r->arg, k);
    fut_clear(&r->stagger);
    if (r->started < r->n && r->stagger_ms > 0)
        r->stagger = fut_sleep_until(r->loop, clock_now_ms() + r->stagger_ms);
}

/* Polls every running child in index order. Returns the index of the
 * first that succeeded, or n if none did; children that failed are
 * dropped on the spot and their error kept. */
static size_t race_poll_children(struct race_fut *r, struct fut_ctx *ctx)
{
    for (size_t k = 0; k < r->started; k++) {
        if (r->fs[k] == NULL || fut_poll(r->fs[k], ctx) == FUT_PENDING)
            continue;
        if (fut_result(r->fs[k]) >= 0)
            return k;
        r->last_error = fut_result(r->fs[k]);
        fut_clear(&r->fs[k]);
    }
    return r->n;
}

/* Whether the next child should start now (R2, R3): 1 yes, 0 not yet,
 * or the stagger timer's error (-ENOMEM: a sleep that could not be made
 * is ready at once with it). Polls the timer, which registers the waker
 * when it is not due yet. */
static int race_next_is_due(struct race_fut *r, struct fut_ctx *ctx)
{
    if (r->stagger_ms == 0 || r->fs[r->started - 1] == NULL)
        return 1; /* all at once, or the newest child has failed */
    if (r->stagger == NULL || fut_poll(r->stagger, ctx) == FUT_PENDING)
        return 0;
    return fut_result(r->stagger) < 0 ? fut_result(r->stagger) : 1;
}

/* Ends the race with result rc; won is the winner's index, or n when
 * there is none. Every child still running is dropped now (R4-R5). */
static enum fut_poll race_end(struct race_fut *r, int rc, size_t won)
{
    r->base.result = rc;
    if (won < r->n && r->winner != NULL)
        *r->winner = won;
    race_drop_children(r);
    return FUT_READY;
}

/* Whether any child is still trying. */
static bool race_running(const struct race_fut *r)
{
    for (size_t k = 0; k < r->started; k++)
        if (r->fs[k] != NULL)
            return true;
    return false;
}

/* lesson:fut-race */
static enum fut_poll race_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct race_fut *r = (struct race_fut *)f;
    size_t won;
    int due;

    if (r->started == 0)
        race_start_next(r); /* R1: child 0 at the first poll */
    for (;;) {
        won = race_poll_children(r, ctx);
        if (won < r->n) /* R4: the first success, the losers dropped */
            return race_end(r, fut_result(r->fs[won]), won);
        if (r->started == r->n)
            break; /* nobody left to start */
        due = race_next_is_due(r, ctx);
        if (due == 0)
            return FUT_PENDING;
        if (due < 0)
            return race_end(r, due, r->n); /* no stagger timer */
        /* Due: start it, and poll it in this same poll (loop again). */
        race_start_next(r);
    }
    if (race_running(r))
        return FUT_PENDING;
    return race_end(r, r->last_error, r->n); /* R5: at once */
}
/* end */

static void race_drop(struct fut *f)
{
    race_drop_children((struct race_fut *)f); /* R6 */
    fut_mem_free(f);
}

static const struct fut_vtable race_vt = {"race", race_poll, race_drop};

struct fut *fut_race_staggered(uv_loop_t *loop, size_t n, int64_t stagger_ms,
                               fut_race_make_fn make, void *arg, size_t *winner)
{
    struct race_fut *r;

    if (n < 1 || n > FUT_RACE_MAX || make == NULL)
        return fut_ready(-EINVAL);
    r = (struct race_fut *)fut_alloc(&race_vt, sizeof *r);
    if (r == NULL)
        return fut_ready(-ENOMEM);
    r->loop = loop;
    r->make = make;
    r->arg = arg;
    r->winner = winner;
    r->stagger_ms = stagger_ms;
    r->n = n;
    return &r->base;
}
