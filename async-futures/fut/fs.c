/* fs: file operations on libuv's thread pool, by path or on a file kept
 * open (see fs.h). */
#include "fut/fs.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>

/* What a future does. The first three name a file by its path and open it
 * themselves; the others borrow a struct fut_file. */
enum fs_kind {
    FS_APPEND,    /* open, write at the end, close */
    FS_READ,      /* open, read, close */
    FS_OPEN_FILE, /* open, then hand the descriptor out as a fut_file */
    FS_WRITE_AT,  /* write at an offset of an open file */
    FS_READ_AT,   /* read at an offset of an open file */
    FS_TRUNCATE,  /* ftruncate an open file */
};

/* Each future is a short chain of these steps. */
enum fs_step {
    FS_OPEN,    /* the next poll issues the open */
    FS_OPENING, /* open in flight */
    FS_OP,      /* the next poll issues the write, read or truncate */
    FS_OPPING,  /* write, read or truncate in flight */
    FS_CLOSE,   /* the next poll issues the close */
    FS_CLOSING, /* close in flight */
    FS_DONE,    /* finished: rc is the result */
};

struct fut_file {
    uv_loop_t *loop;
    uv_file fd;
    unsigned futures;  /* its futures not yet dropped */
    unsigned in_pool;  /* its requests in the pool (dropped futures' too) */
    bool closing;      /* fut_file_close() was called */
    uv_fs_t close_req; /* .data = this */
};

struct fs_fut {
    struct fut base;
    uv_loop_t *loop;
    uv_fs_t req;            /* one request at a time; .data = this */
    enum fs_kind kind;
    enum fs_step step;
    bool busy;              /* req is in the pool: memory must stay */
    bool orphan;            /* dropped while busy: the callback cleans up */
    uv_file fd;             /* by path: ours, -1 when not open */
    struct fut_file *file;  /* open-file kinds: borrowed; else NULL */
    struct fut_file *made;  /* FS_OPEN_FILE: handed out when ready */
    struct fut_file **fout; /* FS_OPEN_FILE: where it goes */
    int flags, mode;        /* FS_OPEN_FILE */
    int rc;                 /* bytes so far, or the first error */
    struct fut_waker waker;
    struct buf data; /* writes: the bytes to write */
    size_t written;  /* writes: bytes written so far */
    char *rbuf;      /* reads: max bytes, filled by the pool */
    size_t max;
    int64_t offset;  /* read, write or truncate at */
    struct buf *out; /* reads: where the bytes go when ready */
    char path[];     /* copied; empty for open-file kinds */
};

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

/* One of file's requests has ended: the last one lets a close go ahead. */
static void file_request_ended(struct fut_file *file)
{
    if (--file->in_pool == 0 && file->closing)
        file_close_now(file);
}

/* --- the chain of requests ----------------------------------------------- */

static bool by_path(const struct fs_fut *f)
{
    return f->file == NULL;
}

static bool writes(const struct fs_fut *f)
{
    return f->kind == FS_APPEND || f->kind == FS_WRITE_AT;
}

static bool reads(const struct fs_fut *f)
{
    return f->kind == FS_READ || f->kind == FS_READ_AT;
}

static void fs_free(struct fs_fut *f)
{
    buf_free(&f->data);
    fut_mem_free(f->rbuf);
    fut_mem_free(f->made);
    fut_mem_free(&f->base);
}

static void fs_done(uv_fs_t *req);

/* After a drop: close the descriptor we opened, if any, then free. */
static void orphan_finish(struct fs_fut *f)
{
    if (f->fd >= 0) {
        uv_file fd = f->fd;

        f->fd = -1;
        f->step = FS_CLOSING;
        if (uv_fs_close(f->loop, &f->req, fd, fs_done) == 0) {
            f->busy = true;
            return; /* fs_done comes back here, with fd now -1 */
        }
    }
    fs_free(f);
}

/* The step after the operation: a future that opened the file closes it. */
static enum fs_step after_op(const struct fs_fut *f)
{
    return by_path(f) ? FS_CLOSE : FS_DONE;
}

