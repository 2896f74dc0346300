/* fs: file operations on libuv's thread pool (see fs.h).
 *
 * One leaf future does the work: a request, one uv_fs_* call (open, read,
 * write, ftruncate or close). Every operation of fs.h is a coroutine
 * (co.h) that awaits requests one after the other, so it reads in the
 * order it happens: an append is "open, write until all is written,
 * close". What is hard about files, a call in the pool that cannot be
 * stopped, is handled once, in the request.
 */
#include "fut/fs.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "fut/co.h"

struct fut_file {
    uv_loop_t *loop;
    uv_file fd;
    unsigned futures;  /* its futures not yet dropped */
    unsigned in_pool;  /* its requests in the pool (dropped futures' too) */
    bool closing;      /* fut_file_close() was called */
    uv_fs_t close_req; /* .data = this */
};

/* --- the request: one call on the pool ----------------------------------- */

enum req_op {
    REQ_OPEN,     /* open(path, flags, mode): ready with the descriptor */
    REQ_READ,     /* read up to max bytes at offset into rbuf */
    REQ_WRITE,    /* write bytes from `from` on, at offset */
    REQ_TRUNCATE, /* ftruncate(fd, offset) */
    REQ_CLOSE,    /* close(fd) */
};

enum req_state {
    REQ_NEW,     /* not issued: its first poll issues it (P4) */
    REQ_IN_POOL, /* libuv has it: req and the buffers must stay put */
    REQ_ENDED,   /* its callback ran, or libuv refused it: r is set */
};

struct req_fut {
    struct fut base;
    uv_fs_t req; /* .data = this */
    uv_loop_t *loop;
    enum req_op op;
    enum req_state state;
    bool dropped;           /* dropped while in the pool: the callback frees */
    struct fut_waker waker; /* from the latest poll */
    struct fut_file *file;  /* the borrowed file it works on, or NULL */
    uv_file fd;             /* the descriptor of the call */
    uv_file close_fd;       /* to close once dropped and ended, or -1 */
    int flags, mode;        /* open */
    int64_t offset;         /* read, write (-1: current position), truncate */
    struct buf bytes;       /* write: owned, written from `from` on */
    size_t from;
    char *rbuf; /* read: owned, max bytes the pool fills */
    size_t max;
    ssize_t r;   /* the call's result, once ended */
    char path[]; /* open: copied */
};

static void file_request_ended(struct fut_file *file);
static void req_ended(uv_fs_t *req);

static void req_free(struct req_fut *q)
{
    buf_free(&q->bytes);
    fut_mem_free(q->rbuf);
    fut_mem_free(q);
}

/* A dropped request whose call has ended: close the descriptor it still
 * holds (an open that succeeded, dropped before a poll handed the
 * descriptor out), then free it. The close reuses req,
 * so the memory stays until that callback too. */
static void req_finish_dropped(struct req_fut *q)
{
    uv_file fd = q->close_fd;

    q->close_fd = -1;
    if (fd >= 0) {
        q->op = REQ_CLOSE;
        q->file = NULL;
        if (uv_fs_close(q->loop, &q->req, fd, req_ended) == 0) {
            q->state = REQ_IN_POOL;
            return; /* req_ended comes back here, with nothing to close */
        }
    }
    req_free(q);
}

static void req_ended(uv_fs_t *req)
{
    struct req_fut *q = req->data;

    q->r = req->result;
    q->state = REQ_ENDED;
    uv_fs_req_cleanup(req);
    if (q->op == REQ_OPEN && q->r >= 0)
        q->close_fd = (uv_file)q->r; /* ours until a poll hands it out */
    if (q->file != NULL)
        file_request_ended(q->file);
    if (!q->dropped) {
        fut_wake(&q->waker);
        return;
    }
    req_finish_dropped(q);
}

