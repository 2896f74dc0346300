/* Unit tests for fut/sig: SIGINT and SIGTERM as a future. */
#include "fut/sig.h"
#include "futtest.h"

static void raise_int(void *arg)
{
    (void)arg;
    raise(SIGINT);
}

Test(signal, sigint_makes_the_future_ready_with_its_number)
{
    uv_loop_t loop;
    struct fut *f;

    uv_loop_init(&loop);
    f = fut_signal(&loop);
    ft_drive(&loop, f, raise_int, NULL);
    cr_assert_eq(fut_result(f), SIGINT);
    fut_drop(f);
    ft_close_loop(&loop);
}

Test(signal, sigterm_too)
{
    uv_loop_t loop;
    struct probe p = {0};
    struct fut *f;

    uv_loop_init(&loop);
    f = fut_signal(&loop);
    cr_assert_eq(ft_poll(f, &p), FUT_PENDING);
    raise(SIGTERM);
    ft_wait_wake(&loop, &p, 0, NULL, NULL);
    cr_assert_eq(ft_poll(f, &p), FUT_READY);
    cr_assert_eq(fut_result(f), SIGTERM);
    fut_drop(f);
    ft_close_loop(&loop);
}

Test(signal, is_not_handled_before_the_first_poll_nor_after_the_drop)
{
    uv_loop_t loop;
    struct probe p = {0};
    struct sigaction sa;
    struct fut *f;

    uv_loop_init(&loop);
    f = fut_signal(&loop);
    sigaction(SIGINT, NULL, &sa);
    cr_assert_eq(sa.sa_handler, SIG_DFL, "installed before the first poll");
    cr_assert_eq(ft_poll(f, &p), FUT_PENDING);
    sigaction(SIGINT, NULL, &sa);
    cr_assert_neq(sa.sa_handler, SIG_DFL);
    fut_drop(f);
    sigaction(SIGINT, NULL, &sa);
    cr_assert_eq(sa.sa_handler, SIG_DFL, "still installed after the drop");
    ft_close_loop(&loop);
}

static struct fut *make_sig(uv_loop_t *loop, void *arg)
{
    (void)arg;
    return fut_signal(loop);
}

/* Raises SIGINT once per round, and only while a handler is installed:
 * before the first poll and after the drop the default action would kill
 * the test, which is what "not installed" means. */
static int raised;

static void raise_while_handled(void *arg)
{
    struct sigaction sa;

    (void)arg;
    sigaction(SIGINT, NULL, &sa);
    if (!raised && sa.sa_handler != SIG_DFL) {
        raised = 1;
        raise(SIGINT);
    }
}

static void reset_raised(uv_loop_t *loop, void *arg)
{
    (void)loop;
    (void)arg;
    raised = 0;
}

Test(signal, can_be_dropped_at_every_pending_point)
{
    struct ft_cancel_case c = {
        .setup = reset_raised, .make = make_sig, .pump = raise_while_handled};

    cr_assert_eq(ft_cancel_everywhere(&c, 10), 2);
}
