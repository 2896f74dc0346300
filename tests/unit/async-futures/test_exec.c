/* Unit tests for fut/exec: tasks, join handles, scopes, the budget, the
 * dump, and the promise that an idle program uses no CPU. */
#include <string.h>
#include <sys/resource.h>

#include "fut/chan.h"
#include "fut/co.h"
#include "fut/comb.h"
#include "fut/exec.h"
#include "fut/timer.h"
#include "futtest.h"

static void end(uv_loop_t *loop, struct fut_exec *ex)
{
    fut_exec_free(ex);
    ft_close_loop(loop);
}

Test(exec, block_on_returns_the_result_of_the_task)
{
    uv_loop_t loop;
    struct fut_exec *ex;

    uv_loop_init(&loop);
    ex = fut_exec_new(&loop);
    cr_assert_eq(fut_exec_block_on(ex, countdown(3, 9, NULL, NULL), "cd"), 9);
    end(&loop, ex);
}

Test(exec, a_wake_between_poll_and_park_still_reschedules)
{
    uv_loop_t loop;
    struct fut_exec *ex;
    int polls = 0;

    uv_loop_init(&loop);
    ex = fut_exec_new(&loop);
    /* countdown wakes its task from inside poll, then answers pending: the
     * only wake it ever gets. A lost wake would leave the task parked with
     * nothing to wake it, and block_on would say -EDEADLK. */
    cr_assert_eq(fut_exec_block_on(ex, countdown(5, 1, &polls, NULL), "cd"), 1);
    cr_assert_eq(polls, 6);
    cr_assert_geq(fut_exec_stats(ex)->wakes_in_poll, 5);
    end(&loop, ex);
}

Test(exec, a_task_nobody_can_wake_is_reported_as_a_deadlock)
{
    uv_loop_t loop;
    struct fut_exec *ex;

    uv_loop_init(&loop);
    ex = fut_exec_new(&loop);
    cr_assert_eq(fut_exec_block_on(ex, fut_never(), "stuck"), -EDEADLK);
    end(&loop, ex);
}

Test(exec, an_always_ready_task_cannot_starve_a_timer)
{
    uv_loop_t loop;
    struct fut_exec *ex;
    int64_t start;
    struct fut *spinner;

    uv_loop_init(&loop);
    ex = fut_exec_new(&loop);
    fut_exec_set_budget(ex, 8);
    spinner = fut_spawn(ex, countdown(1 << 30, 0, NULL, NULL), "spinner");
    start = clock_now_ms();
    cr_assert_eq(
        fut_exec_block_on(ex, fut_sleep_until(&loop, start + 50), "sleeper"),
        0);
    cr_assert_lt(clock_now_ms(), start + 1000, "the timer was starved");
    cr_assert_leq(fut_exec_stats(ex)->most_per_turn, 8);
    cr_assert_gt(fut_exec_stats(ex)->polls, 10, "the spinner did run");
    fut_drop(spinner); /* detaches; fut_exec_free cancels it */
    end(&loop, ex);
}

Test(exec, a_finished_task_wakes_its_join_handle)
{
    uv_loop_t loop;
    struct fut_exec *ex;
    struct fut *h;
    struct fut *fs[2];
    int results[2];

    uv_loop_init(&loop);
    ex = fut_exec_new(&loop);
    fs[0] = fut_spawn(ex, fut_sleep_until(&loop, clock_now_ms() + 20), "a");
    fs[1] = fut_spawn(ex, countdown(2, 4, NULL, NULL), "b");
    h = fut_join(fs, 2, results);
    cr_assert_eq(fut_exec_block_on(ex, h, "main"), 0);
    cr_assert_eq(results[0], 0);
    cr_assert_eq(results[1], 4);
    end(&loop, ex);
}

