/* Unit tests for manual-statemachine/server: the event-loop server's
 * connections, lines, busy answer, backlog limit and orderly stop (JR-2,
 * JR-9, JR-10, JR-11, COM-6). Clients are plain blocking sockets of the
 * test; the loop runs in slices between their calls. Every test counts
 * the callbacks, stops the server and checks the loop ends clean. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "clock.h"
#include "report.h"
#include "server.h"

/* How long a test lets the loop run for something that should happen at
 * once. */
enum { WAIT_MS = 5000 };

struct world {
    uv_loop_t loop;
    struct server s;
    struct addr where; /* where the server listens */
    int lines;         /* on_line calls */
    char last[64];     /* the last line */
    int leaves;        /* on_leave calls */
    int stops;         /* on_stop calls */
    int idles;         /* on_idle calls */
};

static void on_line(struct server_conn *c, const char *line, size_t len)
{
    struct world *w = c->server->data;

    w->lines++;
    snprintf(w->last, sizeof(w->last), "%.*s", (int)len, line);
}

static void on_leave(struct server_conn *c)
{
    ((struct world *)c->server->data)->leaves++;
}

static void on_stop(struct server *s, int status)
{
    (void)status;
    ((struct world *)s->data)->stops++;
    server_stop(s);
}

static void on_idle(struct server *s)
{
    ((struct world *)s->data)->idles++;
}

static void world_start(struct world *w, int64_t max_clients,
                        int64_t max_backlog)
{
    const struct server_config cfg = {
        .conn_size = sizeof(struct server_conn),
        .max_clients = max_clients,
        .max_backlog = max_backlog,
        .busy_line = "ERR busy\n",
        .on_line = on_line,
        .on_leave = on_leave,
        .on_stop = on_stop,
        .on_idle = on_idle,
    };
    struct addr any;

    memset(w, 0, sizeof(*w));
    cr_assert_eq(uv_loop_init(&w->loop), 0);
    cr_assert_eq(addr_parse("127.0.0.1:0", &any), 0);
    cr_assert_eq(server_listen(&w->s, &w->loop, &any, &cfg), 0);
    w->s.data = w;
    cr_assert_eq(addr_parse(w->s.listener.shown, &w->where), 0);
    server_start(&w->s);
}

/* Stops the server, closes its last handles once idle, and checks that
 * the loop ends with nothing left open. */
static void world_stop(struct world *w)
{
    server_stop(&w->s);
    while (!server_idle(&w->s))
        uv_run(&w->loop, UV_RUN_ONCE);
    cr_assert_eq(w->idles, 1, "on_idle once");
    server_close(&w->s);
    cr_assert_eq(uv_run(&w->loop, UV_RUN_DEFAULT), 0);
    cr_assert_eq(uv_loop_close(&w->loop), 0, "a handle was left open");
}

/* Runs the loop in slices until *what >= want, for at most WAIT_MS. */
static void run_until(struct world *w, const int *what, int want)
{
    int64_t deadline = clock_deadline_in(WAIT_MS);

    while (*what < want && !clock_passed(deadline))
        uv_run(&w->loop, UV_RUN_NOWAIT);
    cr_assert_geq(*what, want, "got %d, want %d", *what, want);
}

static int client(struct world *w)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    cr_assert_eq(connect(fd, (struct sockaddr *)&w->where.ss, w->where.len), 0);
    return fd;
}

/* Runs the loop until the client fd has received everything up to the
 * server's close; returns it in got (NUL-terminated), and the length or
 * -errno when it ended with an error. */
static ssize_t read_to_end(struct world *w, int fd, char *got, size_t size)
{
    int64_t deadline = clock_deadline_in(WAIT_MS);
    size_t n = 0;

    while (!clock_passed(deadline)) {
        ssize_t r = recv(fd, got + n, size - 1 - n, MSG_DONTWAIT);

        if (r == 0)
            break;
        if (r < 0 && errno != EAGAIN)
            return -errno;
        if (r > 0)
            n += (size_t)r;
        uv_run(&w->loop, UV_RUN_NOWAIT);
    }
    got[n] = '\0';
    return (ssize_t)n;
}

static void say(int fd, const char *text)
{
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
}

