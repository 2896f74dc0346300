/* Unit tests for fut/fs: append to a file, read a slice of it. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fut/fs.h"
#include "futtest.h"

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
    cr_assert_eq(ft_run(&loop, fut_fs_read(&loop, path, 0, 10, &got)), -ENOENT);
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

/* --- a file kept open ---------------------------------------------------- */

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>

/* Descriptors this process has open now. (libuv opens a pipe for signals
 * with the first loop of a process and keeps it: a loop is made and
 * closed first, so that the count does not change with the first loop.) */
static int open_fds(void)
{
    DIR *d;
    int n = 0;
    uv_loop_t warm;

    uv_loop_init(&warm);
    uv_loop_close(&warm);
    d = opendir("/proc/self/fd");

    cr_assert_not_null(d);
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n - 3; /* ".", ".." and the directory's own */
}

static struct fut_file *open_file(uv_loop_t *loop, int flags)
{
    struct fut_file *file = NULL;

    cr_assert_eq(ft_run(loop, fut_file_open(loop, path, flags, 0644, &file)),
                 0);
    cr_assert_not_null(file);
    return file;
}

static int write_text(uv_loop_t *loop, struct fut_file *file, int64_t offset,
                      const char *s)
{
    struct buf b = BUF_INIT;

    buf_puts(&b, s);
    return ft_run(loop, fut_file_write(file, offset, &b));
}

static void file_contents(const char *want)
{
    char got[256] = {0};
    FILE *in = fopen(path, "rb");
    size_t n;

    cr_assert_not_null(in);
    n = fread(got, 1, sizeof got - 1, in);
    fclose(in);
    cr_assert_eq(n, strlen(want), "the file holds %zu bytes: \"%s\"", n, got);
    cr_assert_str_eq(got, want);
}

Test(file, writes_at_offsets_reads_and_truncates)
{
    uv_loop_t loop;
    struct buf got = BUF_INIT;
    struct fut_file *file;
    int fds = open_fds();

    make_path();
    uv_loop_init(&loop);
    file = open_file(&loop, O_RDWR | O_CREAT);
    cr_assert_eq(write_text(&loop, file, 0, "1 one\n"), 0);
    cr_assert_eq(write_text(&loop, file, 6, "2 two\n"), 0);
    cr_assert_eq(ft_run(&loop, fut_file_read(file, 2, 100, &got)), 10);
    cr_assert_eq(memcmp(got.data, "one\n2 two\n", 10), 0);
    cr_assert_eq(ft_run(&loop, fut_file_truncate(file, 6)), 0);
    cr_assert_eq(ft_run(&loop, fut_file_read(file, 0, 100, &got)), 6);
    cr_assert_eq(ft_run(&loop, fut_file_read(file, 6, 100, &got)), 0);
    fut_file_close(file);
    ft_close_loop(&loop);
    cr_assert_eq(open_fds(), fds, "the descriptor was not closed");
    file_contents("1 one\n");
    buf_free(&got);
    remove_path();
}

Test(file, open_of_a_missing_file_without_create_is_enoent)
{
    uv_loop_t loop;
    struct fut_file *file = NULL;

    make_path();
    uv_loop_init(&loop);
    cr_assert_eq(ft_run(&loop, fut_file_open(&loop, path, O_RDWR, 0644, &file)),
                 -ENOENT);
    cr_assert_null(file);
    ft_close_loop(&loop);
    remove_path();
}

Test(file, a_write_past_the_size_limit_fails_after_writing_what_fits)
{
    uv_loop_t loop;
    struct rlimit small = {10, 10};
    struct fut_file *file;

    /* Criterion runs each test in a process of its own: the limit and the
     * ignored SIGXFSZ stay here. */
    signal(SIGXFSZ, SIG_IGN);
    make_path();
    uv_loop_init(&loop);
    file = open_file(&loop, O_RDWR | O_CREAT);
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
    cr_assert_eq(write_text(&loop, file, 0, "0123456789abcdef"), -EFBIG);
    file_contents("0123456789");
    cr_assert_eq(ft_run(&loop, fut_file_truncate(file, 4)), 0);
    fut_file_close(file);
    ft_close_loop(&loop);
    file_contents("0123");
    remove_path();
}