Test(exec, a_dropped_join_handle_detaches_the_task)
{
    uv_loop_t loop;
    struct fut_exec *ex;
    int drops = 0, polls = 0;

    uv_loop_init(&loop);
    ex = fut_exec_new(&loop);
    fut_drop(fut_spawn(ex, countdown(3, 0, &polls, &drops), "detached"));
    cr_assert_eq(
        fut_exec_block_on(ex, fut_sleep_until(&loop, clock_now_ms() + 20), "m"),
        0);
    cr_assert_eq(polls, 4, "the detached task ran to the end");
    cr_assert_eq(drops, 1);
    end(&loop, ex);
}

Test(exec, dropping_a_scope_cancels_its_tasks_at_once)
{
    uv_loop_t loop;
    struct fut_exec *ex;
    struct fut_scope *sc;
    struct fut *h[3];
    struct probe p = {0};
    int64_t start = clock_now_ms();
    long live = ft_live_allocs();

    uv_loop_init(&loop);
    ex = fut_exec_new(&loop);
    sc = fut_scope_new(ex);
    for (int i = 0; i < 3; i++)
        h[i] = fut_scope_spawn(
            sc, fut_sleep_until(&loop, clock_now_ms() + 10000), "sleeper");
    /* Let them start (each arms its timer), then cancel the scope. */
    fut_exec_block_on(ex, fut_sleep_until(&loop, clock_now_ms() + 10), "m");
    cr_assert_eq(fut_scope_live(sc), 3);
    fut_scope_drop(sc);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(ft_poll(h[i], &p), FUT_READY);
        cr_assert_eq(fut_result(h[i]), -ECANCELED);
        fut_drop(h[i]);
    }
    end(&loop, ex);
    cr_assert_lt(clock_now_ms(), start + 2000, "a cancelled timer ran on");
    cr_assert_eq(ft_live_allocs(), live);
}

/* A task that drops the scope it runs in, from its own poll. */
struct self_dropper {
    struct fut base;
    struct fut_scope *scope;
};

static enum fut_poll self_drop_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct self_dropper *s = (struct self_dropper *)f;

    (void)ctx;
    fut_scope_drop(s->scope);
    return FUT_PENDING;
}

static void self_drop_drop(struct fut *f)
{
    fut_mem_free(f);
}

static const struct fut_vtable self_drop_vt = {"self-dropper", self_drop_poll,
                                               self_drop_drop};

Test(exec, a_task_may_drop_its_own_scope)
{
    uv_loop_t loop;
    struct fut_exec *ex;
    struct fut_scope *sc;
    struct self_dropper *s;
    struct fut *h, *other;

    uv_loop_init(&loop);
    ex = fut_exec_new(&loop);
    sc = fut_scope_new(ex);
    other = fut_scope_spawn(sc, fut_never(), "other");
    s = (struct self_dropper *)fut_alloc(&self_drop_vt, sizeof *s);
    s->scope = sc;
    h = fut_scope_spawn(sc, &s->base, "self");
    cr_assert_eq(fut_exec_block_on(ex, h, "m"), -ECANCELED);
    cr_assert_eq(fut_exec_block_on(ex, other, "m2"), -ECANCELED);
    end(&loop, ex);
}

/* A future that owns the join handle of the very task that runs it. */
struct own_handle {
    struct fut base;
    struct fut *handle;
};

static enum fut_poll own_poll(struct fut *f, struct fut_ctx *ctx)
{
    (void)ctx;
    f->result = 0;
    return FUT_READY;
}

static void own_drop(struct fut *f)
{
    fut_drop(((struct own_handle *)f)->handle);
    fut_mem_free(f);
}

static const struct fut_vtable own_vt = {"own-handle", own_poll, own_drop};

Test(exec, a_task_whose_future_owns_its_handle_ends_cleanly)
{
    uv_loop_t loop;
    struct fut_exec *ex;
    struct own_handle *o;
    long live = ft_live_allocs();

    uv_loop_init(&loop);
    ex = fut_exec_new(&loop);
    o = (struct own_handle *)fut_alloc(&own_vt, sizeof *o);
    o->handle = fut_spawn(ex, &o->base, "self-owned");
    uv_run(&loop, UV_RUN_NOWAIT);
    end(&loop, ex);
    cr_assert_eq(ft_live_allocs(), live);
}

