/* comb: timeout, select and join over any futures (see comb.h). */
#include "fut/comb.h"

#include <errno.h>

#include "clock.h"
#include "fut/timer.h"

/* --- deadline / timeout -------------------------------------------------- */

struct deadline_fut {
    struct fut base;
    struct fut *inner; /* owned; NULL once finished */
    struct fut *sleep; /* owned; NULL once finished */
};

/* lesson:fut-deadline */
static enum fut_poll deadline_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct deadline_fut *d = (struct deadline_fut *)f;

    /* Inner first: a result that is ready wins a tie with the deadline. */
    if (fut_poll(d->inner, ctx) == FUT_READY) {
        f->result = fut_result(d->inner);
    } else if (fut_poll(d->sleep, ctx) == FUT_READY) {
        f->result = -ETIMEDOUT;
    } else {
        return FUT_PENDING;
    }
    /* Cancel the loser now, not when the caller gets round to dropping us:
     * a timed-out connect must stop connecting at the deadline. */
    fut_clear(&d->inner);
    fut_clear(&d->sleep);
    return FUT_READY;
}

static void deadline_drop(struct fut *f)
{
    struct deadline_fut *d = (struct deadline_fut *)f;

    fut_clear(&d->inner);
    fut_clear(&d->sleep);
    fut_mem_free(f);
}
/* end */

static const struct fut_vtable deadline_vt = {"timeout", deadline_poll,
                                              deadline_drop};

struct fut *fut_deadline(uv_loop_t *loop, int64_t deadline_ms,
                         struct fut *inner)
{
    struct deadline_fut *d =
        (struct deadline_fut *)fut_alloc(&deadline_vt, sizeof *d);

    if (d == NULL) {
        fut_drop(inner);
        return fut_ready(-ENOMEM);
    }
    d->inner = inner;
    /* The sleep's own -ENOMEM future would read as "deadline passed": a
     * deadline that cannot be kept is reported as what it is. */
    d->sleep = fut_sleep_until(loop, deadline_ms);
    if (fut_is_nomem(d->sleep)) {
        deadline_drop(&d->base);
        return fut_ready(-ENOMEM);
    }
    return &d->base;
}

struct fut *fut_timeout(uv_loop_t *loop, int64_t timeout_ms, struct fut *inner)
{
    return fut_deadline(loop, clock_deadline_in(timeout_ms), inner);
}

/* --- select -------------------------------------------------------------- */

struct select_fut {
    struct fut base;
    size_t *winner; /* where the index goes, or NULL */
    size_t n;
    struct fut *fs[FUT_COMB_MAX]; /* owned; all NULL once finished */
};

static void drop_all(struct fut **fs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fut_clear(&fs[i]);
}

/* lesson:fut-select */
static enum fut_poll select_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct select_fut *s = (struct select_fut *)f;

    for (size_t i = 0; i < s->n; i++) {
        if (fut_poll(s->fs[i], ctx) == FUT_READY) {
            f->result = fut_result(s->fs[i]);
            if (s->winner != NULL)
                *s->winner = i;
            drop_all(s->fs, s->n); /* the losers, and the finished winner */
            return FUT_READY;
        }
    }
    return FUT_PENDING;
}
/* end */

static void select_drop(struct fut *f)
{
    struct select_fut *s = (struct select_fut *)f;

    drop_all(s->fs, s->n);
    fut_mem_free(f);
}

static const struct fut_vtable select_vt = {"select", select_poll, select_drop};

/* Takes the n futures, or drops them all when the combinator cannot be
 * made: ownership was promised either way. */
static bool comb_check(struct fut *const *fs, size_t n, void *mem)
{
    if (mem != NULL && n >= 1 && n <= FUT_COMB_MAX)
        return true;
    for (size_t i = 0; i < n; i++)
        fut_drop(fs[i]);
    fut_mem_free(mem);
    return false;
}

struct fut *fut_select(struct fut *const *fs, size_t n, size_t *winner)
{
    struct select_fut *s =
        (struct select_fut *)fut_alloc(&select_vt, sizeof *s);

    if (!comb_check(fs, n, s))
        return fut_ready(n >= 1 && n <= FUT_COMB_MAX ? -ENOMEM : -EINVAL);
    s->winner = winner;
    s->n = n;
    for (size_t i = 0; i < n; i++)
        s->fs[i] = fs[i];
    return &s->base;
}

/* --- select over borrowed branches ---------------------------------------- */