/* What a finished open, operation or close means for the chain. */
static void step_done(struct fs_fut *f, ssize_t r)
{
    switch (f->step) {
    case FS_OPENING:
        f->fd = r >= 0 ? (uv_file)r : -1;
        f->rc = r >= 0 ? 0 : (int)r;
        f->step = r < 0 || f->kind == FS_OPEN_FILE ? FS_DONE : FS_OP;
        break;
    case FS_OPPING:
        f->step = after_op(f);
        if (r < 0) {
            f->rc = (int)r;
        } else if (writes(f)) {
            f->written += (size_t)r;
            f->rc = f->kind == FS_APPEND ? (int)f->written : 0;
            if (f->written < f->data.len)
                f->step = FS_OP; /* a short write: write the rest */
            if (f->written < f->data.len && r == 0) {
                f->rc = -EIO; /* no progress at all: give up */
                f->step = after_op(f);
            }
        } else {
            f->rc = (int)r; /* bytes read, or 0 for a truncate */
        }
        break;
    case FS_CLOSING:
        f->fd = -1;
        if (r < 0 && f->rc >= 0)
            f->rc = (int)r; /* a failed close can mean lost data (NFS) */
        f->step = FS_DONE;
        break;
    default:
        break;
    }
}

static void fs_done(uv_fs_t *req)
{
    struct fs_fut *f = req->data;
    ssize_t r = req->result;

    uv_fs_req_cleanup(req);
    f->busy = false;
    if (!by_path(f))
        file_request_ended(f->file);
    if (f->orphan) {
        if (f->step == FS_OPENING && r >= 0)
            f->fd = (uv_file)r;
        orphan_finish(f);
        return;
    }
    step_done(f, r);
    fut_wake(&f->waker);
}

static int open_flags(const struct fs_fut *f)
{
    switch (f->kind) {
    case FS_APPEND:
        return O_WRONLY | O_APPEND | O_CREAT;
    case FS_OPEN_FILE:
        return f->flags | O_CLOEXEC;
    default:
        return O_RDONLY;
    }
}

/* Issues the operation itself: on our own descriptor or the file's. */
static int issue_op(struct fs_fut *f)
{
    uv_file fd = by_path(f) ? f->fd : f->file->fd;
    uv_buf_t b;

    switch (f->kind) {
    case FS_APPEND:
    case FS_WRITE_AT:
        /* (data.data is NULL for an empty buffer: no arithmetic on it.) */
        b = uv_buf_init(f->data.len > 0 ? f->data.data + f->written : NULL,
                        (unsigned)(f->data.len - f->written));
        return uv_fs_write(
            f->loop, &f->req, fd, &b, 1,
            f->kind == FS_APPEND ? -1 : f->offset + (int64_t)f->written,
            fs_done);
    case FS_TRUNCATE:
        return uv_fs_ftruncate(f->loop, &f->req, fd, f->offset, fs_done);
    default:
        b = uv_buf_init(f->rbuf, (unsigned)f->max);
        return uv_fs_read(f->loop, &f->req, fd, &b, 1, f->offset, fs_done);
    }
}

/* Issues the request for the current step. */
static int fs_issue(struct fs_fut *f)
{
    switch (f->step) {
    case FS_OPEN:
        f->step = FS_OPENING;
        return uv_fs_open(f->loop, &f->req, f->path, open_flags(f), f->mode,
                          fs_done);
    case FS_OP:
        f->step = FS_OPPING;
        return issue_op(f);
    case FS_CLOSE:
        f->step = FS_CLOSING;
        return uv_fs_close(f->loop, &f->req, f->fd, fs_done);
    default:
        return 0;
    }
}

/* The output, in the poll that returns ready. */
static void fs_output(struct fs_fut *f)
{
    if (reads(f) && f->rc >= 0) {
        buf_clear(f->out);
        if (buf_append(f->out, f->rbuf, (size_t)f->rc) < 0)
            f->rc = -ENOMEM;
    } else if (f->kind == FS_OPEN_FILE && f->rc == 0) {
        f->made->loop = f->loop;
        f->made->fd = f->fd;
        *f->fout = f->made; /* ownership passes to the caller */
        f->made = NULL;
        f->fd = -1;
    }
}

static enum fut_poll fs_poll(struct fut *base, struct fut_ctx *ctx)
{
    struct fs_fut *f = (struct fs_fut *)base;
    int rc;

    while (!f->busy && f->step != FS_DONE) {
        rc = fs_issue(f);
        if (rc < 0) {
            /* Refused before it started: its callback will not run. */
            step_done(f, rc);
            continue;
        }
        f->busy = true;
        if (!by_path(f))
            f->file->in_pool++;
    }
    if (f->busy) {
        f->waker = ctx->waker;
        return FUT_PENDING;
    }
    fs_output(f);
    base->result = f->rc;
    return FUT_READY;
}

static void fs_drop(struct fut *base)
{
    struct fs_fut *f = (struct fs_fut *)base;

    f->waker = (struct fut_waker){NULL, NULL};
    f->orphan = true;
    if (!by_path(f))
        f->file->futures--;
    /* In flight: the pool thread still uses req and the buffers; the
     * callback will finish. Otherwise finish now. */
    if (!f->busy)
        orphan_finish(f);
}

