/* Unit tests for fut/tcp: connect, accept, read a line, write all.
 *
 * The peer is a plain socket in the test itself (non-blocking), written
 * and read between loop turns, so every situation is made on purpose:
 * a line that trickles in byte by byte, a peer that does not read. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>

#include "fut/comb.h"
#include "fut/tcp.h"
#include "futtest.h"

__attribute__((constructor)) static void ignore_sigpipe(void)
{
    signal(SIGPIPE, SIG_IGN);
}

static struct addr loopback0(void)
{
    struct addr a;

    cr_assert_eq(addr_parse("127.0.0.1:0", &a), 0);
    return a;
}

static struct fut_tcp_listener *listen_here(uv_loop_t *loop, struct addr *where)
{
    struct fut_tcp_listener *l;
    struct addr any = loopback0();

    cr_assert_eq(fut_tcp_listen(loop, &any, "ERR busy\n", &l), 0);
    cr_assert_eq(fut_tcp_listener_addr(l, where), 0);
    return l;
}

/* A plain non-blocking client socket, connected (the kernel completes the
 * handshake into the listener's backlog before anybody accepts). */
static int raw_connect(const struct addr *where)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    cr_assert_geq(fd, 0);
    cr_assert_eq(connect(fd, (const struct sockaddr *)&where->ss, where->len),
                 0);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

static struct fut_tcp *accept_one(uv_loop_t *loop, struct fut_tcp_listener *l)
{
    struct fut_tcp *c = NULL;

    cr_assert_eq(ft_run(loop, fut_tcp_accept(l, &c)), 0);
    cr_assert_not_null(c);
    return c;
}

static void send_all(int fd, const char *s, size_t n)
{
    cr_assert_eq(write(fd, s, n), (ssize_t)n);
}

/* --- the world of one test ----------------------------------------------- */

struct world {
    struct fut_tcp_listener *l;
    struct addr where;
    int peer;             /* raw socket, or -1 */
    struct fut_tcp *conn; /* our end, accepted from peer */
    struct fut_tcp *out;  /* what a connect/accept under test produced */
    const char *script;   /* bytes the peer trickles, one per pump */
    size_t sent, len;
    const char *line;
    size_t line_len;
    char *big; /* what write_all sends */
    size_t big_len;
    size_t drained; /* bytes the peer has read */
};

static void world_listen(uv_loop_t *loop, void *arg)
{
    struct world *w = arg;

    w->l = listen_here(loop, &w->where);
    w->peer = -1;
    w->out = NULL;
    w->sent = w->drained = 0;
}

static void world_connected(uv_loop_t *loop, void *arg)
{
    struct world *w = arg;

    world_listen(loop, arg);
    w->peer = raw_connect(&w->where);
    w->conn = accept_one(loop, w->l);
}

static void world_teardown(uv_loop_t *loop, void *arg)
{
    struct world *w = arg;

    (void)loop;
    fut_tcp_close(w->out);
    w->out = NULL;
    fut_tcp_close(w->conn);
    w->conn = NULL;
    fut_tcp_listener_close(w->l);
    if (w->peer >= 0)
        close(w->peer);
}

static void pump_trickle(void *arg)
{
    struct world *w = arg;

    if (w->sent < w->len) {
        send_all(w->peer, w->script + w->sent, 1);
        w->sent++;
    }
}

static void pump_drain(void *arg)
{
    struct world *w = arg;
    static char sink[1 << 18];
    ssize_t n;

    while ((n = read(w->peer, sink, sizeof sink)) > 0)
        w->drained += (size_t)n;
}

static void pump_connect(void *arg)
{
    struct world *w = arg;

    if (w->peer < 0)
        w->peer = raw_connect(&w->where);
}

/* --- connect and accept -------------------------------------------------- */

