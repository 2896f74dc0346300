/* Unit tests for outq: a subscriber's output queue and the future that
 * writes it. */
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "fut/tcp.h"
#include "futtest.h"
#include "outq.h"

/* A connection: a raw peer socket and our end of it. */
struct pair {
    struct fut_tcp_listener *l;
    struct fut_tcp *conn;
    int peer;
    struct outq q;
    char got[256];
    size_t got_len;
    bool peer_done;   /* the peer has ended its side */
    size_t end_after; /* the peer ends its side once it got this much */
};

static void pair_open(uv_loop_t *loop, void *arg)
{
    struct pair *p = arg;
    struct addr any, where;

    cr_assert_eq(addr_parse("127.0.0.1:0", &any), 0);
    cr_assert_eq(fut_tcp_listen(loop, &any, "ERR busy\n", &p->l), 0);
    cr_assert_eq(fut_tcp_listener_addr(p->l, &where), 0);
    p->peer = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(connect(p->peer, (struct sockaddr *)&where.ss, where.len), 0);
    fcntl(p->peer, F_SETFL, O_NONBLOCK);
    cr_assert_eq(ft_run(loop, fut_tcp_accept(p->l, &p->conn)), 0);
    cr_assert_eq(outq_init(&p->q), 0);
    p->got_len = 0;
    p->peer_done = false;
}

static void pair_close(uv_loop_t *loop, void *arg)
{
    struct pair *p = arg;

    (void)loop;
    fut_tcp_close(p->conn);
    fut_tcp_listener_close(p->l);
    close(p->peer);
    outq_free(&p->q);
}

/* The peer reads what came, and ends its side once it has it all. */
static void peer_pump(void *arg)
{
    struct pair *p = arg;
    ssize_t n =
        read(p->peer, p->got + p->got_len, sizeof p->got - 1 - p->got_len);

    if (n > 0)
        p->got_len += (size_t)n;
    if (!p->peer_done && p->got_len >= p->end_after) {
        shutdown(p->peer, SHUT_WR);
        p->peer_done = true;
    }
}

/* JR-9: bytes only count once the kernel refused them. A burst queued
 * before the serving task ran is nobody's fault; a peer that does not
 * read makes the kernel refuse, and then every byte behind counts. (A
 * held queue, not served yet, counts whole.) */
Test(outq, push_counts_only_what_the_kernel_refused)
{
    enum { BLOCK = 65536, BLOCKS = 128, MAX = 65536 };
    static char block[BLOCK];
    uv_loop_t loop;
    struct pair p = {.end_after = SIZE_MAX};
    struct probe pr = {0};
    struct fut *f;

    uv_loop_init(&loop);
    pair_open(&loop, &p);
    memset(block, 'x', sizeof block);
    cr_assert_eq(outq_push(&p.q, block, MAX, MAX), 0);
    cr_assert_eq(outq_push(&p.q, "0", 1, MAX), -ENOBUFS,
                 "a held queue (nobody serves it yet) counts whole");
    f = outq_serve(&p.q, p.conn);
    for (int i = 1; i < BLOCKS; i++) /* 8 MiB, 128 x the limit */
        cr_assert_eq(outq_push(&p.q, block, BLOCK, MAX), 0,
                     "bytes never offered to the kernel were counted");
    cr_assert_eq(p.q.unsent, 0);
    outq_ring(&p.q);
    /* The peer reads nothing: the kernel takes what its buffers hold and
     * refuses the rest. */
    cr_assert_eq(ft_poll(f, &pr), FUT_PENDING);
    cr_assert_gt(fut_tcp_unsent(p.conn), 0, "8 MiB fit in the kernel?");
    cr_assert_eq(outq_push(&p.q, "0123456789", 10, MAX), -ENOBUFS,
                 "a peer that does not read must be found slow");
    cr_assert_gt(p.q.unsent, MAX);
    fut_drop(f);
    cr_assert_eq(p.q.conn, NULL, "the dropped serve left its connection");
    pair_close(&loop, &p);
    ft_close_loop(&loop);
}

Test(outq, serve_writes_what_is_queued_and_rung_then_ends_when_the_peer_does)
{
    uv_loop_t loop;
    struct pair p = {.end_after = 6};
    struct probe pr = {0};
    struct fut *f;
    int before;

    uv_loop_init(&loop);
    pair_open(&loop, &p);
    outq_push(&p.q, "one\n", 4, 100);
    f = outq_serve(&p.q, p.conn);
    cr_assert_eq(ft_poll(f, &pr), FUT_PENDING);
    /* Later bytes wait for the ring: pushing alone is not enough. */
    outq_push(&p.q, "two\n", 4, 100);
    outq_ring(&p.q);
    before = pr.wakes;
    while (ft_poll(f, &pr) == FUT_PENDING) {
        ft_wait_wake(&loop, &pr, before, peer_pump, &p);
        before = pr.wakes;
    }
    cr_assert_eq(fut_result(f), 0, "the peer's end is the end");
    fut_drop(f);
    p.got[p.got_len] = '\0';
    cr_assert_str_eq(p.got, "one\ntwo\n");
    cr_assert_eq(p.q.unsent, 0);
    pair_close(&loop, &p);
    ft_close_loop(&loop);
}

static struct pair case_pair = {.end_after = 4};

static struct fut *make_serve(uv_loop_t *loop, void *arg)
{
    struct pair *p = arg;

    (void)loop;
    outq_push(&p->q, "one\n", 4, 100);
    return outq_serve(&p->q, p->conn);
}

Test(outq, serve_can_be_dropped_at_every_pending_point)
{
    struct ft_cancel_case c = {&case_pair, pair_open, make_serve, peer_pump,
                               pair_close};

    cr_assert_geq(ft_cancel_everywhere(&c, 20), 2);
}