static const struct fut_vtable append_vt = {"fs-append", fs_poll, fs_drop};
static const struct fut_vtable read_vt = {"fs-read", fs_poll, fs_drop};
static const struct fut_vtable open_vt = {"file-open", fs_poll, fs_drop};
static const struct fut_vtable write_at_vt = {"file-write", fs_poll, fs_drop};
static const struct fut_vtable read_at_vt = {"file-read", fs_poll, fs_drop};
static const struct fut_vtable truncate_vt = {"file-truncate", fs_poll,
                                              fs_drop};

static struct fs_fut *fs_new(const struct fut_vtable *vt, enum fs_kind kind,
                             uv_loop_t *loop, const char *path)
{
    size_t n = strlen(path) + 1;
    struct fs_fut *f = (struct fs_fut *)fut_alloc(vt, sizeof *f + n);

    if (f == NULL)
        return NULL;
    f->loop = loop;
    f->req.data = f;
    f->kind = kind;
    f->mode = 0644;
    f->fd = -1;
    f->data = (struct buf)BUF_INIT;
    memcpy(f->path, path, n);
    return f;
}

/* Gives a read future its private buffer (the pool writes into it, so it
 * cannot be the caller's). Returns f, or NULL after freeing it. */
static struct fs_fut *with_read_buffer(struct fs_fut *f, int64_t offset,
                                       size_t max, struct buf *out)
{
    f->rbuf = fut_mem_alloc(max > 0 ? max : 1);
    if (f->rbuf == NULL) {
        fs_free(f);
        return NULL;
    }
    f->max = max;
    f->offset = offset;
    f->out = out;
    return f;
}

struct fut *fut_fs_append(uv_loop_t *loop, const char *path,
                          struct buf *data)
{
    struct fs_fut *f = fs_new(&append_vt, FS_APPEND, loop, path);

    if (f == NULL)
        return fut_ready(-ENOMEM);
    buf_move(&f->data, data);
    return &f->base;
}

struct fut *fut_fs_read(uv_loop_t *loop, const char *path, int64_t offset,
                        size_t max, struct buf *out)
{
    struct fs_fut *f = fs_new(&read_vt, FS_READ, loop, path);

    if (f == NULL || with_read_buffer(f, offset, max, out) == NULL)
        return fut_ready(-ENOMEM);
    return &f->base;
}

struct fut *fut_file_open(uv_loop_t *loop, const char *path, int flags,
                          int mode, struct fut_file **out)
{
    struct fs_fut *f = fs_new(&open_vt, FS_OPEN_FILE, loop, path);

    if (f == NULL)
        return fut_ready(-ENOMEM);
    /* Made now, so that success cannot fail for want of memory. */
    f->made = fut_mem_alloc(sizeof *f->made);
    if (f->made == NULL) {
        fs_free(f);
        return fut_ready(-ENOMEM);
    }
    f->flags = flags;
    f->mode = mode;
    f->fout = out;
    return &f->base;
}

/* A future on the open file: it starts at the operation. */
static struct fs_fut *file_op_new(const struct fut_vtable *vt,
                                  enum fs_kind kind, struct fut_file *file)
{
    struct fs_fut *f = fs_new(vt, kind, file->loop, "");

    if (f == NULL)
        return NULL;
    f->file = file;
    f->step = FS_OP;
    file->futures++;
    return f;
}

struct fut *fut_file_write(struct fut_file *file, int64_t offset,
                           struct buf *data)
{
    struct fs_fut *f = file_op_new(&write_at_vt, FS_WRITE_AT, file);

    if (f == NULL)
        return fut_ready(-ENOMEM);
    f->offset = offset;
    buf_move(&f->data, data);
    return &f->base;
}

struct fut *fut_file_read(struct fut_file *file, int64_t offset, size_t max,
                          struct buf *out)
{
    struct fs_fut *f = file_op_new(&read_at_vt, FS_READ_AT, file);

    if (f == NULL)
        return fut_ready(-ENOMEM);
    if (with_read_buffer(f, offset, max, out) == NULL) {
        file->futures--;
        return fut_ready(-ENOMEM);
    }
    return &f->base;
}

struct fut *fut_file_truncate(struct fut_file *file, int64_t size)
{
    struct fs_fut *f = file_op_new(&truncate_vt, FS_TRUNCATE, file);

    if (f == NULL)
        return fut_ready(-ENOMEM);
    f->offset = size;
    return &f->base;
}
