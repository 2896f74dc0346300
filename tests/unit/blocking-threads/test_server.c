/* Unit tests for blocking-threads/server: a thread per connection, the
 * busy answer, a cooperative stop, the signal thread (JR-10, JR-11,
 * COM-8). server_run() runs in a thread of the test; serve() counts what
 * it was given. Criterion runs each test in a process of its own. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bsock.h"
#include "clock.h"
#include "lsock.h"
#include "server.h"

/* How long a test waits for something that should happen at once. */
enum { WAIT_MS = 5000 };

/* What the callbacks saw; guarded by lock. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int served;   /* serve() calls that started */
    int finished; /* serve() calls that returned */
    int signals;  /* on_signal() calls */
    int last_signal;
} seen = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0};

static struct server *current; /* the server under test */

static void count(int *what, int by)
{
    pthread_mutex_lock(&seen.lock);
    *what += by;
    pthread_cond_broadcast(&seen.changed);
    pthread_mutex_unlock(&seen.lock);
}

/* Waits until *what reaches at least want; fails after WAIT_MS. */
static void wait_count(const int *what, int want, const char *name)
{
    int64_t deadline = clock_deadline_in(WAIT_MS);
    int got;

    pthread_mutex_lock(&seen.lock);
    while (*what < want && !clock_passed(deadline)) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&seen.changed, &seen.lock, &ts);
    }
    got = *what;
    pthread_mutex_unlock(&seen.lock);
    cr_assert_geq(got, want, "%s: %d, want %d", name, got, want);
}

/* Echoes every line back until the client leaves or the server stops. */
static void serve_echo(struct server_conn *c)
{
    struct line_framer fr;
    const char *line;
    size_t len;

    count(&seen.served, 1);
    cr_assert_eq(line_framer_init(&fr, 100), 0);
    while (bsock_read_line(c->fd, &fr, BSOCK_FOREVER, NULL, &line, &len) == 1) {
        bsock_send_all(c->fd, line, len, BSOCK_FOREVER);
        bsock_send_all(c->fd, "\n", 1, BSOCK_FOREVER);
    }
    line_framer_free(&fr);
    count(&seen.finished, 1);
}

static void on_signal_stop(int signum)
{
    pthread_mutex_lock(&seen.lock);
    seen.last_signal = signum;
    pthread_mutex_unlock(&seen.lock);
    count(&seen.signals, 1);
    server_stop(current);
}

struct run {
    pthread_t thread;
    int rc;
};

static void *run_main(void *arg)
{
    struct run *r = arg;

    r->rc = server_run(current);
    return NULL;
}

/* A server on 127.0.0.1 (port chosen by the kernel), running in a thread
 * of its own; its ready line goes to the (redirected) stdout. */
static void start_server(int64_t max_clients, struct run *r)
{
    const struct server_config cfg = {max_clients, "ERR busy\n", serve_echo,
                                      on_signal_stop};
    struct addr any;
    int err = 0;

    cr_assert_eq(addr_parse("127.0.0.1:0", &any), 0);
    current = server_new(&any, &cfg, &err);
    cr_assert_not_null(current, "%s", strerror(-err));
    cr_assert_eq(server_announce(current), 0);
    cr_assert_eq(pthread_create(&r->thread, NULL, run_main, r), 0);
}

/* The port the announce line gave, parsed back from stdout. */
static void where_from_stdout(struct addr *where)
{
    char text[128] = {0}, *host;

    fflush(stdout);
    cr_assert_not_null(fgets(text, sizeof(text), cr_get_redirected_stdout()));
    cr_assert(strncmp(text, "listening on ", 13) == 0, "got \"%s\"", text);
    host = text + 13;
    host[strcspn(host, "\n")] = '\0';
    cr_assert_eq(addr_parse(host, where), 0, "got \"%s\"", host);
}

static int connect_to(const struct addr *where)
{
    int fd = bsock_socket(where);

    cr_assert_eq(bsock_connect(fd, where, clock_deadline_in(WAIT_MS)), 0);
    return fd;
}

/* Sends "text\n" on fd and reads one line back into got (size bytes). */
static void ask(int fd, const char *text, char *got, size_t size)
{
    struct line_framer fr;
    const char *line;
    size_t len;

    cr_assert_eq(
        bsock_send_all(fd, text, strlen(text), clock_deadline_in(WAIT_MS)), 0);
    cr_assert_eq(bsock_send_all(fd, "\n", 1, clock_deadline_in(WAIT_MS)), 0);
    cr_assert_eq(line_framer_init(&fr, 100), 0);
    cr_assert_eq(
        bsock_read_line(fd, &fr, clock_deadline_in(WAIT_MS), NULL, &line, &len),
        1);
    cr_assert_lt(len, size);
    memcpy(got, line, len);
    got[len] = '\0';
    line_framer_free(&fr);
}

