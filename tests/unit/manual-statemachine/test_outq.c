/* Unit tests for manual-statemachine/outq: a connection's output queue on
 * libuv's loop (JR-9). The queue writes to one end of a local TCP
 * connection; the test reads the other end with plain calls. Every test
 * closes its handle and checks that the loop ends clean. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "clock.h"
#include "lsock.h"
#include "outq.h"

/* How long a test lets the loop run for something that should happen at
 * once. */
enum { WAIT_MS = 5000 };

struct world {
    uv_loop_t loop;
    uv_tcp_t tcp; /* the server's end, written by the queue */
    int peer;     /* the client's end, read by the test */
    struct outq_group g;
    struct outq q;
    int errors;     /* on_error calls */
    int last_error; /* their status */
    int closed;     /* close callbacks */
};

static void on_error(struct outq *q, int status)
{
    struct world *w = q->data;

    w->errors++;
    w->last_error = status;
}

static void on_closed(uv_handle_t *h)
{
    struct world *w = h->data;

    w->closed++;
}

/* A connected pair: the server's end opened in w->tcp, the client's end
 * (blocking) in w->peer; the queue made on w->tcp. */
static void world_open(struct world *w)
{
    struct lsock l;
    struct addr any, there;
    int fd;

    memset(w, 0, sizeof(*w));
    cr_assert_eq(uv_loop_init(&w->loop), 0);
    cr_assert_eq(addr_parse("127.0.0.1:0", &any), 0);
    cr_assert_eq(lsock_open(&l, &any, LSOCK_BLOCKING), 0);
    cr_assert_eq(addr_parse(l.shown, &there), 0);
    w->peer = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_eq(connect(w->peer, (struct sockaddr *)&there.ss, there.len), 0);
    fd = lsock_accept(&l, NULL, "ERR busy\n");
    cr_assert_geq(fd, 0);
    lsock_close(&l);
    cr_assert_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    uv_tcp_init(&w->loop, &w->tcp);
    w->tcp.data = w;
    cr_assert_eq(uv_tcp_open(&w->tcp, fd), 0);
    outq_group_init(&w->g, &w->loop, 1 << 30);
    outq_init(&w->q, &w->g, (uv_stream_t *)&w->tcp, on_error);
    w->q.data = w;
}

/* Closes the handle, runs the loop to its end, frees the queue (only
 * now: libuv may read its buffer until the close callback), and checks
 * that nothing was left open. */
static void world_close(struct world *w)
{
    uv_close((uv_handle_t *)&w->tcp, on_closed);
    uv_run(&w->loop, UV_RUN_NOWAIT);
    cr_assert_eq(w->closed, 1);
    outq_free(&w->q);
    outq_group_close(&w->g);
    cr_assert_eq(uv_run(&w->loop, UV_RUN_DEFAULT), 0);
    cr_assert_eq(uv_loop_close(&w->loop), 0, "a handle was left open");
    if (w->peer >= 0)
        close(w->peer);
}

/* Runs the loop until outq_unsent() is zero or WAIT_MS passed. */
static void run_until_sent(struct world *w)
{
    int64_t deadline = clock_deadline_in(WAIT_MS);

    while (outq_unsent(&w->q) > 0 && !clock_passed(deadline))
        uv_run(&w->loop, UV_RUN_NOWAIT);
    cr_assert_eq(outq_unsent(&w->q), 0);
}

/* Reads exactly n bytes from the peer (blocking, bounded by the kernel
 * buffers: the caller made sure they were sent). */
static void peer_reads(struct world *w, char *got, size_t n)
{
    size_t done = 0;

    while (done < n) {
        ssize_t r = read(w->peer, got + done, n - done);

        cr_assert_gt(r, 0, "the peer got %zu of %zu bytes", done, n);
        done += (size_t)r;
    }
}

/* The bytes the peer can read now, without waiting. */
static size_t peer_available(struct world *w)
{
    char buf[4096];
    ssize_t r = recv(w->peer, buf, sizeof(buf), MSG_DONTWAIT | MSG_PEEK);

    return r > 0 ? (size_t)r : 0;
}

/* Pushes chunks the peer does not read until some have to wait in the
 * queue (the kernel's buffers are full). Returns how many bytes. */
static size_t fill_until_waiting(struct world *w)
{
    static char chunk[64 * 1024];
    size_t pushed = 0;

    memset(chunk, 'z', sizeof(chunk));
    while (outq_unsent(&w->q) == 0 && pushed < 512 * sizeof(chunk)) {
        cr_assert_eq(outq_push(&w->q, chunk, sizeof(chunk)), 0);
        outq_flush(&w->g);
        pushed += sizeof(chunk);
    }
    cr_assert_gt(outq_unsent(&w->q), 0, "the queue never had to wait");
    return pushed;
}