static int req_issue(struct req_fut *q)
{
    uv_buf_t b;

    switch (q->op) {
    case REQ_OPEN:
        return uv_fs_open(q->loop, &q->req, q->path, q->flags, q->mode,
                          req_ended);
    case REQ_READ:
        b = uv_buf_init(q->rbuf, (unsigned)q->max);
        return uv_fs_read(q->loop, &q->req, q->fd, &b, 1, q->offset, req_ended);
    case REQ_WRITE:
        /* (data is NULL for an empty buffer: no arithmetic on it.) */
        b = uv_buf_init(q->bytes.len > 0 ? q->bytes.data + q->from : NULL,
                        (unsigned)(q->bytes.len - q->from));
        return uv_fs_write(q->loop, &q->req, q->fd, &b, 1, q->offset,
                           req_ended);
    case REQ_TRUNCATE:
        return uv_fs_ftruncate(q->loop, &q->req, q->fd, q->offset, req_ended);
    case REQ_CLOSE:
        return uv_fs_close(q->loop, &q->req, q->fd, req_ended);
    }
    return -EINVAL;
}

static enum fut_poll req_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct req_fut *q = (struct req_fut *)f;
    int rc;

    if (q->state == REQ_NEW) {
        rc = req_issue(q);
        if (rc < 0) {
            q->r = rc; /* refused before it started: no callback comes */
            q->state = REQ_ENDED;
        } else {
            q->state = REQ_IN_POOL;
            if (q->file != NULL)
                q->file->in_pool++;
        }
    }
    if (q->state == REQ_IN_POOL) {
        q->waker = ctx->waker;
        return FUT_PENDING;
    }
    f->result = (int)q->r;
    q->close_fd = -1; /* an opened descriptor now belongs to the poller */
    return FUT_READY;
}

static void req_drop(struct fut *f)
{
    struct req_fut *q = (struct req_fut *)f;

    if (q->file != NULL)
        q->file->futures--;
    q->dropped = true;
    q->waker = (struct fut_waker){NULL, NULL};
    /* In the pool, the thread still uses req and the buffers: cancelling
     * can only detach, and the callback wakes nobody and frees them. */
    if (q->state != REQ_IN_POOL)
        req_finish_dropped(q);
}

static const struct fut_vtable req_vt = {"fs-request", req_poll, req_drop};

/* A new request of op on fd; on file (borrowed) if not NULL, whose
 * descriptor it then uses. path is copied (open only). NULL on -ENOMEM. */
static struct req_fut *req_new(uv_loop_t *loop, enum req_op op,
                               struct fut_file *file, uv_file fd,
                               const char *path)
{
    size_t n = path != NULL ? strlen(path) + 1 : 0;
    struct req_fut *q = (struct req_fut *)fut_alloc(&req_vt, sizeof *q + n);

    if (q == NULL)
        return NULL;
    q->req.data = q;
    q->loop = loop;
    q->op = op;
    q->file = file;
    q->fd = file != NULL ? file->fd : fd;
    q->close_fd = -1;
    q->bytes = (struct buf)BUF_INIT;
    if (n > 0)
        memcpy(q->path, path, n);
    if (file != NULL)
        file->futures++;
    return q;
}

static struct fut *req_open(uv_loop_t *loop, const char *path, int flags,
                            int mode)
{
    struct req_fut *q = req_new(loop, REQ_OPEN, NULL, -1, path);

    if (q == NULL)
        return fut_ready(-ENOMEM);
    q->flags = flags;
    q->mode = mode;
    return &q->base;
}

static struct fut *req_close(uv_loop_t *loop, uv_file fd)
{
    struct req_fut *q = req_new(loop, REQ_CLOSE, NULL, fd, NULL);

    return q != NULL ? &q->base : fut_ready(-ENOMEM);
}

/* Reads into a buffer of its own: the pool writes into it, and a dropped
 * read must not write into the caller's memory. */
static struct fut *req_read(struct fut_file *file, int64_t offset, size_t max)
{
    struct req_fut *q = req_new(file->loop, REQ_READ, file, -1, NULL);

    if (q == NULL)
        return fut_ready(-ENOMEM);
    q->rbuf = fut_mem_alloc(max > 0 ? max : 1);
    if (q->rbuf == NULL) {
        req_drop(&q->base);
        return fut_ready(-ENOMEM);
    }
    q->offset = offset;
    q->max = max;
    return &q->base;
}

/* Writes bytes[from..] at offset. The bytes move into the request (the
 * pool reads them; a dropped write keeps them until its callback) and come
 * back with req_wrote(). Left where they are on -ENOMEM. */
