/* journal: an event journal with replay (the manual-statemachine way: one
 * loop, one thread, every activity an explicit state machine).
 *
 * The activities, each a struct with its own `state`:
 *   - the listener accepts connections (and copes with running out of
 *     file descriptors);
 *   - each client is a publisher, a subscriber, or not yet either;
 *   - the writer (jwriter.h) puts events in the file, on libuv's thread
 *     pool, so the loop never waits for the disk;
 *   - the replay streams the file to one subscriber at a time, while the
 *     writer is paused.
 * They never wait for each other: they ask (jwriter_pause(), say) and are
 * called back. What the lessons point at: who holds what while a request
 * is in flight, how giving up on one (a replay timing out) must wait for
 * whatever cannot be taken back (a read running on the thread pool), and
 * why a struct may be freed only in its close callback.
 */
#define _GNU_SOURCE /* accept4() */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "addr.h"
#include "buf.h"
#include "cli.h"
#include "jrec.h"
#include "jwriter.h"
#include "line.h"
#include "outq.h"
#include "proc.h"
#include "report.h"
#include "trace.h"

/* How much of the file a replay reads, then sends, at a time. */
enum { REPLAY_CHUNK = 64 * 1024 };

/* Out of file descriptors with no spare left: how long the listener
 * rests before it tries to accept again. */
enum { RETRY_ACCEPT_MS = 100 };

/* The command line (common/cli.h); set once in main(), then only read. */
static struct journal_cli cli;

enum client_state {
    CL_HELLO,         /* waiting for the first line: PUB or SUB */
    CL_PUB,           /* a publisher: every line is an event */
    CL_SUB_WAITING,   /* a subscriber whose replay has not reached the
                         file yet: it gets nothing; what is published
                         meanwhile will be in the file, or in the writer's
                         memory, when its replay starts */
    CL_SUB_REPLAYING, /* its replay reads the file; live events collect
                         in its (held) output queue */
    CL_SUB_LIVE,      /* replay done: each event is sent as it comes */
    CL_REFUSING,      /* a last "ERR ...\n" is being written, then close */
    CL_CLOSING,       /* uv_close() was called; freed in its callback */
};

struct server;

struct client {
    enum client_state state;
    struct server *srv;
    uv_tcp_t tcp;                /* the connection */
    struct line_framer framer;   /* what it sent, cut into lines */
    struct outq out;             /* what it has not taken yet (subscribers) */
    uv_write_t refuse_req;       /* the last "ERR ...\n" write */
    struct client *prev, *next;  /* every client, for broadcasts */
    struct client *next_waiting; /* the replay queue */
    char peer[ADDR_TEXT_MAX];    /* its address, for --trace */
};

enum replay_state {
    RP_IDLE,     /* no replay runs */
    RP_PAUSING,  /* waiting for the writer to flush and pause */
    RP_READING,  /* a uv_fs_read of the next chunk runs */
    RP_SENDING,  /* a uv_write of that chunk to the subscriber runs */
    RP_DRAINING, /* given up while a read ran: waiting for it to end,
                    since the thread pool writes into `chunk` */
};

struct replay {
    enum replay_state state;
    struct client *sub;         /* the subscriber served; NULL once it is
                                  given up */
    struct client *head, *tail; /* subscribers waiting, in arrival order */
    uv_timer_t timer;           /* --replay-timeout-ms, from the start */
    uv_fs_t read_req;           /* valid until replay_on_read runs */
    uv_write_t write_req;       /* valid until replay_on_sent runs */
    char chunk[REPLAY_CHUNK];   /* read from the file, then sent */
    size_t chunk_len;
    uint64_t offset; /* the next byte of the file to read */
    uint64_t end;    /* the file's size when the writer paused:
                                  the replay's snapshot */
};

enum listener_state {
    LS_ACCEPTING, /* the socket is polled; each wake-up accepts all */
    LS_RESTING,   /* out of descriptors, no spare: not polled until the
                     retry timer fires */
    LS_CLOSED,    /* shutdown: the socket is closed */
};

