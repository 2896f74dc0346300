/* batch: the dashboard's schedule and its batches. */
#include "batch.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "json.h"
#include "output.h"
#include "trace.h"

void batch_sched_init(struct batch_sched *s, int64_t start_us,
                      int64_t period_ms)
{
    s->start_ms = (start_us + 999) / 1000;
    s->period_ms = period_ms;
    s->last = 0;
}

int64_t batch_sched_next(const struct batch_sched *s, int64_t now_ms,
                         int64_t *due_ms)
{
    int64_t tick = s->last + 1;
    /* The latest tick that has fallen due by now (0 before the first). */
    int64_t latest =
        now_ms >= s->start_ms ? (now_ms - s->start_ms) / s->period_ms : 0;

    /* Late by whole periods (the process was stopped, say)? Then the next
     * batch is the most recent tick due: the missed ones are skipped,
     * never written in a burst. */
    if (latest > tick)
        tick = latest;
    *due_ms = s->start_ms + tick * s->period_ms;
    return tick;
}

void batch_sched_done(struct batch_sched *s, int64_t tick)
{
    if (tick > s->last + 1)
        trace_event("tick %" PRId64 " to %" PRId64 " skipped", s->last + 1,
                    tick - 1);
    s->last = tick;
}

int64_t batch_sched_final(const struct batch_sched *s)
{
    return s->last + 1;
}

/* The events start this far into b->events: batch_write() prints the
 * line's head, {"tick":K,"ms":MS,"events":[ (65 bytes at most), right
 * before them, so that the line is written from where it lies, never
 * copied: with a large batch (BATCH_LIMIT_BYTES), a copy would double
 * both the memory and the work of every tick. */
enum { BATCH_HEAD_ROOM = 80 };

/* Makes the room for the head if b->events is still empty. */
static int batch_make_room(struct batch *b)
{
    int rc = 0;

    if (b->events.len == 0) {
        rc = buf_reserve(&b->events, BATCH_HEAD_ROOM);
        if (rc == 0)
            b->events.len = BATCH_HEAD_ROOM;
    }
    return rc;
}

int batch_add(struct batch *b, const char *event, size_t len)
{
    size_t before = b->events.len;
    int rc = batch_make_room(b);

    if (rc == 0 && b->count > 0)
        rc = buf_putc(&b->events, ',');

    if (rc == 0)
        rc = json_append_string(&b->events, event, len);
    if (rc < 0) {
        b->events.len = before; /* drop a lone comma (or the room) */
        return rc;
    }
    b->count++;
    return 0;
}

size_t batch_bytes(const struct batch *b)
{
    return b->events.len > 0 ? b->events.len - BATCH_HEAD_ROOM : 0;
}

bool batch_full(const struct batch *b)
{
    return batch_bytes(b) >= BATCH_LIMIT_BYTES;
}

int batch_format(struct batch *b, int64_t tick, int64_t ms, bool final)
{
    int rc;

    buf_clear(&b->line);
    rc = buf_printf(&b->line,
                    "{\"tick\":%" PRId64 ",\"ms\":%" PRId64 ",\"events\":[",
                    tick, ms);
    if (rc == 0)
        rc = buf_append(&b->line, b->events.data + BATCH_HEAD_ROOM,
                        batch_bytes(b));
    if (rc == 0)
        rc = buf_puts(&b->line, final ? "],\"final\":true}\n" : "]}\n");
    return rc;
}

/* Writes the line of batch `tick` from where the events lie: the head
 * into the room before them, the tail after them. Returns 0, -ENOMEM, or
 * what output_lines() says. */
static int batch_write_in_place(struct batch *b, int64_t tick, bool final)
{
    char head[BATCH_HEAD_ROOM];
    int n = snprintf(head, sizeof(head),
                     "{\"tick\":%" PRId64 ",\"ms\":%" PRId64 ",\"events\":[",
                     tick, clock_since_start_ms());
    char *start;
    int rc = batch_make_room(b);

    if (rc == 0)
        rc = buf_puts(&b->events, final ? "],\"final\":true}\n" : "]}\n");
    if (rc < 0)
        return rc;
    start = b->events.data + BATCH_HEAD_ROOM - n;
    memcpy(start, head, (size_t)n);
    return output_lines(start, b->events.len - (BATCH_HEAD_ROOM - (size_t)n));
}

int batch_write(struct batch *b, int64_t tick, bool final)
{
    /* The one error path: building fails with -ENOMEM, writing with
     * whatever output_lines() says (it clears errno before it writes, so
     * a stale errno is never reported). */
    int rc = batch_write_in_place(b, tick, final);

    if (rc == 0)
        trace_event("tick %" PRId64 " %zu events%s", tick, b->count,
                    final ? " final" : "");
    buf_clear(&b->events);
    b->count = 0;
    return rc;
}

void batch_free(struct batch *b)
{
    buf_free(&b->events);
    buf_free(&b->line);
    b->count = 0;
}
