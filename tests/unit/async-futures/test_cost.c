/* What the futures library costs while it waits: polling a pending future
 * again (the steady state of every program) allocates nothing.
 *
 * Each future is polled once (its first poll may set things up), then
 * POLLS more times while it is still pending, and the library's
 * allocation counter must not move. The counter sees every allocation
 * the library makes itself; common/'s framer and write buffer allocate
 * on their own (the framer when bytes arrive after an idle wait) and are
 * not counted.
 *
 * The last test is the steady state of a whole program: a select loop
 * over long-lived futures, 10,000 events, no allocation per event. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "fut/chan.h"
#include "fut/comb.h"
#include "fut/tcp.h"
#include "fut/timer.h"
#include "futtest.h"

#define POLLS 1000

static void assert_repolls_allocate_nothing(struct fut *f, const char *what)
{
    struct probe p = {0};
    unsigned long before;

    cr_assert_eq(ft_poll(f, &p), FUT_PENDING, "%s: not pending", what);
    before = fut_stats()->allocs;
    for (int i = 0; i < POLLS; i++)
        cr_assert_eq(ft_poll(f, &p), FUT_PENDING);
    cr_assert_eq(fut_stats()->allocs, before, "%s: %lu allocations in %d polls",
                 what, fut_stats()->allocs - before, POLLS);
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

/* --- a select loop, as the dashboard and the journal run it ---------------- */

enum { EVENTS = 10000, WARM_UP = 100 };

struct flood {
    int fd;      /* the peer, non-blocking */
    char *bytes; /* EVENTS lines "event NNNNN\n" */
    size_t len, sent;
};

/* The peer writes what the socket takes. */
static void flood_pump(void *arg)
{
    struct flood *fl = arg;
    ssize_t n;

    if (fl->sent == fl->len)
        return;
    n = write(fl->fd, fl->bytes + fl->sent, fl->len - fl->sent);
    if (n > 0)
        fl->sent += (size_t)n;
}

/* Polls sel until it is ready, playing the peer meanwhile. */
static void await_turn(uv_loop_t *loop, struct fut *sel, struct flood *fl)
{
    struct probe p = {0};
    int before = 0;

    while (ft_poll(sel, &p) == FUT_PENDING) {
        ft_wait_wake(loop, &p, before, flood_pump, fl);
        before = p.wakes;
    }
}

/* The long-lived futures of a select loop (a tick, a line reader, one
 * select that borrows them, all reused turn after turn): once warmed up,
 * 10,000 events cost the library no allocation at all. */
Test(cost, a_select_loop_over_long_lived_futures_allocates_nothing_per_event)
{
    uv_loop_t loop;
    struct fut_tcp_listener *l;
    struct fut_tcp *c = NULL;
    struct fut_interval *iv;
    struct addr any, where;
    struct flood fl = {0};
    const char *line;
    size_t len, winner = 99;
    int64_t tick;
    struct fut *slots[2];
    struct fut *sel;
    unsigned long warm = 0;

    uv_loop_init(&loop);
    cr_assert_eq(addr_parse("127.0.0.1:0", &any), 0);
    cr_assert_eq(fut_tcp_listen(&loop, &any, "ERR busy\n", &l), 0);
    fut_tcp_listener_addr(l, &where);
    fl.fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(connect(fl.fd, (struct sockaddr *)&where.ss, where.len), 0);
    fcntl(fl.fd, F_SETFL, O_NONBLOCK);
    cr_assert_eq(ft_run(&loop, fut_tcp_accept(l, &c)), 0);
    fl.bytes = malloc(EVENTS * 12 + 1);
    for (int i = 0; i < EVENTS; i++)
        fl.len += (size_t)sprintf(fl.bytes + fl.len, "event %05d\n", i);
    iv = fut_interval_new(&loop, clock_now_ms(), 60000); /* no tick here */
    slots[0] = fut_interval_tick(iv, &tick);
    slots[1] = fut_tcp_read_line(c, &line, &len);
    sel = fut_select_borrowed(slots, 2, &winner);
    for (int i = 0; i < EVENTS; i++) {
        if (i == WARM_UP)
            warm = fut_stats()->allocs;
        await_turn(&loop, sel, &fl);
        cr_assert_eq(winner, 1);
        cr_assert_eq(fut_result(sel), 1, "event %d: no line", i);
        cr_assert_eq(len, 11);
        cr_assert_eq(atoi(line + 6), i, "event %d out of order", i);
        fut_reuse(slots[1]);
        fut_reuse(sel);
    }
    cr_assert_eq(fut_stats()->allocs, warm,
                 "%lu allocations for %d events in steady state",
                 fut_stats()->allocs - warm, EVENTS - WARM_UP);
    fut_drop(sel);
    fut_drop(slots[0]);
    fut_drop(slots[1]);
    fut_interval_close(iv);
    fut_tcp_close(c);
    fut_tcp_listener_close(l);
    close(fl.fd);
    free(fl.bytes);
    ft_close_loop(&loop);
}
