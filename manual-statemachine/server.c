/* server: a TCP server on libuv's loop, every connection a state machine. */
#include "server.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report.h"
#include "trace.h"

/* ---------------------------------------------------------------------
 * A connection's life. */

/* The close callback: only now may the struct go. Until it has run,
 * libuv still holds pointers into *c (the handle, a write in flight, the
 * read buffer) and may still call our callbacks with it: the writes are
 * cancelled with UV_ECANCELED during the close. Freeing in
 * server_close_conn() would let libuv touch freed memory. */
static void conn_on_closed(uv_handle_t *handle)
{
    struct server_conn *c = handle->data;
    struct server *s = c->server;

    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    line_framer_free(&c->framer);
    outq_free(&c->out);
    free(c);
    if (server_idle(s))
        s->cfg.on_idle(s);
}

/* c stops being served: the program lets go of it, once. */
static void conn_leave(struct server_conn *c)
{
    if (!c->left)
        c->server->cfg.on_leave(c);
    c->left = true;
}

void server_close_conn(struct server_conn *c, const char *why)
{
    if (c->state == CONN_CLOSING)
        return;
    conn_leave(c);
    c->state = CONN_CLOSING;
    c->server->connected--;
    trace_event("closed %s%s%s", c->peer, why != NULL ? " " : "",
                why != NULL ? why : "");
    uv_close((uv_handle_t *)&c->tcp, conn_on_closed);
}

int server_send(struct server_conn *c, const char *bytes, size_t n)
{
    int rc = outq_push(&c->out, bytes, n);

    if (rc < 0) {
        server_close_conn(c, report_strerror(rc));
        return -1;
    }
    return 0;
}

/* A write failed, or (-ENOBUFS) the peer left more than --max-backlog
 * bytes unsent after the last flush offered them (JR-9). */
static void conn_on_out_error(struct outq *q, int status)
{
    struct server_conn *c = q->data;

    if (status == -ENOBUFS) {
        trace_event("backlog-exceeded %s %zu bytes", c->peer,
                    outq_unsent(&c->out));
        server_close_conn(c, "backlog exceeded");
        return;
    }
    server_close_conn(c, report_strerror(status));
}

static void conn_on_refused(uv_write_t *req, int status)
{
    (void)status; /* sent or not, the connection ends here */
    server_close_conn(req->data, "refused");
}

void server_refuse(struct server_conn *c, const char *msg)
{
    uv_buf_t b = uv_buf_init((char *)msg, (unsigned)strlen(msg));
    int rc;

    trace_event("error %s %.*s", c->peer, (int)strlen(msg) - 1, msg);
    conn_leave(c);
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->state = CONN_REFUSING;
    rc = uv_write(&c->refuse_req, (uv_stream_t *)&c->tcp, &b, 1,
                  conn_on_refused);
    if (rc < 0)
        server_close_conn(c, report_strerror(rc));
}

/* Hands every complete line read so far to the program; stops when c is
 * refused or closed on the way. */
static void conn_take_lines(struct server_conn *c)
{
    const char *line;
    size_t len;
    int rc;

    while (c->state == CONN_OPEN) {
        rc = line_framer_next(&c->framer, &line, &len);
        if (rc == 0)
            return;
        if (rc < 0) {
            server_refuse(c, "ERR line too long\n"); /* COM-6 */
            return;
        }
        c->server->cfg.on_line(c, line, len);
    }
}

static void conn_on_alloc(uv_handle_t *handle, size_t hint, uv_buf_t *out)
{
    struct server_conn *c = handle->data;
    size_t room;

    (void)hint;
    out->base = line_framer_space(&c->framer, &room);
    out->len = room;
}

