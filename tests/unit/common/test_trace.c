/* Unit tests for common/trace: the --trace event lines (COM-9). */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "trace.h"

/* Everything written to the redirected stderr, as a C string (free it). */
static char *read_stderr(void)
{
    FILE *err;
    char *text = calloc(1, 65536);
    size_t n;

    cr_assert_not_null(text);
    fflush(stderr);
    err = cr_get_redirected_stderr();
    n = fread(text, 1, 65535, err);
    text[n] = '\0';
    return text;
}

/* Checks that line is "%8.3f REST" with a stamp in [0, max_ms], and returns
 * a pointer to REST. */
static const char *after_stamp(const char *line, double max_ms)
{
    char *end;
    double ms = strtod(line, &end);
    const char *dot = strchr(line, '.');

    cr_assert_geq(end - line, 8, "stamp too narrow in \"%s\"", line);
    cr_assert_not_null(dot);
    cr_assert_eq(end - dot, 4, "not three decimals in \"%s\"", line);
    cr_assert_eq(*end, ' ');
    cr_assert_geq(ms, 0.0);
    cr_assert_leq(ms, max_ms);
    return end + 1;
}

Test(trace, is_off_at_start_and_writes_nothing, .init = cr_redirect_stderr)
{
    cr_assert_not(trace_enabled());
    trace_event("connected %s", "127.0.0.1:7000");
    trace_bytes("read", "abc", 3);
    cr_assert_stderr_eq_str("");
}

Test(trace, enable_turns_it_on_and_off)
{
    trace_enable(true);
    cr_assert(trace_enabled());
    trace_enable(false);
    cr_assert_not(trace_enabled());
}

Test(trace, event_line_has_stamp_then_event, .init = cr_redirect_stderr)
{
    clock_mark_start();
    trace_enable(true);
    trace_event("connected %s", "127.0.0.1:7000");
    trace_event("closed");
    char *text = read_stderr();
    char *second = strchr(text, '\n');

    cr_assert_not_null(second);
    *second++ = '\0';
    /* Generous bound: the stamps count from clock_mark_start() just now. */
    cr_assert_str_eq(after_stamp(text, 5000.0), "connected 127.0.0.1:7000");
    cr_assert_str_eq(after_stamp(second, 5000.0), "closed\n");
    free(text);
}

Test(trace, stamp_counts_milliseconds_since_start, .init = cr_redirect_stderr)
{
    struct timespec ts = {0, 50 * 1000000L};

    clock_mark_start();
    while (nanosleep(&ts, &ts) != 0)
        ;
    trace_enable(true);
    trace_event("tick");
    char *text = read_stderr();
    double ms = strtod(text, NULL);

    cr_assert_geq(ms, 50.0);
    cr_assert_lt(ms, 5000.0);
    free(text);
}

Test(trace, bytes_are_shown_as_a_json_string, .init = cr_redirect_stderr)
{
    clock_mark_start();
    trace_enable(true);
    trace_bytes("read", "a\n\0\"b", 5);
    char *text = read_stderr();

    cr_assert_str_eq(after_stamp(text, 5000.0), "read \"a\\n\\u0000\\\"b\"\n");
    free(text);
}

Test(trace, bytes_of_exactly_60_are_not_cut, .init = cr_redirect_stderr)
{
    char data[60];
    char want[80];

    memset(data, 'x', sizeof(data));
    snprintf(want, sizeof(want), "got \"%.60s\"\n",
             "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    clock_mark_start();
    trace_enable(true);
    trace_bytes("got", data, sizeof(data));
    char *text = read_stderr();

    cr_assert_str_eq(after_stamp(text, 5000.0), want);
    free(text);
}

Test(trace, bytes_over_60_are_cut_with_dots, .init = cr_redirect_stderr)
{
    char data[1000];
    char want[100];

    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (char)('0' + i % 10);
    snprintf(want, sizeof(want), "got \"%.60s\"...\n",
             "012345678901234567890123456789012345678901234567890123456789");
    clock_mark_start();
    trace_enable(true);
    trace_bytes("got", data, sizeof(data));
    char *text = read_stderr();

    cr_assert_str_eq(after_stamp(text, 5000.0), want);
    free(text);
}

Test(trace, cut_keeps_a_line_of_escapes_on_one_line, .init = cr_redirect_stderr)
{
    char data[200];

    memset(data, '\n', sizeof(data));
    clock_mark_start();
    trace_enable(true);
    trace_bytes("got", data, sizeof(data));
    char *text = read_stderr();
    const char *rest = after_stamp(text, 5000.0);

    /* 60 newlines, each shown as \n: one line, 4 + 2 + 120 + 3 + 1. */
    cr_assert_eq(strlen(rest), 4 + 2 + 120 + 3 + 1);
    cr_assert_eq(strchr(rest, '\n'), rest + strlen(rest) - 1);
    free(text);
}

Test(trace, very_long_event_is_cut_but_stays_one_line,
     .init = cr_redirect_stderr)
{
    char big[3000];

    memset(big, 'w', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    clock_mark_start();
    trace_enable(true);
    trace_event("%s", big);
    trace_event("next");
    char *text = read_stderr();
    char *nl = strchr(text, '\n');

    cr_assert_not_null(nl);
    cr_assert_str_eq(after_stamp(nl + 1, 5000.0), "next\n");
    free(text);
}
