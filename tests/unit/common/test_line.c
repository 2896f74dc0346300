/* Unit tests for common/line: the line framer (COM-6). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "line.h"

/* A small, seeded generator (xorshift64*): every run of the random tests
 * feeds the same splits, so a failure can be reproduced. */
static uint64_t rng_state;

static void rng_seed(uint64_t seed)
{
    rng_state = seed ? seed : 1;
}

static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

/* A number in [0, n). */
static size_t rng_below(size_t n)
{
    return (size_t)(rng_next() % n);
}

/* The lines a framer handed out, each followed by '\n', concatenated:
 * comparing with the input stream checks both the lines and their
 * boundaries. */
struct collected {
    struct buf bytes;
    size_t lines;
};

/* Takes every complete line out of f; returns what next() returned last
 * (0, or -EMSGSIZE). */
static int drain(struct line_framer *f, struct collected *c)
{
    const char *line;
    size_t len;
    int rc;

    while ((rc = line_framer_next(f, &line, &len)) == 1) {
        cr_assert_null(memchr(line, '\n', len));
        cr_assert_eq(buf_append(&c->bytes, line, len), 0);
        cr_assert_eq(buf_putc(&c->bytes, '\n'), 0);
        c->lines++;
    }
    return rc;
}

/* Feeds data through space()/commit() in reads of at most chunk bytes
 * (chunk 0: a random size from 1 to 2 * max_line for each read). */