static struct fut *req_write(struct fut_file *file, int64_t offset,
                             struct buf *bytes, size_t from)
{
    struct req_fut *q = req_new(file->loop, REQ_WRITE, file, -1, NULL);

    if (q == NULL)
        return fut_ready(-ENOMEM);
    q->offset = offset;
    q->from = from;
    buf_move(&q->bytes, bytes);
    return &q->base;
}

/* --- the open file ------------------------------------------------------- */

static void file_closed(uv_fs_t *req)
{
    struct fut_file *file = req->data;

    uv_fs_req_cleanup(req);
    fut_mem_free(file);
}

static void file_close_now(struct fut_file *file)
{
    file->close_req.data = file;
    if (uv_fs_close(file->loop, &file->close_req, file->fd, file_closed) < 0)
        fut_mem_free(file); /* refused: its callback will not run */
}

void fut_file_close(struct fut_file *file)
{
    if (file == NULL)
        return;
    assert(file->futures == 0 && "drop the file's futures first");
    file->closing = true;
    if (file->in_pool == 0)
        file_close_now(file);
}

/* One of file's requests has ended: the last one lets a close go ahead
 * (never earlier: the pool could use a descriptor number that meanwhile
 * belongs to another file). */
static void file_request_ended(struct fut_file *file)
{
    if (--file->in_pool == 0 && file->closing)
        file_close_now(file);
}

/* For an operation that opened *fp itself and has awaited all its
 * requests: returns a request that closes the descriptor, whose result
 * the operation awaits, and frees the struct. */
static struct fut *file_close_req(struct fut_file **fp)
{
    struct fut_file *file = *fp;
    uv_loop_t *loop = file->loop;
    uv_file fd = file->fd;
    struct fut *q = req_close(loop, fd);

    if (fut_is_nomem(q)) {
        fut_file_close(file); /* closed all the same, unawaited */
    } else {
        assert(file->futures == 0 && file->in_pool == 0);
        fut_mem_free(file);
    }
    *fp = NULL;
    return q;
}

/* --- open ---------------------------------------------------------------- */

struct open_fut {
    struct fut base;
    struct co co;
    struct fut *op;        /* the open request, or NULL */
    struct fut_file *made; /* made at once: success needs no memory */
    struct fut_file **out;
    uv_loop_t *loop;
    int rc;
};

static enum fut_poll open_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct open_fut *s = (struct open_fut *)f;

    CO_BEGIN(&s->co);
    CO_AWAIT_TAKE(&s->co, ctx, &s->op, s->rc);
    if (s->rc < 0)
        CO_RETURN(&s->co, s, s->rc);
    s->made->loop = s->loop;
    s->made->fd = (uv_file)s->rc;
    *s->out = s->made; /* ownership passes to the caller */
    s->made = NULL;
    CO_RETURN(&s->co, s, 0);
    CO_END(&s->co);
}

static void open_drop(struct fut *f)
{
    struct open_fut *s = (struct open_fut *)f;

    fut_clear(&s->op); /* an open still in the pool closes what it opens */
    fut_mem_free(s->made);
    fut_mem_free(s);
}

static const struct fut_vtable open_vt = {"file-open", open_poll, open_drop};

struct fut *fut_file_open(uv_loop_t *loop, const char *path, int flags,
                          int mode, struct fut_file **out)
{
    struct open_fut *s = (struct open_fut *)fut_alloc(&open_vt, sizeof *s);

    if (s == NULL)
        return fut_ready(-ENOMEM);
    s->made = fut_mem_alloc(sizeof *s->made);
    s->op = req_open(loop, path, flags | O_CLOEXEC, mode);
    if (s->made == NULL || fut_is_nomem(s->op)) {
        open_drop(&s->base);
        return fut_ready(-ENOMEM);
    }
    s->loop = loop;
    s->out = out;
    return &s->base;
}

/* --- write all ----------------------------------------------------------- */

struct write_fut {
    struct fut base;
    struct co co;
    struct fut *op;        /* the write request, or NULL */
    struct fut_file *file; /* borrowed */
    int64_t offset;        /* -1: at the current position */
    struct buf data;       /* lent to each request in turn */
    size_t written;
    int rc;
};

