/* Unit tests for fut/fs: append to a file, read a slice of it. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "futtest.h"
#include "fut/fs.h"

/* A fresh path in a fresh directory, removed at the end of the test. */
static char dir[64];
static char path[96];

static void make_path(void)
{
    strcpy(dir, "/tmp/futfs-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/journal", dir);
}

static void remove_path(void)
{
    unlink(path);
    rmdir(dir);
}

static int append_text(uv_loop_t *loop, const char *text)
{
    struct buf b = BUF_INIT;

    buf_puts(&b, text);
    return ft_run(loop, fut_fs_append(loop, path, &b));
}

Test(fs, append_creates_the_file_then_appends)
{
    uv_loop_t loop;
    struct buf got = BUF_INIT;

    make_path();
    uv_loop_init(&loop);
    cr_assert_eq(append_text(&loop, "1 one\n"), 6);
    cr_assert_eq(append_text(&loop, "2 two\n"), 6);
    cr_assert_eq(ft_run(&loop, fut_fs_read(&loop, path, 0, 100, &got)), 12);
    cr_assert_eq(memcmp(got.data, "1 one\n2 two\n", 12), 0);
    buf_free(&got);
    ft_close_loop(&loop);
    remove_path();
}

Test(fs, read_gives_a_slice_and_zero_at_the_end)
{
    uv_loop_t loop;
    struct buf got = BUF_INIT;

    make_path();
    uv_loop_init(&loop);
    append_text(&loop, "abcdefghij");
    cr_assert_eq(ft_run(&loop, fut_fs_read(&loop, path, 3, 4, &got)), 4);
    cr_assert_eq(memcmp(got.data, "defg", 4), 0);
    cr_assert_eq(ft_run(&loop, fut_fs_read(&loop, path, 8, 4, &got)), 2);
    cr_assert_eq(ft_run(&loop, fut_fs_read(&loop, path, 10, 4, &got)), 0);
    cr_assert_eq(got.len, 0);
    buf_free(&got);
    ft_close_loop(&loop);
    remove_path();
}

Test(fs, read_of_a_missing_file_is_enoent)
{
    uv_loop_t loop;
    struct buf got = BUF_INIT;

    make_path();
    uv_loop_init(&loop);
    cr_assert_eq(ft_run(&loop, fut_fs_read(&loop, path, 0, 10, &got)),
                 -ENOENT);
    buf_free(&got);
    ft_close_loop(&loop);
    remove_path();
}

Test(fs, append_to_a_directory_fails)
{
    uv_loop_t loop;
    struct buf b = BUF_INIT;

    make_path();
    mkdir(path, 0700);
    uv_loop_init(&loop);
    buf_puts(&b, "x");
    cr_assert_eq(ft_run(&loop, fut_fs_append(&loop, path, &b)), -EISDIR);
    ft_close_loop(&loop);
    rmdir(path);
    remove_path();
}

/* --- cancellation at every pending point --------------------------------- */

static struct buf case_out = BUF_INIT;

static struct fut *make_append(uv_loop_t *loop, void *arg)
{
    struct buf b = BUF_INIT;

    (void)arg;
    buf_puts(&b, "event\n");
    return fut_fs_append(loop, path, &b);
}

Test(fs, append_can_be_dropped_at_every_pending_point)
{
    struct ft_cancel_case c = {.make = make_append};

    make_path();
    /* open, write, close: three requests, three pending polls. */
    cr_assert_eq(ft_cancel_everywhere(&c, 20), 4);
    remove_path();
}

static struct fut *make_read(uv_loop_t *loop, void *arg)
{
    (void)arg;
    return fut_fs_read(loop, path, 0, 64, &case_out);
}

Test(fs, read_can_be_dropped_at_every_pending_point)
{
    struct ft_cancel_case c = {.make = make_read};
    uv_loop_t loop;

    make_path();
    uv_loop_init(&loop);
    append_text(&loop, "some bytes\n");
    ft_close_loop(&loop);
    cr_assert_eq(ft_cancel_everywhere(&c, 20), 4);
    buf_free(&case_out);
    remove_path();
}

Test(fs, a_dropped_append_in_flight_is_finished_by_the_library)
{
    uv_loop_t loop;
    struct probe p = {0};
    struct buf b = BUF_INIT;
    struct fut *f;
    long live = ft_live_allocs();

    make_path();
    uv_loop_init(&loop);
    buf_puts(&b, "x\n");
    f = fut_fs_append(&loop, path, &b);
    cr_assert_eq(ft_poll(f, &p), FUT_PENDING); /* the open is in the pool */
    fut_drop(f);
    /* The request still runs: the loop stays alive until its callback has
     * closed the file and freed the memory. */
    cr_assert_neq(uv_loop_alive(&loop), 0);
    ft_close_loop(&loop);
    cr_assert_eq(p.wakes, 0);
    cr_assert_eq(ft_live_allocs(), live);
    remove_path();
}