static void conn_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b)
{
    struct server_conn *c = stream->data;

    (void)b; /* the bytes are already in the framer */
    switch (c->state) {
    case CONN_OPEN:
        if (nread == UV_EOF) {
            /* The protocol has no half-close: a client that ends its
             * side is gone. A partial last line is not a line. */
            server_close_conn(
                c, line_framer_pending(&c->framer) > 0 ? "mid-line" : NULL);
        } else if (nread < 0) {
            server_close_conn(c, report_strerror((int)nread));
        } else {
            line_framer_commit(&c->framer, (size_t)nread);
            conn_take_lines(c);
            /* Between lines, a connection holds no read buffer: 2,000
             * idle subscribers would otherwise hold 64 KiB each. The
             * buffer comes back on demand with the next bytes
             * (conn_on_alloc). A shared buffer would save the malloc,
             * but then a partial line would have to be copied out of it
             * after every read: the common case here is a framer that
             * the read left empty. */
            line_framer_release(&c->framer);
        }
        break;
    case CONN_REFUSING:
    case CONN_CLOSING:
        /* Cannot happen: reading stops in these states. */
        break;
    }
}

/* Makes c's handle and starts reading. fd is ours to close until the
 * handle has it. */
static void conn_open(struct server_conn *c, int fd)
{
    int rc;

    uv_tcp_init(c->server->loop, &c->tcp);
    c->tcp.data = c->refuse_req.data = c;
    outq_init(&c->out, &c->server->outs, (uv_stream_t *)&c->tcp,
              conn_on_out_error);
    c->out.data = c;
    rc = uv_tcp_open(&c->tcp, fd);
    if (rc < 0) {
        close(fd); /* not the handle's yet */
        server_close_conn(c, report_strerror(rc));
        return;
    }
    rc = uv_read_start((uv_stream_t *)&c->tcp, conn_on_alloc, conn_on_read);
    if (rc < 0)
        server_close_conn(c, report_strerror(rc));
}

/* Takes in a connection the listener accepted: fd is ours to close. */
static void conn_start(struct server *s, int fd, const struct sockaddr *peer)
{
    struct server_conn *c = calloc(1, s->cfg.conn_size);

    if (c == NULL) {
        report_note("out of memory: turning a client away");
        close(fd);
        return;
    }
    /* No read buffer until bytes arrive (see conn_on_read). */
    line_framer_init_lazy(&c->framer, LINE_MAX_BYTES);
    c->server = s;
    c->state = CONN_OPEN;
    addr_format(peer, c->peer, sizeof(c->peer));
    c->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = c;
    s->conns = c;
    s->connected++;
    trace_event("accepted %s", c->peer);
    conn_open(c, fd);
}

/* ---------------------------------------------------------------------
 * The listener. */

static void listener_on_readable(uv_poll_t *poll, int status, int events);

static void listener_on_retry(uv_timer_t *timer)
{
    struct server *s = timer->data;

    switch (s->listener_state) {
    case LS_RESTING:
        s->listener_state = LS_ACCEPTING;
        uv_poll_start(&s->poll, UV_READABLE, listener_on_readable);
        break;
    case LS_ACCEPTING:
    case LS_CLOSED:
        /* Cannot happen: the timer runs only in LS_RESTING. */
        break;
    }
}

/* Out of descriptors with no spare to answer with: the waiting client
 * stays queued, so the socket stays readable, and polling again at once
 * would wake us at once, a loop that burns a core. Stop polling a while. */
static void listener_rest(struct server *s)
{
    trace_event("paused accepting for %d ms", LSOCK_REST_MS);
    uv_poll_stop(&s->poll);
    s->listener_state = LS_RESTING;
    uv_timer_start(&s->retry, listener_on_retry, LSOCK_REST_MS, 0);
}

/* A new connection: served, or turned away over --max-clients. */
static void listener_admit(struct server *s, int fd,
                           const struct sockaddr_storage *ss)
{
    if (s->connected >= s->cfg.max_clients) {
        trace_event("busy");
        lsock_turn_away(fd, s->cfg.busy_line);
        close(fd);
        return;
    }
    conn_start(s, fd, (const struct sockaddr *)ss);
}

