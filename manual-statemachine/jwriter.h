/* jwriter: the journal file, written from libuv's loop without blocking it.
 *
 * Records ("SEQ EVENT\n", see jrec.h) are appended to a buffer in memory
 * and written to the file by uv_fs_write requests, which libuv runs on its
 * thread pool: the loop never waits for the disk. One request is in flight
 * at a time, so the file grows record by record, in SEQ order. The writer
 * is a state machine of its own: it writes pending records at most
 * flush_ms after the first of them arrived (JR-6), and it can be paused,
 * so that a replay may read the file while nothing is written to it
 * (JR-7), then resumed. While paused, records keep arriving in memory.
 *
 * Opening (the check of an existing file, the cut of a torn last line) is
 * done with synchronous calls: it happens before the server listens, when
 * there is nothing else the loop could be doing.
 *
 * One loop, one thread: every function is called from the loop's thread.
 */
#ifndef KIT_JWRITER_H
#define KIT_JWRITER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"

enum jwriter_state {
    JW_IDLE,       /* no request runs; pending records wait for a reason
                      to be written (flush due, pause or close asked) */
    JW_WRITING,    /* a uv_fs_write of `inflight` runs */
    JW_PAUSED,     /* paused for a reader: nothing is written */
    JW_TRUNCATING, /* a write failed: cutting the file back to `size` */
    JW_CLOSING,    /* uv_fs_close runs (and the flush timer closes) */
    JW_CLOSED,     /* file and timer closed: the writer is finished */
};

struct jwriter;

/* Called once the writer is paused (after jwriter_pause()). */
typedef void (*jwriter_paused_cb)(struct jwriter *w);

/* Called once, when the writer is finished: status is 0 after
 * jwriter_close(), or the error of a failed write (which was reported,
 * and the file cut back to its last complete record). The writer holds
 * no memory and no handle any more: the owner may free *w. */
typedef void (*jwriter_closed_cb)(struct jwriter *w, int status);

struct jwriter {
    enum jwriter_state state;
    uv_loop_t *loop;
    const char *path; /* borrowed from the caller, for messages */
    uv_file fd;
    uv_fs_t req;            /* the one file request in flight */
    uv_timer_t flush_timer; /* due flush_ms after the oldest pending
                                record arrived */
    int64_t flush_ms;
    bool flush_due;         /* the flush timer fired */
    bool pause_wanted;      /* jwriter_pause() was called */
    bool close_wanted;      /* jwriter_close() was called */
    uint64_t pause_after;   /* pause once the file holds records up to
                                this SEQ: those pending when asked */
    struct buf pending;     /* records not handed to a write yet */
    uint64_t last_appended; /* SEQ of the newest record: the last one in
                                pending, else in inflight, else in file */
    struct buf inflight;    /* the write in flight: the thread pool reads
                                it until the callback, so it must not
                                move or be freed before */
    size_t inflight_done;   /* bytes of inflight already in the file */
    uint64_t inflight_last; /* SEQ of the last record in inflight */
    uint64_t size;          /* bytes in the file: complete records only */
    uint64_t last_seq;      /* SEQ of the last record in the file */
    int handles_open;       /* the flush timer, until its close callback */
    int failed;             /* the failed write's error, or 0 */
    jwriter_paused_cb on_paused;
    jwriter_closed_cb on_closed;
    void *data; /* for the owner */
};

/* Opens or creates the journal at path (borrowed; it must stay valid
 * until the writer is closed), checks every record (JR-13), cuts a torn
 * last line (JR-5) and prepares the flush timer on loop. Reports any
 * problem on stderr itself and returns 0, or a negative errno (-EINVAL:
 * not a journal; the file is then left untouched and nothing needs to be
 * closed). After success, last_seq is the file's last SEQ. */
int jwriter_open(struct jwriter *w, uv_loop_t *loop, const char *path,
                 int64_t flush_ms, jwriter_paused_cb on_paused,
                 jwriter_closed_cb on_closed);

/* Appends a complete record, whose SEQ is seq, to the pending records.
 * Returns 0, -ENOMEM, or -EPIPE when the writer is closing or failed (the
 * record is then dropped). */
int jwriter_append(struct jwriter *w, uint64_t seq, const char *record,
                   size_t len);

/* Asks for a pause: the records pending now are written first, then the
 * writer pauses and calls on_paused. Until jwriter_resume(), `size` and
 * `last_seq` describe the file, which does not change, and `pending`
 * holds every later record (a replay may read both). */
void jwriter_pause(struct jwriter *w);

/* Takes back a pause: in JW_PAUSED, writing resumes; if the pause was
 * asked but not reached yet, the request is dropped. */
void jwriter_resume(struct jwriter *w);

/* Writes every pending record, closes the file and the flush timer, then
 * calls on_closed. A pause in effect holds this back until
 * jwriter_resume(). Does nothing when closing or failed already. */
void jwriter_close(struct jwriter *w);

#endif
