/* buf: a growable byte buffer. */
#include "buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first allocation; later ones double, so n appends cost O(n) copies
 * in total. */
enum { BUF_FIRST_CAP = 64 };

int buf_reserve(struct buf *b, size_t extra)
{
    size_t cap;
    char *data;

    /* Room already: the common case, first (cap >= len, so this cannot
     * overflow). */
    if (extra <= b->cap - b->len)
        return 0;
    if (extra > SIZE_MAX - b->len)
        return -ENOMEM;
    cap = b->cap ? b->cap : BUF_FIRST_CAP;
    while (cap < b->len + extra) {
        if (cap > SIZE_MAX / 2)
            return -ENOMEM;
        cap *= 2;
    }
    data = realloc(b->data, cap);
    if (data == NULL)
        return -ENOMEM;
    b->data = data;
    b->cap = cap;
    return 0;
}

int buf_append(struct buf *b, const void *bytes, size_t n)
{
    int rc;

    if (n == 0)
        return 0;
    rc = buf_reserve(b, n);
    if (rc < 0)
        return rc;
    memcpy(b->data + b->len, bytes, n);
    b->len += n;
    return 0;
}

int buf_putc(struct buf *b, char c)
{
    /* The common case, room left, costs a store: JSON output puts a
     * comma and two quotes around every event. */
    if (b->len < b->cap) {
        b->data[b->len++] = c;
        return 0;
    }
    return buf_append(b, &c, 1);
}

int buf_puts(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    int rc;

    /* First measure, then format straight into the buffer. */
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    /* One more byte for the NUL that vsnprintf always writes; it is not
     * counted in len. */
    rc = buf_reserve(b, (size_t)n + 1);
    if (rc < 0)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

const char *buf_cstr(struct buf *b)
{
    if (buf_reserve(b, 1) < 0)
        return NULL;
    b->data[b->len] = '\0';
    return b->data;
}

void buf_consume(struct buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void buf_clear(struct buf *b)
{
    b->len = 0;
}

void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void buf_move(struct buf *dst, struct buf *src)
{
    free(dst->data);
    *dst = *src;
    src->data = NULL;
    src->len = 0;
    src->cap = 0;
}
