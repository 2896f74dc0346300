/* buf: a growable byte buffer.
 *
 * Used to build output (a JSON batch, a journal record) before one write.
 * Bytes may be anything, NUL included; buf never adds a terminator unless
 * asked with buf_cstr(). Not thread-safe.
 */
#ifndef KIT_BUF_H
#define KIT_BUF_H

#include <stddef.h>

struct buf {
    char *data; /* owned; NULL until the first append */
    size_t len; /* bytes in use */
    size_t cap; /* bytes allocated */
};

#define BUF_INIT                                                               \
    {                                                                          \
        NULL, 0, 0                                                             \
    }

/* Makes room for extra more bytes after len (len does not change), so
 * that a writer may fill data + len directly. Returns 0, or -ENOMEM (b is
 * unchanged then). */
int buf_reserve(struct buf *b, size_t extra);

/* Appends n bytes. Returns 0, or -ENOMEM (b is unchanged then). */
int buf_append(struct buf *b, const void *bytes, size_t n);

/* Appends one byte. Returns 0 or -ENOMEM. */
int buf_putc(struct buf *b, char c);

/* Appends a NUL-terminated string (without its NUL). 0 or -ENOMEM. */
int buf_puts(struct buf *b, const char *s);

/* Appends printf-style text. Returns 0 or -ENOMEM. */
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Makes sure a NUL follows the len bytes in use (it is not counted in len)
 * and returns data, now usable as a C string; NULL on -ENOMEM. The pointer
 * is valid until the next call that changes b. */
const char *buf_cstr(struct buf *b);

/* Removes the first n bytes (n <= len), keeping the rest in order. */
void buf_consume(struct buf *b, size_t n);

/* Empties b, keeping its memory for reuse. */
void buf_clear(struct buf *b);

/* Releases b's memory; b is then empty and may be reused. */
void buf_free(struct buf *b);

/* Moves src's contents into dst (dst's old memory is freed); src ends empty. */
void buf_move(struct buf *dst, struct buf *src);

#endif