struct listener {
    enum listener_state state;
    int fd;         /* the listening socket */
    int spare_fd;   /* a descriptor held in reserve for EMFILE, or -1 */
    bool noted;     /* "out of file descriptors" said, this time round */
    uv_poll_t poll; /* readable: connections are waiting */
    uv_timer_t retry;
};

enum server_state {
    SV_SERVING,  /* accepting and serving */
    SV_STOPPING, /* shutting down: waiting for the clients, the replay and
                    the writer to end */
    SV_CLOSED,   /* all ended: the last handles are closing */
};

struct server {
    enum server_state state;
    int exit_status;
    uv_loop_t *loop;
    struct listener listener;
    struct client *clients; /* every client not yet freed */
    int64_t connected;      /* clients not yet closed, for --max-clients */
    uint64_t last_seq;      /* SEQ of the last event read */
    struct buf record;      /* the event being published, as a record */
    struct jwriter writer;
    struct replay replay;
    uv_signal_t sigint, sigterm;
};

/* BEGIN SOLUTION */
static void client_close(struct client *c, const char *why);
static void replay_next(struct server *s);
static void replay_give_up(struct server *s);
static void replay_on_timeout(uv_timer_t *timer);
static void replay_read_next(struct server *s);
static void server_check_done(struct server *s);
static void server_stop(struct server *s, int status);

/* ---------------------------------------------------------------------
 * Sending to a client. */

/* Queues bytes for c and enforces --max-backlog (JR-9). Returns 0, or -1
 * when c was closed. */
static int client_send(struct client *c, const char *bytes, size_t n)
{
    int rc = outq_push(&c->out, bytes, n);

    if (rc < 0) {
        client_close(c, report_strerror(rc));
        return -1;
    }
    if (outq_unsent(&c->out) > (uint64_t)cli.max_backlog) {
        trace_event("backlog-exceeded %s %zu bytes", c->peer,
                    outq_unsent(&c->out));
        client_close(c, "backlog exceeded");
        return -1;
    }
    return 0;
}

static void client_on_out_error(struct outq *q, int status)
{
    client_close(q->data, report_strerror(status));
}

/* ---------------------------------------------------------------------
 * Publishing. */

/* Numbers the event, hands it to the writer and to every subscriber that
 * is replaying (held) or live. Subscribers still waiting get nothing: the
 * event will be in the file or in the writer's memory when their replay
 * starts. */
static void server_publish(struct server *s, const char *event, size_t len)
{
    uint64_t seq = s->last_seq + 1;
    int rc;

    buf_clear(&s->record);
    rc = jrec_format(&s->record, seq, event, len);
    if (rc == 0)
        rc = jwriter_append(&s->writer, seq, s->record.data, s->record.len);
    if (rc == -EPIPE)
        return; /* the file failed or is closing: we are stopping */
    if (rc < 0) {
        report_error("out of memory");
        server_stop(s, EXIT_ERROR);
        return;
    }
    s->last_seq = seq;
    trace_bytes("event", s->record.data, s->record.len - 1);
    /* client_send() may close a client, but a closed client stays in the
     * list until its close callback, so c->next stays valid here. */
    for (struct client *c = s->clients; c != NULL; c = c->next)
        if (c->state == CL_SUB_REPLAYING || c->state == CL_SUB_LIVE)
            client_send(c, s->record.data, s->record.len);
}

/* ---------------------------------------------------------------------
 * A client's life. */

/* The close callback: only now may the struct go. Until it has run,
 * libuv still holds pointers into *c (the handle, a write in flight, the
 * read buffer) and may still call our callbacks with it: the writes are
 * cancelled with UV_ECANCELED during the close. Freeing in client_close()
 * would let libuv touch freed memory. */
static void client_on_closed(uv_handle_t *handle)
{
    struct client *c = handle->data;
    struct server *s = c->srv;

    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->clients = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    line_framer_free(&c->framer);
    outq_free(&c->out);
    free(c);
    server_check_done(s);
}

