/* futtest: helpers shared by the futures library's unit tests.
 *
 * The tests poll futures by hand, with a "probe" waker that only counts
 * how often it is called, and run the loop between polls. That is an
 * executor reduced to its bones, and it lets a test stop after exactly k
 * polls, drop the future, and check the drop rules of fut.h:
 *   - nobody is woken after the drop (the probe's count stays put),
 *   - nothing leaks (the library's allocation counters balance, and
 *     ASan/LSan or valgrind agree),
 *   - the loop closes clean (uv_loop_close() == 0 once the loop has run
 *     the close callbacks).
 * Header-only: every test binary is one .c file plus the library.
 */
#ifndef KIT_FUTTEST_H
#define KIT_FUTTEST_H

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <unistd.h>
#include <uv.h>

#include "clock.h"
#include "fut/fut.h"

/* Note: under AddressSanitizer, LeakSanitizer prints a leak when a
 * Criterion worker exits, but Criterion still counts the test as passed
 * (it ignores the worker once the test body has returned). So the tests
 * also count the library's own allocations (ft_live_allocs), and an ASan
 * run must be checked for "LeakSanitizer" on stderr. */

/* Most loop turns a test waits for one wake before it calls it a hang. */
#define FT_MAX_TURNS 20000

struct probe {
    int wakes; /* times the waker was called */
};

/* The loop a test is waiting on. A wake stops it: a timer callback runs
 * at the start of a UV_RUN_ONCE turn, and without uv_stop() libuv would
 * then still block in epoll until the next event. (The executor has the
 * same problem and solves it with an idle handle; see exec.c.) */
static uv_loop_t *ft_waiting_loop;

static void probe_wake(void *data)
{
    ((struct probe *)data)->wakes++;
    if (ft_waiting_loop != NULL)
        uv_stop(ft_waiting_loop);
}

static inline struct fut_ctx probe_ctx(struct probe *p)
{
    struct fut_ctx ctx = {{probe_wake, p}, NULL, 0};

    return ctx;
}

static inline enum fut_poll ft_poll(struct fut *f, struct probe *p)
{
    struct fut_ctx ctx = probe_ctx(p);

    return fut_poll(f, &ctx);
}

/* Called while a test waits for a wake, to play the other side (a peer
 * that reads, writes, connects). May be NULL. */
typedef void (*ft_pump_fn)(void *arg);

/* Runs the loop until p has been woken more than `before` times (the
 * count taken before the poll: a wake that came during the poll counts,
 * else this harness would lose it). With a pump, the loop is run without
 * blocking and the pump is called between turns. Fails the test if the
 * loop runs dry (nothing could wake p) or too many turns pass. */
static inline void ft_wait_wake(uv_loop_t *loop, struct probe *p, int before,
                                ft_pump_fn pump, void *arg)
{
    ft_waiting_loop = loop;
    for (int turn = 0; p->wakes == before; turn++) {
        cr_assert_lt(turn, FT_MAX_TURNS, "no wake after %d loop turns", turn);
        if (pump != NULL) {
            pump(arg);
            uv_run(loop, UV_RUN_NOWAIT);
            if (p->wakes == before)
                usleep(500);
        } else {
            cr_assert(uv_run(loop, UV_RUN_ONCE) != 0 || p->wakes != before,
                      "the loop ran dry while a future was pending");
        }
    }
    ft_waiting_loop = NULL;
}

/* Polls f until ready; returns how many polls that took. */
static inline int ft_drive(uv_loop_t *loop, struct fut *f, ft_pump_fn pump,
                           void *arg)
{
    struct probe p = {0};
    int polls = 1, before = 0;

    while (ft_poll(f, &p) == FUT_PENDING) {
        ft_wait_wake(loop, &p, before, pump, arg);
        before = p.wakes;
        polls++;
    }
    return polls;
}

/* Polls f until ready, drops it, returns its result. */
static inline int ft_run(uv_loop_t *loop, struct fut *f)
{
    int rc;

    ft_drive(loop, f, NULL, NULL);
    rc = fut_result(f);
    fut_drop(f);
    return rc;
}

