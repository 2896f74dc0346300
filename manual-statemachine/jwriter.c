/* jwriter: the journal file, written from libuv's loop without blocking it.
 *
 * Every callback below is a transition of struct jwriter's state, and
 * every decision about what to do next is taken in one place, jw_step(),
 * called after anything changed. A request in flight (a write, a truncate,
 * a close) is never interrupted: libuv cannot take back a request its
 * thread pool has started, so the writer finishes it and decides again.
 */
#include "jwriter.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>

#include "jrec.h"
#include "report.h"
#include "trace.h"

/* How much of the file is read at a time when checking it at start. */
enum { SCAN_CHUNK = 64 * 1024 };

static void jw_step(struct jwriter *w);

/* ---------------------------------------------------------------------
 * Opening: synchronous calls (no callback given), since nothing else runs
 * yet. */

/* Feeds the whole file to the scanner. Returns 0 or a negative errno. */
static int jw_scan(struct jwriter *w, struct jrec_scanner *sc)
{
    char *chunk = malloc(SCAN_CHUNK);
    int64_t offset = 0;
    int rc = 0;

    if (chunk == NULL)
        return -ENOMEM;
    for (;;) {
        uv_fs_t req;
        uv_buf_t b = uv_buf_init(chunk, SCAN_CHUNK);
        int n = uv_fs_read(w->loop, &req, w->fd, &b, 1, offset, NULL);

        uv_fs_req_cleanup(&req);
        if (n <= 0) {
            rc = n; /* 0 at the end of the file */
            break;
        }
        offset += n;
        rc = jrec_scanner_feed(sc, chunk, (size_t)n);
        if (rc < 0)
            break;
    }
    free(chunk);
    return rc;
}

/* Checks the file; on success sets size and last_seq and cuts a torn last
 * line. Reports what went wrong. Returns 0 or a negative errno. */
static int jw_check(struct jwriter *w)
{
    struct jrec_scanner sc;
    uint64_t torn;
    uv_fs_t req;
    int rc;

    if (jrec_scanner_init(&sc) < 0) {
        report_error("out of memory");
        return -ENOMEM;
    }
    rc = jw_scan(w, &sc);
    torn = jrec_scanner_torn_bytes(&sc);
    w->size = sc.valid_bytes;
    w->last_seq = sc.last_seq;
    if (rc == -EINVAL)
        /* Line k of a journal holds SEQ k: the line number says which
         * record was expected. */
        report_error("%s line %" PRIu64 ": not a journal record"
                     " (expected \"%" PRIu64 " EVENT\")",
                     w->path, sc.bad_line, sc.bad_line);
    else if (rc < 0)
        report_error("%s: %s", w->path, report_strerror(rc));
    jrec_scanner_free(&sc);
    if (rc < 0 || torn == 0)
        return rc;
    rc = uv_fs_ftruncate(w->loop, &req, w->fd, (int64_t)w->size, NULL);
    uv_fs_req_cleanup(&req);
    if (rc < 0) {
        report_error("%s: cannot cut a torn last line: %s", w->path,
                     report_strerror(rc));
        return rc;
    }
    report_note("cut a torn last line (%" PRIu64 " bytes) from %s", torn,
                w->path);
    return 0;
}

int jwriter_open(struct jwriter *w, uv_loop_t *loop, const char *path,
                 int64_t flush_ms, jwriter_paused_cb on_paused,
                 jwriter_closed_cb on_closed)
{
    uv_fs_t req;
    int rc;

    *w = (struct jwriter){
        .loop = loop,
        .path = path,
        .flush_ms = flush_ms,
        .pending = BUF_INIT,
        .inflight = BUF_INIT,
        .on_paused = on_paused,
        .on_closed = on_closed,
    };
    rc = uv_fs_open(loop, &req, path, O_RDWR | O_CREAT | O_CLOEXEC, 0644, NULL);
    uv_fs_req_cleanup(&req);
    if (rc < 0) {
        report_error("%s: %s", path, report_strerror(rc));
        return rc;
    }
    w->fd = rc;
    rc = jw_check(w);
    if (rc < 0) {
        uv_fs_close(loop, &req, w->fd, NULL);
        uv_fs_req_cleanup(&req);
        return rc;
    }
    w->last_appended = w->last_seq;
    w->req.data = w;
    uv_timer_init(loop, &w->flush_timer);
    w->flush_timer.data = w;
    w->handles_open = 1;
    w->state = JW_IDLE;
    return 0;
}