/* Takes c out of the replay: out of the queue, or out of the replay that
 * is serving it. */
static void client_leave_replay(struct client *c)
{
    struct replay *r = &c->srv->replay;
    struct client *before = NULL;

    if (r->sub == c) {
        replay_give_up(c->srv);
        return;
    }
    for (struct client *q = r->head; q != NULL; q = q->next_waiting) {
        if (q == c) {
            if (before != NULL)
                before->next_waiting = c->next_waiting;
            else
                r->head = c->next_waiting;
            if (r->tail == c)
                r->tail = before;
            return;
        }
        before = q;
    }
}

/* Closes c, whatever it was doing; a second call does nothing. */
static void client_close(struct client *c, const char *why)
{
    if (c->state == CL_CLOSING)
        return;
    client_leave_replay(c);
    c->state = CL_CLOSING;
    c->srv->connected--;
    trace_event("closed %s%s%s", c->peer, why != NULL ? " " : "",
                why != NULL ? why : "");
    uv_close((uv_handle_t *)&c->tcp, client_on_closed);
}

static void client_on_refused(uv_write_t *req, int status)
{
    struct client *c = req->data;

    (void)status; /* sent or not, the connection ends here */
    client_close(c, "refused");
}

/* Answers a last "ERR ...\n" (JR-2, COM-6) and closes once it is sent.
 * Reading stops at once: nothing c says matters any more. */
static void client_refuse(struct client *c, const char *msg)
{
    uv_buf_t b = uv_buf_init((char *)msg, (unsigned)strlen(msg));
    int rc;

    trace_event("error %s %.*s", c->peer, (int)strlen(msg) - 1, msg);
    client_leave_replay(c);
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->state = CL_REFUSING;
    rc = uv_write(&c->refuse_req, (uv_stream_t *)&c->tcp, &b, 1,
                  client_on_refused);
    if (rc < 0)
        client_close(c, report_strerror(rc));
}

static void client_on_line(struct client *c, const char *line, size_t len)
{
    struct replay *r = &c->srv->replay;

    switch (c->state) {
    case CL_HELLO:
        if (len == 3 && memcmp(line, "PUB", 3) == 0) {
            trace_event("pub %s", c->peer);
            c->state = CL_PUB;
        } else if (len == 3 && memcmp(line, "SUB", 3) == 0) {
            trace_event("sub %s", c->peer);
            c->state = CL_SUB_WAITING;
            outq_hold(&c->out); /* until its replay ends */
            if (r->tail != NULL)
                r->tail->next_waiting = c;
            else
                r->head = c;
            r->tail = c;
            replay_next(c->srv);
        } else {
            client_refuse(c, "ERR expected PUB or SUB\n");
        }
        break;
    case CL_PUB:
        server_publish(c->srv, line, len);
        break;
    case CL_SUB_WAITING:
    case CL_SUB_REPLAYING:
    case CL_SUB_LIVE:
        break; /* a subscriber has nothing to say: ignored */
    case CL_REFUSING:
    case CL_CLOSING:
        /* Cannot happen: reading stops in these states. */
        break;
    }
}

/* Handles every complete line read so far; stops when c is refused or
 * closed on the way. */
static void client_take_lines(struct client *c)
{
    const char *line;
    size_t len;
    int rc;

    while (c->state != CL_REFUSING && c->state != CL_CLOSING) {
        rc = line_framer_next(&c->framer, &line, &len);
        if (rc == 0)
            return;
        if (rc < 0) {
            client_refuse(c, "ERR line too long\n");
            return;
        }
        client_on_line(c, line, len);
    }
}

static void client_on_alloc(uv_handle_t *handle, size_t hint, uv_buf_t *out)
{
    struct client *c = handle->data;
    size_t room;

    (void)hint;
    out->base = line_framer_space(&c->framer, &room);
    out->len = room;
}

