/* line: split a byte stream into lines, with a bound on their length.
 *
 * A line is the bytes before a '\n'; any other byte, NUL included, may be in
 * it. The framer owns one buffer of max_line + 1 bytes, so a connection's
 * framing memory is fixed, whatever the peer sends. It never touches a
 * socket: the caller reads bytes straight into line_framer_space() and
 * reports how many arrived with line_framer_commit(). That keeps protocol
 * apart from I/O, so the same framer serves blocking reads, libuv's read
 * callbacks and futures.
 *
 * Typical use:
 *
 *     size_t room;
 *     char *dst = line_framer_space(&fr, &room);
 *     ssize_t n = read(fd, dst, room);
 *     line_framer_commit(&fr, n);
 *     while ((rc = line_framer_next(&fr, &line, &len)) == 1)
 *         use(line, len);
 *     if (rc < 0) ... line too long ...
 *
 * Not thread-safe: one framer belongs to one reader.
 */
#ifndef KIT_LINE_H
#define KIT_LINE_H

#include <stddef.h>

/* The longest line the kit accepts, in bytes before the '\n' (COM-6). */
#define LINE_MAX_BYTES 65536

struct line_framer {
    char *buf;       /* owned; max_line + 1 bytes, or NULL while released
                        (see line_framer_release) */
    size_t max_line; /* longest line accepted, '\n' excluded */
    size_t start;    /* first byte not yet handed out as a line */
    size_t end;      /* one past the last byte received */
    size_t scanned;  /* bytes from start already known to hold no '\n' */
};

/* Prepares f for lines of at most max_line bytes. Returns 0, or -ENOMEM.
 * The framer owns its buffer; release it with line_framer_free(). */
int line_framer_init(struct line_framer *f, size_t max_line);

/* Prepares f like line_framer_init(), but allocates nothing yet: the
 * buffer comes with the first line_framer_space(). Cannot fail. */
void line_framer_init_lazy(struct line_framer *f, size_t max_line);

/* Frees the buffer if no byte is pending (every line received was handed
 * out); the next line_framer_space() allocates it again. A server with
 * many idle connections calls it after each read: an idle connection then
 * holds no buffer at all, instead of 64 KiB each. */
void line_framer_release(struct line_framer *f);

/* Releases the buffer. f may be zeroed or already freed (idempotent). */
void line_framer_free(struct line_framer *f);

/* Where the next bytes should be read into, and how many fit (*room >= 1
 * unless the buffer holds a too-long line, which line_framer_next() reports
 * first). The pointer is valid until the next call on f. May move pending
 * bytes to the front, so it invalidates lines returned earlier. Allocates
 * the buffer if it was released: NULL (and *room 0) when out of memory. */
char *line_framer_space(struct line_framer *f, size_t *room);

/* Records that n bytes were written at line_framer_space(). */
void line_framer_commit(struct line_framer *f, size_t n);

/* Copies n bytes into the framer, for callers that already hold the bytes
 * elsewhere. Returns how many were taken (fewer than n only when the buffer
 * is full: call line_framer_next() to make room, which will either hand out
 * lines or report a too-long line). */
size_t line_framer_push(struct line_framer *f, const char *bytes, size_t n);

/* Hands out the next complete line.
 * Returns 1 and sets *line and *len (without the '\n'; the bytes are borrowed
 * and valid until the next call on f), 0 when no complete line is buffered
 * yet, or -EMSGSIZE when more than max_line bytes arrived without a '\n'. */
int line_framer_next(struct line_framer *f, const char **line, size_t *len);

/* Bytes received but not yet part of a complete line. Non-zero at EOF means
 * the peer closed in the middle of a line. */
size_t line_framer_pending(const struct line_framer *f);

#endif
