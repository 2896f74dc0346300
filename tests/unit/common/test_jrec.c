/* Unit tests for common/jrec: journal records and checking a whole file
 * (JR-5, JR-13). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jrec.h"

/* Seeded xorshift64*, so random splits are the same on every run. */
static uint64_t rng_state = 1;

static size_t rng_below(size_t n)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (size_t)((rng_state * 2685821657736338717ULL) % n);
}

/* Feeds data in pieces of piece bytes (0: random 1..50). Returns what the
 * first failing feed returned, or 0. */
static int feed(struct jrec_scanner *s, const char *data, size_t n,
                size_t piece)
{
    size_t off = 0;

    while (off < n) {
        size_t k = piece ? piece : 1 + rng_below(50);

        if (k > n - off)
            k = n - off;
        int rc = jrec_scanner_feed(s, data + off, k);

        if (rc < 0)
            return rc;
        off += k;
    }
    return 0;
}

/* Scans a whole file given as a C string literal, in one piece. */
static int scan(struct jrec_scanner *s, const char *text, size_t len)
{
    cr_assert_eq(jrec_scanner_init(s), 0);
    return feed(s, text, len, len ? len : 1);
}

#define SCAN(s, text) scan(s, text, sizeof(text) - 1)

Test(jrec, formats_seq_space_event_newline)
{
    struct buf out = BUF_INIT;

    cr_assert_eq(jrec_format(&out, 1, "hello", 5), 0);
    cr_assert_eq(jrec_format(&out, 18446744073709551615ULL, "", 0), 0);
    cr_assert_eq(jrec_format(&out, 42, "a\0b c", 5), 0);
    static const char want[] = "1 hello\n18446744073709551615 \n42 a\0b c\n";

    cr_assert_eq(out.len, sizeof(want) - 1);
    cr_assert_arr_eq(out.data, want, sizeof(want) - 1);
    buf_free(&out);
}

Test(jrec, parses_seq_and_event)
{
    uint64_t seq;
    const char *event;
    size_t len;
    static const char line[] = "123 an event with spaces";

    cr_assert_eq(jrec_parse(line, sizeof(line) - 1, &seq, &event, &len), 0);
    cr_assert_eq(seq, 123);
    cr_assert_eq(event, line + 4);
    cr_assert_eq(len, strlen("an event with spaces"));
}

Test(jrec, parses_an_empty_event)
{
    uint64_t seq;
    const char *event;
    size_t len;

    cr_assert_eq(jrec_parse("7 ", 2, &seq, &event, &len), 0);
    cr_assert_eq(seq, 7);
    cr_assert_eq(len, 0);
}

Test(jrec, parses_event_with_nul_and_leading_space)
{
    uint64_t seq;
    const char *event;
    size_t len;

    cr_assert_eq(jrec_parse("9  \0x", 5, &seq, &event, &len), 0);
    cr_assert_eq(seq, 9);
    cr_assert_eq(len, 3);
    cr_assert_arr_eq(event, " \0x", 3);
}

Test(jrec, parses_the_largest_uint64)
{
    uint64_t seq;
    const char *event;
    size_t len;
    static const char line[] = "18446744073709551615 x";

    cr_assert_eq(jrec_parse(line, sizeof(line) - 1, &seq, &event, &len), 0);
    cr_assert_eq(seq, UINT64_MAX);
}

Test(jrec, rejects_lines_that_are_not_records)
{
    static const char *const bad[] = {
        "",                        /* empty */
        "1",                       /* no space */
        "12",                      /* no space */
        " 1 x",                    /* leading space */
        "1x y",                    /* junk in SEQ */
        "1\tx",                    /* tab instead of space */
        "01 x",                    /* leading zero */
        "0 x",                     /* SEQ counts from 1 */
        "-1 x",                    /* sign */
        "+1 x",                    /* sign */
        "x 1",                     /* no SEQ */
        " ",                       /* no SEQ */
        "18446744073709551616 x",  /* UINT64_MAX + 1 */
        "99999999999999999999 x",  /* too big */
        "123456789012345678901 x", /* 21 digits */
    };
    uint64_t seq;
    const char *event;
    size_t len;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(jrec_parse(bad[i], strlen(bad[i]), &seq, &event, &len),
                     -EINVAL, "accepted \"%s\"", bad[i]);
}

Test(jrec, parse_looks_only_at_the_given_length)
{
    uint64_t seq;
    const char *event;
    size_t len;

    /* "12 ab" cut to 2 bytes is "12": no space, not a record. */
    cr_assert_eq(jrec_parse("12 ab", 2, &seq, &event, &len), -EINVAL);
    cr_assert_eq(jrec_parse("12 ab", 4, &seq, &event, &len), 0);
    cr_assert_eq(len, 1);
}

Test(jrec, accepts_an_empty_file)
{
    struct jrec_scanner s;

    cr_assert_eq(jrec_scanner_init(&s), 0);
    cr_assert_eq(jrec_scanner_feed(&s, "", 0), 0);
    cr_assert_eq(s.lines, 0);
    cr_assert_eq(s.last_seq, 0);
    cr_assert_eq(s.valid_bytes, 0);
    cr_assert_eq(s.bad_line, 0);
    cr_assert_eq(jrec_scanner_torn_bytes(&s), 0);
    jrec_scanner_free(&s);
}

/* A valid journal written with jrec_format() and read back in random
 * pieces: every record counts, nothing is torn. */