/* ---------------------------------------------------------------------
 * Closing. The writer is finished when the file is closed AND the flush
 * timer's close callback has run: the timer lives inside *w, so the owner
 * may free *w only after that (on_closed says when). */

static void jw_finish_if_done(struct jwriter *w)
{
    if (w->state != JW_CLOSING || w->fd >= 0 || w->handles_open > 0)
        return;
    w->state = JW_CLOSED;
    /* No request is in flight any more: the buffers may go. */
    buf_free(&w->pending);
    buf_free(&w->inflight);
    w->on_closed(w, w->failed);
}

static void jw_on_timer_closed(uv_handle_t *handle)
{
    struct jwriter *w = handle->data;

    w->handles_open--;
    jw_finish_if_done(w);
}

/* Closes the flush timer, once: nothing will wait for it any more. */
static void jw_close_timer(struct jwriter *w)
{
    if (!uv_is_closing((uv_handle_t *)&w->flush_timer))
        uv_close((uv_handle_t *)&w->flush_timer, jw_on_timer_closed);
}

static void jw_on_file_closed(uv_fs_t *req)
{
    struct jwriter *w = req->data;

    if (req->result < 0)
        report_error("closing %s: %s", w->path,
                     report_strerror((int)req->result));
    uv_fs_req_cleanup(req);
    w->fd = -1;
    jw_finish_if_done(w);
}

static void jw_close_file(struct jwriter *w)
{
    int rc;

    w->state = JW_CLOSING;
    jw_close_timer(w);
    rc = uv_fs_close(w->loop, &w->req, w->fd, jw_on_file_closed);
    if (rc < 0) {
        w->fd = -1; /* nothing more can be done with it */
        jw_finish_if_done(w);
    }
}

/* ---------------------------------------------------------------------
 * Writing. */

static void jw_on_truncated(uv_fs_t *req)
{
    struct jwriter *w = req->data;

    if (req->result < 0)
        report_error("%s: cannot cut back to whole records: %s", w->path,
                     report_strerror((int)req->result));
    uv_fs_req_cleanup(req);
    jw_close_file(w);
}

/* A write failed (JR-12). A short write may have left half a record at
 * the end of the file: cut it back to `size`, the end of the last
 * complete record, then close. Nothing is written any more. */
static void jw_fail(struct jwriter *w, int err)
{
    int rc;

    trace_event("error writing %s", report_strerror(err));
    report_error("writing %s: %s", w->path, report_strerror(err));
    w->failed = err;
    w->state = JW_TRUNCATING;
    jw_close_timer(w);
    rc = uv_fs_ftruncate(w->loop, &w->req, w->fd, (int64_t)w->size,
                         jw_on_truncated);
    if (rc < 0)
        jw_close_file(w);
}

static void jw_on_written(uv_fs_t *req);

/* Writes what is left of inflight, at the end of the file. */
static void jw_write_rest(struct jwriter *w)
{
    uv_buf_t b = uv_buf_init(w->inflight.data + w->inflight_done,
                             (unsigned)(w->inflight.len - w->inflight_done));
    int64_t offset = (int64_t)(w->size + w->inflight_done);
    int rc = uv_fs_write(w->loop, &w->req, w->fd, &b, 1, offset, jw_on_written);

    if (rc < 0)
        jw_fail(w, rc);
}

/* JW_IDLE -> JW_WRITING: every pending record becomes the write in
 * flight; records that arrive meanwhile collect in `pending` again. */