Test(tcp, connect_and_accept_meet_and_carry_a_line)
{
    uv_loop_t loop;
    struct world w = {0};
    struct fut_tcp *client = NULL, *server = NULL;
    struct fut *fs[2];
    const char *line;
    size_t len;
    struct addr peer;
    char text[ADDR_TEXT_MAX];

    uv_loop_init(&loop);
    world_listen(&loop, &w);
    fs[0] = fut_tcp_connect(&loop, (struct sockaddr *)&w.where.ss, &client);
    fs[1] = fut_tcp_accept(w.l, &server);
    cr_assert_eq(ft_run(&loop, fut_join(fs, 2, NULL)), 0);
    cr_assert_eq(ft_run(&loop, fut_tcp_write_all(client, "ping\n", 5)), 0);
    cr_assert_eq(ft_run(&loop, fut_tcp_read_line(server, &line, &len)), 1);
    cr_assert_eq(len, 4);
    cr_assert_eq(memcmp(line, "ping", 4), 0);
    cr_assert_eq(fut_tcp_peer(server, &peer), 0);
    addr_format((struct sockaddr *)&peer.ss, text, sizeof text);
    cr_assert_eq(strncmp(text, "127.0.0.1:", 10), 0, "peer is %s", text);
    fut_tcp_close(client);
    fut_tcp_close(server);
    fut_tcp_listener_close(w.l);
    ft_close_loop(&loop);
}

Test(tcp, connect_to_a_closed_port_is_refused)
{
    uv_loop_t loop;
    struct world w = {0};
    struct fut_tcp *c = NULL;

    uv_loop_init(&loop);
    world_listen(&loop, &w);
    fut_tcp_listener_close(w.l);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(ft_run(&loop, fut_tcp_connect(
                                   &loop, (struct sockaddr *)&w.where.ss, &c)),
                 -ECONNREFUSED);
    cr_assert_null(c);
    ft_close_loop(&loop);
}

Test(tcp, a_dropped_accept_takes_no_connection)
{
    uv_loop_t loop;
    struct world w = {0};
    struct probe p = {0};
    struct fut_tcp *c = NULL;
    struct fut *f;

    uv_loop_init(&loop);
    world_listen(&loop, &w);
    f = fut_tcp_accept(w.l, &c);
    cr_assert_eq(ft_poll(f, &p), FUT_PENDING);
    w.peer = raw_connect(&w.where);
    ft_wait_wake(&loop, &p, 0, NULL, NULL);
    fut_drop(f);
    cr_assert_null(c);
    w.conn = accept_one(&loop, w.l);
    send_all(w.peer, "x\n", 2);
    world_teardown(&loop, &w);
    ft_close_loop(&loop);
}

/* --- reading lines ------------------------------------------------------- */

Test(tcp, read_line_assembles_a_line_that_trickles_in)
{
    uv_loop_t loop;
    struct world w = {.script = "hello\n", .len = 6};
    const char *line;
    size_t len;
    struct fut *f;

    uv_loop_init(&loop);
    world_connected(&loop, &w);
    f = fut_tcp_read_line(w.conn, &line, &len);
    cr_assert_geq(ft_drive(&loop, f, pump_trickle, &w), 2);
    cr_assert_eq(fut_result(f), 1);
    cr_assert_eq(len, 5);
    cr_assert_eq(memcmp(line, "hello", 5), 0);
    fut_drop(f);
    world_teardown(&loop, &w);
    ft_close_loop(&loop);
}

Test(tcp, read_line_keeps_what_follows_and_reports_eof)
{
    uv_loop_t loop;
    struct world w = {0};
    const char *line;
    size_t len;

    uv_loop_init(&loop);
    world_connected(&loop, &w);
    send_all(w.peer, "a\0z\nbb\nccc", 10);
    shutdown(w.peer, SHUT_WR);
    cr_assert_eq(ft_run(&loop, fut_tcp_read_line(w.conn, &line, &len)), 1);
    cr_assert_eq(len, 3);
    cr_assert_eq(memcmp(line, "a\0z", 3), 0, "NUL is a byte like any other");
    cr_assert_eq(ft_run(&loop, fut_tcp_read_line(w.conn, &line, &len)), 1);
    cr_assert_eq(len, 2);
    cr_assert_eq(ft_run(&loop, fut_tcp_read_line(w.conn, &line, &len)), 0,
                 "EOF is 0");
    cr_assert_eq(fut_tcp_pending(w.conn), 3, "closed in the middle of ccc");
    world_teardown(&loop, &w);
    ft_close_loop(&loop);
}

