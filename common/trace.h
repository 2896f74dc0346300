/* trace: the --trace event log (COM-9).
 *
 * One event a line on stderr, "MS EVENT [DETAIL]", MS being milliseconds
 * since clock_mark_start() with three decimals:
 *       12.345 connected 127.0.0.1:7000
 * The lecture demos put these logs side by side, so every track names the
 * same moments the same way (see tests/README.md for the vocabulary).
 * Thread-safe: each event is one line written with a single write(2).
 * When tracing is off, every call returns at once.
 */
#ifndef KIT_TRACE_H
#define KIT_TRACE_H

#include <stdbool.h>
#include <stddef.h>

/* Turns tracing on or off (off at start). */
void trace_enable(bool on);

/* Whether tracing is on. */
bool trace_enabled(void);

/* Writes one event: fmt is the EVENT word, optionally followed by a space
 * and the detail, e.g. trace_event("read %zu bytes", n). */
void trace_event(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Writes "EVENT BYTES" where bytes are shown as a JSON string, cut to the
 * first 60 bytes, so a line with NUL or newline bytes stays one line. */
void trace_bytes(const char *event, const char *bytes, size_t len);

#endif