static void client_on_read(uv_stream_t *stream, ssize_t nread,
                           const uv_buf_t *b)
{
    struct client *c = stream->data;

    (void)b; /* the bytes are already in the framer */
    switch (c->state) {
    case CL_HELLO:
    case CL_PUB:
    case CL_SUB_WAITING:
    case CL_SUB_REPLAYING:
    case CL_SUB_LIVE:
        if (nread == UV_EOF) {
            /* The protocol has no half-close: a client that ends its
             * side is gone. A partial last line is not an event. */
            client_close(c, line_framer_pending(&c->framer) > 0 ? "mid-line"
                                                                : NULL);
        } else if (nread < 0) {
            client_close(c, report_strerror((int)nread));
        } else {
            line_framer_commit(&c->framer, (size_t)nread);
            client_take_lines(c);
        }
        break;
    case CL_REFUSING:
    case CL_CLOSING:
        /* Cannot happen: reading stops in these states. */
        break;
    }
}

/* Takes in a connection accepted by the listener: fd is ours to close. */
static void client_start(struct server *s, int fd, const struct sockaddr *peer)
{
    struct client *c = calloc(1, sizeof(*c));
    int rc;

    if (c == NULL || line_framer_init(&c->framer, LINE_MAX_BYTES) < 0) {
        report_note("out of memory: turning a client away");
        free(c);
        close(fd);
        return;
    }
    c->srv = s;
    c->state = CL_HELLO;
    addr_format(peer, c->peer, sizeof(c->peer));
    uv_tcp_init(s->loop, &c->tcp);
    c->tcp.data = c->refuse_req.data = c;
    outq_init(&c->out, (uv_stream_t *)&c->tcp, client_on_out_error);
    c->out.data = c;
    c->next = s->clients;
    if (s->clients != NULL)
        s->clients->prev = c;
    s->clients = c;
    s->connected++;
    trace_event("accepted %s", c->peer);
    rc = uv_tcp_open(&c->tcp, fd);
    if (rc < 0) {
        close(fd); /* not the handle's yet */
        client_close(c, report_strerror(rc));
        return;
    }
    rc = uv_read_start((uv_stream_t *)&c->tcp, client_on_alloc, client_on_read);
    if (rc < 0)
        client_close(c, report_strerror(rc));
}

/* ---------------------------------------------------------------------
 * The replay: one subscriber at a time, in arrival order (JR-8). */

/* lesson:sm-journal-replay */
/* Starts the next replay, if none runs: asks the writer to flush and
 * pause. Nothing more happens here; replay_on_paused() is called back
 * once the file holds every event published so far and nothing is
 * being written to it. */
static void replay_next(struct server *s)
{
    struct replay *r = &s->replay;
    struct client *c = r->head;

    if (r->state != RP_IDLE || c == NULL || s->state != SV_SERVING)
        return;
    r->head = c->next_waiting;
    if (r->head == NULL)
        r->tail = NULL;
    c->next_waiting = NULL;
    r->sub = c;
    r->state = RP_PAUSING;
    trace_event("replay-start %s", c->peer);
    uv_timer_start(&r->timer, replay_on_timeout,
                   (uint64_t)cli.replay_timeout_ms, 0);
    jwriter_pause(&s->writer);
}

/* The writer is paused: the file will not change until jwriter_resume().
 * The snapshot is the file as it is now; the subscriber's live queue
 * starts with the very next event: those still in the writer's memory,
 * then each one published from now on (held until the replay ends). So
 * nothing is missed or repeated at the switch (JR-4). */
static void replay_on_paused(struct jwriter *w)
{
    struct server *s = w->data;
    struct replay *r = &s->replay;

    switch (r->state) {
    case RP_PAUSING:
        r->offset = 0;
        r->end = w->size;
        r->sub->state = CL_SUB_REPLAYING;
        if (client_send(r->sub, w->pending.data, w->pending.len) < 0)
            return; /* closed: the replay was given up */
        replay_read_next(s);
        break;
    case RP_IDLE:
    case RP_READING:
    case RP_SENDING:
    case RP_DRAINING:
        /* Cannot happen: a pause is asked only in RP_PAUSING, and
         * leaving RP_PAUSING takes the request back. */
        break;
    }
}

