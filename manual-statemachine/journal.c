/* journal: an event journal with replay (the manual-statemachine way: one
 * loop, one thread, every activity an explicit state machine).
 *
 * The activities, each a struct with its own `state`:
 *   - the server (server.h) accepts connections, cuts what each client
 *     sends into lines and queues what it is sent; this file decides what
 *     the lines mean: each client is a publisher, a subscriber, or not yet
 *     either (its role);
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
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "buf.h"
#include "cli.h"
#include "jrec.h"
#include "jwriter.h"
#include "lsock.h"
#include "outq.h"
#include "proc.h"
#include "report.h"
#include "server.h"
#include "trace.h"

/* ------------------------------------------------------------------------
 * Options and state */

/* The command line (common/cli.h); set once in main(), then only read. */
static struct journal_cli cli;

/* How much of the file a replay reads, then sends, at a time. */
enum { REPLAY_CHUNK = 64 * 1024 };

enum role {
    ROLE_HELLO,         /* waiting for the first line: PUB or SUB */
    ROLE_PUB,           /* a publisher: every line is an event */
    ROLE_SUB_WAITING,   /* a subscriber whose replay has not reached the
                           file yet: it gets nothing; what is published
                           meanwhile will be in the file, or in the
                           writer's memory, when its replay starts */
    ROLE_SUB_REPLAYING, /* its replay reads the file; live events collect
                           in its (held) output queue */
    ROLE_SUB_LIVE,      /* replay done: each event is sent as it comes */
};

/* A client: the server's connection (first, so that the server allocates
 * and frees the whole struct) and what the journal knows of it. */