Test(tcp, read_line_refuses_a_line_over_the_limit)
{
    uv_loop_t loop;
    struct world w = {0};
    const char *line;
    size_t len;

    uv_loop_init(&loop);
    world_connected(&loop, &w);
    fut_tcp_set_max_line(w.conn, 8);
    send_all(w.peer, "123456789012345678", 18);
    cr_assert_eq(ft_run(&loop, fut_tcp_read_line(w.conn, &line, &len)),
                 -EMSGSIZE);
    world_teardown(&loop, &w);
    ft_close_loop(&loop);
}

Test(tcp, a_line_exactly_at_the_limit_is_accepted)
{
    uv_loop_t loop;
    struct world w = {0};
    const char *line;
    size_t len;

    uv_loop_init(&loop);
    world_connected(&loop, &w);
    fut_tcp_set_max_line(w.conn, 8);
    send_all(w.peer, "12345678\n", 9);
    cr_assert_eq(ft_run(&loop, fut_tcp_read_line(w.conn, &line, &len)), 1);
    cr_assert_eq(len, 8);
    world_teardown(&loop, &w);
    ft_close_loop(&loop);
}

Test(tcp, a_dropped_read_loses_no_byte)
{
    uv_loop_t loop;
    struct world w = {0};
    struct probe p = {0};
    const char *line;
    size_t len;
    struct fut *f;

    uv_loop_init(&loop);
    world_connected(&loop, &w);
    f = fut_tcp_read_line(w.conn, &line, &len);
    cr_assert_eq(ft_poll(f, &p), FUT_PENDING);
    send_all(w.peer, "par", 3);
    ft_wait_wake(&loop, &p, 0, NULL, NULL);
    cr_assert_eq(ft_poll(f, &p), FUT_PENDING);
    fut_drop(f);
    send_all(w.peer, "tial\n", 5);
    cr_assert_eq(ft_run(&loop, fut_tcp_read_line(w.conn, &line, &len)), 1);
    cr_assert_eq(len, 7);
    cr_assert_eq(memcmp(line, "partial", 7), 0);
    world_teardown(&loop, &w);
    ft_close_loop(&loop);
}

/* --- writing ------------------------------------------------------------- */

#define BIG (4u << 20)

static char *make_big(void)
{
    char *b = malloc(BIG);

    for (size_t i = 0; i < BIG; i++)
        b[i] = (char)('a' + i % 26);
    return b;
}

Test(tcp, write_all_sends_every_byte_to_a_slow_reader)
{
    uv_loop_t loop;
    struct world w = {0};
    struct fut *f;

    uv_loop_init(&loop);
    world_connected(&loop, &w);
    w.big = make_big();
    f = fut_tcp_write_all(w.conn, w.big, BIG);
    /* 4 MiB cannot all fit in the socket buffers: it must wait for the
     * reader, which reads between loop turns. */
    cr_assert_geq(ft_drive(&loop, f, pump_drain, &w), 2);
    cr_assert_eq(fut_result(f), 0);
    fut_drop(f);
    /* uv_close() closes the socket at once: the peer reads to EOF. */
    fut_tcp_close(w.conn);
    w.conn = NULL;
    fcntl(w.peer, F_SETFL, 0);
    pump_drain(&w);
    cr_assert_eq(w.drained, BIG);
    free(w.big);
    world_teardown(&loop, &w);
    ft_close_loop(&loop);
}