Test(outq, pushes_wait_for_the_flush_then_go_out_together)
{
    static char got[3000];
    struct world w;

    world_open(&w);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(outq_push(&w.q, "abc", 3), 0);
    cr_assert_eq(peer_available(&w), 0, "a push never writes by itself");
    cr_assert_eq(outq_unsent(&w.q), 3000);
    outq_flush(&w.g);
    cr_assert_eq(outq_unsent(&w.q), 0, "the kernel took it: nothing waits");
    peer_reads(&w, got, sizeof(got));
    for (int i = 0; i < 1000; i++)
        cr_assert_arr_eq(got + 3 * i, "abc", 3);
    cr_assert_eq(w.errors, 0);
    world_close(&w);
}

Test(outq, the_loop_flushes_by_itself_once_per_turn)
{
    struct world w;
    char got[5];

    world_open(&w);
    cr_assert_eq(outq_push(&w.q, "hello", 5), 0);
    uv_run(&w.loop, UV_RUN_NOWAIT);
    cr_assert_eq(outq_unsent(&w.q), 0);
    peer_reads(&w, got, 5);
    cr_assert_arr_eq(got, "hello", 5);
    world_close(&w);
}

Test(outq, a_peer_over_max_unsent_fails_with_enobufs)
{
    struct world w;

    world_open(&w);
    w.g.max_unsent = 64 * 1024;
    fill_until_waiting(&w); /* the peer never reads */
    while (w.errors == 0 && outq_unsent(&w.q) <= w.g.max_unsent) {
        cr_assert_eq(outq_push(&w.q, "x", 1), 0);
        outq_flush(&w.g);
    }
    cr_assert_eq(w.errors, 1, "over max_unsent after a flush");
    cr_assert_eq(w.last_error, -ENOBUFS);
    world_close(&w);
}

Test(outq, a_held_queue_keeps_its_bytes_until_released_in_order)
{
    struct world w;
    char got[6];

    world_open(&w);
    outq_hold(&w.q);
    cr_assert_eq(outq_push(&w.q, "abc", 3), 0);
    cr_assert_eq(outq_push(&w.q, "def", 3), 0);
    cr_assert_eq(outq_unsent(&w.q), 6);
    uv_run(&w.loop, UV_RUN_NOWAIT);
    cr_assert_eq(peer_available(&w), 0, "a held queue sends nothing");
    cr_assert_eq(outq_release(&w.q), 0);
    run_until_sent(&w);
    peer_reads(&w, got, 6);
    cr_assert_arr_eq(got, "abcdef", 6);
    world_close(&w);
}

Test(outq, unsent_counts_what_a_slow_peer_has_not_taken)
{
    static char got[64 * 1024];
    struct world w;
    size_t pushed, read_back = 0;
    int64_t deadline;

    world_open(&w);
    pushed = fill_until_waiting(&w);
    /* Once the peer reads everything, nothing is unsent. */
    deadline = clock_deadline_in(WAIT_MS);
    while (read_back < pushed && !clock_passed(deadline)) {
        ssize_t r = recv(w.peer, got, sizeof(got), MSG_DONTWAIT);

        if (r > 0)
            read_back += (size_t)r;
        uv_run(&w.loop, UV_RUN_NOWAIT);
    }
    cr_assert_eq(read_back, pushed, "every byte pushed reaches the peer");
    cr_assert_eq(outq_unsent(&w.q), 0);
    cr_assert_eq(w.errors, 0);
    world_close(&w);
}

Test(outq, a_write_to_a_peer_that_reset_reports_an_error)
{
    static char chunk[64 * 1024];
    struct linger reset = {1, 0};
    struct world w;
    int64_t deadline;
    int rc = 0;

    world_open(&w);
    setsockopt(w.peer, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
    close(w.peer); /* a reset: the next writes fail */
    w.peer = -1;
    deadline = clock_deadline_in(WAIT_MS);
    while (rc == 0 && w.errors == 0 && !clock_passed(deadline)) {
        rc = outq_push(&w.q, chunk, sizeof(chunk));
        outq_flush(&w.g);
        uv_run(&w.loop, UV_RUN_NOWAIT);
    }
    /* The failure shows either at once (the push) or in the write's
     * callback (on_error), never as silence. */
    cr_assert(rc < 0 || w.errors == 1, "rc %d, errors %d", rc, w.errors);
    if (w.errors > 0)
        cr_assert_lt(w.last_error, 0);
    world_close(&w);
}

Test(outq, closing_with_bytes_in_flight_frees_everything)
{
    struct world w;

    world_open(&w);
    fill_until_waiting(&w);
    /* Closed while a write is in flight: its callback comes with
     * UV_ECANCELED, which is not an error to report. */
    world_close(&w);
    cr_assert_eq(w.errors, 0);
}
