/* Unit tests for server: the accept loop and client bookkeeping of a
 * futures server. The clients here echo one line. */
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>

#include "fut/co.h"
#include "futtest.h"
#include "server.h"

/* A client that echoes one line, then waits for its peer to leave. */
struct echo {
    struct server_client sc;
    struct co co;
    struct fut *op;
    const char *line;
    size_t len;
    int rc;
};

static int echo_drops;

static enum fut_poll echo_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct echo *e = (struct echo *)f;

    CO_BEGIN(&e->co);
    e->op = fut_tcp_read_line(e->sc.conn, &e->line, &e->len);
    CO_AWAIT_TAKE(&e->co, ctx, &e->op, e->rc);
    e->op = fut_tcp_write_all(e->sc.conn, e->line, e->len);
    CO_AWAIT_TAKE(&e->co, ctx, &e->op, e->rc);
    e->op = fut_tcp_read_line(e->sc.conn, &e->line, &e->len);
    CO_AWAIT_TAKE(&e->co, ctx, &e->op, e->rc);
    CO_RETURN(&e->co, &e->sc, 0);
    CO_END(&e->co);
}

static void echo_drop(struct fut *f)
{
    struct echo *e = (struct echo *)f;

    echo_drops++;
    fut_clear(&e->op);
    server_client_release(&e->sc);
    fut_mem_free(f);
}

static const struct fut_vtable echo_vt = {"echo", echo_poll, echo_drop};

static struct echo *last_client;

static struct server_client *echo_new(void *arg)
{
    struct echo *e = (struct echo *)fut_alloc(&echo_vt, sizeof *e);

    (void)arg;
    last_client = e;
    return e != NULL ? &e->sc : NULL;
}

struct rig {
    uv_loop_t loop;
    struct fut_exec *ex;
    struct server *s;
    struct addr where;
};

static void rig_start(struct rig *r, int64_t max_clients)
{
    struct server_config cfg = {max_clients, "ERR busy\n", echo_new, NULL};
    struct addr any;
    int err;

    echo_drops = 0;
    cr_assert_eq(uv_loop_init(&r->loop), 0);
    r->ex = fut_exec_new(&r->loop);
    cr_assert_eq(addr_parse("127.0.0.1:0", &any), 0);
    r->s = server_new(r->ex, &r->loop, &any, &cfg, &err);
    cr_assert_not_null(r->s, "server_new: %d", err);
    cr_assert_eq(server_addr(r->s, &r->where), 0);
    cr_assert_eq(server_start(r->s), 0);
}

static void rig_end(struct rig *r)
{
    server_free(r->s);
    fut_exec_free(r->ex);
    ft_close_loop(&r->loop);
}

static int dial(const struct rig *r)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    cr_assert_eq(
        connect(fd, (const struct sockaddr *)&r->where.ss, r->where.len), 0);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

/* Runs the loop until fd has something to read (or its end); returns what
 * read() gave: a count, or 0 at the end. */
static ssize_t read_when_ready(struct rig *r, int fd, char *into, size_t max)
{
    for (int turn = 0; turn < FT_MAX_TURNS; turn++) {
        ssize_t n = read(fd, into, max);

        if (n >= 0)
            return n;
        uv_run(&r->loop, UV_RUN_NOWAIT);
        usleep(500);
    }
    cr_assert_fail("nothing to read after %d loop turns", FT_MAX_TURNS);
    return -1;
}

Test(server, serves_up_to_max_clients_and_turns_the_next_away)
{
    struct rig r;
    char got[32] = {0};
    int a, b;
    long live = ft_live_allocs();

    rig_start(&r, 1);
    a = dial(&r);
    cr_assert_eq(write(a, "hi\n", 3), 3);
    cr_assert_eq(read_when_ready(&r, a, got, sizeof got), 2);
    cr_assert_eq(memcmp(got, "hi", 2), 0);
    b = dial(&r);
    cr_assert_eq(read_when_ready(&r, b, got, sizeof got), 9);
    cr_assert_eq(memcmp(got, "ERR busy\n", 9), 0);
    cr_assert_eq(read_when_ready(&r, b, got, sizeof got), 0, "not closed");
    close(b);
    /* The first one leaves: its place is free again. */
    close(a);
    b = dial(&r);
    cr_assert_eq(write(b, "again\n", 6), 6);
    cr_assert_eq(read_when_ready(&r, b, got, sizeof got), 5,
                 "a place freed by a client that left was not given back");
    close(b);
    rig_end(&r);
    cr_assert_eq(echo_drops, 2);
    cr_assert_eq(ft_live_allocs(), live);
}

Test(server, client_close_cancels_that_client_only)
{
    struct rig r;
    char got[32] = {0};
    int a;

    rig_start(&r, 4);
    a = dial(&r);
    cr_assert_eq(write(a, "x\n", 2), 2);
    cr_assert_eq(read_when_ready(&r, a, got, sizeof got), 1);
    server_client_close(&last_client->sc, "test");
    cr_assert_eq(echo_drops, 1, "cancelling is synchronous");
    cr_assert_eq(read_when_ready(&r, a, got, sizeof got), 0, "not closed");
    close(a);
    rig_end(&r);
}

Test(server, stop_cancels_every_client_and_refuses_connects)
{
    struct rig r;
    char got[32] = {0};
    int a, b, late;
    long live = ft_live_allocs();

    rig_start(&r, 4);
    a = dial(&r);
    b = dial(&r);
    cr_assert_eq(write(a, "x\n", 2), 2);
    cr_assert_eq(write(b, "y\n", 2), 2);
    cr_assert_eq(read_when_ready(&r, a, got, sizeof got), 1);
    cr_assert_eq(read_when_ready(&r, b, got, sizeof got), 1);
    server_stop(r.s);
    cr_assert_eq(echo_drops, 2);
    cr_assert_eq(read_when_ready(&r, a, got, sizeof got), 0);
    cr_assert_eq(read_when_ready(&r, b, got, sizeof got), 0);
    late = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_neq(connect(late, (struct sockaddr *)&r.where.ss, r.where.len), 0,
                  "a connect after server_stop() was accepted");
    close(late);
    close(a);
    close(b);
    rig_end(&r);
    cr_assert_eq(ft_live_allocs(), live);
}