/* Every replay ends here, done or given up: the timer stops, the writer
 * resumes (events that waited in memory are written as soon as their
 * flush falls due, at once if it fell due during the pause), and the
 * next subscriber's replay starts. */
static void replay_end(struct server *s, const char *how)
{
    struct replay *r = &s->replay;

    trace_event("replay-end %s", how);
    r->sub = NULL;
    r->state = RP_IDLE;
    uv_timer_stop(&r->timer);
    jwriter_resume(&s->writer);
    replay_next(s);
    server_check_done(s);
}
/* end */

/* The whole snapshot was sent: the subscriber goes live, and what was
 * held for it follows the replay. */
static void replay_done(struct server *s)
{
    struct client *c = s->replay.sub;
    int rc;

    c->state = CL_SUB_LIVE;
    replay_end(s, "done");
    rc = outq_release(&c->out);
    if (rc < 0)
        client_close(c, report_strerror(rc));
}

/* A replay step failed: end the replay, close its subscriber. */
static void replay_fail(struct server *s, int err)
{
    struct client *c = s->replay.sub;

    replay_end(s, "failed");
    if (c != NULL)
        client_close(c, report_strerror(err));
}

static void replay_on_read(uv_fs_t *req);
static void replay_on_sent(uv_write_t *req, int status);

/* RP_PAUSING or RP_SENDING -> RP_READING, or the end of the replay. */
static void replay_read_next(struct server *s)
{
    struct replay *r = &s->replay;
    uint64_t left = r->end - r->offset;
    uv_buf_t b;
    int rc;

    if (left == 0) {
        replay_done(s);
        return;
    }
    b = uv_buf_init(r->chunk,
                    left < REPLAY_CHUNK ? (unsigned)left : REPLAY_CHUNK);
    rc = uv_fs_read(s->loop, &r->read_req, s->writer.fd, &b, 1,
                    (int64_t)r->offset, replay_on_read);
    if (rc < 0) {
        replay_fail(s, rc);
        return;
    }
    r->state = RP_READING;
}

static void replay_on_read(uv_fs_t *req)
{
    struct server *s = req->data;
    struct replay *r = &s->replay;
    ssize_t n = req->result;
    uv_buf_t b;
    int rc;

    uv_fs_req_cleanup(req);
    switch (r->state) {
    case RP_READING:
        if (n <= 0) {
            replay_fail(s, n < 0 ? (int)n : -EIO); /* the file shrank? */
            break;
        }
        r->chunk_len = (size_t)n;
        b = uv_buf_init(r->chunk, (unsigned)n);
        rc = uv_write(&r->write_req, (uv_stream_t *)&r->sub->tcp, &b, 1,
                      replay_on_sent);
        if (rc < 0) {
            replay_fail(s, rc);
            break;
        }
        r->state = RP_SENDING;
        break;
    case RP_DRAINING:
        /* The read we had to wait for (or its cancellation) has ended:
         * the chunk is ours again, and the file may be written. */
        replay_end(s, "given up");
        break;
    case RP_IDLE:
    case RP_PAUSING:
    case RP_SENDING:
        /* Cannot happen: a read is in flight only in RP_READING (and in
         * RP_DRAINING, which waits for it). */
        break;
    }
}

static void replay_on_sent(uv_write_t *req, int status)
{
    struct server *s = req->data;
    struct replay *r = &s->replay;

    switch (r->state) {
    case RP_SENDING:
        if (r->sub == NULL) {
            /* Given up while the write was in flight: closing the socket
             * ended the write (UV_ECANCELED, or done just before). */
            replay_end(s, "given up");
        } else if (status < 0) {
            replay_fail(s, status);
        } else {
            r->offset += r->chunk_len;
            replay_read_next(s);
        }
        break;
    case RP_IDLE:
    case RP_PAUSING:
    case RP_READING:
    case RP_DRAINING:
        /* Cannot happen: a write is in flight only in RP_SENDING. */
        break;
    }
}

