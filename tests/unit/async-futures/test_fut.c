/* Unit tests for fut.c: the P5 check in fut_poll(), the out-of-memory
 * answer of constructors (fut_is_nomem), and the allocation failure
 * injection the other suites use to reach their -ENOMEM paths. */
#include "fut/comb.h"
#include "fut/timer.h"
#include "futtest.h"

Test(fut, polling_a_future_after_it_was_ready_aborts, .signal = SIGABRT)
{
    uv_loop_t loop;
    struct probe p = {0};
    struct fut *f;

    uv_loop_init(&loop);
    /* A sleep that is due: ready at its first poll. Polled again, it
     * would answer READY once more and hide the caller's bug. */
    f = fut_sleep_until(&loop, clock_now_ms() - 1);
    cr_assert_eq(ft_poll(f, &p), FUT_READY);
    ft_poll(f, &p); /* P5: aborts, naming "sleep" */
}

Test(fut, the_ready_future_of_a_failed_constructor_is_shared_and_polls_once)
{
    struct probe p = {0};
    struct fut *a = fut_ready(-ENOMEM), *b = fut_ready(-ENOMEM);

    /* Two owners of the one shared -ENOMEM future each poll it once:
     * that is not a second poll of the same future (P5). */
    cr_assert_eq(ft_poll(a, &p), FUT_READY);
    cr_assert_eq(ft_poll(b, &p), FUT_READY);
    cr_assert_eq(fut_result(b), -ENOMEM);
    fut_drop(a);
    fut_drop(b);
}

Test(fut, is_nomem_tells_a_failed_constructor_from_a_made_future)
{
    uv_loop_t loop;
    struct fut *f;

    uv_loop_init(&loop);
    cr_assert(fut_is_nomem(fut_ready(-ENOMEM)));
    f = fut_ready(-EPIPE);
    cr_assert_not(fut_is_nomem(f));
    fut_drop(f);
    fut_mem_fail_after(0);
    f = fut_sleep_until(&loop, clock_now_ms() + 1000);
    cr_assert(fut_is_nomem(f), "the sleep could not be allocated");
    cr_assert_eq(ft_run(&loop, f), -ENOMEM);
    /* fut_ready() of another error needs memory too: without it, the
     * answer is the out-of-memory one. */
    fut_mem_fail_after(0);
    f = fut_ready(-EPIPE);
    cr_assert(fut_is_nomem(f));
    fut_drop(f);
    ft_close_loop(&loop);
}

Test(fut, fail_after_n_fails_exactly_the_next_allocation_after_n)
{
    void *a, *b, *c;
    long live = ft_live_allocs();

    fut_mem_fail_after(1);
    a = fut_mem_alloc(8);
    b = fut_mem_alloc(8);
    c = fut_mem_alloc(8);
    cr_assert_not_null(a);
    cr_assert_null(b, "the second allocation was to fail");
    cr_assert_not_null(c, "only one allocation fails");
    fut_mem_free(a);
    fut_mem_free(c);
    cr_assert_eq(ft_live_allocs(), live);
}

/* A timeout whose sleep cannot be made: "deadline passed" would be a lie
 * (the operation was never timed), so the answer is -ENOMEM, and the inner
 * future is dropped, as the ownership rule promises. */
Test(fut, a_timeout_without_memory_for_its_sleep_is_enomem_not_etimedout)
{
    uv_loop_t loop;
    int drops = 0;
    long live;
    struct fut *inner, *f;

    uv_loop_init(&loop);
    inner = countdown(5, 7, NULL, &drops);
    live = ft_live_allocs();
    fut_mem_fail_after(1); /* the timeout's struct, then its sleep */
    f = fut_timeout(&loop, 1000, inner);
    cr_assert(fut_is_nomem(f));
    cr_assert_eq(ft_run(&loop, f), -ENOMEM);
    cr_assert_eq(drops, 1, "the inner future was not dropped");
    cr_assert_eq(ft_live_allocs(), live - 1);
    ft_close_loop(&loop);
}