struct client {
    struct server_conn conn;     /* the server's: socket, lines, output */
    enum role role;              /* what its lines mean */
    struct client *next_waiting; /* the replay queue */
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

struct journal {
    struct server server; /* listener, clients, signals (server.h) */
    int exit_status;
    bool finished;     /* everything ended: the last handles are closing */
    uint64_t last_seq; /* SEQ of the last event read */
    struct buf record; /* the event being published, as a record */
    struct jwriter writer;
    struct replay replay;
};

/* BEGIN SOLUTION */
static void client_close(struct client *c, const char *why);
static void replay_next(struct journal *j);
static void replay_give_up(struct journal *j);
static void replay_on_timeout(uv_timer_t *timer);
static void replay_read_next(struct journal *j);
static void journal_check_done(struct journal *j);
static void journal_stop(struct journal *j, int status);

/* ------------------------------------------------------------------------
 * The file */

/* The writer has finished: closed, or failed (reported already). */
static void journal_on_writer_closed(struct jwriter *w, int status)
{
    struct journal *j = w->data;

    if (status < 0)
        journal_stop(j, EXIT_ERROR);
    journal_check_done(j);
}

/* ------------------------------------------------------------------------
 * Live fan-out */

/* Queues bytes for c (JR-9 is the server's: server_send). Returns 0, or
 * -1 when c was closed. */
static int client_send(struct client *c, const char *bytes, size_t n)
{
    return server_send(&c->conn, bytes, n);
}

/* Numbers the event, hands it to the writer and to every subscriber that
 * is replaying (held) or live. Subscribers still waiting get nothing: the
 * event will be in the file or in the writer's memory when their replay
 * starts. */
static void journal_publish(struct journal *j, const char *event, size_t len)
{
    uint64_t seq = j->last_seq + 1;
    int rc;

    buf_clear(&j->record);
    rc = jrec_format(&j->record, seq, event, len);
    if (rc == 0)
        rc = jwriter_append(&j->writer, seq, j->record.data, j->record.len);
    if (rc == -EPIPE)
        return; /* the file failed or is closing: we are stopping */
    if (rc < 0) {
        report_error("out of memory");
        journal_stop(j, EXIT_ERROR);
        return;
    }
    j->last_seq = seq;
    trace_bytes("event", j->record.data, j->record.len - 1);
    /* client_send() may close a client, but a closed client stays in the
     * list until its close callback, so c->next stays valid here. */
    for (struct server_conn *c = j->server.conns; c != NULL; c = c->next) {
        struct client *cl = (struct client *)c;

        if (c->state == CONN_OPEN &&
            (cl->role == ROLE_SUB_REPLAYING || cl->role == ROLE_SUB_LIVE))
            client_send(cl, j->record.data, j->record.len);
    }
}

/* ------------------------------------------------------------------------
 * Replay: one subscriber at a time, in arrival order (JR-8) */

/* lesson:sm-journal-replay */
/* Starts the next replay, if none runs: asks the writer to flush and
 * pause. Nothing more happens here; replay_on_paused() is called back
 * once the file holds every event published so far and nothing is
 * being written to it. */
static void replay_next(struct journal *j)
{
    struct replay *r = &j->replay;
    struct client *c = r->head;

    if (r->state != RP_IDLE || c == NULL || j->server.state != SV_SERVING)
        return;
    r->head = c->next_waiting;
    if (r->head == NULL)
        r->tail = NULL;
    c->next_waiting = NULL;
    r->sub = c;
    r->state = RP_PAUSING;
    trace_event("replay-start %s", c->conn.peer);
    uv_timer_start(&r->timer, replay_on_timeout,
                   (uint64_t)cli.replay_timeout_ms, 0);
    jwriter_pause(&j->writer);
}

/* The writer is paused: the file will not change until jwriter_resume().
 * The snapshot is the file as it is now; the subscriber's live queue
 * starts with the very next event: those still in the writer's memory,
 * then each one published from now on (held until the replay ends). So
 * nothing is missed or repeated at the switch (JR-4). */
static void replay_on_paused(struct jwriter *w)
{
    struct journal *j = w->data;
    struct replay *r = &j->replay;

    switch (r->state) {
    case RP_PAUSING:
        r->offset = 0;
        r->end = w->size;
        r->sub->role = ROLE_SUB_REPLAYING;
        if (client_send(r->sub, w->pending.data, w->pending.len) < 0)
            return; /* closed: the replay was given up */
        replay_read_next(j);
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
static void replay_end(struct journal *j, const char *how)
{
    struct replay *r = &j->replay;

    trace_event("replay-end %s", how);
    r->sub = NULL;
    r->state = RP_IDLE;
    uv_timer_stop(&r->timer);
    jwriter_resume(&j->writer);
    replay_next(j);
    journal_check_done(j);
}
/* end */

/* The whole snapshot was sent: the subscriber goes live, and what was
 * held for it follows the replay. */
static void replay_done(struct journal *j)
{
    struct client *c = j->replay.sub;
    int rc;

    c->role = ROLE_SUB_LIVE;
    replay_end(j, "done");
    rc = outq_release(&c->conn.out);
    if (rc < 0)
        client_close(c, report_strerror(rc));
}

/* A replay step failed: end the replay, close its subscriber. */
static void replay_fail(struct journal *j, int err)
{
    struct client *c = j->replay.sub;

    replay_end(j, "failed");
    if (c != NULL)
        client_close(c, report_strerror(err));
}

static void replay_on_read(uv_fs_t *req);
static void replay_on_sent(uv_write_t *req, int status);

/* RP_PAUSING or RP_SENDING -> RP_READING, or the end of the replay. */
static void replay_read_next(struct journal *j)
{
    struct replay *r = &j->replay;
    uint64_t left = r->end - r->offset;
    uv_buf_t b;
    int rc;

    if (left == 0) {
        replay_done(j);
        return;
    }
    b = uv_buf_init(r->chunk,
                    left < REPLAY_CHUNK ? (unsigned)left : REPLAY_CHUNK);
    rc = uv_fs_read(j->server.loop, &r->read_req, j->writer.fd, &b, 1,
                    (int64_t)r->offset, replay_on_read);
    if (rc < 0) {
        replay_fail(j, rc);
        return;
    }
    r->state = RP_READING;
}

/* RP_READING -> RP_SENDING: the chunk read goes to the subscriber. */
static void replay_send_chunk(struct journal *j, ssize_t n)
{
    struct replay *r = &j->replay;
    uv_buf_t b;
    int rc;

    if (n <= 0) {
        replay_fail(j, n < 0 ? (int)n : -EIO); /* the file shrank? */
        return;
    }
    r->chunk_len = (size_t)n;
    b = uv_buf_init(r->chunk, (unsigned)n);
    rc = uv_write(&r->write_req, (uv_stream_t *)&r->sub->conn.tcp, &b, 1,
                  replay_on_sent);
    if (rc < 0) {
        replay_fail(j, rc);
        return;
    }
    r->state = RP_SENDING;
}

static void replay_on_read(uv_fs_t *req)
{
    struct journal *j = req->data;
    ssize_t n = req->result;

    uv_fs_req_cleanup(req);
    switch (j->replay.state) {
    case RP_READING:
        replay_send_chunk(j, n);
        break;
    case RP_DRAINING:
        /* The read we had to wait for (or its cancellation) has ended:
         * the chunk is ours again, and the file may be written. */
        replay_end(j, "given up");
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
    struct journal *j = req->data;
    struct replay *r = &j->replay;

    switch (r->state) {
    case RP_SENDING:
        if (r->sub == NULL) {
            /* Given up while the write was in flight: closing the socket
             * ended the write (UV_ECANCELED, or done just before). */
            replay_end(j, "given up");
        } else if (status < 0) {
            replay_fail(j, status);
        } else {
            r->offset += r->chunk_len;
            replay_read_next(j);
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
static void replay_give_up(struct journal *j)
{
    struct replay *r = &j->replay;

    r->sub = NULL;
    uv_timer_stop(&r->timer);
    switch (r->state) {
    case RP_PAUSING:
        replay_end(j, "given up"); /* jwriter_resume() drops the request */
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
    struct journal *j = timer->data;
    struct replay *r = &j->replay;

    switch (r->state) {
    case RP_PAUSING:
    case RP_READING:
    case RP_SENDING:
        trace_event("timed-out replay for %s", r->sub->conn.peer);
        client_close(r->sub, "replay timed out"); /* gives the replay up */
        break;
    case RP_IDLE:
    case RP_DRAINING:
        /* Cannot happen: the timer stops when the subscriber goes. */
        break;
    }
}

/* ------------------------------------------------------------------------
 * Clients */

static void client_close(struct client *c, const char *why)
{
    server_close_conn(&c->conn, why);
}

/* The server lets go of c (closed or refused): take it out of the replay,
 * out of the queue or out of the replay that is serving it. */
static void client_on_leave(struct server_conn *conn)
{
    struct client *c = (struct client *)conn;
    struct journal *j = conn->server->data;
    struct replay *r = &j->replay;
    struct client *before = NULL;

    if (r->sub == c) {
        replay_give_up(j);
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

/* SUB (JR-4): the subscriber joins the replay queue; live events are
 * held for it until its replay ends. */
static void client_subscribe(struct journal *j, struct client *c)
{
    struct replay *r = &j->replay;

    trace_event("sub %s", c->conn.peer);
    c->role = ROLE_SUB_WAITING;
    outq_hold(&c->conn.out); /* until its replay ends */
    if (r->tail != NULL)
        r->tail->next_waiting = c;
    else
        r->head = c;
    r->tail = c;
    replay_next(j);
}

/* Each line a client sends; the first one picks its role (JR-2). */
static void client_on_line(struct server_conn *conn, const char *line,
                           size_t len)
{
    struct client *c = (struct client *)conn;
    struct journal *j = conn->server->data;

    switch (c->role) {
    case ROLE_HELLO:
        if (len == 3 && memcmp(line, "PUB", 3) == 0) {
            trace_event("pub %s", conn->peer);
            c->role = ROLE_PUB;
        } else if (len == 3 && memcmp(line, "SUB", 3) == 0) {
            client_subscribe(j, c);
        } else {
            server_refuse(conn, "ERR expected PUB or SUB\n");
        }
        break;
    case ROLE_PUB:
        journal_publish(j, line, len);
        break;
    case ROLE_SUB_WAITING:
    case ROLE_SUB_REPLAYING:
    case ROLE_SUB_LIVE:
        break; /* a subscriber has nothing to say: ignored */
    }
}

/* ------------------------------------------------------------------------
 * Main */

/* Shuts down in order (JR-11): stop accepting, close every client (which
 * gives up a replay), then the writer flushes what waits and closes the
 * file. journal_check_done() closes the rest once all of that ended. */
static void journal_stop(struct journal *j, int status)
{
    if (status != EXIT_DONE)
        j->exit_status = status;
    if (j->server.state != SV_SERVING)
        return;
    server_stop(&j->server);
    jwriter_close(&j->writer);
    journal_check_done(j);
}

/* Once nothing is left running, closes the last handles; the loop then
 * ends by itself. */
static void journal_check_done(struct journal *j)
{
    if (j->finished || !server_idle(&j->server) || j->replay.state != RP_IDLE ||
        j->writer.state != JW_CLOSED)
        return;
    j->finished = true;
    uv_close((uv_handle_t *)&j->replay.timer, NULL);
    server_close(&j->server);
}

static void journal_on_stop(struct server *s, int status)
{
    journal_stop(s->data, status);
}

static void journal_on_idle(struct server *s)
{
    journal_check_done(s->data);
}

/* Listens (JR-1 comes later, once the file is open too). Returns 0, or
 * -1 after reporting. */
static int journal_listen(struct journal *j, uv_loop_t *loop)
{
    const struct server_config cfg = {
        .conn_size = sizeof(struct client),
        .max_clients = cli.max_clients,
        .max_backlog = cli.max_backlog,
        .busy_line = "ERR busy\n",
        .on_line = client_on_line,
        .on_leave = client_on_leave,
        .on_stop = journal_on_stop,
        .on_idle = journal_on_idle,
    };
    int rc = server_listen(&j->server, loop, &cli.listen, &cfg);

    if (rc < 0) {
        lsock_report_failure(&cli.listen, rc);
        return -1;
    }
    j->server.data = j;
    return 0;
}

/* Sets up the replay's handles and starts serving (the socket and the
 * file are open already). */
static void journal_start(struct journal *j)
{
    j->writer.data = j;
    j->last_seq = j->writer.last_seq;
    uv_timer_init(j->server.loop, &j->replay.timer);
    j->replay.timer.data = j->replay.read_req.data = j;
    j->replay.write_req.data = j;
    server_start(&j->server);
}

int main(int argc, char **argv)
{
    /* Lives until main returns, after the loop has run every close
     * callback: libuv holds pointers into it until then. */
    struct journal j = {.exit_status = EXIT_DONE, .record = BUF_INIT};
    uv_loop_t loop;
    int status = EXIT_ERROR;

    proc_setup();
    if (!cli_journal(argc, argv, &cli, &status))
        return status;
    uv_loop_init(&loop);
    if (journal_listen(&j, &loop) < 0) {
        uv_loop_close(&loop);
        return EXIT_ERROR;
    }
    if (jwriter_open(&j.writer, &loop, cli.file, cli.flush_ms, replay_on_paused,
                     journal_on_writer_closed) < 0) {
        server_discard(&j.server);
        uv_loop_close(&loop);
        return EXIT_ERROR;
    }
    journal_start(&j);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0) {
        report_error("a libuv handle was left open");
        j.exit_status = EXIT_ERROR;
    }
    buf_free(&j.record);
    return j.exit_status;
}
/* STUB
// TODO: the journal on one event loop: publishers, subscribers with their
// replay (the writer paused meanwhile), an orderly shutdown; the server
// module does the listening, the connections and the signals.
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
