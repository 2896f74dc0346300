/* exec: the single-threaded executor, its tasks and scopes (see exec.h). */
#include "fut/exec.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

enum task_state {
    TASK_QUEUED,  /* on the ready queue: will be polled soon */
    TASK_RUNNING, /* being polled right now */
    TASK_PARKED,  /* waiting for its waker; not on any queue */
    TASK_DONE,    /* finished or cancelled; its future has been dropped */
};

struct fut_task {
    struct fut_exec *ex;
    struct fut_scope *scope; /* NULL once done */
    struct fut *fut;         /* owned; NULL once done */
    enum task_state state;
    bool woken;                     /* woken while RUNNING: queue it again */
    bool cancel;                    /* its scope was dropped while RUNNING */
    bool has_handle;                /* the join handle still exists */
    bool finishing;                 /* task_finish() is on the stack */
    int result;                     /* valid when DONE */
    struct fut_waker join_waker;    /* the join handle's poller */
    struct fut_task *qprev, *qnext; /* ready queue, while QUEUED */
    struct fut_task *sprev, *snext; /* its scope's list, until DONE */
    struct fut_task *aprev, *anext; /* the executor's list, until DONE */
    unsigned long id;
    const char *name;
    const char *file; /* where it parked (co.h), or NULL */
    int line;
};

struct fut_scope {
    struct fut_exec *ex;
    struct fut_task *tasks; /* unfinished tasks, newest first */
    unsigned live;          /* how many */
};

struct fut_exec {
    uv_loop_t *loop;
    uv_check_t check;             /* runs the ready queue once per loop turn */
    uv_idle_t idle;               /* active while the queue is not empty */
    struct fut_task *head, *tail; /* the ready queue, oldest first */
    struct fut_task *all;         /* every unfinished task */
    struct fut_scope root;
    struct fut_task *running; /* the task being polled now, or NULL */
    unsigned budget;
    unsigned long next_id;
    int handles_open; /* memory is freed when the last one closed */
    struct fut_exec_stats stats;
};

/* --- the ready queue ----------------------------------------------------- */

static void idle_noop(uv_idle_t *h)
{
    (void)h;
}

static void queue_push(struct fut_exec *ex, struct fut_task *t)
{
    t->state = TASK_QUEUED;
    t->qnext = NULL;
    t->qprev = ex->tail;
    if (ex->tail != NULL)
        ex->tail->qnext = t;
    else
        ex->head = t;
    ex->tail = t;
    /* An active idle handle makes libuv poll for I/O with a zero timeout,
     * so a queued task never waits for an unrelated event. */
    uv_idle_start(&ex->idle, idle_noop);
}

static void queue_remove(struct fut_exec *ex, struct fut_task *t)
{
    if (t->qprev != NULL)
        t->qprev->qnext = t->qnext;
    else
        ex->head = t->qnext;
    if (t->qnext != NULL)
        t->qnext->qprev = t->qprev;
    else
        ex->tail = t->qprev;
    t->qprev = t->qnext = NULL;
}

/* lesson:exec-wake */
/* The waker every task hands to its future. */
static void task_wake(void *data)
{
    struct fut_task *t = data;

    switch (t->state) {
    case TASK_PARKED:
        queue_push(t->ex, t);
        break;
    case TASK_RUNNING:
        /* The wake arrived between "poll started" and "task parked": if we
         * only queued PARKED tasks, this one would sleep forever. */
        t->woken = true;
        t->ex->stats.wakes_in_poll++;
        break;
    case TASK_QUEUED: /* already going to be polled */
    case TASK_DONE:   /* nothing left to poll */
        break;
    }
}
/* end */

/* --- finishing and cancelling -------------------------------------------- */

static void scope_link(struct fut_scope *sc, struct fut_task *t)
{
    t->scope = sc;
    t->sprev = NULL;
    t->snext = sc->tasks;
    if (t->snext != NULL)
        t->snext->sprev = t;
    sc->tasks = t;
    sc->live++;
}

static void scope_unlink(struct fut_task *t)
{
    struct fut_scope *sc = t->scope;

    if (t->sprev != NULL)
        t->sprev->snext = t->snext;
    else
        sc->tasks = t->snext;
    if (t->snext != NULL)
        t->snext->sprev = t->sprev;
    sc->live--;
    t->scope = NULL;
}

static void all_unlink(struct fut_task *t)
{
    struct fut_exec *ex = t->ex;

    if (t->aprev != NULL)
        t->aprev->anext = t->anext;
    else
        ex->all = t->anext;
    if (t->anext != NULL)
        t->anext->aprev = t->aprev;
}

/* Ends t with result: drops its future, wakes its join handle, and frees
 * the task unless the handle still needs it. */
