/* Unit tests for manual-statemachine/jwriter: the journal file written
 * from libuv's loop (JR-5, JR-6, JR-7, JR-12, JR-13). Each test works in a
 * fresh temporary directory, counts the callbacks it got, and checks that
 * the loop ends clean. Criterion runs each test in a process of its own,
 * so a test may lower its own RLIMIT_FSIZE. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

#include "clock.h"
#include "jrec.h"
#include "jwriter.h"

/* How long a test lets the loop run for something that should happen at
 * once, and the flush period the tests use. */
enum { WAIT_MS = 5000, FLUSH_MS = 50 };

static char dir[] = "/tmp/kit-jwriter-XXXXXX";
static char path[64];

static void make_dir(void)
{
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/j.log", dir);
}

static void remove_dir(void)
{
    unlink(path);
    rmdir(dir);
}

TestSuite(jwriter, .init = make_dir, .fini = remove_dir);

struct world {
    uv_loop_t loop;
    struct jwriter w;
    int paused;       /* on_paused calls */
    int closed;       /* on_closed calls */
    int close_status; /* on_closed's status */
};

static void on_paused(struct jwriter *w)
{
    ((struct world *)w->data)->paused++;
}

static void on_closed(struct jwriter *w, int status)
{
    struct world *x = w->data;

    x->closed++;
    x->close_status = status;
}

/* Opens the writer on path; returns jwriter_open's result. */
static int world_open(struct world *x)
{
    int rc;

    memset(x, 0, sizeof(*x));
    cr_assert_eq(uv_loop_init(&x->loop), 0);
    rc = jwriter_open(&x->w, &x->loop, path, FLUSH_MS, on_paused, on_closed);
    x->w.data = x;
    return rc;
}

/* Runs the loop until *what >= want, for at most WAIT_MS. */
static void run_until(struct world *x, const int *what, int want)
{
    int64_t deadline = clock_deadline_in(WAIT_MS);

    while (*what < want && !clock_passed(deadline))
        uv_run(&x->loop, UV_RUN_ONCE);
    cr_assert_geq(*what, want);
}

/* Closes the writer, runs the loop to its end and checks it closed clean
 * with the status wanted. */
static void world_close(struct world *x, int want_status)
{
    jwriter_close(&x->w);
    cr_assert_eq(uv_run(&x->loop, UV_RUN_DEFAULT), 0);
    cr_assert_eq(x->closed, 1, "on_closed once");
    cr_assert_eq(x->close_status, want_status);
    cr_assert_eq(uv_loop_close(&x->loop), 0, "a handle was left open");
}

static void append(struct world *x, uint64_t seq, const char *event)
{
    struct buf rec = BUF_INIT;

    cr_assert_eq(jrec_format(&rec, seq, event, strlen(event)), 0);
    cr_assert_eq(jwriter_append(&x->w, seq, rec.data, rec.len), 0);
    buf_free(&rec);
}

static void write_file(const char *text)
{
    FILE *f = fopen(path, "wb");

    cr_assert_not_null(f);
    cr_assert_eq(fwrite(text, 1, strlen(text), f), strlen(text));
    fclose(f);
}