struct select_borrowed_fut {
    struct fut base;
    struct fut *const *slots; /* borrowed; read at every poll */
    size_t n;
    size_t *winner; /* where the index goes, or NULL */
};

/* lesson:fut-select-borrowed */
static enum fut_poll select_borrowed_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct select_borrowed_fut *s = (struct select_borrowed_fut *)f;
    bool any = false;

    for (size_t i = 0; i < s->n; i++) {
        struct fut *branch = s->slots[i];

        if (branch == NULL)
            continue; /* paused for this turn */
        any = true;
        if (fut_poll(branch, ctx) == FUT_READY) {
            f->result = fut_result(branch);
            if (s->winner != NULL)
                *s->winner = i;
            return FUT_READY; /* nothing dropped: the branches are lent */
        }
    }
    if (!any) {
        f->result = -EINVAL; /* nothing could ever wake us */
        return FUT_READY;
    }
    return FUT_PENDING;
}
/* end */

static void select_borrowed_drop(struct fut *f)
{
    fut_mem_free(f); /* the branches are their owner's */
}

static const struct fut_vtable select_borrowed_vt = {
    "select-borrowed", select_borrowed_poll, select_borrowed_drop};

struct fut *fut_select_borrowed(struct fut *const *slots, size_t n,
                                size_t *winner)
{
    struct select_borrowed_fut *s;

    if (n < 1 || n > FUT_COMB_MAX)
        return fut_ready(-EINVAL);
    s = (struct select_borrowed_fut *)fut_alloc(&select_borrowed_vt, sizeof *s);
    if (s == NULL)
        return fut_ready(-ENOMEM);
    s->slots = slots;
    s->n = n;
    s->winner = winner;
    return &s->base;
}

/* --- borrow ------------------------------------------------------------- */

struct borrow_fut {
    struct fut base;
    struct fut *f; /* borrowed: never dropped here */
};

static enum fut_poll borrow_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct borrow_fut *b = (struct borrow_fut *)f;

    if (fut_poll(b->f, ctx) == FUT_PENDING)
        return FUT_PENDING;
    f->result = fut_result(b->f);
    return FUT_READY;
}

static void borrow_drop(struct fut *f)
{
    fut_mem_free(f);
}

static const struct fut_vtable borrow_vt = {"borrow", borrow_poll, borrow_drop};

struct fut *fut_borrow(struct fut *f)
{
    struct borrow_fut *b =
        (struct borrow_fut *)fut_alloc(&borrow_vt, sizeof *b);

    if (b == NULL)
        return fut_ready(-ENOMEM);
    b->f = f;
    return &b->base;
}

/* --- join ---------------------------------------------------------------- */

struct join_all_fut {
    struct fut base;
    int *results; /* n results, or NULL */
    size_t n;
    size_t left;                  /* how many are still pending */
    int own[FUT_COMB_MAX];        /* the results, if the caller wants none */
    struct fut *fs[FUT_COMB_MAX]; /* owned; NULL once each is ready */
};

static enum fut_poll join_all_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct join_all_fut *j = (struct join_all_fut *)f;

    for (size_t i = 0; i < j->n; i++) {
        if (j->fs[i] == NULL || fut_poll(j->fs[i], ctx) == FUT_PENDING)
            continue;
        j->own[i] = fut_result(j->fs[i]);
        fut_clear(&j->fs[i]);
        j->left--;
    }
    if (j->left > 0)
        return FUT_PENDING;
    f->result = 0;
    for (size_t i = 0; i < j->n; i++) {
        if (j->results != NULL)
            j->results[i] = j->own[i];
        if (f->result == 0 && j->own[i] < 0)
            f->result = j->own[i];
    }
    return FUT_READY;
}

static void join_all_drop(struct fut *f)
{
    struct join_all_fut *j = (struct join_all_fut *)f;

    drop_all(j->fs, j->n);
    fut_mem_free(f);
}

static const struct fut_vtable join_all_vt = {"join", join_all_poll,
                                              join_all_drop};

struct fut *fut_join(struct fut *const *fs, size_t n, int *results)
{
    struct join_all_fut *j =
        (struct join_all_fut *)fut_alloc(&join_all_vt, sizeof *j);

    if (!comb_check(fs, n, j))
        return fut_ready(n >= 1 && n <= FUT_COMB_MAX ? -ENOMEM : -EINVAL);
    j->results = results;
    j->n = j->left = n;
    for (size_t i = 0; i < n; i++)
        j->fs[i] = fs[i];
    return &j->base;
}