static void task_finish(struct fut_task *t, int result)
{
    if (t->state == TASK_QUEUED)
        queue_remove(t->ex, t);
    /* DONE before the drop: a wake caused by the drop is then ignored, and
     * a drop that reaches this task again (it dropped its own scope) stops
     * here. */
    t->state = TASK_DONE;
    t->result = result;
    t->finishing = true;
    scope_unlink(t);
    all_unlink(t);
    fut_clear(&t->fut); /* may drop our own handle: t must stay valid */
    t->finishing = false;
    fut_wake(&t->join_waker);
    if (!t->has_handle)
        fut_mem_free(t);
}

static void task_cancel(struct fut_task *t)
{
    if (t->state == TASK_DONE)
        return;
    if (t->state == TASK_RUNNING) {
        t->cancel = true; /* its poll is on the stack: finish it after */
        return;
    }
    task_finish(t, -ECANCELED);
}

/* --- running ------------------------------------------------------------- */

/* lesson:exec-run */
static void task_run(struct fut_task *t)
{
    struct fut_ctx ctx = {{task_wake, t}, NULL, 0};
    enum fut_poll r;

    t->state = TASK_RUNNING;
    t->woken = false;
    t->ex->stats.polls++;
    t->ex->running = t;
    r = fut_poll(t->fut, &ctx);
    t->ex->running = NULL;
    if (r == FUT_READY) {
        task_finish(t, fut_result(t->fut));
    } else if (t->cancel) {
        task_finish(t, -ECANCELED);
    } else if (t->woken) {
        t->file = ctx.file;
        t->line = ctx.line;
        queue_push(t->ex, t);
    } else {
        t->file = ctx.file;
        t->line = ctx.line;
        t->state = TASK_PARKED;
    }
}

/* Once per loop turn, after libuv ran the I/O callbacks (which is where
 * most wakes come from). */
static void on_check(uv_check_t *h)
{
    struct fut_exec *ex = h->data;
    unsigned long n = 0;

    while (ex->head != NULL && n < ex->budget) {
        struct fut_task *t = ex->head;

        queue_remove(ex, t);
        task_run(t);
        n++;
    }
    if (n > 0)
        ex->stats.turns++;
    if (n > ex->stats.most_per_turn)
        ex->stats.most_per_turn = n;
    /* Whatever is still queued (the budget ran out, or it was woken during
     * this turn) keeps the idle handle active: next turn, after I/O. */
    if (ex->head == NULL)
        uv_idle_stop(&ex->idle);
}
/* end */

/* --- the executor -------------------------------------------------------- */

struct fut_exec *fut_exec_new(uv_loop_t *loop)
{
    struct fut_exec *ex = fut_mem_alloc(sizeof *ex);

    if (ex == NULL)
        return NULL;
    ex->loop = loop;
    ex->budget = FUT_EXEC_BUDGET;
    ex->root.ex = ex;
    ex->next_id = 1;
    uv_check_init(loop, &ex->check);
    uv_idle_init(loop, &ex->idle);
    ex->check.data = ex->idle.data = ex;
    ex->handles_open = 2;
    uv_check_start(&ex->check, on_check);
    /* The check handle alone must not keep the loop running: a program
     * whose tasks all wait on nothing should end, not hang. */
    uv_unref((uv_handle_t *)&ex->check);
    return ex;
}

static void exec_closed(uv_handle_t *h)
{
    struct fut_exec *ex = h->data;

    if (--ex->handles_open == 0)
        fut_mem_free(ex);
}

/* fut_exec_free() from a task would wait for that task's poll to return,
 * which cannot happen while the task is still inside it: a bug to report,
 * not a loop to spin in. */
static void exec_free_from_task(const struct fut_exec *ex)
{
    fprintf(stderr,
            "fut: fut_exec_free() called from inside task %lu (%s): free "
            "the executor after fut_exec_block_on() or uv_run() returns\n",
            ex->running->id, ex->running->name);
    abort();
}

void fut_exec_free(struct fut_exec *ex)
{
    if (ex == NULL)
        return;
    if (ex->running != NULL)
        exec_free_from_task(ex);
    while (ex->all != NULL)
        task_cancel(ex->all);
    uv_close((uv_handle_t *)&ex->check, exec_closed);
    uv_close((uv_handle_t *)&ex->idle, exec_closed);
}

void fut_exec_set_budget(struct fut_exec *ex, unsigned budget)
{
    ex->budget = budget > 0 ? budget : 1;
}

const struct fut_exec_stats *fut_exec_stats(const struct fut_exec *ex)
{
    return &ex->stats;
}

/* --- join handles -------------------------------------------------------- */

struct join_fut {
    struct fut base;
    struct fut_task *task; /* shared with the executor until both let go */
};