Test(file, close_waits_for_a_dropped_request_still_in_the_pool)
{
    uv_loop_t loop;
    struct buf got = BUF_INIT;
    struct probe p = {0};
    struct fut_file *file;
    struct fut *f;
    long live;
    int fds = open_fds(), with_file, after_close, writer;
    enum fut_poll pending;

    /* A pipe with nothing in it: a read of it (at the current position,
     * -1) waits in the pool until the test writes a byte. */
    make_path();
    cr_assert_eq(mkfifo(path, 0600), 0);
    uv_loop_init(&loop);
    file = open_file(&loop, O_RDWR);
    with_file = open_fds();
    live = ft_live_allocs();
    f = fut_file_read(file, -1, 64, &got);
    pending = ft_poll(f, &p);
    fut_drop(f);
    fut_file_close(file);
    for (int i = 0; i < 5; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(2000);
    }
    after_close = open_fds();
    /* Let the read end before any assertion can end the test: a worker
     * stuck in read() would hang the test process at its exit. */
    writer = open(path, O_WRONLY | O_NONBLOCK);
    cr_assert_eq(write(writer, "x", 1), 1);
    close(writer);
    ft_close_loop(&loop);
    cr_assert_eq(pending, FUT_PENDING);
    cr_assert_eq(after_close, with_file,
                 "the file was closed while a read still used it");
    cr_assert_eq(p.wakes, 0);
    cr_assert_eq(got.len, 0, "a dropped read wrote the caller's buffer");
    cr_assert_eq(open_fds(), fds);
    cr_assert_eq(ft_live_allocs(), live - 1, "leaked (the file was freed)");
    remove_path();
}

/* --- cancellation at every pending point --------------------------------- */

static struct fut_file *case_file;

static void open_case_file(uv_loop_t *loop, void *arg)
{
    (void)arg;
    case_file = open_file(loop, O_RDWR | O_CREAT);
}

static void close_case_file(uv_loop_t *loop, void *arg)
{
    (void)loop;
    (void)arg;
    fut_file_close(case_file);
}

static struct fut *make_file_open(uv_loop_t *loop, void *arg)
{
    (void)arg;
    return fut_file_open(loop, path, O_RDWR | O_CREAT, 0644, &case_file);
}

static void close_opened_file(uv_loop_t *loop, void *arg)
{
    close_case_file(loop, arg);
    case_file = NULL;
}

Test(file, open_can_be_dropped_at_every_pending_point)
{
    struct ft_cancel_case c = {.make = make_file_open,
                               .teardown = close_opened_file};
    int fds = open_fds();

    make_path();
    case_file = NULL;
    cr_assert_eq(ft_cancel_everywhere(&c, 20), 2);
    cr_assert_eq(open_fds(), fds, "a dropped open left its file open");
    remove_path();
}

static struct fut *make_file_write(uv_loop_t *loop, void *arg)
{
    struct buf b = BUF_INIT;

    (void)loop;
    (void)arg;
    buf_puts(&b, "event\n");
    return fut_file_write(case_file, 0, &b);
}

Test(file, write_can_be_dropped_at_every_pending_point)
{
    struct ft_cancel_case c = {NULL, open_case_file, make_file_write, NULL,
                               close_case_file};

    make_path();
    cr_assert_eq(ft_cancel_everywhere(&c, 20), 2);
    remove_path();
}

static struct fut *make_file_read(uv_loop_t *loop, void *arg)
{
    (void)loop;
    (void)arg;
    return fut_file_read(case_file, 0, 64, &case_out);
}