/* The file's whole contents, NUL-terminated (static). */
static const char *read_file(void)
{
    static char text[4096];
    FILE *f = fopen(path, "rb");
    size_t n;

    cr_assert_not_null(f);
    n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

Test(jwriter, open_creates_a_missing_file_and_close_calls_back_once)
{
    struct world x;

    cr_assert_eq(world_open(&x), 0);
    cr_assert_eq(x.w.last_seq, 0);
    world_close(&x, 0);
    cr_assert_str_eq(read_file(), "");
}

Test(jwriter, close_writes_every_pending_record_in_order)
{
    struct world x;

    cr_assert_eq(world_open(&x), 0);
    append(&x, 1, "a");
    append(&x, 2, "b");
    append(&x, 3, "c");
    world_close(&x, 0);
    cr_assert_str_eq(read_file(), "1 a\n2 b\n3 c\n");
}

Test(jwriter, a_record_reaches_the_file_within_the_flush_period)
{
    struct world x;
    int64_t start;

    cr_assert_eq(world_open(&x), 0);
    start = clock_now_ms();
    append(&x, 1, "soon");
    while (x.w.size == 0 && clock_now_ms() - start < WAIT_MS)
        uv_run(&x.loop, UV_RUN_ONCE);
    cr_assert_str_eq(read_file(), "1 soon\n");
    cr_assert_leq(clock_now_ms() - start, FLUSH_MS + 100, "JR-6: late");
    world_close(&x, 0);
}

Test(jwriter, a_pause_writes_what_is_pending_then_holds_the_file_still)
{
    struct world x;
    int64_t until;

    cr_assert_eq(world_open(&x), 0);
    append(&x, 1, "before");
    jwriter_pause(&x.w);
    run_until(&x, &x.paused, 1);
    cr_assert_str_eq(read_file(), "1 before\n", "flushed before the pause");
    cr_assert_eq(x.w.size, 9);
    cr_assert_eq(x.w.last_seq, 1);
    /* Paused: a record waits in memory, however long (JR-7). */
    append(&x, 2, "during");
    until = clock_deadline_in(3 * FLUSH_MS);
    while (!clock_passed(until))
        uv_run(&x.loop, UV_RUN_NOWAIT);
    cr_assert_str_eq(read_file(), "1 before\n", "written during a pause");
    cr_assert_eq(x.w.pending.len, 9, "\"2 during\\n\" waits in pending");
    jwriter_resume(&x.w);
    world_close(&x, 0);
    cr_assert_str_eq(read_file(), "1 before\n2 during\n");
    cr_assert_eq(x.paused, 1);
}

Test(jwriter, a_pause_taken_back_before_it_is_reached_never_calls_back)
{
    struct world x;

    cr_assert_eq(world_open(&x), 0);
    append(&x, 1, "x");
    jwriter_pause(&x.w);
    jwriter_resume(&x.w);
    world_close(&x, 0);
    cr_assert_eq(x.paused, 0);
    cr_assert_str_eq(read_file(), "1 x\n");
}

Test(jwriter, an_existing_file_gives_the_last_seq_and_loses_its_torn_line,
     .init = cr_redirect_stderr)
{
    struct world x;

    write_file("1 a\n2 b\n3 tor");
    cr_assert_eq(world_open(&x), 0);
    cr_assert_eq(x.w.last_seq, 2);
    append(&x, 3, "c");
    world_close(&x, 0);
    cr_assert_str_eq(read_file(), "1 a\n2 b\n3 c\n");
}

Test(jwriter, a_file_that_is_not_a_journal_is_refused_and_left_untouched,
     .init = cr_redirect_stderr)
{
    struct world x;

    write_file("1 a\n7 b\n");
    cr_assert_eq(world_open(&x), -EINVAL);
    cr_assert_eq(uv_loop_close(&x.loop), 0, "nothing to close");
    cr_assert_str_eq(read_file(), "1 a\n7 b\n");
}

Test(jwriter, a_failed_write_closes_with_its_error_and_whole_records_only,
     .init = cr_redirect_stderr)
{
    struct rlimit small = {10, 10};
    struct world x;

    signal(SIGXFSZ, SIG_IGN); /* as proc_setup() does */
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
    cr_assert_eq(world_open(&x), 0);
    append(&x, 1, "fits"); /* 7 bytes */
    while (x.w.size < 7 && x.closed == 0)
        uv_run(&x.loop, UV_RUN_ONCE);
    append(&x, 2, "beyond"); /* would end at byte 16: cut at 10 */
    cr_assert_eq(uv_run(&x.loop, UV_RUN_DEFAULT), 0);
    cr_assert_eq(x.closed, 1, "a failed write finishes the writer");
    cr_assert_lt(x.close_status, 0);
    cr_assert_eq(jwriter_append(&x.w, 3, "3 no\n", 5), -EPIPE);
    cr_assert_eq(uv_loop_close(&x.loop), 0, "a handle was left open");
    cr_assert_str_eq(read_file(), "1 fits\n",
                     "cut back to whole records: \"%s\"", read_file());
}

Test(jwriter, append_after_close_is_refused)
{
    struct world x;

    cr_assert_eq(world_open(&x), 0);
    jwriter_close(&x.w);
    cr_assert_eq(jwriter_append(&x.w, 1, "1 late\n", 7), -EPIPE);
    cr_assert_eq(uv_run(&x.loop, UV_RUN_DEFAULT), 0);
    cr_assert_eq(x.closed, 1);
    cr_assert_eq(uv_loop_close(&x.loop), 0);
    cr_assert_str_eq(read_file(), "");
}