static int feed_reads(struct line_framer *f, struct collected *c,
                      const char *data, size_t n, size_t chunk)
{
    size_t off = 0;

    while (off < n) {
        size_t room;
        char *dst = line_framer_space(f, &room);
        size_t want = chunk ? chunk : 1 + rng_below(2 * f->max_line);

        cr_assert_geq(room, 1);
        if (want > room)
            want = room;
        if (want > n - off)
            want = n - off;
        memcpy(dst, data + off, want);
        line_framer_commit(f, want);
        off += want;
        int rc = drain(f, c);

        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Builds a stream of count random lines of 0..max_line bytes, any byte
 * but '\n' in them (NUL and 0xff included). */
static void random_stream(struct buf *out, size_t count, size_t max_line)
{
    for (size_t i = 0; i < count; i++) {
        size_t len = rng_below(max_line + 1);

        for (size_t j = 0; j < len; j++) {
            char c = (char)rng_below(256);

            cr_assert_eq(buf_putc(out, c == '\n' ? 'n' : c), 0);
        }
        cr_assert_eq(buf_putc(out, '\n'), 0);
    }
}

Test(line, returns_nothing_until_a_newline_arrives)
{
    struct line_framer f;
    const char *line;
    size_t len;

    cr_assert_eq(line_framer_init(&f, 16), 0);
    cr_assert_eq(line_framer_next(&f, &line, &len), 0);
    cr_assert_eq(line_framer_push(&f, "abc", 3), 3);
    cr_assert_eq(line_framer_next(&f, &line, &len), 0);
    cr_assert_eq(line_framer_pending(&f), 3);
    cr_assert_eq(line_framer_push(&f, "\n", 1), 1);
    cr_assert_eq(line_framer_next(&f, &line, &len), 1);
    cr_assert_eq(len, 3);
    cr_assert_arr_eq(line, "abc", 3);
    cr_assert_eq(line_framer_next(&f, &line, &len), 0);
    cr_assert_eq(line_framer_pending(&f), 0);
    line_framer_free(&f);
}

Test(line, splits_several_lines_from_one_read)
{
    struct line_framer f;
    const char *line;
    size_t len;

    cr_assert_eq(line_framer_init(&f, 64), 0);
    cr_assert_eq(line_framer_push(&f, "one\n\ntwo\nthree\nfou", 18), 18);
    cr_assert_eq(line_framer_next(&f, &line, &len), 1);
    cr_assert_eq(len, 3);
    cr_assert_arr_eq(line, "one", 3);
    cr_assert_eq(line_framer_next(&f, &line, &len), 1);
    cr_assert_eq(len, 0); /* an empty line is a line */
    cr_assert_eq(line_framer_next(&f, &line, &len), 1);
    cr_assert_arr_eq(line, "two", 3);
    cr_assert_eq(line_framer_next(&f, &line, &len), 1);
    cr_assert_eq(len, 5);
    cr_assert_arr_eq(line, "three", 5);
    cr_assert_eq(line_framer_next(&f, &line, &len), 0);
    cr_assert_eq(line_framer_pending(&f), 3);
    line_framer_free(&f);
}

Test(line, frames_a_stream_fed_byte_by_byte)
{
    static const char stream[] = "alpha\nbeta\n\ngamma delta\n";
    struct line_framer f;
    struct collected c = {BUF_INIT, 0};

    cr_assert_eq(line_framer_init(&f, 11), 0);
    cr_assert_eq(feed_reads(&f, &c, stream, sizeof(stream) - 1, 1), 0);
    cr_assert_eq(c.lines, 4);
    cr_assert_eq(c.bytes.len, sizeof(stream) - 1);
    cr_assert_arr_eq(c.bytes.data, stream, sizeof(stream) - 1);
    cr_assert_eq(line_framer_pending(&f), 0);
    buf_free(&c.bytes);
    line_framer_free(&f);
}

Test(line, keeps_nul_and_0xff_bytes_inside_lines)
{
    static const char stream[] = "\0a\xff\0\n\xff\xff\n\0\n";
    struct line_framer f;
    const char *line;
    size_t len;

    cr_assert_eq(line_framer_init(&f, 16), 0);
    cr_assert_eq(line_framer_push(&f, stream, sizeof(stream) - 1), 10);
    cr_assert_eq(line_framer_next(&f, &line, &len), 1);
    cr_assert_eq(len, 4);
    cr_assert_arr_eq(line, "\0a\xff\0", 4);
    cr_assert_eq(line_framer_next(&f, &line, &len), 1);
    cr_assert_eq(len, 2);
    cr_assert_arr_eq(line, "\xff\xff", 2);
    cr_assert_eq(line_framer_next(&f, &line, &len), 1);
    cr_assert_eq(len, 1);
    cr_assert_eq(line[0], '\0');
    line_framer_free(&f);
}

/* Many random streams, each fed in random splits through space()/commit(),
 * must come out as exactly the lines that went in. A small max_line makes
 * the buffer wrap (compact) often. */
Test(line, random_splits_give_the_same_lines)
{
    rng_seed(20240611);
    for (int iter = 0; iter < 2000; iter++) {
        size_t max_line = 1 + rng_below(40);
        size_t count = rng_below(30);
        struct buf stream = BUF_INIT;
        struct collected c = {BUF_INIT, 0};
        struct line_framer f;

        random_stream(&stream, count, max_line);
        cr_assert_eq(line_framer_init(&f, max_line), 0);
        cr_assert_eq(feed_reads(&f, &c, stream.data, stream.len, 0), 0,
                     "iteration %d", iter);
        cr_assert_eq(c.lines, count, "iteration %d", iter);
        cr_assert_eq(c.bytes.len, stream.len, "iteration %d", iter);
        if (stream.len > 0)
            cr_assert_arr_eq(c.bytes.data, stream.data, stream.len,
                             "iteration %d", iter);
        cr_assert_eq(line_framer_pending(&f), 0);
        line_framer_free(&f);
        buf_free(&stream);
        buf_free(&c.bytes);
    }
}

/* The same through push(), for callers that already hold the bytes. */
Test(line, random_splits_through_push_give_the_same_lines)
{
    rng_seed(42);
    for (int iter = 0; iter < 2000; iter++) {
        size_t max_line = 1 + rng_below(40);
        size_t count = rng_below(30);
        struct buf stream = BUF_INIT;
        struct collected c = {BUF_INIT, 0};
        struct line_framer f;
        size_t off = 0;

        random_stream(&stream, count, max_line);
        cr_assert_eq(line_framer_init(&f, max_line), 0);
        while (off < stream.len) {
            size_t n = 1 + rng_below(3 * max_line);

            if (n > stream.len - off)
                n = stream.len - off;
            /* Push until the piece is all taken, draining in between. */
            while (n > 0) {
                size_t taken = line_framer_push(&f, stream.data + off, n);

                off += taken;
                n -= taken;
                cr_assert_eq(drain(&f, &c), 0, "iteration %d", iter);
            }
        }
        cr_assert_eq(c.lines, count);
        cr_assert_eq(c.bytes.len, stream.len);
        if (stream.len > 0)
            cr_assert_arr_eq(c.bytes.data, stream.data, stream.len);
        line_framer_free(&f);
        buf_free(&stream);
        buf_free(&c.bytes);
    }
}

Test(line, accepts_a_line_of_exactly_65536_bytes)
{
    struct line_framer f;
    const char *line;
    size_t len;
    char *data = malloc(LINE_MAX_BYTES + 1);

    cr_assert_not_null(data);
    memset(data, 'x', LINE_MAX_BYTES);
    data[LINE_MAX_BYTES] = '\n';
    cr_assert_eq(line_framer_init(&f, LINE_MAX_BYTES), 0);
    cr_assert_eq(line_framer_push(&f, data, LINE_MAX_BYTES + 1),
                 LINE_MAX_BYTES + 1);
    cr_assert_eq(line_framer_next(&f, &line, &len), 1);
    cr_assert_eq(len, LINE_MAX_BYTES);
    cr_assert_arr_eq(line, data, LINE_MAX_BYTES);
    /* And the framer goes on with the next line. */
    cr_assert_eq(line_framer_push(&f, "ok\n", 3), 3);
    cr_assert_eq(line_framer_next(&f, &line, &len), 1);
    cr_assert_eq(len, 2);
    line_framer_free(&f);
    free(data);
}

Test(line, rejects_line_one_byte_over_limit)
{
    struct line_framer f;
    const char *line;
    size_t len;
    size_t room;
    char *data = malloc(LINE_MAX_BYTES + 2);

    cr_assert_not_null(data);
    memset(data, 'x', LINE_MAX_BYTES + 1);
    data[LINE_MAX_BYTES + 1] = '\n';
    cr_assert_eq(line_framer_init(&f, LINE_MAX_BYTES), 0);
    /* 65537 bytes fit in the buffer; the '\n' after them does not. */
    cr_assert_eq(line_framer_push(&f, data, LINE_MAX_BYTES + 2),
                 LINE_MAX_BYTES + 1);
    cr_assert_eq(line_framer_next(&f, &line, &len), -EMSGSIZE);
    line_framer_space(&f, &room);
    cr_assert_eq(room, 0);
    /* The error stays: the stream cannot be framed any more. */
    cr_assert_eq(line_framer_next(&f, &line, &len), -EMSGSIZE);
    line_framer_free(&f);
    free(data);
}

Test(line, rejects_a_too_long_line_that_arrives_in_small_reads)
{
    struct line_framer f;
    struct collected c = {BUF_INIT, 0};
    char data[100];

    memset(data, 'y', sizeof(data));
    memcpy(data, "short\n", 6);
    cr_assert_eq(line_framer_init(&f, 10), 0);
    cr_assert_eq(feed_reads(&f, &c, data, sizeof(data), 3), -EMSGSIZE);
    cr_assert_eq(c.lines, 1); /* the short line came out first */
    line_framer_free(&f);
    buf_free(&c.bytes);
}

Test(line, a_full_buffer_with_a_newline_is_not_an_error)
{
    struct line_framer f;
    const char *line;
    size_t len;

    /* Buffer of 5 bytes: "ab\ncd" fills it, and must still frame. */
    cr_assert_eq(line_framer_init(&f, 4), 0);
    cr_assert_eq(line_framer_push(&f, "ab\ncde", 6), 5);
    cr_assert_eq(line_framer_next(&f, &line, &len), 1);
    cr_assert_arr_eq(line, "ab", 2);
    cr_assert_eq(line_framer_next(&f, &line, &len), 0);
    cr_assert_eq(line_framer_push(&f, "e\n", 2), 2);
    cr_assert_eq(line_framer_next(&f, &line, &len), 1);
    cr_assert_eq(len, 3);
    cr_assert_arr_eq(line, "cde", 3);
    line_framer_free(&f);
}

Test(line, pending_counts_a_torn_line_at_eof)
{
    struct line_framer f;
    struct collected c = {BUF_INIT, 0};
    static const char stream[] = "done\nhalf a li";

    cr_assert_eq(line_framer_init(&f, 32), 0);
    cr_assert_eq(feed_reads(&f, &c, stream, sizeof(stream) - 1, 4), 0);
    cr_assert_eq(c.lines, 1);
    cr_assert_eq(line_framer_pending(&f), 9);
    line_framer_free(&f);
    buf_free(&c.bytes);
}

Test(line, push_takes_only_what_fits)
{
    struct line_framer f;
    const char *line;
    size_t len;

    cr_assert_eq(line_framer_init(&f, 7), 0);
    cr_assert_eq(line_framer_push(&f, "abc\ndefghijkl", 13), 8);
    cr_assert_eq(line_framer_push(&f, "more", 4), 0); /* full */
    cr_assert_eq(line_framer_next(&f, &line, &len), 1);
    cr_assert_arr_eq(line, "abc", 3);
    /* Handing out "abc\n" made 4 bytes of room. */
    cr_assert_eq(line_framer_push(&f, "hijk\n", 5), 4);
    cr_assert_eq(line_framer_pending(&f), 8);
    cr_assert_eq(line_framer_next(&f, &line, &len), -EMSGSIZE);
    line_framer_free(&f);
}

Test(line, space_moves_pending_bytes_only_when_the_tail_is_full)
{
    struct line_framer f;
    const char *line;
    size_t len;
    size_t room;
    char *dst;

    cr_assert_eq(line_framer_init(&f, 9), 0); /* 10-byte buffer */
    cr_assert_eq(line_framer_push(&f, "ab\ncd", 5), 5);
    cr_assert_eq(line_framer_next(&f, &line, &len), 1);
    /* Room is left at the tail: no move, "cd" stays where it is. */
    dst = line_framer_space(&f, &room);
    cr_assert_eq(dst, f.buf + 5);
    cr_assert_eq(room, 5);
    line_framer_commit(&f, 0);
    cr_assert_eq(line_framer_push(&f, "efghi", 5), 5);
    /* Tail full: now "cdefghi" moves to the front. */
    dst = line_framer_space(&f, &room);
    cr_assert_eq(dst, f.buf + 7);
    cr_assert_eq(room, 3);
    cr_assert_arr_eq(f.buf, "cdefghi", 7);
    line_framer_free(&f);
}

Test(line, space_starts_over_at_the_front_when_nothing_is_pending)
{
    struct line_framer f;
    const char *line;
    size_t len;
    size_t room;

    cr_assert_eq(line_framer_init(&f, 9), 0);
    cr_assert_eq(line_framer_push(&f, "abcd\n", 5), 5);
    cr_assert_eq(line_framer_next(&f, &line, &len), 1);
    cr_assert_eq(line_framer_space(&f, &room), f.buf);
    cr_assert_eq(room, 10);
    line_framer_free(&f);
}

Test(line, scans_each_byte_once_across_calls)
{
    struct line_framer f;
    const char *line;
    size_t len;

    cr_assert_eq(line_framer_init(&f, 100), 0);
    line_framer_push(&f, "abcdef", 6);
    cr_assert_eq(line_framer_next(&f, &line, &len), 0);
    cr_assert_eq(f.scanned, 6);
    line_framer_push(&f, "gh\nij", 5);
    cr_assert_eq(line_framer_next(&f, &line, &len), 1);
    cr_assert_eq(len, 8);
    cr_assert_eq(f.scanned, 0);
    line_framer_free(&f);
}

Test(line, free_is_idempotent_and_accepts_a_zeroed_framer)
{
    struct line_framer f;
    struct line_framer zero;

    memset(&zero, 0, sizeof(zero));
    line_framer_free(&zero);
    cr_assert_eq(line_framer_init(&f, 4), 0);
    line_framer_free(&f);
    cr_assert_null(f.buf);
    line_framer_free(&f);
}

/* Random streams where some lines are too long: the lines before the first
 * too-long one come out intact, then -EMSGSIZE, whatever the splits. */
Test(line, random_splits_report_the_first_too_long_line)
{
    rng_seed(7);
    for (int iter = 0; iter < 1000; iter++) {
        size_t max_line = 1 + rng_below(20);
        struct buf stream = BUF_INIT;
        struct collected c = {BUF_INIT, 0};
        struct line_framer f;
        size_t good = 0; /* lines before the first too-long one */
        size_t good_bytes = 0;
        int seen_long = 0;

        for (int i = 0; i < 20; i++) {
            size_t len = rng_below(max_line + 4);

            if (len > max_line)
                seen_long = 1;
            for (size_t j = 0; j < len; j++)
                buf_putc(&stream, 'a' + (char)rng_below(26));
            buf_putc(&stream, '\n');
            if (!seen_long) {
                good++;
                good_bytes = stream.len;
            }
        }
        cr_assert_eq(line_framer_init(&f, max_line), 0);
        int rc = feed_reads(&f, &c, stream.data, stream.len, 0);

        cr_assert_eq(rc, seen_long ? -EMSGSIZE : 0, "iteration %d", iter);
        cr_assert_eq(c.lines, good, "iteration %d", iter);
        cr_assert_eq(c.bytes.len, good_bytes);
        if (good_bytes > 0)
            cr_assert_arr_eq(c.bytes.data, stream.data, good_bytes);
        line_framer_free(&f);
        buf_free(&stream);
        buf_free(&c.bytes);
    }
}

Test(line, a_lazy_framer_allocates_with_the_first_bytes)
{
    struct line_framer f;
    const char *line;
    size_t len, room;
    char *dst;

    line_framer_init_lazy(&f, 16);
    cr_assert_null(f.buf, "nothing allocated before bytes arrive");
    cr_assert_eq(line_framer_next(&f, &line, &len), 0);
    cr_assert_eq(line_framer_pending(&f), 0);
    dst = line_framer_space(&f, &room);
    cr_assert_not_null(dst);
    cr_assert_eq(room, 17);
    memcpy(dst, "ab\n", 3);
    line_framer_commit(&f, 3);
    cr_assert_eq(line_framer_next(&f, &line, &len), 1);
    cr_assert_eq(len, 2);
    cr_assert_arr_eq(line, "ab", 2);
    line_framer_free(&f);
}

Test(line, release_frees_an_empty_framer_and_keeps_a_partial_line)
{
    struct line_framer f;
    const char *line;
    size_t len;

    cr_assert_eq(line_framer_init(&f, 16), 0);
    cr_assert_eq(line_framer_push(&f, "one\ntw", 6), 6);
    cr_assert_eq(line_framer_next(&f, &line, &len), 1);
    line_framer_release(&f);
    cr_assert_not_null(f.buf, "\"tw\" is pending: the buffer stays");
    cr_assert_eq(line_framer_push(&f, "o\n", 2), 2);
    cr_assert_eq(line_framer_next(&f, &line, &len), 1);
    cr_assert_arr_eq(line, "two", 3);
    line_framer_release(&f);
    cr_assert_null(f.buf, "nothing pending: the buffer goes");
    /* It comes back on demand, and framing goes on. */
    cr_assert_eq(line_framer_push(&f, "three\n", 6), 6);
    cr_assert_eq(line_framer_next(&f, &line, &len), 1);
    cr_assert_eq(len, 5);
    cr_assert_arr_eq(line, "three", 5);
    line_framer_free(&f);
}