static void jw_write_pending(struct jwriter *w)
{
    struct buf empty = w->inflight; /* cleared by the last write */

    w->inflight = w->pending;
    w->pending = empty;
    w->inflight_done = 0;
    w->inflight_last = w->last_appended;
    w->flush_due = false;
    if (!uv_is_closing((uv_handle_t *)&w->flush_timer))
        uv_timer_stop(&w->flush_timer); /* nothing is pending now */
    trace_event("flush %zu bytes, up to %" PRIu64, w->inflight.len,
                w->inflight_last);
    w->state = JW_WRITING;
    jw_write_rest(w);
}

static void jw_on_written(uv_fs_t *req)
{
    struct jwriter *w = req->data;
    ssize_t n = req->result;

    uv_fs_req_cleanup(req);
    switch (w->state) {
    case JW_WRITING:
        if (n <= 0) {
            jw_fail(w, n < 0 ? (int)n : -EIO);
            break;
        }
        w->inflight_done += (size_t)n;
        if (w->inflight_done < w->inflight.len) {
            jw_write_rest(w); /* a short write: the rest, or its error */
            break;
        }
        w->size += w->inflight.len;
        w->last_seq = w->inflight_last;
        buf_clear(&w->inflight);
        w->state = JW_IDLE;
        jw_step(w);
        break;
    case JW_IDLE:
    case JW_PAUSED:
    case JW_TRUNCATING:
    case JW_CLOSING:
    case JW_CLOSED:
        /* Cannot happen: a write is in flight only in JW_WRITING. */
        break;
    }
}

/* Decides the next step; called whenever something changed (a request
 * ended, the flush timer fired, a pause or a close was asked). Only an
 * idle writer starts anything: in every other state, the step that is
 * running calls jw_step() again when it ends. */
static void jw_step(struct jwriter *w)
{
    switch (w->state) {
    case JW_IDLE:
        if (w->pause_wanted && w->last_seq >= w->pause_after) {
            w->state = JW_PAUSED;
            trace_event("paused");
            w->on_paused(w);
        } else if (w->pending.len > 0 &&
                   (w->flush_due || w->pause_wanted || w->close_wanted)) {
            jw_write_pending(w);
        } else if (w->close_wanted) {
            jw_close_file(w);
        }
        break;
    case JW_WRITING:    /* jw_on_written() steps again */
    case JW_PAUSED:     /* jwriter_resume() steps again */
    case JW_TRUNCATING: /* failed: heading for JW_CLOSED */
    case JW_CLOSING:
    case JW_CLOSED:
        break;
    }
}

static void jw_on_flush_timer(uv_timer_t *timer)
{
    struct jwriter *w = timer->data;

    /* The oldest pending record has waited flush_ms. If a write or a
     * pause is under way, the flush happens as soon as it ends. */
    w->flush_due = true;
    jw_step(w);
}

/* ---------------------------------------------------------------------
 * The owner's requests. */

int jwriter_append(struct jwriter *w, uint64_t seq, const char *record,
                   size_t len)
{
    bool was_empty = w->pending.len == 0;
    int rc;

    if (w->failed != 0 || w->state == JW_CLOSING || w->state == JW_CLOSED)
        return -EPIPE;
    rc = buf_append(&w->pending, record, len);
    if (rc < 0)
        return rc;
    w->last_appended = seq;
    if (w->close_wanted)
        jw_step(w); /* closing: no more waiting */
    else if (was_empty)
        uv_timer_start(&w->flush_timer, jw_on_flush_timer,
                       (uint64_t)w->flush_ms, 0);
    return 0;
}

void jwriter_pause(struct jwriter *w)
{
    w->pause_wanted = true;
    w->pause_after = w->last_appended;
    jw_step(w);
}

void jwriter_resume(struct jwriter *w)
{
    w->pause_wanted = false;
    if (w->state != JW_PAUSED)
        return; /* asked, never reached: the request is simply dropped */
    w->state = JW_IDLE;
    trace_event("resumed");
    jw_step(w);
}

void jwriter_close(struct jwriter *w)
{
    if (w->close_wanted || w->failed != 0)
        return;
    w->close_wanted = true;
    /* From now on pending records are written at once: the timer has
     * nothing left to wait for. */
    jw_close_timer(w);
    jw_step(w);
}
