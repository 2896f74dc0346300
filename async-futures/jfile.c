/* jfile: the journal's file, on the futures library (see jfile.h). */
#include "jfile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>

#include "buf.h"
#include "fut/co.h"
#include "jrec.h"
#include "report.h"

/* How much of the file is read at a time (the check at start, a replay). */
enum { CHUNK = 64 * 1024 };

/* --- opening: the check at start ------------------------------------------ */

/* Opening the journal: open, check every record (JR-13), cut a torn last
 * line (JR-5). */
struct opening {
    struct fut base;
    struct co co;
    uv_loop_t *loop;
    const char *path;        /* borrowed */
    struct jfile_start *out; /* filled in as it goes */
    struct fut *op;
    struct jrec_scanner scan;
    struct buf chunk;
    uint64_t offset;
    int rc;
};

static int opening_failed(struct opening *o)
{
    if (o->rc == -EINVAL) /* line k of a journal holds SEQ k */
        report_error("%s line %" PRIu64 ": not a journal record"
                     " (expected \"%" PRIu64 " EVENT\")",
                     o->path, o->scan.bad_line, o->scan.bad_line);
    else
        report_error("%s: %s", o->path, report_strerror(o->rc));
    return o->rc;
}

static enum fut_poll opening_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct opening *o = (struct opening *)f;

    CO_BEGIN(&o->co);
    o->op =
        fut_file_open(o->loop, o->path, O_RDWR | O_CREAT, 0644, &o->out->file);
    CO_AWAIT_TAKE(&o->co, ctx, &o->op, o->rc);
    while (o->rc >= 0) {
        o->op =
            fut_file_read(o->out->file, (int64_t)o->offset, CHUNK, &o->chunk);
        CO_AWAIT_TAKE(&o->co, ctx, &o->op, o->rc);
        if (o->rc <= 0)
            break;
        o->offset += o->chunk.len;
        o->rc = jrec_scanner_feed(&o->scan, o->chunk.data, o->chunk.len);
    }
    if (o->rc < 0)
        CO_RETURN(&o->co, o, opening_failed(o));
    o->out->size = o->scan.valid_bytes;
    o->out->last_seq = o->scan.last_seq;
    if (o->out->size < o->offset) {
        o->op = fut_file_truncate(o->out->file, (int64_t)o->out->size);
        CO_AWAIT_TAKE(&o->co, ctx, &o->op, o->rc);
        if (o->rc < 0)
            CO_RETURN(&o->co, o, opening_failed(o));
        report_note("cut a torn last line (%" PRIu64 " bytes) from %s",
                    o->offset - o->out->size, o->path);
    }
    CO_RETURN(&o->co, o, 0);
    CO_END(&o->co);
}

static void opening_drop(struct fut *f)
{
    struct opening *o = (struct opening *)f;

    fut_clear(&o->op);
    jrec_scanner_free(&o->scan);
    buf_free(&o->chunk);
    fut_mem_free(f);
}

static const struct fut_vtable opening_vt = {"opening", opening_poll,
                                             opening_drop};

struct fut *jfile_open(uv_loop_t *loop, const char *path,
                       struct jfile_start *out)
{
    struct opening *o = (struct opening *)fut_alloc(&opening_vt, sizeof *o);

    if (o == NULL)
        return fut_ready(-ENOMEM);
    o->loop = loop;
    o->path = path;
    o->out = out;
    if (jrec_scanner_init(&o->scan) < 0) {
        fut_mem_free(&o->base);
        return fut_ready(-ENOMEM);
    }
    return &o->base;
}

/* --- the replay: the file's first `end` bytes, to one subscriber --------- */

struct replay {
    struct fut base;
    struct co co;
    struct fut_file *file; /* borrowed */
    struct fut_tcp *conn;  /* borrowed: the subscriber's */
    struct fut *op;
    uint64_t offset, end;
    struct buf chunk;
    int rc;
};

static size_t replay_chunk(const struct replay *r)
{
    return r->end - r->offset < CHUNK ? (size_t)(r->end - r->offset) : CHUNK;
}

static enum fut_poll replay_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct replay *r = (struct replay *)f;

    CO_BEGIN(&r->co);
    while (r->offset < r->end) {
        r->op = fut_file_read(r->file, (int64_t)r->offset, replay_chunk(r),
                              &r->chunk);
        CO_AWAIT_TAKE(&r->co, ctx, &r->op, r->rc);
        if (r->rc <= 0) /* 0: the file is shorter than it was */
            CO_RETURN(&r->co, r, r->rc < 0 ? r->rc : -EIO);
        r->op = fut_tcp_write_all(r->conn, r->chunk.data, r->chunk.len);
        CO_AWAIT_TAKE(&r->co, ctx, &r->op, r->rc);
        if (r->rc < 0)
            CO_RETURN(&r->co, r, r->rc);
        r->offset += r->chunk.len;
    }
    CO_RETURN(&r->co, r, 0);
    CO_END(&r->co);
}

/* Cancelled at a read: the read already in libuv's pool finishes there,
 * with memory of its own (fut/fs.h), after writing may have resumed; it
 * reads bytes before `end` and flushes write after it, so the two never
 * touch the same bytes. Cancelled at a write: what reached libuv is sent,
 * unless the subscriber is closed, which is what follows. */
static void replay_drop(struct fut *f)
{
    struct replay *r = (struct replay *)f;

    fut_clear(&r->op);
    buf_free(&r->chunk);
    fut_mem_free(f);
}

static const struct fut_vtable replay_vt = {"replay", replay_poll, replay_drop};

struct fut *jfile_replay(struct fut_file *file, struct fut_tcp *conn,
                         uint64_t end)
{
    struct replay *r = (struct replay *)fut_alloc(&replay_vt, sizeof *r);

    if (r == NULL)
        return fut_ready(-ENOMEM);
    r->file = file;
    r->conn = conn;
    r->end = end;
    return &r->base;
}
