/* Unit tests for common/json: JSON strings, byte for byte (DB-5). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "json.h"

/* Encodes len bytes and checks the exact output, quotes included. */
static void check_json(const char *in, size_t len, const char *want,
                       size_t want_len)
{
    struct buf out = BUF_INIT;

    cr_assert_eq(json_append_string(&out, in, len), 0);
    cr_assert_eq(out.len, want_len, "got %zu bytes, want %zu", out.len,
                 want_len);
    cr_assert_arr_eq(out.data, want, want_len);
    buf_free(&out);
}

#define CHECK_JSON(in, want)                                                   \
    check_json(in, sizeof(in) - 1, want, sizeof(want) - 1)

Test(json, wraps_plain_text_in_quotes)
{
    CHECK_JSON("hello world", "\"hello world\"");
}

Test(json, writes_empty_string_as_two_quotes)
{
    CHECK_JSON("", "\"\"");
}

Test(json, escapes_quote_and_backslash)
{
    CHECK_JSON("a\"b\\c", "\"a\\\"b\\\\c\"");
}

Test(json, uses_short_escapes_for_b_f_n_r_t)
{
    CHECK_JSON("\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"");
}

Test(json, writes_nul_as_u0000)
{
    CHECK_JSON("a\0b", "\"a\\u0000b\"");
}

Test(json, writes_other_control_bytes_as_lowercase_u00xx)
{
    CHECK_JSON("\x01\x0b\x1f\x1a", "\"\\u0001\\u000b\\u001f\\u001a\"");
}

Test(json, copies_del_and_high_bytes_unchanged)
{
    CHECK_JSON("\x7f\x80\xc3\xa9\xff", "\"\x7f\x80\xc3\xa9\xff\"");
}

Test(json, copies_slash_and_space_unchanged)
{
    CHECK_JSON("/ </script>", "\"/ </script>\"");
}

/* Every byte value, checked against an expectation built independently of
 * the code under test. */
Test(json, encodes_every_byte_value_as_specified)
{
    char in[256];
    char want[256 * 6 + 2];
    size_t n = 0;

    want[n++] = '"';
    for (int c = 0; c < 256; c++) {
        in[c] = (char)c;
        if (c == '"' || c == '\\') {
            want[n++] = '\\';
            want[n++] = (char)c;
        } else if (c == '\n') {
            memcpy(want + n, "\\n", 2), n += 2;
        } else if (c == '\t') {
            memcpy(want + n, "\\t", 2), n += 2;
        } else if (c == '\r') {
            memcpy(want + n, "\\r", 2), n += 2;
        } else if (c == '\b') {
            memcpy(want + n, "\\b", 2), n += 2;
        } else if (c == '\f') {
            memcpy(want + n, "\\f", 2), n += 2;
        } else if (c < 0x20) {
            char esc[7];

            snprintf(esc, sizeof(esc), "\\u%04x", c);
            memcpy(want + n, esc, 6), n += 6;
        } else {
            want[n++] = (char)c;
        }
    }
    want[n++] = '"';
    check_json(in, sizeof(in), want, n);
}

Test(json, appends_after_existing_content)
{
    struct buf out = BUF_INIT;

    buf_puts(&out, "{\"event\":");
    cr_assert_eq(json_append_string(&out, "x\ny", 3), 0);
    buf_putc(&out, '}');
    cr_assert_eq(out.len, strlen("{\"event\":\"x\\ny\"}"));
    cr_assert_arr_eq(out.data, "{\"event\":\"x\\ny\"}", out.len);
    buf_free(&out);
}

Test(json, handles_long_input_with_escapes_between_runs)
{
    struct buf out = BUF_INIT;
    char in[3000];

    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (i % 100 == 99) ? '\n' : 'a';
    cr_assert_eq(json_append_string(&out, in, sizeof(in)), 0);
    /* 30 newlines each grow by one byte, plus two quotes. */
    cr_assert_eq(out.len, sizeof(in) + 30 + 2);
    cr_assert_arr_eq(out.data + 100, "\\na", 3);
    buf_free(&out);
}

/* The expected encoding of one byte, built without the code under test. */
static size_t want_byte(unsigned char c, char *w)
{
    static const char shorts[] = {
        ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't'};

    if (c == '"' || c == '\\') {
        w[0] = '\\';
        w[1] = (char)c;
        return 2;
    }
    if (c < sizeof(shorts) && shorts[c] != 0) {
        w[0] = '\\';
        w[1] = shorts[c];
        return 2;
    }
    if (c < 0x20) {
        char esc[7];

        snprintf(esc, sizeof(esc), "\\u%04x", c);
        memcpy(w, esc, 6);
        return 6;
    }
    w[0] = (char)c;
    return 1;
}

/* Every byte that needs an escape, at the very start, the very end and
 * between two runs of plain bytes, alone and doubled: the edges of a run
 * are where an escaper that copies runs at once would slip. */
Test(json, escapes_every_special_byte_at_the_edges_of_runs)
{
    static const char *shapes[] = {"E",  "Eab",  "abE", "aEb",
                                   "EE", "aEEb", "EaE", "abcdefgEhijklmnop"};

    for (int c = 0; c < 256; c++) {
        char probe[6];

        if (want_byte((unsigned char)c, probe) == 1)
            continue; /* plain: covered by the other tests */
        for (size_t k = 0; k < sizeof(shapes) / sizeof(shapes[0]); k++) {
            char in[32], want[32 * 6 + 2];
            size_t n = 0, w = 0;

            want[w++] = '"';
            for (const char *p = shapes[k]; *p != '\0'; p++) {
                in[n] = *p == 'E' ? (char)c : *p;
                w += want_byte((unsigned char)in[n], want + w);
                n++;
            }
            want[w++] = '"';
            check_json(in, n, want, w);
        }
    }
}

/* A longest line (COM-6) with no escape is one run, copied whole; with
 * an escape at both ends and in the middle, three runs around it. */
Test(json, copies_a_longest_line_as_one_run)
{
    enum { LEN = 65536 };
    static char in[LEN], want[LEN + 2 + 3];
    struct buf out = BUF_INIT;

    for (size_t i = 0; i < LEN; i++)
        in[i] = (char)(' ' + 1 + i % 90); /* plain, never '"' or '\\' */
    for (size_t i = 0; i < LEN; i++)
        if (in[i] == '"' || in[i] == '\\')
            in[i] = 'x';
    want[0] = '"';
    memcpy(want + 1, in, LEN);
    want[LEN + 1] = '"';
    check_json(in, LEN, want, LEN + 2);

    in[0] = '\t';
    in[LEN / 2] = '"';
    in[LEN - 1] = '\n';
    cr_assert_eq(json_append_string(&out, in, LEN), 0);
    cr_assert_eq(out.len, LEN + 2 + 3);
    cr_assert_arr_eq(out.data, "\"\\t", 3);
    cr_assert_arr_eq(out.data + 3, in + 1, LEN / 2 - 1);
    cr_assert_arr_eq(out.data + 2 + LEN / 2, "\\\"", 2);
    cr_assert_arr_eq(out.data + 4 + LEN / 2, in + LEN / 2 + 1,
                     LEN - LEN / 2 - 2);
    cr_assert_arr_eq(out.data + out.len - 3, "\\n\"", 3);
    buf_free(&out);
}