Test(sm_server, start_prints_the_ready_line, .init = cr_redirect_stdout)
{
    struct world w;
    char want[ADDR_TEXT_MAX + 16];

    world_start(&w, 10, 1 << 20);
    snprintf(want, sizeof(want), "listening on %s\n", w.s.listener.shown);
    world_stop(&w);
    fflush(stdout);
    cr_assert_stdout_eq_str(want);
}

Test(sm_server, lines_reach_on_line_in_order, .init = cr_redirect_stdout)
{
    struct world w;
    int c;

    world_start(&w, 10, 1 << 20);
    c = client(&w);
    say(c, "first\nsecond\nhalf");
    run_until(&w, &w.lines, 2);
    cr_assert_str_eq(w.last, "second");
    cr_assert_eq(w.s.connected, 1);
    close(c); /* a partial last line is not a line */
    run_until(&w, &w.leaves, 1);
    cr_assert_eq(w.lines, 2);
    world_stop(&w);
}

Test(sm_server, a_client_over_max_clients_is_told_busy,
     .init = cr_redirect_stdout)
{
    struct world w;
    char got[64];
    int first, second;

    world_start(&w, 1, 1 << 20);
    first = client(&w);
    say(first, "hi\n");
    run_until(&w, &w.lines, 1);
    second = client(&w);
    cr_assert_eq(read_to_end(&w, second, got, sizeof(got)), 9);
    cr_assert_str_eq(got, "ERR busy\n");
    cr_assert_eq(w.s.connected, 1, "the busy one was never a connection");
    close(second);
    close(first);
    world_stop(&w);
    cr_assert_eq(w.leaves, 1);
}

Test(sm_server, a_line_too_long_is_answered_then_closed,
     .init = cr_redirect_stdout)
{
    /* One byte over the limit and no '\n': the server reads it all, so
     * nothing unread makes its close a reset. */
    static char flood[LINE_MAX_BYTES + 1];
    struct world w;
    char got[64];
    int c;

    memset(flood, 'x', sizeof(flood));
    world_start(&w, 10, 1 << 20);
    c = client(&w);
    say(c, "ok\n");
    cr_assert_eq(write(c, flood, sizeof(flood)), (ssize_t)sizeof(flood));
    cr_assert_eq(read_to_end(&w, c, got, sizeof(got)), 18);
    cr_assert_str_eq(got, "ERR line too long\n");
    cr_assert_eq(w.lines, 1, "only the line before");
    run_until(&w, &w.leaves, 1);
    cr_assert_eq(w.leaves, 1, "on_leave once, refused then closed");
    close(c);
    world_stop(&w);
}

Test(sm_server, a_connection_over_its_backlog_is_closed,
     .init = cr_redirect_stdout)
{
    static char chunk[64 * 1024];
    struct world w;
    int c, sent = 0;

    world_start(&w, 10, 256 * 1024);
    c = client(&w); /* never reads */
    say(c, "hi\n");
    run_until(&w, &w.lines, 1);
    /* The backlog is checked when the loop writes, once per turn: only
     * what the kernel refused counts (JR-9). */
    while (w.leaves == 0 && sent < 1024) {
        cr_assert_eq(server_send(w.s.conns, chunk, sizeof(chunk)), 0);
        uv_run(&w.loop, UV_RUN_NOWAIT);
        sent++;
    }
    cr_assert_eq(w.leaves, 1, "never closed after %d chunks", sent);
    close(c);
    world_stop(&w);
}

Test(sm_server, stop_closes_every_connection_then_says_idle,
     .init = cr_redirect_stdout)
{
    struct world w;
    char got[8];
    int a, b, late;

    world_start(&w, 10, 1 << 20);
    a = client(&w);
    b = client(&w);
    say(a, "a\n");
    say(b, "b\n");
    run_until(&w, &w.lines, 2);
    server_stop(&w.s);
    cr_assert_eq(w.leaves, 2, "each connection let go of at once");
    cr_assert_eq(w.idles, 0, "not idle before the close callbacks");
    cr_assert_eq(read_to_end(&w, a, got, sizeof(got)), 0);
    late = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_eq(connect(late, (struct sockaddr *)&w.where.ss, w.where.len), -1,
                 "still accepting after server_stop()");
    cr_assert_eq(errno, ECONNREFUSED);
    close(late);
    world_stop(&w);
    close(a);
    close(b);
}
