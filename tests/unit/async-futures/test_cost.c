/* What the futures library costs while it waits: polling a pending future
 * again (the steady state of every program) allocates nothing.
 *
 * Each future is polled once (its first poll may set things up), then
 * POLLS more times while it is still pending, and the library's
 * allocation counter must not move. The counter sees every allocation
 * the library makes itself; common/'s framer and write buffer allocate
 * on their own (once per connection) and are outside the loop below. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/socket.h>

#include "futtest.h"
#include "fut/chan.h"
#include "fut/comb.h"
#include "fut/tcp.h"
#include "fut/timer.h"

#define POLLS 1000

static void assert_repolls_allocate_nothing(struct fut *f, const char *what)
{
    struct probe p = {0};
    unsigned long before;

    cr_assert_eq(ft_poll(f, &p), FUT_PENDING, "%s: not pending", what);
    before = fut_stats()->allocs;
    for (int i = 0; i < POLLS; i++)
        cr_assert_eq(ft_poll(f, &p), FUT_PENDING);
    cr_assert_eq(fut_stats()->allocs, before,
                 "%s: %lu allocations in %d polls", what,
                 fut_stats()->allocs - before, POLLS);
    fut_drop(f);
}

Test(cost, repolling_pending_timers_and_combinators_allocates_nothing)
{
    uv_loop_t loop;
    struct fut_interval *iv;
    struct fut_chan *ch = fut_chan_new(1);
    int64_t later, tick;
    void *msg;
    struct fut *fs[3];

    uv_loop_init(&loop);
    later = clock_now_ms() + 60000;
    iv = fut_interval_new(&loop, clock_now_ms(), 60000);
    assert_repolls_allocate_nothing(fut_sleep_until(&loop, later), "sleep");
    assert_repolls_allocate_nothing(fut_interval_tick(iv, &tick), "tick");
    assert_repolls_allocate_nothing(fut_chan_recv(ch, &msg), "recv");
    assert_repolls_allocate_nothing(
        fut_timeout(&loop, 60000, fut_chan_recv(ch, &msg)), "timeout");
    fs[0] = fut_sleep_until(&loop, later);
    fs[1] = fut_chan_recv(ch, &msg);
    fs[2] = fut_never();
    assert_repolls_allocate_nothing(fut_select(fs, 3, NULL), "select");
    fs[0] = fut_sleep_until(&loop, later);
    fs[1] = fut_chan_recv(ch, &msg);
    assert_repolls_allocate_nothing(fut_join(fs, 2, NULL), "join");
    fut_chan_try_send(ch, &msg);
    assert_repolls_allocate_nothing(fut_chan_send(ch, &msg), "send");
    fut_chan_try_recv(ch, &msg);
    fut_chan_free(ch);
    fut_interval_close(iv);
    ft_close_loop(&loop);
}

Test(cost, repolling_pending_socket_futures_allocates_nothing)
{
    uv_loop_t loop;
    struct fut_tcp_listener *l;
    struct fut_tcp *c = NULL;
    struct addr any, where;
    const char *line;
    size_t len;
    int fd;

    uv_loop_init(&loop);
    cr_assert_eq(addr_parse("127.0.0.1:0", &any), 0);
    cr_assert_eq(fut_tcp_listen(&loop, &any, "ERR busy\n", &l), 0);
    fut_tcp_listener_addr(l, &where);
    assert_repolls_allocate_nothing(fut_tcp_accept(l, &c), "accept");
    fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(connect(fd, (struct sockaddr *)&where.ss, where.len), 0);
    cr_assert_eq(ft_run(&loop, fut_tcp_accept(l, &c)), 0);
    assert_repolls_allocate_nothing(fut_tcp_read_line(c, &line, &len),
                                    "read_line");
    fut_tcp_close(c);
    fut_tcp_listener_close(l);
    close(fd);
    ft_close_loop(&loop);
}
