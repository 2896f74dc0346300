/* tcp: connect, accept, read a line, write all, as futures (see tcp.h). */
#include "fut/tcp.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "line.h"
#include "lsock.h"

struct fut_tcp {
    uv_tcp_t handle;          /* .data = this; closed by fut_tcp_close */
    uv_connect_t connect_req; /* lives here so it outlives a dropped connect */
    uv_write_t write_req;     /* likewise for a dropped write */
    struct line_framer framer;
    size_t max_line;
    bool framer_ready; /* the framer's buffer is allocated */
    /* Reading. */
    struct fut_waker read_waker; /* the pending read future's, or empty */
    bool reading;                /* uv_read_start is in force */
    bool eof;                    /* the peer closed its side */
    int read_err;                /* sticky read error, or 0 */
    /* Writing. */
    struct buf wbuf;              /* what the kernel refused, while
                                     uv_write sends it */
    struct fut_waker write_waker; /* the write future waiting, or empty */
    bool write_busy;              /* a uv_write is in flight */
    int write_status;             /* the last uv_write's status */
    /* Connecting. */
    struct fut_waker connect_waker; /* the connect future's, or empty */
    bool connect_done;
    int connect_status;
};

/* The framer buffers of idle connections go back to one spare, which
 * the next connection that receives bytes takes: 2,000 idle clients hold
 * one buffer between them, not 2,000, and a connection that goes idle
 * between every line (a trickle) swaps pointers instead of calling
 * malloc. The spare is freed when the last connection closes. One thread
 * (fut.h), so a static is enough. */
static struct line_framer spare;
static size_t open_conns;

/* Gives c a framer buffer: the spare if it fits, else a new one. */
static int framer_take(struct fut_tcp *c)
{
    if (spare.buf != NULL && spare.max_line == c->max_line) {
        c->framer = spare;
        spare = (struct line_framer){0};
    } else if (line_framer_init(&c->framer, c->max_line) < 0) {
        return -ENOMEM;
    }
    c->framer_ready = true;
    return 0;
}

/* Takes c's framer buffer back; it must hold no byte. */
static void framer_give_back(struct fut_tcp *c)
{
    if (spare.buf == NULL) {
        spare = c->framer;
        spare.start = spare.end = spare.scanned = 0;
        c->framer = (struct line_framer){0};
    } else {
        line_framer_free(&c->framer);
    }
    c->framer_ready = false;
}

static void tcp_closed(uv_handle_t *h)
{
    struct fut_tcp *c = h->data;

    if (--open_conns == 0)
        line_framer_free(&spare);
    line_framer_free(&c->framer);
    buf_free(&c->wbuf);
    fut_mem_free(c);
}

void fut_tcp_close(struct fut_tcp *c)
{
    if (c == NULL)
        return;
    assert(c->read_waker.wake == NULL && "drop the read future first");
    /* A write still in flight gets write_done(-ECANCELED) before
     * tcp_closed; nobody is woken, since its future is gone. */
    c->write_waker = (struct fut_waker){NULL, NULL};
    uv_close((uv_handle_t *)&c->handle, tcp_closed);
}

static struct fut_tcp *tcp_new(void)
{
    struct fut_tcp *c = fut_mem_alloc(sizeof *c);

    if (c != NULL) {
        open_conns++; /* until tcp_closed, or tcp_free_unopened */
        c->max_line = LINE_MAX_BYTES;
        c->wbuf = (struct buf)BUF_INIT;
    }
    return c;
}

/* Only for a connection whose handle was never initialised. */
static void tcp_free_unopened(struct fut_tcp *c)
{
    if (--open_conns == 0)
        line_framer_free(&spare);
    fut_mem_free(c);
}

void fut_tcp_set_max_line(struct fut_tcp *c, size_t max_line)
{
    assert(!c->framer_ready && "set the line limit before the first read");
    c->max_line = max_line;
}

int fut_tcp_peer(const struct fut_tcp *c, struct addr *out)
{
    int len = sizeof out->ss;
    int rc = uv_tcp_getpeername(&c->handle, (struct sockaddr *)&out->ss, &len);

    out->len = (socklen_t)len;
    return rc;
}