/* Accepts every connection waiting, then returns to the loop. */
static void listener_accept_all(struct server *s)
{
    for (;;) {
        struct sockaddr_storage ss;
        int fd = lsock_accept(&s->listener, &ss, s->cfg.busy_line);

        if (fd >= 0) {
            listener_admit(s, fd, &ss);
        } else if (fd == -EAGAIN) {
            return; /* none left: wait for the next wake-up */
        } else if (fd == -EMFILE) {
            listener_rest(s);
            return;
        } else if (fd != -ECONNABORTED) {
            report_error("accept: %s", report_strerror(fd));
            s->cfg.on_stop(s, EXIT_ERROR);
            return;
        }
        /* -ECONNABORTED: one connection failed before we got it, or was
         * turned away for lack of descriptors: take the next. */
    }
}

static void listener_on_readable(uv_poll_t *poll, int status, int events)
{
    struct server *s = poll->data;

    (void)events;
    switch (s->listener_state) {
    case LS_ACCEPTING:
        if (status < 0) {
            report_error("listening socket: %s", report_strerror(status));
            s->cfg.on_stop(s, EXIT_ERROR);
            break;
        }
        listener_accept_all(s);
        break;
    case LS_RESTING:
    case LS_CLOSED:
        /* Cannot happen: the socket is polled only in LS_ACCEPTING. */
        break;
    }
}

/* ---------------------------------------------------------------------
 * Start and stop. */

static void server_on_signal(uv_signal_t *sig, int signum)
{
    struct server *s = sig->data;

    switch (s->state) {
    case SV_SERVING:
        trace_event("shutdown %s", signum == SIGINT ? "SIGINT" : "SIGTERM");
        s->cfg.on_stop(s, EXIT_DONE);
        break;
    case SV_STOPPING:
    case SV_CLOSED:
        /* On the way out already. The handlers stay installed until the
         * very end, so a second signal cannot kill us mid-flush. */
        break;
    }
}

int server_listen(struct server *s, uv_loop_t *loop, const struct addr *addr,
                  const struct server_config *cfg)
{
    s->cfg = *cfg;
    s->loop = loop;
    s->conns = NULL;
    s->connected = 0;
    s->state = SV_SERVING;
    s->listener_state = LS_CLOSED;
    return lsock_open(&s->listener, addr, LSOCK_NONBLOCK);
}

void server_discard(struct server *s)
{
    lsock_close(&s->listener);
}

void server_start(struct server *s)
{
    uv_signal_init(s->loop, &s->sigint);
    uv_signal_init(s->loop, &s->sigterm);
    s->sigint.data = s->sigterm.data = s;
    uv_signal_start(&s->sigint, server_on_signal, SIGINT);
    uv_signal_start(&s->sigterm, server_on_signal, SIGTERM);
    uv_poll_init_socket(s->loop, &s->poll, s->listener.fd);
    uv_timer_init(s->loop, &s->retry);
    outq_group_init(&s->outs, s->loop, (size_t)s->cfg.max_backlog);
    s->poll.data = s->retry.data = s;
    uv_poll_start(&s->poll, UV_READABLE, listener_on_readable);
    s->listener_state = LS_ACCEPTING;
    lsock_announce(&s->listener);
}

void server_stop(struct server *s)
{
    if (s->state != SV_SERVING)
        return;
    s->state = SV_STOPPING;
    s->listener_state = LS_CLOSED;
    uv_close((uv_handle_t *)&s->poll, NULL);
    uv_close((uv_handle_t *)&s->retry, NULL);
    /* uv_close() has stopped watching the socket, so it may be closed
     * now (libuv's documentation says so): connects are refused from
     * here. */
    lsock_close(&s->listener);
    for (struct server_conn *c = s->conns; c != NULL; c = c->next)
        server_close_conn(c, "shutdown");
    if (server_idle(s))
        s->cfg.on_idle(s);
}

bool server_idle(const struct server *s)
{
    return s->state == SV_STOPPING && s->conns == NULL;
}

void server_close(struct server *s)
{
    s->state = SV_CLOSED;
    uv_close((uv_handle_t *)&s->sigint, NULL);
    uv_close((uv_handle_t *)&s->sigterm, NULL);
    outq_group_close(&s->outs);
}
