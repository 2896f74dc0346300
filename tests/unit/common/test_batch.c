/* Unit tests for common/batch: the dashboard's absolute tick schedule
 * (DB-1) and its batch lines, byte for byte (DB-5, DB-6). */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "batch.h"
#include "clock.h"

/* A schedule with a 100 ms period starting at 5000 ms exactly. */
static struct batch_sched sched100(void)
{
    struct batch_sched s;

    batch_sched_init(&s, 5000 * 1000, 100);
    return s;
}

Test(batch_sched, first_tick_is_due_one_period_after_the_start)
{
    struct batch_sched s = sched100();
    int64_t due;

    cr_assert_eq(batch_sched_next(&s, 5000, &due), 1);
    cr_assert_eq(due, 5100);
}

Test(batch_sched, start_is_rounded_up_so_no_tick_is_early)
{
    struct batch_sched s;
    int64_t due;

    batch_sched_init(&s, 5000 * 1000 + 1, 100); /* 5000.001 ms */
    cr_assert_eq(batch_sched_next(&s, 5000, &due), 1);
    cr_assert_eq(due, 5101, "5100 would be 1 us before start + 100 ms");
}

Test(batch_sched, asking_again_before_the_due_time_changes_nothing)
{
    struct batch_sched s = sched100();
    int64_t due;

    cr_assert_eq(batch_sched_next(&s, 5099, &due), 1);
    cr_assert_eq(due, 5100);
    cr_assert_eq(batch_sched_next(&s, 5100, &due), 1);
    cr_assert_eq(due, 5100);
}

Test(batch_sched, schedule_is_absolute_however_late_a_tick_was_written)
{
    struct batch_sched s = sched100();
    int64_t due;

    /* Tick 1 written 90 ms late: tick 2 is still due at start + 200. */
    batch_sched_done(&s, batch_sched_next(&s, 5190, &due));
    cr_assert_eq(batch_sched_next(&s, 5190, &due), 2);
    cr_assert_eq(due, 5200);
}

Test(batch_sched, a_whole_period_behind_skips_to_the_latest_tick_due)
{
    struct batch_sched s = sched100();
    int64_t due;

    batch_sched_done(&s, 1);
    /* At start + 550, ticks 2..5 have all fallen due: only 5 is written. */
    cr_assert_eq(batch_sched_next(&s, 5550, &due), 5);
    cr_assert_eq(due, 5500);
    batch_sched_done(&s, 5);
    cr_assert_eq(s.last, 5);
    cr_assert_eq(batch_sched_next(&s, 5550, &due), 6);
    cr_assert_eq(due, 5600);
}

Test(batch_sched, less_than_a_period_late_skips_nothing)
{
    struct batch_sched s = sched100();
    int64_t due;

    batch_sched_done(&s, 1);
    cr_assert_eq(batch_sched_next(&s, 5299, &due), 2);
    cr_assert_eq(batch_sched_next(&s, 5300, &due), 3, "2 is a period late");
}

Test(batch_sched, final_batch_is_the_tick_after_the_last_written)
{
    struct batch_sched s = sched100();

    cr_assert_eq(batch_sched_final(&s), 1);
    batch_sched_done(&s, 4);
    cr_assert_eq(batch_sched_final(&s), 5);
}

/* Checks b's line against want, byte for byte. */
static void check_line(struct batch *b, const char *want)
{
    size_t len = strlen(want);

    cr_assert_eq(b->line.len, len, "got \"%.*s\"", (int)b->line.len,
                 b->line.data);
    cr_assert_arr_eq(b->line.data, want, len);
}

Test(batch, empty_batch_has_an_empty_event_list)
{
    struct batch b = BATCH_INIT;

    cr_assert_eq(batch_format(&b, 1, 500, false), 0);
    check_line(&b, "{\"tick\":1,\"ms\":500,\"events\":[]}\n");
    batch_free(&b);
}

Test(batch, events_are_json_strings_in_arrival_order)
{
    struct batch b = BATCH_INIT;

    cr_assert_eq(batch_add(&b, "task 1 finished", 15), 0);
    cr_assert_eq(batch_add(&b, "a\"b\\c\n\0", 7), 0);
    cr_assert_eq(b.count, 2);
    cr_assert_eq(batch_format(&b, 12, 6001, false), 0);
    check_line(&b, "{\"tick\":12,\"ms\":6001,\"events\":[\"task 1 finished\","
                   "\"a\\\"b\\\\c\\n\\u0000\"]}\n");
    batch_free(&b);
}

Test(batch, final_batch_says_so_after_the_events)
{
    struct batch b = BATCH_INIT;

    cr_assert_eq(batch_add(&b, "x", 1), 0);
    cr_assert_eq(batch_format(&b, 3, 1520, true), 0);
    check_line(&b,
               "{\"tick\":3,\"ms\":1520,\"events\":[\"x\"],\"final\":true}\n");
    batch_free(&b);
}

Test(batch, bytes_count_the_json_gathered)
{
    struct batch b = BATCH_INIT;

    cr_assert_eq(batch_bytes(&b), 0);
    batch_add(&b, "ab", 2);
    cr_assert_eq(batch_bytes(&b), 4); /* "ab" */
    batch_add(&b, "c", 1);
    cr_assert_eq(batch_bytes(&b), 8); /* "ab","c" */
    batch_free(&b);
}

/* The redirected stdout, as a C string (static). */
static const char *read_stdout(void)
{
    static char text[4096];
    size_t n;

    fflush(stdout);
    n = fread(text, 1, sizeof(text) - 1, cr_get_redirected_stdout());
    text[n] = '\0';
    return text;
}

Test(batch, write_prints_one_line_stamped_and_empties_the_batch,
     .init = cr_redirect_stdout)
{
    struct batch b = BATCH_INIT;
    long long ms = -1;
    int used = 0;
    const char *out;

    clock_mark_start();
    batch_add(&b, "e1", 2);
    cr_assert_eq(batch_write(&b, 7, false), 0);
    cr_assert_eq(b.count, 0);
    cr_assert_eq(batch_bytes(&b), 0);
    cr_assert_eq(batch_write(&b, 8, true), 0);
    out = read_stdout();
    cr_assert_eq(sscanf(out, "{\"tick\":7,\"ms\":%lld,\"events\":[\"e1\"]}\n%n",
                        &ms, &used),
                 1, "got \"%s\"", out);
    cr_assert_geq(ms, 0);
    cr_assert_lt(ms, 1000);
    cr_assert(strncmp(out + used, "{\"tick\":8,", 10) == 0, "got \"%s\"", out);
    cr_assert_not_null(strstr(out + used, "\"events\":[],\"final\":true}\n"));
    batch_free(&b);
}

Test(batch, write_reports_stdout_failure_not_a_stale_errno)
{
    struct batch b = BATCH_INIT;

    cr_assert_not_null(freopen("/dev/full", "w", stdout));
    batch_add(&b, "lost", 4);
    errno = EBADF; /* left over from an earlier call */
    cr_assert_eq(batch_write(&b, 1, false), -ENOSPC);
    cr_assert_eq(b.count, 0, "emptied even when the write failed");
    batch_free(&b);
}
