/* Unit tests for common/report: one-line messages (COM-4, COM-5). */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <errno.h>
#include <string.h>

#include "report.h"

Test(report, names_the_program_kit_before_init)
{
    cr_assert_str_eq(report_program(), "kit");
}

Test(report, error_line_has_program_and_error_prefix,
     .init = cr_redirect_stderr)
{
    report_init("fetch-line");
    cr_assert_str_eq(report_program(), "fetch-line");
    report_error("%s", report_strerror(-ECONNREFUSED));
    cr_assert_stderr_eq_str("fetch-line: error: connection refused\n");
}

Test(report, timeout_line_names_the_timeout, .init = cr_redirect_stderr)
{
    report_init("fetch-line");
    report_timeout(300);
    cr_assert_stderr_eq_str("fetch-line: timed out after 300 ms\n");
}

Test(report, note_line_has_only_the_program_prefix, .init = cr_redirect_stderr)
{
    report_init("journal");
    report_note("cut a torn last line (%d bytes) from %s", 12, "events.log");
    cr_assert_stderr_eq_str(
        "journal: cut a torn last line (12 bytes) from events.log\n");
}

Test(report, messages_come_one_line_each, .init = cr_redirect_stderr)
{
    report_init("p");
    report_error("one");
    report_note("two");
    report_timeout(5);
    cr_assert_stderr_eq_str("p: error: one\np: two\np: timed out after 5 ms\n");
}

Test(report, cuts_a_very_long_message_but_ends_the_line,
     .init = cr_redirect_stderr)
{
    char big[5000];
    char got[6000];
    FILE *err;
    size_t n;

    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    report_init("p");
    report_error("%s", big);
    report_note("after");
    fflush(stderr);
    err = cr_get_redirected_stderr();
    n = fread(got, 1, sizeof(got) - 1, err);
    got[n] = '\0';
    char *nl = strchr(got, '\n');

    cr_assert_not_null(nl);
    cr_assert_eq(strncmp(got, "p: error: zzz", 13), 0);
    cr_assert_lt((size_t)(nl - got), sizeof(big));
    cr_assert_str_eq(nl + 1, "p: after\n");
}

Test(report, words_the_kit_errors_its_own_way)
{
    cr_assert_str_eq(report_strerror(-EMSGSIZE), "line too long");
    cr_assert_str_eq(report_strerror(-ETIMEDOUT), "timed out");
    cr_assert_str_eq(report_strerror(-ECONNREFUSED), "connection refused");
    cr_assert_str_eq(report_strerror(-ECONNRESET), "connection reset by peer");
}

Test(report, falls_back_to_strerror)
{
    cr_assert_str_eq(report_strerror(-ENOENT), strerror(ENOENT));
    cr_assert_str_eq(report_strerror(-EPIPE), strerror(EPIPE));
}

Test(report, exit_statuses_are_as_specified)
{
    cr_assert_eq(EXIT_DONE, 0);
    cr_assert_eq(EXIT_ERROR, 1);
    cr_assert_eq(EXIT_USAGE, 2);
    cr_assert_eq(EXIT_TIMEOUT, 124);
}