/* Runs the loop until nothing is left (close callbacks included) and
 * checks that it closes clean. */
static inline void ft_close_loop(uv_loop_t *loop)
{
    uv_run(loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(loop), 0, "a handle or request is left");
}

/* Library allocations not yet freed. */
static inline long ft_live_allocs(void)
{
    return (long)(fut_stats()->allocs - fut_stats()->frees);
}

/* --- a future for testing combinators ------------------------------------ */

/* Ready with `result` at its (n+1)th poll; before that it wakes itself and
 * answers pending (so a task re-polls it). Counts its polls and drops in
 * the int pointed to by `drops` (may be NULL). */
struct countdown {
    struct fut base;
    int left;
    int value;
    int *polls;
    int *drops;
};

static enum fut_poll countdown_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct countdown *c = (struct countdown *)f;

    if (c->polls != NULL)
        (*c->polls)++;
    if (c->left-- <= 0) {
        f->result = c->value;
        return FUT_READY;
    }
    fut_wake(&ctx->waker);
    return FUT_PENDING;
}

static void countdown_drop(struct fut *f)
{
    struct countdown *c = (struct countdown *)f;

    if (c->drops != NULL)
        (*c->drops)++;
    fut_mem_free(f);
}

static const struct fut_vtable countdown_vt = {"countdown", countdown_poll,
                                               countdown_drop};

static inline struct fut *countdown(int n, int value, int *polls, int *drops)
{
    struct countdown *c =
        (struct countdown *)fut_alloc(&countdown_vt, sizeof *c);

    cr_assert_not_null(c);
    c->left = n;
    c->value = value;
    c->polls = polls;
    c->drops = drops;
    return &c->base;
}

/* --- cancellation at every pending point --------------------------------- */

/* One kind of future, as a cancellation case: a fresh loop is made for
 * each k, setup() prepares the world, make() builds the future, pump()
 * (optional) plays the peer while waiting, teardown() closes what setup
 * opened. */
struct ft_cancel_case {
    void *arg;
    void (*setup)(uv_loop_t *loop, void *arg);
    struct fut *(*make)(uv_loop_t *loop, void *arg);
    ft_pump_fn pump;
    void (*teardown)(uv_loop_t *loop, void *arg);
};

/* For k = 0, 1, 2 ... polls the future k times (waiting for a wake after
 * each pending poll), drops it, and checks the drop rules; stops at the
 * first k at which the future had already completed. Returns how many
 * polls completion took. */
static inline int ft_cancel_everywhere(const struct ft_cancel_case *c,
                                       int max_polls)
{
    for (int k = 0; k <= max_polls; k++) {
        uv_loop_t loop;
        struct probe p = {0};
        long live = ft_live_allocs();
        bool ready = false;
        int polls = 0, wakes_at_drop;
        struct fut *f;

        cr_assert_eq(uv_loop_init(&loop), 0);
        if (c->setup != NULL)
            c->setup(&loop, c->arg);
        f = c->make(&loop, c->arg);
        while (polls < k && !ready) {
            int before = p.wakes;

            polls++;
            if (ft_poll(f, &p) == FUT_READY)
                ready = true;
            else
                ft_wait_wake(&loop, &p, before, c->pump, c->arg);
        }
        fut_drop(f);
        wakes_at_drop = p.wakes;
        /* Let the world go on: whatever the future started would now
         * fire if the drop had not really cancelled it. */
        for (int i = 0; i < 5; i++) {
            if (c->pump != NULL)
                c->pump(c->arg);
            uv_run(&loop, UV_RUN_NOWAIT);
        }
        if (c->teardown != NULL)
            c->teardown(&loop, c->arg);
        ft_close_loop(&loop);
        cr_assert_eq(p.wakes, wakes_at_drop,
                     "dropped after %d poll(s), then woken", k);
        cr_assert_eq(ft_live_allocs(), live,
                     "dropped after %d poll(s): %ld allocation(s) leaked", k,
                     ft_live_allocs() - live);
        if (ready)
            return polls;
    }
    cr_assert_fail("not ready after %d polls", max_polls);
    return -1;
}

#endif
