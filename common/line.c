/* line: split a byte stream into lines, with a bound on their length. */
#include "line.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The buffer's size: a longest line plus its '\n'. */
static size_t line_cap(const struct line_framer *f)
{
    return f->max_line + 1;
}

int line_framer_init(struct line_framer *f, size_t max_line)
{
    f->buf = malloc(max_line + 1);
    if (f->buf == NULL)
        return -ENOMEM;
    f->max_line = max_line;
    f->start = 0;
    f->end = 0;
    f->scanned = 0;
    return 0;
}

void line_framer_init_lazy(struct line_framer *f, size_t max_line)
{
    f->buf = NULL;
    f->max_line = max_line;
    f->start = 0;
    f->end = 0;
    f->scanned = 0;
}

void line_framer_release(struct line_framer *f)
{
    if (f->start == f->end)
        line_framer_free(f);
}

void line_framer_free(struct line_framer *f)
{
    free(f->buf);
    f->buf = NULL;
    f->start = 0;
    f->end = 0;
    f->scanned = 0;
}

char *line_framer_space(struct line_framer *f, size_t *room)
{
    if (f->buf == NULL) {
        /* Released while idle (or never allocated): bytes are coming. */
        f->buf = malloc(line_cap(f));
        if (f->buf == NULL) {
            *room = 0;
            return NULL;
        }
    }
    if (f->start == f->end) {
        /* Nothing pending: start over at the front, for free. */
        f->start = 0;
        f->end = 0;
    } else if (f->end == line_cap(f) && f->start > 0) {
        /* The tail is full but lines were handed out from the front:
         * move the pending bytes down. Done only when there is no room
         * left, so each byte moves at most once per line. */
        memmove(f->buf, f->buf + f->start, f->end - f->start);
        f->end -= f->start;
        f->start = 0;
    }
    *room = line_cap(f) - f->end;
    return f->buf + f->end;
}

void line_framer_commit(struct line_framer *f, size_t n)
{
    f->end += n;
}

size_t line_framer_push(struct line_framer *f, const char *bytes, size_t n)
{
    size_t room;
    char *dst = line_framer_space(f, &room);

    if (n > room)
        n = room;
    if (n == 0)
        return 0;
    memcpy(dst, bytes, n);
    line_framer_commit(f, n);
    return n;
}

int line_framer_next(struct line_framer *f, const char **line, size_t *len)
{
    char *from, *nl;

    if (f->buf == NULL)
        return 0; /* released: nothing pending */
    from = f->buf + f->start + f->scanned;
    nl = memchr(from, '\n', f->end - f->start - f->scanned);

    if (nl == NULL) {
        /* Remember how far we looked, so the next call scans only the
         * bytes that arrive after this one. */
        f->scanned = f->end - f->start;
        if (f->scanned > f->max_line)
            return -EMSGSIZE;
        return 0;
    }
    *line = f->buf + f->start;
    *len = (size_t)(nl - *line);
    f->start += *len + 1;
    f->scanned = 0;
    return 1;
}

size_t line_framer_pending(const struct line_framer *f)
{
    return f->end - f->start;
}