static void stop_and_free(struct run *r)
{
    server_stop(current);
    pthread_join(r->thread, NULL);
    server_free(current);
    current = NULL;
}

Test(server, each_client_is_served_in_a_thread_of_its_own,
     .init = cr_redirect_stdout)
{
    struct addr where;
    struct run r;
    char got[32];
    int a, b;

    start_server(10, &r);
    where_from_stdout(&where);
    a = connect_to(&where);
    b = connect_to(&where);
    /* b is answered while a's thread still waits on a: two threads. */
    ask(b, "to b", got, sizeof(got));
    cr_assert_str_eq(got, "to b");
    ask(a, "to a", got, sizeof(got));
    cr_assert_str_eq(got, "to a");
    cr_assert_eq(seen.served, 2);
    close(a);
    close(b);
    wait_count(&seen.finished, 2, "serve() returned");
    stop_and_free(&r);
    cr_assert_eq(r.rc, 0);
}

Test(server, a_client_over_max_clients_is_told_busy_and_not_served,
     .init = cr_redirect_stdout)
{
    struct addr where;
    struct run r;
    char got[32] = {0};
    int first, second;
    ssize_t n = 0, k;

    start_server(1, &r);
    where_from_stdout(&where);
    first = connect_to(&where);
    wait_count(&seen.served, 1, "the first client served");
    second = connect_to(&where);
    while ((k = read(second, got + n, sizeof(got) - 1 - (size_t)n)) > 0)
        n += k;
    cr_assert_eq(k, 0, "a clean end after the line");
    cr_assert_str_eq(got, "ERR busy\n");
    cr_assert_eq(seen.served, 1, "the busy client was never served");
    close(second);
    close(first);
    stop_and_free(&r);
}

Test(server, stop_ends_every_connection_and_joins_its_thread,
     .init = cr_redirect_stdout)
{
    struct addr where;
    struct run r;
    char byte;
    int a;

    start_server(10, &r);
    where_from_stdout(&where);
    a = connect_to(&where);
    wait_count(&seen.served, 1, "the client served");
    /* serve() is blocked in recv(): only the server can end it. */
    server_stop(current);
    pthread_join(r.thread, NULL);
    cr_assert_eq(r.rc, 0);
    cr_assert_eq(seen.finished, 1, "server_run() returned before serve()");
    cr_assert_eq(read(a, &byte, 1), 0, "the client sees the end");
    close(a);
    server_free(current);
}

Test(server, sigterm_reaches_on_signal_in_the_signal_thread,
     .init = cr_redirect_stdout)
{
    struct run r;

    start_server(10, &r);
    kill(getpid(), SIGTERM); /* blocked everywhere but in sigwait() */
    wait_count(&seen.signals, 1, "on_signal() calls");
    pthread_join(r.thread, NULL); /* on_signal_stop stopped it */
    cr_assert_eq(seen.last_signal, SIGTERM);
    cr_assert_eq(r.rc, 0);
    server_free(current);
}

Test(server, new_on_a_port_in_use_fails_with_its_error)
{
    const struct server_config cfg = {1, "ERR busy\n", serve_echo,
                                      on_signal_stop};
    struct lsock taken;
    struct addr any, there;
    int err = 0;

    cr_assert_eq(addr_parse("127.0.0.1:0", &any), 0);
    cr_assert_eq(lsock_open(&taken, &any, LSOCK_BLOCKING), 0);
    cr_assert_eq(addr_parse(taken.shown, &there), 0);
    cr_assert_null(server_new(&there, &cfg, &err));
    cr_assert_eq(err, -EADDRINUSE);
    lsock_close(&taken);
}

static void *small_stack_main(void *arg)
{
    char used[64 * 1024]; /* well within the small stack */

    memset(used, 1, sizeof(used));
    *(int *)arg = used[100];
    return NULL;
}

Test(server, spawn_starts_a_thread_that_can_be_joined)
{
    pthread_t t;
    int out = 0;

    cr_assert_eq(server_spawn(&t, small_stack_main, &out), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
    cr_assert_eq(out, 1);
}