static enum fut_poll join_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct fut_task *t = ((struct join_fut *)f)->task;

    if (t->state == TASK_DONE) {
        f->result = t->result;
        return FUT_READY;
    }
    t->join_waker = ctx->waker;
    return FUT_PENDING;
}

static void join_drop(struct fut *f)
{
    struct fut_task *t = ((struct join_fut *)f)->task;

    /* Detach: the task runs on, but wakes nobody when it ends. */
    t->has_handle = false;
    t->join_waker = (struct fut_waker){NULL, NULL};
    if (t->state == TASK_DONE && !t->finishing)
        fut_mem_free(t);
    fut_mem_free(f);
}

static const struct fut_vtable join_vt = {"join-handle", join_poll, join_drop};

void fut_task_cancel(struct fut *h)
{
    if (h->vt == &join_vt)
        task_cancel(((struct join_fut *)h)->task);
}

/* --- scopes and spawning ------------------------------------------------- */

struct fut_scope *fut_scope_new(struct fut_exec *ex)
{
    struct fut_scope *sc = fut_mem_alloc(sizeof *sc);

    if (sc != NULL)
        sc->ex = ex;
    return sc;
}

unsigned fut_scope_live(const struct fut_scope *sc)
{
    return sc->live;
}

void fut_scope_drop(struct fut_scope *sc)
{
    struct fut_task *t;

    if (sc == NULL)
        return;
    for (;;) {
        /* From the head each time: dropping one task's future may finish
         * others of the same scope (it may even drop their handles). */
        t = sc->tasks;
        while (t != NULL && t->state == TASK_RUNNING)
            t = t->snext;
        if (t == NULL)
            break;
        task_cancel(t);
    }
    /* What is left is the task running right now, which dropped its own
     * scope: it is cancelled when its poll returns. It moves to the root
     * scope meanwhile, so that it never points at freed memory. */
    while ((t = sc->tasks) != NULL) {
        task_cancel(t);
        scope_unlink(t);
        scope_link(&sc->ex->root, t);
    }
    fut_mem_free(sc);
}

struct fut *fut_scope_spawn(struct fut_scope *sc, struct fut *f,
                            const char *name)
{
    struct fut_exec *ex = sc->ex;
    struct fut_task *t = fut_mem_alloc(sizeof *t);
    struct join_fut *j = (struct join_fut *)fut_alloc(&join_vt, sizeof *j);

    if (t == NULL || j == NULL) {
        fut_mem_free(t);
        fut_mem_free(j);
        fut_drop(f);
        return fut_ready(-ENOMEM);
    }
    t->ex = ex;
    t->fut = f;
    t->has_handle = true;
    t->id = ex->next_id++;
    t->name = name != NULL ? name : "task";
    scope_link(sc, t);
    t->anext = ex->all;
    if (t->anext != NULL)
        t->anext->aprev = t;
    ex->all = t;
    j->task = t;
    queue_push(ex, t); /* a new task is polled once, to start it */
    return &j->base;
}

struct fut *fut_spawn(struct fut_exec *ex, struct fut *f, const char *name)
{
    return fut_scope_spawn(&ex->root, f, name);
}

/* --- blocking on one future ---------------------------------------------- */

int fut_exec_block_on(struct fut_exec *ex, struct fut *f, const char *name)
{
    struct fut *h = fut_spawn(ex, f, name);
    struct fut_ctx ctx = {{NULL, NULL}, NULL, 0};
    int rc;

    while (fut_poll(h, &ctx) == FUT_PENDING) {
        struct fut_task *t = ((struct join_fut *)h)->task;

        if (uv_run(ex->loop, UV_RUN_ONCE) == 0 && ex->head == NULL &&
            t->state != TASK_DONE) {
            /* Nothing is left that could wake the task. */
            task_cancel(t);
            fut_drop(h);
            return -EDEADLK;
        }
    }
    rc = fut_result(h);
    fut_drop(h);
    return rc;
}

/* --- debugging ----------------------------------------------------------- */

static const char *state_name(enum task_state s)
{
    switch (s) {
    case TASK_QUEUED:
        return "queued";
    case TASK_RUNNING:
        return "running";
    case TASK_PARKED:
        return "parked";
    case TASK_DONE:
        return "done";
    }
    return "?";
}

void fut_exec_dump(const struct fut_exec *ex, FILE *out)
{
    fprintf(out, "executor: %u task(s) in the root scope\n", ex->root.live);
    for (const struct fut_task *t = ex->all; t != NULL; t = t->anext) {
        fprintf(out, "  task %lu %s: %s, future %s, waiting at ", t->id,
                t->name, state_name(t->state), t->fut->vt->name);
        if (t->file != NULL)
            fprintf(out, "%s:%d\n", t->file, t->line);
        else
            fprintf(out, "-\n");
    }
}