/* The replay's subscriber is going away (closed or refused): let go of
 * it. What is in flight must end before the replay does: a read already
 * running on the thread pool cannot be taken back (uv_cancel() only
 * stops one that has not started), and it writes into `chunk`; a write's
 * callback comes once the socket's close has cancelled it. */
static void replay_give_up(struct server *s)
{
    struct replay *r = &s->replay;

    r->sub = NULL;
    uv_timer_stop(&r->timer);
    switch (r->state) {
    case RP_PAUSING:
        replay_end(s, "given up"); /* jwriter_resume() drops the request */
        break;
    case RP_READING:
        uv_cancel((uv_req_t *)&r->read_req);
        r->state = RP_DRAINING; /* replay_on_read() ends it */
        break;
    case RP_SENDING:
        break; /* replay_on_sent() ends it */
    case RP_IDLE:
    case RP_DRAINING:
        /* Cannot happen: there is no subscriber to give up. */
        break;
    }
}

/* --replay-timeout-ms passed (JR-8): the subscriber is not reading. */
static void replay_on_timeout(uv_timer_t *timer)
{
    struct server *s = timer->data;
    struct replay *r = &s->replay;

    switch (r->state) {
    case RP_PAUSING:
    case RP_READING:
    case RP_SENDING:
        trace_event("timed-out replay for %s", r->sub->peer);
        client_close(r->sub, "replay timed out"); /* gives the replay up */
        break;
    case RP_IDLE:
    case RP_DRAINING:
        /* Cannot happen: the timer stops when the subscriber goes. */
        break;
    }
}

/* ---------------------------------------------------------------------
 * The listener.
 *
 * libuv's own uv_listen() would accept for us, but when the process runs
 * out of file descriptors it quietly accepts and drops the waiting
 * connections: the program is never told, so it could neither log it nor
 * answer "busy" (JR-10). So we poll the listening socket and call
 * accept4() ourselves, which is what any event loop does underneath. */

/* Refuses a connection that never becomes a client: a fresh socket's
 * send buffer is empty, so a non-blocking send of a few bytes goes out
 * whole, or the peer just sees the close. */
static void listener_refuse(int fd, const char *msg)
{
    ssize_t sent = send(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT);

    (void)sent;
    close(fd);
}

static void listener_on_readable(uv_poll_t *poll, int status, int events);

static void listener_on_retry(uv_timer_t *timer)
{
    struct server *s = timer->data;
    struct listener *l = &s->listener;

    switch (l->state) {
    case LS_RESTING:
        l->state = LS_ACCEPTING;
        uv_poll_start(&l->poll, UV_READABLE, listener_on_readable);
        break;
    case LS_ACCEPTING:
    case LS_CLOSED:
        /* Cannot happen: the timer runs only in LS_RESTING. */
        break;
    }
}

/* accept4() failed for lack of a descriptor. A connection that waits
 * stays queued, so the socket stays readable, and polling again at once
 * would wake us at once: a loop that burns a core. The classic way out:
 * give up the spare descriptor to accept the waiting client, tell it we
 * are busy, close it, take the spare back. Without a spare, stop polling
 * for a while. Returns true when accepting may go on. */
static bool listener_out_of_fds(struct server *s, int err)
{
    struct listener *l = &s->listener;
    int fd = -1;

    if (!l->noted)
        report_note("out of file descriptors (%s): turning clients away",
                    strerror(err));
    l->noted = true;
    if (l->spare_fd >= 0) {
        close(l->spare_fd);
        fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
        err = errno;
        if (fd >= 0) {
            trace_event("busy (out of file descriptors)");
            listener_refuse(fd, "ERR busy\n");
        }
        l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd >= 0)
            return true; /* refused one: there may be more */
        if (err == EAGAIN || err == EWOULDBLOCK)
            return false; /* none was waiting after all (accept4 says
                             EMFILE before it looks): poll on */
    }
    trace_event("paused accepting for %d ms", RETRY_ACCEPT_MS);
    uv_poll_stop(&l->poll);
    l->state = LS_RESTING;
    uv_timer_start(&l->retry, listener_on_retry, RETRY_ACCEPT_MS, 0);
    return false;
}

