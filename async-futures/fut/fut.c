/* fut: the core of the futures library (see fut.h for the contract). */
#include "fut/fut.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static struct fut_stats stats;

/* Allocations left before the injected failure; -1: none planned. */
static long fail_countdown = -1;

void fut_mem_fail_after(long n)
{
    fail_countdown = n < 0 ? -1 : n;
}

const struct fut_stats *fut_stats(void)
{
    return &stats;
}

void *fut_mem_alloc(size_t size)
{
    void *p;

    if (fail_countdown >= 0 && fail_countdown-- == 0)
        return NULL;
    p = calloc(1, size);

    if (p != NULL)
        stats.allocs++;
    return p;
}

void fut_mem_free(void *p)
{
    if (p != NULL)
        stats.frees++;
    free(p);
}

struct fut *fut_alloc(const struct fut_vtable *vt, size_t size)
{
    struct fut *f = fut_mem_alloc(size);

    if (f != NULL)
        f->vt = vt;
    return f;
}

void fut_drop(struct fut *f)
{
    if (f != NULL)
        f->vt->drop(f);
}

void fut_clear(struct fut **fp)
{
    struct fut *f = *fp;

    /* Cleared before the drop, so that nothing reached from the drop can
     * see a pointer to a future that is half gone. */
    *fp = NULL;
    fut_drop(f);
}

/* --- ready: done before it starts ---------------------------------------- */

static enum fut_poll ready_poll(struct fut *f, struct fut_ctx *ctx)
{
    (void)f;
    (void)ctx;
    return FUT_READY;
}

static void ready_drop(struct fut *f)
{
    fut_mem_free(f);
}

static const struct fut_vtable ready_vt = {"ready", ready_poll, ready_drop};

/* The answer to running out of memory must not need memory: one shared,
 * never-freed future whose drop does nothing. */
static void nomem_drop(struct fut *f)
{
    (void)f;
}

static const struct fut_vtable nomem_vt = {"nomem", ready_poll, nomem_drop};
static struct fut nomem = {&nomem_vt, -ENOMEM, false};

bool fut_is_nomem(const struct fut *f)
{
    return f->vt == &nomem_vt;
}

void fut_poll_after_ready(const struct fut *f)
{
    /* The one shared -ENOMEM future is ready for everybody: each of its
     * owners polls it once, so the flag it carries says nothing. */
    if (f == &nomem)
        return;
    fprintf(stderr,
            "fut: a \"%s\" future was polled after it returned FUT_READY "
            "(rule P5 in fut.h)\n",
            f->vt->name);
    abort();
}

struct fut *fut_ready(int rc)
{
    struct fut *f;

    if (rc == -ENOMEM)
        return &nomem;
    f = fut_alloc(&ready_vt, sizeof *f);
    if (f == NULL)
        return &nomem;
    f->result = rc;
    return f;
}

/* --- yield: pending once, having woken itself ---------------------------- */

struct yield_fut {
    struct fut base;
    bool yielded; /* the first poll happened */
};

static enum fut_poll yield_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct yield_fut *y = (struct yield_fut *)f;

    if (y->yielded) {
        f->result = 0;
        return FUT_READY;
    }
    y->yielded = true;
    /* A wake from inside poll, before the task is parked: the executor must
     * not lose it (exec.c checks a "woken" flag after every poll). */
    fut_wake(&ctx->waker);
    return FUT_PENDING;
}

static const struct fut_vtable yield_vt = {"yield", yield_poll, ready_drop};

struct fut *fut_yield(void)
{
    struct fut *f = fut_alloc(&yield_vt, sizeof(struct yield_fut));

    return f != NULL ? f : fut_ready(-ENOMEM);
}

/* --- never --------------------------------------------------------------- */

static enum fut_poll never_poll(struct fut *f, struct fut_ctx *ctx)
{
    (void)f;
    (void)ctx;
    return FUT_PENDING;
}

static const struct fut_vtable never_vt = {"never", never_poll, ready_drop};

struct fut *fut_never(void)
{
    struct fut *f = fut_alloc(&never_vt, sizeof *f);

    return f != NULL ? f : fut_ready(-ENOMEM);
}