size_t fut_tcp_unsent(const struct fut_tcp *c)
{
    return uv_stream_get_write_queue_size((const uv_stream_t *)&c->handle);
}

size_t fut_tcp_pending(const struct fut_tcp *c)
{
    return c->framer_ready ? line_framer_pending(&c->framer) : 0;
}

/* --- connect ------------------------------------------------------------- */

struct connect_fut {
    struct fut base;
    uv_loop_t *loop;
    struct sockaddr_storage addr;
    struct fut_tcp *c; /* owned until handed out; NULL then */
    struct fut_tcp **out;
    bool started; /* c's handle is initialised, the connect issued */
};

static void connect_done(uv_connect_t *req, int status)
{
    struct fut_tcp *c = req->handle->data;

    /* After a drop this still runs (with -ECANCELED, from uv_close); the
     * connection's memory is still there, and its waker is empty. */
    c->connect_done = true;
    c->connect_status = status;
    fut_wake(&c->connect_waker);
}

static enum fut_poll connect_start(struct connect_fut *k)
{
    struct fut_tcp *c = k->c;
    int rc;

    uv_tcp_init(k->loop, &c->handle);
    c->handle.data = c;
    k->started = true;
    rc = uv_tcp_connect(&c->connect_req, &c->handle,
                        (const struct sockaddr *)&k->addr, connect_done);
    if (rc < 0) {
        c->connect_done = true;
        c->connect_status = rc;
    }
    return FUT_PENDING;
}

static enum fut_poll connect_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct connect_fut *k = (struct connect_fut *)f;
    struct fut_tcp *c = k->c;

    if (!k->started)
        connect_start(k);
    if (!c->connect_done) {
        c->connect_waker = ctx->waker;
        return FUT_PENDING;
    }
    c->connect_waker = (struct fut_waker){NULL, NULL};
    f->result = c->connect_status;
    if (c->connect_status == 0)
        *k->out = c; /* ownership passes to the caller */
    else
        fut_tcp_close(c);
    k->c = NULL;
    return FUT_READY;
}

static void connect_drop(struct fut *f)
{
    struct connect_fut *k = (struct connect_fut *)f;

    if (k->c != NULL) {
        k->c->connect_waker = (struct fut_waker){NULL, NULL};
        if (k->started)
            fut_tcp_close(k->c); /* cancels the connect in flight */
        else
            tcp_free_unopened(k->c);
    }
    fut_mem_free(f);
}

static const struct fut_vtable connect_vt = {"tcp-connect", connect_poll,
                                             connect_drop};

struct fut *fut_tcp_connect(uv_loop_t *loop, const struct sockaddr *addr,
                            struct fut_tcp **out)
{
    struct connect_fut *k =
        (struct connect_fut *)fut_alloc(&connect_vt, sizeof *k);

    if (k == NULL)
        return fut_ready(-ENOMEM);
    k->c = tcp_new();
    if (k->c == NULL) {
        fut_mem_free(&k->base);
        return fut_ready(-ENOMEM);
    }
    k->loop = loop;
    memcpy(&k->addr, addr,
           addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                       : sizeof(struct sockaddr_in));
    k->out = out;
    return &k->base;
}

/* --- read a line --------------------------------------------------------- */

struct read_fut {
    struct fut base;
    struct fut_tcp *c; /* borrowed */
    const char **line;
    size_t *len;
};

static void read_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct fut_tcp *c = h->data;
    size_t room = 0;

    (void)suggested;
    /* libuv asks for a buffer only once bytes are there to read: this is
     * where an idle connection gets its framer back (see read_poll). A
     * room of 0 (no memory, or the framer is full of lines nobody took
     * yet) makes libuv call read_done with UV_ENOBUFS, which pauses
     * reading. */
    buf->base = NULL;
    if (!c->framer_ready && framer_take(c) < 0) {
        c->read_err = -ENOMEM;
        buf->len = 0;
        return;
    }
    /* Straight into the framer: no copy, and never more than it holds. */
    buf->base = line_framer_space(&c->framer, &room);
    buf->len = room;
}

