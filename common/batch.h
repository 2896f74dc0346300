/* batch: the dashboard's schedule and its batches (DB-1, DB-5, DB-6).
 *
 * Two things every dashboard needs, whatever its concurrency:
 *
 *   - the schedule: batch K is due at start + K * period, on an absolute
 *     schedule (no drift), and a program that fell a whole period behind
 *     skips the ticks it missed instead of writing them in a burst.
 *     batch_sched_next() says which tick comes next and when; each track
 *     only decides how to wait until then (a channel receive with that
 *     deadline, a libuv timer, an interval future);
 *   - the batch: events gathered as JSON strings, then written as one line
 *         {"tick":1,"ms":500,"events":["a","b"]}
 *     with ,"final":true on the last one, in one write, flushed.
 *
 * Ownership: both structs are the caller's memory. struct batch owns its
 * two buffers (release them with batch_free()); the schedule owns nothing.
 * Not thread-safe: one dashboard's thread (or loop) uses them.
 */
#ifndef KIT_BATCH_H
#define KIT_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct batch_sched {
    int64_t start_ms;  /* tick K is due at start_ms + K * period_ms */
    int64_t period_ms; /* --tick-ms */
    int64_t last;      /* the last tick written; 0 before the first */
};

/* Starts a schedule at start_us (the program's start, clock_start_us())
 * with period_ms >= 1 between ticks. The start is rounded UP to a whole
 * ms: rounded down, a tick could come up to 1 ms before start + K * N. */
void batch_sched_init(struct batch_sched *s, int64_t start_us,
                      int64_t period_ms);

/* Which tick comes next and when, at now_ms (clock_now_ms()). Returns the
 * tick K to write next and sets *due_ms to when it is due: K is written
 * once now_ms >= *due_ms, not before. K is the tick after the last one
 * written; but if now_ms is already a whole period or more past that, K is
 * the latest tick that has fallen due, and the ones in between are
 * skipped. Pure: nothing changes until batch_sched_done(). */
int64_t batch_sched_next(const struct batch_sched *s, int64_t now_ms,
                         int64_t *due_ms);

/* Records that tick was written (tick > s->last), and traces the ticks
 * skipped before it, if any: "tick A to B skipped". */
void batch_sched_done(struct batch_sched *s, int64_t tick);

/* The number of the final batch (DB-6): the tick after the last one
 * written. */
int64_t batch_sched_final(const struct batch_sched *s);

/* The events gathered for the next batch. */
struct batch {
    struct buf events; /* owned: room for the line's head (see
                          batch.c), then the JSON strings,
                          comma-separated */
    size_t count;      /* how many events */
    struct buf line;   /* owned: the last line built (reused) */
};

#define BATCH_INIT                                                             \
    {                                                                          \
        BUF_INIT, 0, BUF_INIT                                                  \
    }

/* Adds one event (len bytes, borrowed; any bytes) as a JSON string.
 * Returns 0 or -ENOMEM (b is unchanged then). */
int batch_add(struct batch *b, const char *event, size_t len);

/* Bytes of JSON the events take so far: a dashboard that stops reading
 * once a batch is large bounds its memory under a flood. */
size_t batch_bytes(const struct batch *b);

/* The most JSON a batch gathers before a dashboard stops reading until
 * the next tick has written it (DB-3). It bounds memory under a flood:
 * batch_write() writes the line from where the events lie, no copy.
 * It is large on purpose: a small bound (1 MiB) made the tick, not the
 * machine, set the throughput (at a 500 ms tick, 2 MB/s of events while
 * the program sat idle). 64 MiB holds half a second of a 5 M events/s
 * flood. Build with -DBATCH_LIMIT_BYTES=N to change it. */
#ifndef BATCH_LIMIT_BYTES
#define BATCH_LIMIT_BYTES (64 * 1024 * 1024)
#endif

/* Whether b holds BATCH_LIMIT_BYTES or more: stop reading until the next
 * tick. */
bool batch_full(const struct batch *b);

/* Builds the line of batch `tick` written at `ms` into b->line, '\n'
 * included: {"tick":K,"ms":MS,"events":[...]} with ,"final":true before
 * the closing brace when final. Pure. Returns 0 or -ENOMEM. */
int batch_format(struct batch *b, int64_t tick, int64_t ms, bool final);

/* Writes batch `tick` on stdout, stamped with clock_since_start_ms(): one
 * line, one write, flushed (output_lines()); traces "tick K N events" (and
 * "final"); then empties b, written or not. Returns 0, or a negative errno: -ENOMEM,
 * or stdout's error (-EPIPE, -ENOSPC ...; -EIO when stdio gives none). */
int batch_write(struct batch *b, int64_t tick, bool final);

/* Releases b's memory; b is then empty and may be reused. */
void batch_free(struct batch *b);

#endif
