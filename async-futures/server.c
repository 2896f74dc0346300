/* server: the accept loop and client bookkeeping of a futures server
 * (see server.h). */
#include "server.h"

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdlib.h>

#include "clock.h"
#include "fut/co.h"
#include "fut/timer.h"
#include "line.h"
#include "lsock.h"
#include "report.h"
#include "trace.h"

struct server {
    struct fut_exec *ex;
    uv_loop_t *loop;
    struct server_config cfg;
    struct fut_tcp_listener *listener; /* NULL once stopped */
    struct fut_scope *scope;           /* the acceptor and every client */
    int64_t clients;                   /* clients served now */
    uint64_t next_id;
};

/* --- clients ------------------------------------------------------------- */

void server_client_close(struct server_client *c, const char *why)
{
    c->why = why;
    fut_task_cancel(c->task);
}

void server_client_release(struct server_client *c)
{
    trace_event("closed #%" PRIu64 "%s%s", c->id, c->why != NULL ? " " : "",
                c->why != NULL ? c->why : "");
    fut_tcp_close(c->conn);
    c->conn = NULL;
    fut_clear(&c->task); /* our own handle: detaches, frees it */
    c->server->clients--;
}

static void trace_accepted(struct fut_tcp *conn, uint64_t id)
{
    char shown[ADDR_TEXT_MAX] = "?";
    struct addr peer;

    if (fut_tcp_peer(conn, &peer) == 0)
        addr_format((struct sockaddr *)&peer.ss, shown, sizeof shown);
    trace_event("accepted #%" PRIu64 " %s", id, shown);
}

/* Serves conn (takes it) in a task of its own, or turns it away. */
static void serve(struct server *s, struct fut_tcp *conn)
{
    struct server_client *c;
    struct fut *task;

    if (s->clients >= s->cfg.max_clients) { /* JR-10 */
        trace_event("busy");
        fut_tcp_turn_away(conn, s->cfg.busy_line);
        return;
    }
    c = s->cfg.new_client(s->cfg.arg);
    if (c == NULL) {
        report_note("out of memory: turning a client away");
        fut_tcp_turn_away(conn, s->cfg.busy_line);
        return;
    }
    c->server = s;
    c->conn = conn;
    c->id = ++s->next_id;
    s->clients++;
    trace_accepted(conn, c->id);
    /* On -ENOMEM the spawn has dropped c, which released its place. */
    task = fut_scope_spawn(s->scope, &c->base, "client");
    if (!fut_is_nomem(task))
        c->task = task; /* the task has not run yet: it runs from the loop */
}

/* --- the acceptor -------------------------------------------------------- */

struct acceptor {
    struct fut base;
    struct co co;
    struct server *s;
    struct fut *op;
    struct fut_tcp *conn; /* accepted, not yet handed on */
    int rc;
};

static enum fut_poll acceptor_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct acceptor *a = (struct acceptor *)f;

    CO_BEGIN(&a->co);
    for (;;) {
        a->op = fut_tcp_accept(a->s->listener, &a->conn);
        CO_AWAIT_TAKE(&a->co, ctx, &a->op, a->rc);
        if (a->rc == 0) {
            serve(a->s, a->conn);
            a->conn = NULL;
        } else if (a->rc == -EMFILE || a->rc == -ENOMEM) {
            /* Out of descriptors, and not even the spare one could turn
             * the client away (lsock reported it): it still waits in the
             * kernel, so rest, or accept would fail again at once. */
            a->op =
                fut_sleep_until(a->s->loop, clock_deadline_in(LSOCK_REST_MS));
            CO_AWAIT_TAKE(&a->co, ctx, &a->op, a->rc);
        } else {
            report_error("accept: %s", report_strerror(a->rc));
            CO_RETURN(&a->co, a, a->rc); /* the listening socket failed */
        }
    }
    CO_END(&a->co);
}

static void acceptor_drop(struct fut *f)
{
    struct acceptor *a = (struct acceptor *)f;

    fut_clear(&a->op);
    fut_tcp_close(a->conn);
    fut_mem_free(f);
}

static const struct fut_vtable acceptor_vt = {"acceptor", acceptor_poll,
                                              acceptor_drop};

/* --- the server ---------------------------------------------------------- */

/* A connection's 64 KiB framer buffer is taken when bytes arrive and
 * given back once its lines are read (fut/tcp.c). When many connections
 * receive at once (a crowd of subscribers sending SUB), many are taken
 * at once. From the heap, the pages they touched stay with the process
 * after they are freed, pinned there by the small allocations made
 * meanwhile: up to several KiB for every connection, for good. Buffers this
 * big come from mmap instead, and go back to the system whole when
 * freed. (glibc's own threshold is 128 KiB.) */
static void framers_off_the_heap(void)
{
    mallopt(M_MMAP_THRESHOLD, LINE_MAX_BYTES);
}

struct server *server_new(struct fut_exec *ex, uv_loop_t *loop,
                          const struct addr *addr,
                          const struct server_config *cfg, int *err)
{
    struct server *s = calloc(1, sizeof *s);

    framers_off_the_heap();
    *err = -ENOMEM;
    if (s == NULL || (s->scope = fut_scope_new(ex)) == NULL) {
        free(s);
        return NULL;
    }
    *err = fut_tcp_listen(loop, addr, cfg->busy_line, &s->listener);
    if (*err < 0) {
        fut_scope_drop(s->scope);
        free(s);
        return NULL;
    }
    s->ex = ex;
    s->loop = loop;
    s->cfg = *cfg;
    return s;
}

int server_announce(const struct server *s)
{
    return fut_tcp_listener_announce(s->listener);
}

int server_addr(const struct server *s, struct addr *out)
{
    return fut_tcp_listener_addr(s->listener, out);
}

int server_start(struct server *s)
{
    struct acceptor *a = (struct acceptor *)fut_alloc(&acceptor_vt, sizeof *a);

    if (a == NULL)
        return -ENOMEM;
    a->s = s;
    fut_drop(fut_scope_spawn(s->scope, &a->base, "acceptor")); /* detached */
    return 0;
}

void server_stop(struct server *s)
{
    if (s == NULL)
        return;
    fut_scope_drop(s->scope);
    s->scope = NULL;
    fut_tcp_listener_close(s->listener);
    s->listener = NULL;
}

void server_free(struct server *s)
{
    if (s == NULL)
        return;
    server_stop(s);
    free(s);
}