static void read_done(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct fut_tcp *c = s->data;

    (void)buf;
    if (n > 0)
        line_framer_commit(&c->framer, (size_t)n);
    else if (n == UV_EOF)
        c->eof = true;
    else if (n < 0 && n != UV_ENOBUFS)
        c->read_err = (int)n;
    if (n < 0 || c->read_waker.wake == NULL) {
        /* Full, finished, failed, or nobody is reading: stop until a read
         * future is polled again. The bytes are safe in the framer. */
        uv_read_stop(s);
        c->reading = false;
    }
    if (n != 0)
        fut_wake(&c->read_waker);
}

/* An idle connection holds no framer: its max_line + 1 bytes are given
 * back (to the spare) as soon as nothing is buffered and the read must
 * wait, and taken again when bytes arrive (read_alloc). */
static void release_if_empty(struct fut_tcp *c)
{
    if (c->framer_ready && line_framer_pending(&c->framer) == 0)
        framer_give_back(c);
}

static enum fut_poll read_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct read_fut *r = (struct read_fut *)f;
    struct fut_tcp *c = r->c;
    int rc = 0;

    if (c->framer_ready)
        rc = line_framer_next(&c->framer, r->line, r->len);
    if (rc == 0 && c->read_err != 0)
        rc = c->read_err;
    if (rc != 0 || c->eof) {
        c->read_waker = (struct fut_waker){NULL, NULL};
        f->result = rc;
        return FUT_READY;
    }
    release_if_empty(c);
    c->read_waker = ctx->waker;
    if (!c->reading) {
        rc = uv_read_start((uv_stream_t *)&c->handle, read_alloc, read_done);
        if (rc < 0) {
            c->read_waker = (struct fut_waker){NULL, NULL};
            f->result = rc;
            return FUT_READY;
        }
        c->reading = true;
    }
    return FUT_PENDING;
}

static void read_drop(struct fut *f)
{
    struct fut_tcp *c = ((struct read_fut *)f)->c;

    /* Reading goes on until the next chunk arrives, which is then kept and
     * stops it (read_done sees no waker): the drop itself needs no call
     * into libuv, and a dropped read loses no byte. */
    c->read_waker = (struct fut_waker){NULL, NULL};
    fut_mem_free(f);
}

static const struct fut_vtable read_vt = {"tcp-read-line", read_poll,
                                          read_drop};

struct fut *fut_tcp_read_line(struct fut_tcp *c, const char **line, size_t *len)
{
    struct read_fut *r = (struct read_fut *)fut_alloc(&read_vt, sizeof *r);

    if (r == NULL)
        return fut_ready(-ENOMEM);
    r->c = c;
    r->line = line;
    r->len = len;
    return &r->base;
}

/* --- write all ----------------------------------------------------------- */

struct write_fut {
    struct fut base;
    struct fut_tcp *c; /* borrowed */
    const char *bytes; /* borrowed until the first poll that starts */
    size_t len;
    bool started; /* our uv_write is in flight (or done) */
};

static void write_done(uv_write_t *req, int status)
{
    struct fut_tcp *c = req->handle->data;

    /* The copy goes as soon as it is sent: a connection that once had
     * to wait for a slow reader (a replay, say) keeps no 64 KiB for good. */
    buf_free(&c->wbuf);
    c->write_busy = false;
    c->write_status = status;
    fut_wake(&c->write_waker);
}

/* Writes what the kernel takes now; queues a copy of the rest. */
static int write_start(struct write_fut *w)
{
    struct fut_tcp *c = w->c;
    uv_buf_t b = uv_buf_init((char *)w->bytes, (unsigned)w->len);
    int n = w->len > 0 ? uv_try_write((uv_stream_t *)&c->handle, &b, 1) : 0;

    if (n == UV_EAGAIN)
        n = 0;
    if (n < 0)
        return n;
    if ((size_t)n == w->len)
        return 1;
    if (buf_append(&c->wbuf, w->bytes + n, w->len - (size_t)n) < 0)
        return -ENOMEM;
    b = uv_buf_init(c->wbuf.data, (unsigned)c->wbuf.len);
    n = uv_write(&c->write_req, (uv_stream_t *)&c->handle, &b, 1, write_done);
    if (n < 0)
        return n;
    c->write_busy = true;
    w->started = true;
    return 0;
}

