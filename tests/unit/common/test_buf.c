/* Unit tests for common/buf: appending, growing, consuming, moving. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"

Test(buf, starts_empty_without_memory)
{
    struct buf b = BUF_INIT;

    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(b.cap, 0);
    buf_free(&b); /* freeing an unused buf is fine */
}

Test(buf, appends_bytes_in_order_nul_included)
{
    struct buf b = BUF_INIT;

    cr_assert_eq(buf_append(&b, "ab\0c", 4), 0);
    cr_assert_eq(buf_putc(&b, '\0'), 0);
    cr_assert_eq(buf_puts(&b, "xyz"), 0);
    cr_assert_eq(b.len, 8);
    cr_assert_arr_eq(b.data, "ab\0c\0xyz", 8);
    buf_free(&b);
}

Test(buf, appending_nothing_succeeds_and_changes_nothing)
{
    struct buf b = BUF_INIT;

    cr_assert_eq(buf_append(&b, NULL, 0), 0);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(buf_puts(&b, ""), 0);
    cr_assert_eq(b.len, 0);
    buf_free(&b);
}

Test(buf, printf_appends_formatted_text_without_counting_the_nul)
{
    struct buf b = BUF_INIT;

    cr_assert_eq(buf_puts(&b, ">"), 0);
    cr_assert_eq(buf_printf(&b, "%d %s %zu", -7, "seven", (size_t)7), 0);
    cr_assert_eq(b.len, strlen(">-7 seven 7"));
    cr_assert_arr_eq(b.data, ">-7 seven 7", b.len);
    buf_free(&b);
}

Test(buf, printf_of_long_text_grows_the_buffer)
{
    struct buf b = BUF_INIT;
    char big[1000];

    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    cr_assert_eq(buf_printf(&b, "[%s]", big), 0);
    cr_assert_eq(b.len, 1001);
    cr_assert_eq(b.data[0], '[');
    cr_assert_eq(b.data[1000], ']');
    buf_free(&b);
}

Test(buf, grows_by_doubling)
{
    struct buf b = BUF_INIT;
    size_t reallocs = 0;
    size_t last_cap = 0;

    for (int i = 0; i < 100000; i++) {
        cr_assert_eq(buf_putc(&b, (char)i), 0);
        if (b.cap != last_cap) {
            if (last_cap != 0)
                cr_assert_eq(b.cap, 2 * last_cap);
            last_cap = b.cap;
            reallocs++;
        }
    }
    cr_assert_eq(b.len, 100000);
    /* 64 * 2^11 = 131072: doubling needs only a dozen allocations. */
    cr_assert_leq(reallocs, 12);
    for (int i = 0; i < 100000; i++)
        cr_assert_eq(b.data[i], (char)i);
    buf_free(&b);
}

Test(buf, cstr_adds_a_terminator_not_counted_in_len)
{
    struct buf b = BUF_INIT;

    cr_assert_str_eq(buf_cstr(&b), "");
    cr_assert_eq(b.len, 0);
    buf_puts(&b, "hello");
    cr_assert_str_eq(buf_cstr(&b), "hello");
    cr_assert_eq(b.len, 5);
    buf_free(&b);
}

Test(buf, consume_keeps_the_rest_in_order)
{
    struct buf b = BUF_INIT;

    buf_puts(&b, "0123456789");
    buf_consume(&b, 3);
    cr_assert_eq(b.len, 7);
    cr_assert_arr_eq(b.data, "3456789", 7);
    buf_consume(&b, 0);
    cr_assert_eq(b.len, 7);
    buf_consume(&b, 7);
    cr_assert_eq(b.len, 0);
    buf_free(&b);
}

Test(buf, clear_empties_but_keeps_memory)
{
    struct buf b = BUF_INIT;

    buf_puts(&b, "some bytes");
    size_t cap = b.cap;
    char *data = b.data;

    buf_clear(&b);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(b.cap, cap);
    cr_assert_eq(b.data, data);
    buf_puts(&b, "again");
    cr_assert_arr_eq(b.data, "again", 5);
    buf_free(&b);
}

Test(buf, free_leaves_an_empty_reusable_buf)
{
    struct buf b = BUF_INIT;

    buf_puts(&b, "x");
    buf_free(&b);
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(b.cap, 0);
    cr_assert_eq(buf_puts(&b, "yz"), 0);
    cr_assert_arr_eq(b.data, "yz", 2);
    buf_free(&b);
    buf_free(&b); /* twice is harmless */
}

Test(buf, move_transfers_contents_and_empties_source)
{
    struct buf dst = BUF_INIT;
    struct buf src = BUF_INIT;

    buf_puts(&dst, "old contents, to be freed");
    buf_puts(&src, "new");
    char *data = src.data;

    buf_move(&dst, &src);
    cr_assert_eq(dst.data, data);
    cr_assert_eq(dst.len, 3);
    cr_assert_arr_eq(dst.data, "new", 3);
    cr_assert_null(src.data);
    cr_assert_eq(src.len, 0);
    cr_assert_eq(src.cap, 0);
    buf_free(&dst);
    buf_free(&src);
}

Test(buf, impossible_size_fails_with_enomem_and_leaves_buf_unchanged)
{
    struct buf b = BUF_INIT;

    buf_puts(&b, "keep");
    struct buf before = b;

    /* No allocator can satisfy these sizes: buf must notice the overflow
     * before touching memory, and leave its contents as they were. */
    cr_assert_eq(buf_append(&b, "x", SIZE_MAX), -ENOMEM);
    cr_assert_eq(buf_append(&b, "x", SIZE_MAX - 2), -ENOMEM);
    cr_assert_eq(b.data, before.data);
    cr_assert_eq(b.len, before.len);
    cr_assert_eq(b.cap, before.cap);
    cr_assert_arr_eq(b.data, "keep", 4);
    buf_free(&b);
}