Test(file, read_can_be_dropped_at_every_pending_point)
{
    struct ft_cancel_case c = {NULL, open_case_file, make_file_read, NULL,
                               close_case_file};

    make_path();
    cr_assert_eq(ft_cancel_everywhere(&c, 20), 2);
    buf_free(&case_out);
    remove_path();
}

static struct fut *make_file_truncate(uv_loop_t *loop, void *arg)
{
    (void)loop;
    (void)arg;
    return fut_file_truncate(case_file, 0);
}

Test(file, truncate_can_be_dropped_at_every_pending_point)
{
    struct ft_cancel_case c = {NULL, open_case_file, make_file_truncate, NULL,
                               close_case_file};

    make_path();
    cr_assert_eq(ft_cancel_everywhere(&c, 20), 2);
    remove_path();
}

/* --- the file request, and running out of memory -------------------------- */

/* Every operation is made of one leaf, the file request, and the drop
 * tests above stop it at each of its pending points: in the pool, before
 * and after. What they cannot see is a descriptor left open by a request
 * that was dropped while its open was in the pool, or by an append dropped
 * between its steps: counted here. */
Test(fs, a_dropped_append_leaves_no_descriptor_open_at_any_point)
{
    struct ft_cancel_case c = {.make = make_append};
    int fds = open_fds();

    make_path();
    cr_assert_eq(ft_cancel_everywhere(&c, 20), 4);
    cr_assert_eq(open_fds(), fds, "a dropped append left its file open");
    remove_path();
}

Test(fs, append_takes_the_bytes_even_when_it_cannot_be_made)
{
    uv_loop_t loop;
    struct buf b = BUF_INIT;
    struct fut *f;

    make_path();
    uv_loop_init(&loop);
    buf_puts(&b, "lost\n");
    fut_mem_fail_after(0);
    f = fut_fs_append(&loop, path, &b);
    cr_assert(fut_is_nomem(f));
    cr_assert(b.data == NULL && b.len == 0,
              "the caller still holds the bytes it handed over");
    cr_assert_eq(ft_run(&loop, f), -ENOMEM);
    ft_close_loop(&loop);
    remove_path();
}

Test(file, write_takes_the_bytes_even_when_it_cannot_be_made)
{
    uv_loop_t loop;
    struct buf b = BUF_INIT;
    struct fut_file *file;
    struct fut *f;

    make_path();
    uv_loop_init(&loop);
    file = open_file(&loop, O_RDWR | O_CREAT);
    buf_puts(&b, "lost\n");
    fut_mem_fail_after(0);
    f = fut_file_write(file, 0, &b);
    cr_assert(fut_is_nomem(f));
    cr_assert(b.data == NULL && b.len == 0,
              "the caller still holds the bytes it handed over");
    fut_drop(f);
    fut_file_close(file);
    ft_close_loop(&loop);
    remove_path();
}

/* A step that finds no memory ends the append with -ENOMEM, and the file
 * it had opened is closed all the same: each allocation the operation
 * makes, failed in turn. */
Test(fs, an_append_that_runs_out_of_memory_half_way_closes_its_file)
{
    int fds = open_fds();
    long live = ft_live_allocs();
    int rc = -ENOMEM;

    make_path();
    for (long n = 0; rc == -ENOMEM; n++) {
        uv_loop_t loop;
        struct buf b = BUF_INIT;

        cr_assert_lt(n, 50, "still out of memory after %ld allocations", n);
        uv_loop_init(&loop);
        buf_puts(&b, "x\n");
        fut_mem_fail_after(n);
        rc = ft_run(&loop, fut_fs_append(&loop, path, &b));
        fut_mem_fail_after(-1);
        ft_close_loop(&loop);
        cr_assert(rc == -ENOMEM || rc == 2, "rc %d", rc);
        cr_assert_eq(open_fds(), fds,
                     "failing allocation %ld left a file "
                     "open",
                     n);
        cr_assert_eq(ft_live_allocs(), live, "failing allocation %ld leaked",
                     n);
    }
    remove_path();
}