Test(jrec, accepts_a_valid_file_fed_in_random_pieces)
{
    struct buf file = BUF_INIT;
    char event[200];

    rng_state = 99;
    for (uint64_t seq = 1; seq <= 500; seq++) {
        size_t len = rng_below(sizeof(event));

        for (size_t i = 0; i < len; i++) {
            char c = (char)rng_below(256);

            event[i] = c == '\n' ? ' ' : c;
        }
        cr_assert_eq(jrec_format(&file, seq, event, len), 0);
    }
    for (int round = 0; round < 20; round++) {
        struct jrec_scanner s;

        cr_assert_eq(jrec_scanner_init(&s), 0);
        cr_assert_eq(feed(&s, file.data, file.len, 0), 0);
        cr_assert_eq(s.lines, 500);
        cr_assert_eq(s.last_seq, 500);
        cr_assert_eq(s.valid_bytes, file.len);
        cr_assert_eq(s.bad_line, 0);
        cr_assert_eq(jrec_scanner_torn_bytes(&s), 0);
        jrec_scanner_free(&s);
    }
    buf_free(&file);
}

Test(jrec, counts_the_bytes_of_a_torn_last_line)
{
    struct jrec_scanner s;

    cr_assert_eq(SCAN(&s, "1 a\n2 bb\n3 cc"), 0);
    cr_assert_eq(s.lines, 2);
    cr_assert_eq(s.last_seq, 2);
    cr_assert_eq(s.valid_bytes, 9);
    cr_assert_eq(jrec_scanner_torn_bytes(&s), 4);
    jrec_scanner_free(&s);
}

Test(jrec, a_torn_line_need_not_look_like_a_record)
{
    struct jrec_scanner s;

    /* A crash can cut a line anywhere, even inside SEQ. */
    cr_assert_eq(SCAN(&s, "1 a\n2"), 0);
    cr_assert_eq(s.valid_bytes, 4);
    cr_assert_eq(jrec_scanner_torn_bytes(&s), 1);
    jrec_scanner_free(&s);
}

Test(jrec, names_the_first_bad_line)
{
    struct jrec_scanner s;

    cr_assert_eq(SCAN(&s, "1 a\n2 b\nnot a record\n4 d\n"), -EINVAL);
    cr_assert_eq(s.bad_line, 3);
    cr_assert_eq(s.last_seq, 2);
    cr_assert_eq(s.valid_bytes, 8);
    jrec_scanner_free(&s);
}

Test(jrec, rejects_a_file_not_starting_at_seq_1)
{
    struct jrec_scanner s;

    cr_assert_eq(SCAN(&s, "2 a\n3 b\n"), -EINVAL);
    cr_assert_eq(s.bad_line, 1);
    cr_assert_eq(s.valid_bytes, 0);
    jrec_scanner_free(&s);
}

Test(jrec, rejects_a_gap_in_seq)
{
    struct jrec_scanner s;

    cr_assert_eq(SCAN(&s, "1 a\n2 b\n4 c\n"), -EINVAL);
    cr_assert_eq(s.bad_line, 3);
    jrec_scanner_free(&s);
}

Test(jrec, rejects_a_repeated_seq)
{
    struct jrec_scanner s;

    cr_assert_eq(SCAN(&s, "1 a\n2 b\n2 b\n"), -EINVAL);
    cr_assert_eq(s.bad_line, 3);
    jrec_scanner_free(&s);
}

Test(jrec, rejects_an_empty_line)
{
    struct jrec_scanner s;

    cr_assert_eq(SCAN(&s, "1 a\n\n2 b\n"), -EINVAL);
    cr_assert_eq(s.bad_line, 2);
    jrec_scanner_free(&s);
}

Test(jrec, finds_the_bad_line_whatever_the_pieces)
{
    static const char file[] = "1 x\n2 y\n3 z\n4 w\n6 v\n7 u\n";

    for (size_t piece = 1; piece <= sizeof(file); piece++) {
        struct jrec_scanner s;

        cr_assert_eq(jrec_scanner_init(&s), 0);
        cr_assert_eq(feed(&s, file, sizeof(file) - 1, piece), -EINVAL);
        cr_assert_eq(s.bad_line, 5, "pieces of %zu", piece);
        cr_assert_eq(s.valid_bytes, 16);
        jrec_scanner_free(&s);
    }
}

Test(jrec, keeps_refusing_after_a_bad_line)
{
    struct jrec_scanner s;

    cr_assert_eq(SCAN(&s, "x\n"), -EINVAL);
    cr_assert_eq(jrec_scanner_feed(&s, "1 a\n", 4), -EINVAL);
    cr_assert_eq(s.bad_line, 1);
    jrec_scanner_free(&s);
}

Test(jrec, accepts_the_longest_record_and_rejects_a_longer_one)
{
    size_t n = JREC_MAX_LINE + 2;
    char *file = malloc(2 * n);
    struct jrec_scanner s;

    cr_assert_not_null(file);
    /* "1 " + event filling JREC_MAX_LINE bytes, '\n', then a line of
     * JREC_MAX_LINE + 1 bytes. */
    memset(file, 'e', 2 * n);
    memcpy(file, "1 ", 2);
    file[JREC_MAX_LINE] = '\n';
    memcpy(file + JREC_MAX_LINE + 1, "2 ", 2);
    file[2 * JREC_MAX_LINE + 2] = '\n';
    cr_assert_eq(jrec_scanner_init(&s), 0);
    cr_assert_eq(jrec_scanner_feed(&s, file, JREC_MAX_LINE + 1), 0);
    cr_assert_eq(s.last_seq, 1);
    cr_assert_eq(
        jrec_scanner_feed(&s, file + JREC_MAX_LINE + 1, JREC_MAX_LINE + 2),
        -EINVAL);
    cr_assert_eq(s.bad_line, 2);
    cr_assert_eq(s.valid_bytes, JREC_MAX_LINE + 1);
    jrec_scanner_free(&s);
    free(file);
}
