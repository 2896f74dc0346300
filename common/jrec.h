/* jrec: the journal file's records, "SEQ EVENT\n" (JR-5, JR-13).
 *
 * SEQ is a decimal number without leading zeros, counting 1, 2, 3 ... from
 * the first line; EVENT is any bytes but '\n' (it may be empty). Formatting
 * a record and checking a whole file are pure functions of bytes, so every
 * track reads and writes the same format with its own kind of I/O.
 */
#ifndef KIT_JREC_H
#define KIT_JREC_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "line.h"

/* The longest record line, '\n' excluded: 20 digits, a space, an event. */
#define JREC_MAX_LINE (20 + 1 + LINE_MAX_BYTES)

/* Appends "SEQ EVENT\n" to out. Returns 0 or -ENOMEM. */
int jrec_format(struct buf *out, uint64_t seq, const char *event, size_t len);

/* Parses one record line (without its '\n'). Returns 0 and sets *seq and
 * *event and *event_len (borrowed from line), or -EINVAL. */
int jrec_parse(const char *line, size_t len, uint64_t *seq, const char **event,
               size_t *event_len);

/* Checks a journal file as its bytes arrive, in pieces of any size. */
struct jrec_scanner {
    struct line_framer framer; /* owned */
    uint64_t last_seq;         /* SEQ of the last complete record */
    uint64_t lines;            /* complete lines seen */
    uint64_t valid_bytes;      /* bytes up to the end of the last good line */
    uint64_t bad_line;         /* number of the first bad line, or 0 */
};

/* Returns 0 or -ENOMEM. Release with jrec_scanner_free(). */
int jrec_scanner_init(struct jrec_scanner *s);
void jrec_scanner_free(struct jrec_scanner *s);

/* Feeds the next n bytes of the file. Returns 0, or -EINVAL at the first
 * line that is not a record or whose SEQ is not last_seq + 1 (bad_line then
 * names it; a line longer than JREC_MAX_LINE is bad too). */
int jrec_scanner_feed(struct jrec_scanner *s, const char *bytes, size_t n);

/* After the last byte: how many bytes of a torn last line (no '\n') follow
 * valid_bytes. The caller cuts them off (JR-5). */
uint64_t jrec_scanner_torn_bytes(const struct jrec_scanner *s);

#endif