Test(exec, freeing_the_executor_cancels_every_task)
{
    uv_loop_t loop;
    struct fut_exec *ex;
    long live = ft_live_allocs();
    int drops = 0;

    uv_loop_init(&loop);
    ex = fut_exec_new(&loop);
    fut_drop(
        fut_spawn(ex, fut_sleep_until(&loop, clock_now_ms() + 9000), "long"));
    fut_drop(fut_spawn(ex, countdown(1000, 0, NULL, &drops), "busy"));
    uv_run(&loop, UV_RUN_NOWAIT);
    end(&loop, ex);
    cr_assert_eq(drops, 1);
    cr_assert_eq(ft_live_allocs(), live);
}

/* --- the dump ------------------------------------------------------------ */

struct waiter_co {
    struct fut base;
    struct co co;
    struct fut_chan *ch;
    struct fut *op;
    void *msg;
    int rc;
};

static int await_line; /* the line of the await, as the test expects it */

static enum fut_poll waiter_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct waiter_co *s = (struct waiter_co *)f;

    CO_BEGIN(&s->co);
    s->op = fut_chan_recv(s->ch, &s->msg);
    /* One line: the dump must show the line of the await itself. */
    /* clang-format off */
    await_line = __LINE__; CO_AWAIT_TAKE(&s->co, ctx, &s->op, s->rc);
    /* clang-format on */
    CO_RETURN(&s->co, s, s->rc);
    CO_END(&s->co);
}

static void waiter_drop(struct fut *f)
{
    fut_clear(&((struct waiter_co *)f)->op);
    fut_mem_free(f);
}

static const struct fut_vtable waiter_vt = {"waiter", waiter_poll, waiter_drop};

Test(exec, the_dump_shows_where_each_task_waits)
{
    uv_loop_t loop;
    struct fut_exec *ex;
    struct fut_chan *ch = fut_chan_new(1);
    struct waiter_co *w;
    char *text = NULL, expect[64];
    size_t size = 0;
    FILE *out;
    static int m;

    uv_loop_init(&loop);
    ex = fut_exec_new(&loop);
    w = (struct waiter_co *)fut_alloc(&waiter_vt, sizeof *w);
    w->ch = ch;
    fut_drop(fut_spawn(ex, &w->base, "reader"));
    uv_run(&loop, UV_RUN_NOWAIT);
    out = open_memstream(&text, &size);
    fut_exec_dump(ex, out);
    fclose(out);
    snprintf(expect, sizeof expect, "test_exec.c:%d", await_line);
    cr_assert_not_null(strstr(text, "reader: parked"), "%s", text);
    cr_assert_not_null(strstr(text, expect), "want %s in:\n%s", expect, text);
    free(text);
    fut_chan_try_send(ch, &m);
    uv_run(&loop, UV_RUN_NOWAIT);
    fut_chan_free(ch);
    end(&loop, ex);
}

/* --- costs --------------------------------------------------------------- */