Test(tcp, write_to_a_reset_peer_fails)
{
    uv_loop_t loop;
    struct world w = {0};
    struct linger lg = {1, 0};
    int rc = 0;

    uv_loop_init(&loop);
    world_connected(&loop, &w);
    setsockopt(w.peer, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(w.peer); /* RST */
    w.peer = -1;
    usleep(20000);
    for (int i = 0; i < 20 && rc == 0; i++)
        rc = ft_run(&loop, fut_tcp_write_all(w.conn, "data\n", 5));
    cr_assert(rc == -ECONNRESET || rc == -EPIPE, "got %d", rc);
    world_teardown(&loop, &w);
    ft_close_loop(&loop);
}

/* --- cancellation at every pending point --------------------------------- */

static struct fut *make_connect(uv_loop_t *loop, void *arg)
{
    struct world *w = arg;

    return fut_tcp_connect(loop, (struct sockaddr *)&w->where.ss, &w->out);
}

Test(tcp, connect_can_be_dropped_at_every_pending_point)
{
    struct world w = {0};
    struct ft_cancel_case c = {&w, world_listen, make_connect, NULL,
                               world_teardown};

    cr_assert_geq(ft_cancel_everywhere(&c, 20), 2);
}

static struct fut *make_accept(uv_loop_t *loop, void *arg)
{
    struct world *w = arg;

    (void)loop;
    return fut_tcp_accept(w->l, &w->out);
}

Test(tcp, accept_can_be_dropped_at_every_pending_point)
{
    struct world w = {0};
    struct ft_cancel_case c = {&w, world_listen, make_accept, pump_connect,
                               world_teardown};

    cr_assert_geq(ft_cancel_everywhere(&c, 20), 2);
}

static struct fut *make_read(uv_loop_t *loop, void *arg)
{
    struct world *w = arg;

    (void)loop;
    return fut_tcp_read_line(w->conn, &w->line, &w->line_len);
}

Test(tcp, read_line_can_be_dropped_at_every_pending_point)
{
    struct world w = {.script = "abcd\n", .len = 5};
    struct ft_cancel_case c = {&w, world_connected, make_read, pump_trickle,
                               world_teardown};

    cr_assert_geq(ft_cancel_everywhere(&c, 50), 3);
}

static struct fut *make_write(uv_loop_t *loop, void *arg)
{
    struct world *w = arg;

    (void)loop;
    return fut_tcp_write_all(w->conn, w->big, BIG);
}

Test(tcp, write_all_can_be_dropped_at_every_pending_point)
{
    struct world w = {0};
    struct ft_cancel_case c = {&w, world_connected, make_write, pump_drain,
                               world_teardown};

    w.big = make_big();
    cr_assert_geq(ft_cancel_everywhere(&c, 50), 2);
    free(w.big);
}

/* --- out of file descriptors --------------------------------------------- */

#include <sys/resource.h>

/* Criterion runs each test in a process of its own: the limit stays
 * there. (Valgrind does not let a program lower it, since it keeps
 * descriptors of its own at the top of the table: under valgrind these
 * tests fail here, saying so.) */
static void lower_fd_limit(const struct rlimit *to)
{
    if (setrlimit(RLIMIT_NOFILE, to) < 0)
        cr_assert_fail("cannot lower RLIMIT_NOFILE here: %s", strerror(errno));
}

/* Fills the descriptor table; returns how many were taken (in fds[]). */
static int exhaust_fds(int *fds, int max)
{
    int n = 0;

    while (n < max && (fds[n] = open("/dev/null", O_RDONLY)) >= 0)
        n++;
    cr_assert_eq(errno, EMFILE);
    return n;
}

static void release_fds(int *fds, int n)
{
    while (n > 0)
        close(fds[--n]);
}

Test(tcp, out_of_fds_accept_turns_the_waiting_one_away_and_waits_on)
{
    uv_loop_t loop;
    struct world w = {0};
    struct rlimit few = {64, 64};
    struct probe p = {0};
    struct fut *f;
    int fds[64], n, early, late;
    char got[32] = {0};

    lower_fd_limit(&few);
    uv_loop_init(&loop);
    world_listen(&loop, &w);
    early = socket(AF_INET, SOCK_STREAM, 0);
    late = socket(AF_INET, SOCK_STREAM, 0);
    n = exhaust_fds(fds, 64);
    cr_assert_eq(connect(early, (struct sockaddr *)&w.where.ss, w.where.len),
                 0);
    /* The spare descriptor makes room: early is told, closed, and the
     * accept keeps waiting for a client it can serve. */
    f = fut_tcp_accept(w.l, &w.out);
    cr_assert_eq(ft_poll(f, &p), FUT_PENDING);
    cr_assert_null(w.out);
    cr_assert_eq(read(early, got, sizeof got), 9);
    cr_assert_str_eq(got, "ERR busy\n");
    cr_assert_eq(read(early, got, sizeof got), 0, "not closed");
    /* Descriptors come back: the same accept takes the next client. */
    release_fds(fds, n);
    cr_assert_eq(connect(late, (struct sockaddr *)&w.where.ss, w.where.len), 0);
    ft_wait_wake(&loop, &p, 0, NULL, NULL);
    cr_assert_eq(ft_poll(f, &p), FUT_READY);
    cr_assert_eq(fut_result(f), 0);
    cr_assert_not_null(w.out);
    fut_drop(f);
    w.conn = w.out;
    w.out = NULL;
    close(early);
    close(late);
    world_teardown(&loop, &w);
    ft_close_loop(&loop);
}

Test(tcp, accept_without_a_spare_descriptor_fails_with_emfile)
{
    uv_loop_t loop;
    struct world w = {0};
    struct rlimit few = {64, 64};
    int fds[64], n, early;

    lower_fd_limit(&few);
    uv_loop_init(&loop);
    early = socket(AF_INET, SOCK_STREAM, 0);
    n = exhaust_fds(fds, 64);
    close(fds[--n]); /* one slot: for the listening socket, none spare */
    world_listen(&loop, &w);
    cr_assert_eq(connect(early, (struct sockaddr *)&w.where.ss, w.where.len),
                 0);
    cr_assert_eq(ft_run(&loop, fut_tcp_accept(w.l, &w.out)), -EMFILE);
    cr_assert_null(w.out);
    /* The client still waits in the backlog: once a descriptor is back,
     * it is served, not lost. */
    close(fds[--n]);
    cr_assert_eq(ft_run(&loop, fut_tcp_accept(w.l, &w.out)), 0);
    cr_assert_not_null(w.out);
    release_fds(fds, n);
    close(early);
    world_teardown(&loop, &w);
    ft_close_loop(&loop);
}

Test(tcp, turn_away_tells_a_connection_and_closes_it)
{
    uv_loop_t loop;
    struct world w = {0};
    char got[32] = {0};

    uv_loop_init(&loop);
    world_connected(&loop, &w);
    cr_assert_eq(fut_tcp_turn_away(w.conn, "ERR busy\n"), 0);
    w.conn = NULL;
    cr_assert_eq(read(w.peer, got, sizeof got), 9);
    cr_assert_str_eq(got, "ERR busy\n");
    cr_assert_eq(read(w.peer, got, sizeof got), 0, "not closed");
    world_teardown(&loop, &w);
    ft_close_loop(&loop);
}

Test(tcp, a_closed_listener_refuses_connects_at_once)
{
    uv_loop_t loop;
    struct world w = {0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    uv_loop_init(&loop);
    world_listen(&loop, &w);
    fut_tcp_listener_close(w.l);
    /* No loop turn yet: the socket is closed by fut_tcp_listener_close
     * itself, not later in a callback. */
    cr_assert_eq(connect(fd, (struct sockaddr *)&w.where.ss, w.where.len), -1);
    cr_assert_eq(errno, ECONNREFUSED);
    close(fd);
    ft_close_loop(&loop);
}