static enum fut_poll write_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct write_fut *w = (struct write_fut *)f;
    struct fut_tcp *c = w->c;
    int rc;

    /* Busy: either our own write, or one left by a dropped write future,
     * which must finish before ours may start (the buffer is shared). */
    if (c->write_busy) {
        c->write_waker = ctx->waker;
        return FUT_PENDING;
    }
    if (w->started) {
        rc = c->write_status;
    } else {
        rc = write_start(w);
        if (rc == 0) {
            c->write_waker = ctx->waker;
            return FUT_PENDING;
        }
    }
    c->write_waker = (struct fut_waker){NULL, NULL};
    f->result = rc < 0 ? rc : 0;
    return FUT_READY;
}

static void write_drop(struct fut *f)
{
    struct fut_tcp *c = ((struct write_fut *)f)->c;

    /* The uv_write_t and the buffer belong to the connection, so they
     * outlive this future; write_done will wake nobody. */
    c->write_waker = (struct fut_waker){NULL, NULL};
    fut_mem_free(f);
}

static const struct fut_vtable write_vt = {"tcp-write-all", write_poll,
                                           write_drop};

struct fut *fut_tcp_write_all(struct fut_tcp *c, const void *bytes, size_t len)
{
    struct write_fut *w = (struct write_fut *)fut_alloc(&write_vt, sizeof *w);

    if (w == NULL)
        return fut_ready(-ENOMEM);
    w->c = c;
    w->bytes = bytes;
    w->len = len;
    return &w->base;
}

/* --- listen and accept --------------------------------------------------- */

/* The socket work (listen, accept, the spare descriptor for EMFILE) is
 * common/lsock.h's, as in every track; what is left here is how a future
 * waits for a connection: a uv_poll_t on the non-blocking listening
 * socket, watched only while an accept future is pending. (libuv's own
 * uv_listen() is not used: out of descriptors it accepts and closes the
 * waiting connections quietly.) */
struct fut_tcp_listener {
    uv_poll_t poll; /* readable: connections wait; .data = this */
    uv_loop_t *loop;
    struct lsock sock;      /* the socket and its spare; owned */
    const char *busy_msg;   /* what a client turned away is told */
    struct fut_waker waker; /* the accept future's, or empty */
    bool polling;           /* uv_poll_start() is in force */
    int error;              /* a poll error to report, or 0 */
};

static void on_readable(uv_poll_t *p, int status, int events)
{
    struct fut_tcp_listener *l = p->data;

    (void)events;
    if (status < 0)
        l->error = status;
    fut_wake(&l->waker);
}

/* Nobody waits any more. The socket is polled only while an accept future
 * waits: readiness is level-triggered, so a socket with connections
 * waiting that nobody accepts would wake the loop on every turn. */
static void listener_idle(struct fut_tcp_listener *l)
{
    l->waker = (struct fut_waker){NULL, NULL};
    if (l->polling)
        uv_poll_stop(&l->poll);
    l->polling = false;
}

int fut_tcp_listen(uv_loop_t *loop, const struct addr *addr,
                   const char *busy_msg, struct fut_tcp_listener **out)
{
    struct fut_tcp_listener *l = fut_mem_alloc(sizeof *l);
    int rc;

    if (l == NULL)
        return -ENOMEM;
    rc = lsock_open(&l->sock, addr, LSOCK_NONBLOCK);
    if (rc == 0)
        rc = uv_poll_init_socket(loop, &l->poll, l->sock.fd);
    if (rc < 0) {
        lsock_close(&l->sock);
        fut_mem_free(l);
        return rc;
    }
    l->poll.data = l;
    l->loop = loop;
    l->busy_msg = busy_msg;
    *out = l;
    return 0;
}