/* After a write request: takes the bytes back, counts what was written.
 * Returns 1 if bytes are left, 0 when all are written, or a negative
 * errno. */
static int wrote(struct write_fut *s)
{
    int rc = fut_result(s->op);

    if (!fut_is_nomem(s->op))
        buf_move(&s->data, &((struct req_fut *)s->op)->bytes);
    fut_clear(&s->op);
    if (rc < 0)
        return rc;
    if (rc == 0 && s->written < s->data.len)
        return -EIO; /* no progress at all: give up */
    s->written += (size_t)rc;
    return s->written < s->data.len ? 1 : 0;
}

static enum fut_poll write_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct write_fut *s = (struct write_fut *)f;

    CO_BEGIN(&s->co);
    do { /* a short write is followed by the rest */
        s->op = req_write(s->file,
                          s->offset < 0 ? -1 : s->offset + (int64_t)s->written,
                          &s->data, s->written);
        CO_AWAIT(&s->co, ctx, s->op);
        s->rc = wrote(s);
    } while (s->rc > 0);
    CO_RETURN(&s->co, s, s->rc);
    CO_END(&s->co);
}

static void write_drop(struct fut *f)
{
    struct write_fut *s = (struct write_fut *)f;

    fut_clear(&s->op); /* a write in the pool keeps its bytes till it ends */
    buf_free(&s->data);
    s->file->futures--;
    fut_mem_free(s);
}

static const struct fut_vtable write_vt = {"file-write", write_poll,
                                           write_drop};

struct fut *fut_file_write(struct fut_file *file, int64_t offset,
                           struct buf *data)
{
    struct write_fut *s = (struct write_fut *)fut_alloc(&write_vt, sizeof *s);

    if (s == NULL) {
        buf_free(data); /* ownership was promised, also on failure */
        return fut_ready(-ENOMEM);
    }
    s->file = file;
    s->offset = offset;
    buf_move(&s->data, data);
    file->futures++;
    return &s->base;
}

/* --- read ---------------------------------------------------------------- */

struct read_fut {
    struct fut base;
    struct co co;
    struct fut *op;        /* the read request, or NULL */
    struct fut_file *file; /* borrowed */
    struct buf *out;
    int rc;
};

static enum fut_poll read_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct read_fut *s = (struct read_fut *)f;
    struct req_fut *q;

    CO_BEGIN(&s->co);
    CO_AWAIT(&s->co, ctx, s->op);
    s->rc = fut_result(s->op);
    q = (struct req_fut *)s->op;
    if (s->rc >= 0) { /* the caller's buffer is written now, at ready */
        buf_clear(s->out);
        if (buf_append(s->out, q->rbuf, (size_t)s->rc) < 0)
            s->rc = -ENOMEM;
    }
    fut_clear(&s->op);
    CO_RETURN(&s->co, s, s->rc);
    CO_END(&s->co);
}

static void read_drop(struct fut *f)
{
    struct read_fut *s = (struct read_fut *)f;

    fut_clear(&s->op);
    s->file->futures--;
    fut_mem_free(s);
}

static const struct fut_vtable read_vt = {"file-read", read_poll, read_drop};

struct fut *fut_file_read(struct fut_file *file, int64_t offset, size_t max,
                          struct buf *out)
{
    struct read_fut *s = (struct read_fut *)fut_alloc(&read_vt, sizeof *s);

    if (s == NULL)
        return fut_ready(-ENOMEM);
    s->op = req_read(file, offset, max);
    if (fut_is_nomem(s->op)) {
        fut_mem_free(s);
        return fut_ready(-ENOMEM);
    }
    s->file = file;
    s->out = out;
    file->futures++;
    return &s->base;
}

/* --- truncate: a single request ------------------------------------------ */

struct fut *fut_file_truncate(struct fut_file *file, int64_t size)
{
    struct req_fut *q = req_new(file->loop, REQ_TRUNCATE, file, -1, NULL);

    if (q == NULL)
        return fut_ready(-ENOMEM);
    q->offset = size;
    return &q->base;
}

/* --- by path: open, the operation, close ---------------------------------- */