Test(exec, repolling_a_pending_task_allocates_nothing)
{
    uv_loop_t loop;
    struct fut_exec *ex;
    struct fut *h;
    struct probe p = {0};
    unsigned long before;

    uv_loop_init(&loop);
    ex = fut_exec_new(&loop);
    h = fut_spawn(ex, countdown(10000, 0, NULL, NULL), "cd");
    before = fut_stats()->allocs;
    for (int turn = 0; ft_poll(h, &p) == FUT_PENDING; turn++) {
        cr_assert_lt(turn, 1000000, "the task stopped being polled");
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    cr_assert_eq(fut_stats()->allocs, before, "%lu allocations in %lu polls",
                 fut_stats()->allocs - before, fut_exec_stats(ex)->polls);
    cr_assert_geq(fut_exec_stats(ex)->polls, 10000);
    fut_drop(h);
    end(&loop, ex);
}

/* The one real timing test: 2 s of sleep must cost (almost) no CPU. */
#define IDLE_MS              2000
#define IDLE_CPU_MAX_PERCENT 2

static double cpu_ms(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

Test(exec, an_idle_program_uses_no_cpu, .timeout = 30)
{
    uv_loop_t loop;
    struct fut_exec *ex;
    double cpu;
    int64_t start;

    uv_loop_init(&loop);
    ex = fut_exec_new(&loop);
    start = clock_now_ms();
    cpu = cpu_ms();
    cr_assert_eq(
        fut_exec_block_on(ex, fut_sleep_until(&loop, start + IDLE_MS), "idle"),
        0);
    cpu = cpu_ms() - cpu;
    cr_assert_geq(clock_now_ms(), start + IDLE_MS);
    cr_assert_lt(cpu, IDLE_MS * IDLE_CPU_MAX_PERCENT / 100.0,
                 "%.1f ms of CPU while sleeping %d ms", cpu, IDLE_MS);
    cr_log_info("idle: %.2f ms CPU in %d ms", cpu, IDLE_MS);
    end(&loop, ex);
}

/* --- cancelling one task ------------------------------------------------- */

Test(exec, task_cancel_drops_a_waiting_task_at_once)
{
    uv_loop_t loop;
    struct fut_exec *ex;
    struct fut *h;
    struct probe p = {0};
    int64_t start = clock_now_ms();
    long live = ft_live_allocs();

    uv_loop_init(&loop);
    ex = fut_exec_new(&loop);
    h = fut_spawn(ex, fut_sleep_until(&loop, start + 10000), "sleeper");
    fut_exec_block_on(ex, fut_sleep_until(&loop, start + 10), "m");
    fut_task_cancel(h);
    cr_assert_eq(ft_poll(h, &p), FUT_READY);
    cr_assert_eq(fut_result(h), -ECANCELED);
    fut_drop(h);
    end(&loop, ex);
    cr_assert_lt(clock_now_ms(), start + 2000, "the cancelled sleep ran on");
    cr_assert_eq(ft_live_allocs(), live);
}

Test(exec, task_cancel_of_a_queued_task_drops_it_before_its_first_poll)
{
    uv_loop_t loop;
    struct fut_exec *ex;
    int polls = 0, drops = 0;
    struct fut *h;

    uv_loop_init(&loop);
    ex = fut_exec_new(&loop);
    h = fut_spawn(ex, countdown(5, 0, &polls, &drops), "queued");
    fut_task_cancel(h);
    cr_assert_eq(drops, 1);
    cr_assert_eq(fut_exec_block_on(ex, h, "m"), -ECANCELED);
    cr_assert_eq(polls, 0);
    end(&loop, ex);
}

Test(exec, task_cancel_of_a_finished_task_keeps_its_result)
{
    uv_loop_t loop;
    struct fut_exec *ex;
    struct fut *h, *ready;

    uv_loop_init(&loop);
    ex = fut_exec_new(&loop);
    h = fut_spawn(ex, countdown(1, 42, NULL, NULL), "quick");
    fut_exec_block_on(ex, fut_sleep_until(&loop, clock_now_ms() + 10), "m");
    fut_task_cancel(h);
    cr_assert_eq(fut_exec_block_on(ex, h, "m"), 42);
    /* Not a join handle: nothing happens. */
    ready = fut_ready(5);
    fut_task_cancel(ready);
    fut_drop(ready);
    end(&loop, ex);
}

/* A task that keeps its own handle, so that others can cancel it (the
 * journal's subscribers do): its drop drops the handle. */
struct cancellable {
    struct fut base;
    struct fut *handle;
    int *drops;
};

static enum fut_poll cancellable_poll(struct fut *f, struct fut_ctx *ctx)
{
    (void)f;
    (void)ctx;
    return FUT_PENDING; /* waits for nobody: only a cancel ends it */
}

static void cancellable_drop(struct fut *f)
{
    struct cancellable *c = (struct cancellable *)f;

    (*c->drops)++;
    fut_clear(&c->handle);
    fut_mem_free(f);
}

static const struct fut_vtable cancellable_vt = {
    "cancellable", cancellable_poll, cancellable_drop};

/* Cancels another task from inside its own poll, then finishes. */
struct canceller {
    struct fut base;
    struct cancellable *victim;
};

static enum fut_poll canceller_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct canceller *k = (struct canceller *)f;

    (void)ctx;
    fut_task_cancel(k->victim->handle); /* the victim is gone after this */
    f->result = 0;
    return FUT_READY;
}

static const struct fut_vtable canceller_vt = {"canceller", canceller_poll,
                                               self_drop_drop};

Test(exec, a_task_holding_its_own_handle_can_be_cancelled_by_another)
{
    uv_loop_t loop;
    struct fut_exec *ex;
    struct cancellable *v;
    struct canceller *k;
    int drops = 0;
    long live = ft_live_allocs();

    uv_loop_init(&loop);
    ex = fut_exec_new(&loop);
    v = (struct cancellable *)fut_alloc(&cancellable_vt, sizeof *v);
    v->drops = &drops;
    v->handle = fut_spawn(ex, &v->base, "victim");
    uv_run(&loop, UV_RUN_NOWAIT); /* the victim is polled, and parks */
    k = (struct canceller *)fut_alloc(&canceller_vt, sizeof *k);
    k->victim = v;
    cr_assert_eq(fut_exec_block_on(ex, &k->base, "canceller"), 0);
    cr_assert_eq(drops, 1);
    end(&loop, ex);
    cr_assert_eq(ft_live_allocs(), live);
}

/* Cancels its own task from inside its poll. */
struct self_canceller {
    struct fut base;
    struct fut *handle;
    int *polls;
};

static enum fut_poll self_cancel_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct self_canceller *s = (struct self_canceller *)f;

    (*s->polls)++;
    fut_task_cancel(s->handle);
    fut_wake(&ctx->waker); /* even woken, it is not polled again */
    return FUT_PENDING;
}