int fut_tcp_listener_addr(const struct fut_tcp_listener *l, struct addr *out)
{
    out->len = sizeof out->ss;
    if (getsockname(l->sock.fd, (struct sockaddr *)&out->ss, &out->len) < 0)
        return -errno;
    return 0;
}

int fut_tcp_listener_announce(const struct fut_tcp_listener *l)
{
    return lsock_announce(&l->sock);
}

static void listener_closed(uv_handle_t *h)
{
    fut_mem_free(h->data);
}

void fut_tcp_listener_close(struct fut_tcp_listener *l)
{
    if (l == NULL)
        return;
    assert(l->waker.wake == NULL && "drop the accept future first");
    uv_close((uv_handle_t *)&l->poll, listener_closed);
    /* uv_close() has stopped watching the socket, so it may be closed now
     * (libuv's documentation says so): connects are refused from here. */
    lsock_close(&l->sock);
}

/* Takes the next waiting connection: its descriptor, -EAGAIN when none
 * waits, or what lsock_accept() says (-EMFILE: rest, then try again).
 * A client turned away for want of descriptors (-ECONNABORTED) is not an
 * answer for the caller: the next one is tried at once. */
static int accept_next(struct fut_tcp_listener *l)
{
    int fd;

    do
        fd = lsock_accept(&l->sock, NULL, l->busy_msg);
    while (fd == -ECONNABORTED);
    return fd;
}

int fut_tcp_turn_away(struct fut_tcp *c, const char *msg)
{
    uv_os_fd_t fd;
    int rc = uv_fileno((uv_handle_t *)&c->handle, &fd);

    if (rc == 0)
        rc = lsock_turn_away(fd, msg);
    fut_tcp_close(c);
    return rc;
}

struct accept_fut {
    struct fut base;
    struct fut_tcp_listener *l; /* borrowed */
    struct fut_tcp *c;          /* made at creation; handed out or freed */
    struct fut_tcp **out;
};

/* Makes c the connection on the accepted descriptor fd. 0 or -errno. */
static int adopt(struct fut_tcp_listener *l, struct fut_tcp *c, int fd)
{
    int rc;

    uv_tcp_init(l->loop, &c->handle);
    c->handle.data = c;
    rc = uv_tcp_open(&c->handle, fd);
    if (rc < 0) {
        close(fd); /* not the handle's yet */
        fut_tcp_close(c);
    }
    return rc;
}

static enum fut_poll accept_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct accept_fut *a = (struct accept_fut *)f;
    struct fut_tcp_listener *l = a->l;
    int rc = l->error != 0 ? l->error : accept_next(l);

    l->error = 0;
    if (rc == -EAGAIN) {
        l->waker = ctx->waker;
        if (l->polling)
            return FUT_PENDING;
        rc = uv_poll_start(&l->poll, UV_READABLE, on_readable);
        l->polling = rc == 0;
        if (rc == 0)
            return FUT_PENDING;
    }
    if (rc >= 0) {
        rc = adopt(l, a->c, rc);
        if (rc == 0)
            *a->out = a->c; /* ownership passes to the caller */
        a->c = NULL;
    }
    listener_idle(l);
    f->result = rc;
    return FUT_READY;
}

static void accept_drop(struct fut *f)
{
    struct accept_fut *a = (struct accept_fut *)f;

    listener_idle(a->l);
    if (a->c != NULL)
        tcp_free_unopened(a->c);
    fut_mem_free(f);
}

static const struct fut_vtable accept_vt = {"tcp-accept", accept_poll,
                                            accept_drop};

struct fut *fut_tcp_accept(struct fut_tcp_listener *l, struct fut_tcp **out)
{
    struct accept_fut *a =
        (struct accept_fut *)fut_alloc(&accept_vt, sizeof *a);

    if (a == NULL)
        return fut_ready(-ENOMEM);
    a->c = tcp_new();
    if (a->c == NULL) {
        fut_mem_free(&a->base);
        return fut_ready(-ENOMEM);
    }
    a->l = l;
    a->out = out;
    return &a->base;
}