/* Both operations by path are the kept-open file's operations in a row.
 * Dropped half-way, they drop the operation and close the file the way
 * fut_file_close() does: after the last request in the pool has ended. */
struct path_fut {
    struct fut base;
    struct co co;
    uv_loop_t *loop;
    struct fut *op;        /* the step being awaited, or NULL */
    struct fut_file *file; /* ours while open */
    struct buf data;       /* append: the bytes; read: what was read */
    size_t len;            /* append: how many bytes to write */
    int64_t offset;        /* read */
    size_t max;            /* read */
    struct buf *out;       /* read */
    int rc, closed;
    char path[];
};

static void path_drop(struct fut *f)
{
    struct path_fut *s = (struct path_fut *)f;

    fut_clear(&s->op);
    fut_file_close(s->file);
    buf_free(&s->data);
    fut_mem_free(s);
}

static enum fut_poll append_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct path_fut *s = (struct path_fut *)f;

    CO_BEGIN(&s->co);
    s->op = fut_file_open(s->loop, s->path, O_WRONLY | O_APPEND | O_CREAT, 0644,
                          &s->file);
    CO_AWAIT_TAKE(&s->co, ctx, &s->op, s->rc);
    if (s->rc < 0)
        CO_RETURN(&s->co, s, s->rc);
    s->len = s->data.len;
    s->op = fut_file_write(s->file, -1, &s->data); /* O_APPEND: the end */
    CO_AWAIT_TAKE(&s->co, ctx, &s->op, s->rc);
    s->op = file_close_req(&s->file);
    CO_AWAIT_TAKE(&s->co, ctx, &s->op, s->closed);
    if (s->rc == 0 && s->closed < 0)
        s->rc = s->closed; /* a failed close can mean lost data (NFS) */
    CO_RETURN(&s->co, s, s->rc < 0 ? s->rc : (int)s->len);
    CO_END(&s->co);
}

static enum fut_poll read_path_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct path_fut *s = (struct path_fut *)f;

    CO_BEGIN(&s->co);
    s->op = fut_file_open(s->loop, s->path, O_RDONLY, 0, &s->file);
    CO_AWAIT_TAKE(&s->co, ctx, &s->op, s->rc);
    if (s->rc < 0)
        CO_RETURN(&s->co, s, s->rc);
    s->op = fut_file_read(s->file, s->offset, s->max, &s->data);
    CO_AWAIT_TAKE(&s->co, ctx, &s->op, s->rc);
    s->op = file_close_req(&s->file);
    CO_AWAIT_TAKE(&s->co, ctx, &s->op, s->closed);
    if (s->rc >= 0 && s->closed < 0)
        s->rc = s->closed;
    if (s->rc >= 0)
        buf_move(s->out, &s->data); /* the caller's buffer, at ready */
    CO_RETURN(&s->co, s, s->rc);
    CO_END(&s->co);
}

static const struct fut_vtable append_vt = {"fs-append", append_poll,
                                            path_drop};
static const struct fut_vtable read_path_vt = {"fs-read", read_path_poll,
                                               path_drop};

static struct path_fut *path_new(const struct fut_vtable *vt, uv_loop_t *loop,
                                 const char *path)
{
    size_t n = strlen(path) + 1;
    struct path_fut *s = (struct path_fut *)fut_alloc(vt, sizeof *s + n);

    if (s == NULL)
        return NULL;
    s->loop = loop;
    s->data = (struct buf)BUF_INIT;
    memcpy(s->path, path, n);
    return s;
}

struct fut *fut_fs_append(uv_loop_t *loop, const char *path, struct buf *data)
{
    struct path_fut *s = path_new(&append_vt, loop, path);

    if (s == NULL) {
        buf_free(data); /* ownership was promised, also on failure */
        return fut_ready(-ENOMEM);
    }
    buf_move(&s->data, data);
    return &s->base;
}

struct fut *fut_fs_read(uv_loop_t *loop, const char *path, int64_t offset,
                        size_t max, struct buf *out)
{
    struct path_fut *s = path_new(&read_path_vt, loop, path);

    if (s == NULL)
        return fut_ready(-ENOMEM);
    s->offset = offset;
    s->max = max;
    s->out = out;
    return &s->base;
}