static const struct fut_vtable self_cancel_vt = {
    "self-canceller", self_cancel_poll, self_drop_drop};

Test(exec, a_task_cancelled_while_it_runs_ends_when_its_poll_returns)
{
    uv_loop_t loop;
    struct fut_exec *ex;
    struct self_canceller *s;
    struct fut *h;
    int polls = 0;

    uv_loop_init(&loop);
    ex = fut_exec_new(&loop);
    s = (struct self_canceller *)fut_alloc(&self_cancel_vt, sizeof *s);
    s->polls = &polls;
    h = fut_spawn(ex, &s->base, "self");
    s->handle = h;
    cr_assert_eq(fut_exec_block_on(ex, fut_yield(), "m"), 0);
    cr_assert_eq(polls, 1, "polled again after it was cancelled");
    cr_assert_eq(fut_exec_block_on(ex, h, "m2"), -ECANCELED);
    end(&loop, ex);
}

/* A task that frees its own executor: before, fut_exec_free() waited for
 * the running task to finish, from inside that task's poll, for ever. */
struct exec_freer {
    struct fut base;
    struct fut_exec *ex;
};

static enum fut_poll exec_freer_poll(struct fut *f, struct fut_ctx *ctx)
{
    (void)ctx;
    fut_exec_free(((struct exec_freer *)f)->ex);
    f->result = 0;
    return FUT_READY;
}

static const struct fut_vtable exec_freer_vt = {"exec-freer", exec_freer_poll,
                                                self_drop_drop};

Test(exec, freeing_the_executor_from_inside_a_task_aborts, .signal = SIGABRT,
     .timeout = 10)
{
    uv_loop_t loop;
    struct fut_exec *ex;
    struct exec_freer *s;

    uv_loop_init(&loop);
    ex = fut_exec_new(&loop);
    s = (struct exec_freer *)fut_alloc(&exec_freer_vt, sizeof *s);
    s->ex = ex;
    fut_exec_block_on(ex, &s->base, "freer");
}