/* Accepts every connection waiting, then returns to the loop. */
static void listener_accept_all(struct server *s)
{
    struct listener *l = &s->listener;

    for (;;) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd >= 0) {
            l->noted = false;
            if (s->connected >= cli.max_clients) {
                trace_event("busy");
                listener_refuse(fd, "ERR busy\n");
            } else {
                client_start(s, fd, (struct sockaddr *)&ss);
            }
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return; /* none left: wait for the next wake-up */
        } else if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                   errno == ENOMEM) {
            if (!listener_out_of_fds(s, errno))
                return;
        } else if (errno == EBADF || errno == EINVAL || errno == ENOTSOCK) {
            report_error("accept: %s", strerror(errno));
            server_stop(s, EXIT_ERROR);
            return;
        }
        /* Anything else (ECONNABORTED, EINTR, network errors) concerns
         * one connection that failed before we got it: take the next. */
    }
}

static void listener_on_readable(uv_poll_t *poll, int status, int events)
{
    struct server *s = poll->data;

    (void)events;
    switch (s->listener.state) {
    case LS_ACCEPTING:
        if (status < 0) {
            report_error("listening socket: %s", report_strerror(status));
            server_stop(s, EXIT_ERROR);
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

/* Makes the listening socket (no libuv handle yet). Returns 0 or a
 * negative errno. */
static int listener_bind(struct listener *l)
{
    int one = 1;
    int fd = socket(cli.listen.ss.ss_family,
                    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int err;

    if (fd < 0)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (const struct sockaddr *)&cli.listen.ss, cli.listen.len) < 0 ||
        listen(fd, SOMAXCONN) < 0) {
        err = -errno;
        close(fd);
        return err;
    }
    l->fd = fd;
    l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return 0;
}

/* The poll handle watches the socket but does not own it: close the
 * socket only once the handle is closed. */
static void listener_on_closed(uv_handle_t *handle)
{
    struct server *s = handle->data;

    close(s->listener.fd);
    s->listener.fd = -1;
}

/* Stops accepting: the socket is closed, so new connects are refused. */
static void listener_close(struct server *s)
{
    struct listener *l = &s->listener;

    l->state = LS_CLOSED;
    uv_close((uv_handle_t *)&l->poll, listener_on_closed);
    uv_close((uv_handle_t *)&l->retry, NULL);
    if (l->spare_fd >= 0)
        close(l->spare_fd);
    l->spare_fd = -1;
}

/* ---------------------------------------------------------------------
 * Start and stop. */

/* Shuts down in order (JR-11): stop accepting, close every client (which
 * gives up a replay), then the writer flushes what waits and closes the
 * file. server_check_done() closes the rest once all of that ended. */
static void server_stop(struct server *s, int status)
{
    if (status != EXIT_DONE)
        s->exit_status = status;
    if (s->state != SV_SERVING)
        return;
    s->state = SV_STOPPING;
    listener_close(s);
    for (struct client *c = s->clients; c != NULL; c = c->next)
        client_close(c, "shutdown");
    jwriter_close(&s->writer);
    server_check_done(s);
}

/* Once nothing is left running, closes the last handles; the loop then
 * ends by itself. */
static void server_check_done(struct server *s)
{
    if (s->state != SV_STOPPING || s->clients != NULL ||
        s->replay.state != RP_IDLE || s->writer.state != JW_CLOSED)
        return;
    s->state = SV_CLOSED;
    uv_close((uv_handle_t *)&s->replay.timer, NULL);
    uv_close((uv_handle_t *)&s->sigint, NULL);
    uv_close((uv_handle_t *)&s->sigterm, NULL);
}

static void server_on_writer_closed(struct jwriter *w, int status)
{
    struct server *s = w->data;

    if (status < 0)
        server_stop(s, EXIT_ERROR); /* a write failed: reported already */
    server_check_done(s);
}

static void server_on_signal(uv_signal_t *sig, int signum)
{
    struct server *s = sig->data;

    switch (s->state) {
    case SV_SERVING:
        trace_event("shutdown %s", signum == SIGINT ? "SIGINT" : "SIGTERM");
        server_stop(s, EXIT_DONE);
        break;
    case SV_STOPPING:
    case SV_CLOSED:
        /* On the way out already. The handlers stay installed until the
         * very end, so a second signal cannot kill us mid-flush. */
        break;
    }
}

/* Sets up the handles (the socket and the file are open already) and
 * says where we listen. */
static void server_start(struct server *s)
{
    char shown[ADDR_TEXT_MAX];
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    s->writer.data = s;
    s->last_seq = s->writer.last_seq;
    uv_timer_init(s->loop, &s->replay.timer);
    s->replay.timer.data = s->replay.read_req.data = s;
    s->replay.write_req.data = s;
    uv_signal_init(s->loop, &s->sigint);
    uv_signal_init(s->loop, &s->sigterm);
    s->sigint.data = s->sigterm.data = s;
    uv_signal_start(&s->sigint, server_on_signal, SIGINT);
    uv_signal_start(&s->sigterm, server_on_signal, SIGTERM);
    uv_poll_init_socket(s->loop, &s->listener.poll, s->listener.fd);
    uv_timer_init(s->loop, &s->listener.retry);
    s->listener.poll.data = s->listener.retry.data = s;
    uv_poll_start(&s->listener.poll, UV_READABLE, listener_on_readable);
    s->listener.state = LS_ACCEPTING;

    getsockname(s->listener.fd, (struct sockaddr *)&ss, &len);
    addr_format((struct sockaddr *)&ss, shown, sizeof(shown));
    trace_event("listening %s", shown);
    printf("listening on %s\n", shown);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    /* Lives until main returns, after the loop has run every close
     * callback: libuv holds pointers into it until then. */
    struct server s = {.exit_status = EXIT_DONE, .record = BUF_INIT};
    uv_loop_t loop;
    char shown[ADDR_TEXT_MAX];
    int status = EXIT_ERROR;
    int rc;

    proc_setup();
    if (!cli_journal(argc, argv, &cli, &status))
        return status;
    uv_loop_init(&loop);
    s.loop = &loop;
    rc = listener_bind(&s.listener);
    if (rc < 0) {
        report_error("listening on %s: %s",
                     addr_format((const struct sockaddr *)&cli.listen.ss, shown,
                                 sizeof(shown)),
                     report_strerror(rc));
        uv_loop_close(&loop);
        return EXIT_ERROR;
    }
    if (jwriter_open(&s.writer, &loop, cli.file, cli.flush_ms, replay_on_paused,
                     server_on_writer_closed) < 0) {
        close(s.listener.fd);
        if (s.listener.spare_fd >= 0)
            close(s.listener.spare_fd);
        uv_loop_close(&loop);
        return EXIT_ERROR;
    }
    server_start(&s);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0) {
        report_error("a libuv handle was left open");
        s.exit_status = EXIT_ERROR;
    }
    buf_free(&s.record);
    return s.exit_status;
}
/* STUB
// TODO: the journal on one event loop: listener, publishers, subscribers
// with their replay (the writer paused meanwhile), signals.
int main(int argc, char **argv)
{
    int status = EXIT_ERROR;

    proc_setup();
    if (!cli_journal(argc, argv, &cli, &status))
        return status;
    report_error("not written yet");
    return EXIT_ERROR;
}
END SOLUTION */
