/* Unit tests for common/opts: the programs' command lines (COM-2). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdint.h>
#include <string.h>

#include "addr.h"
#include "opts.h"
#include "report.h"

/* The options of a made-up program, reset before every test. */
static struct addr peer;
static int64_t timeout_ms;
static int64_t offset;
static const char *name;
static bool trace;

static const struct opt options[] = {
    {"connect", OPT_ADDR, &peer, OPT_REQUIRED, 0, 0, "HOST:PORT",
     "where to connect"},
    {"timeout-ms", OPT_INT, &timeout_ms, 0, 1, INT32_MAX, "N",
     "deadline for the whole operation (default 5000)"},
    {"offset", OPT_INT, &offset, 0, -10, 10, "N", "a signed number"},
    {"name", OPT_STRING, &name, 0, 0, 0, "TEXT", "a name"},
    {"trace", OPT_FLAG, &trace, 0, 0, 0, NULL, "print what happens"},
};

static const struct opts_spec spec = {
    "fetch-line",
    "Fetches one line from a server.",
    options,
    sizeof(options) / sizeof(options[0]),
};

static void reset(void)
{
    memset(&peer, 0, sizeof(peer));
    timeout_ms = 5000;
    offset = 0;
    name = "default";
    trace = false;
}

static void reset_and_redirect(void)
{
    reset();
    cr_redirect_stderr();
    cr_redirect_stdout();
}

/* Runs opts_parse() on a NULL-terminated list of arguments (argv[0] is
 * added) and returns its result; *status gets the exit status. */
static bool parse(int *status, const char *const *args)
{
    char *argv[32];
    int argc = 0;

    argv[argc++] = (char *)"fetch-line";
    for (; *args != NULL; args++)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;
    *status = -1;
    return opts_parse(&spec, argc, argv, status);
}

#define PARSE(status, ...)                                                     \
    parse(status, (const char *const[]){__VA_ARGS__, NULL})

/* Checks that the arguments are refused with exactly this usage line. */
#define CHECK_USAGE_ERROR(line, ...)                                           \
    do {                                                                       \
        int status_;                                                           \
        cr_assert_not(PARSE(&status_, __VA_ARGS__));                           \
        cr_assert_eq(status_, 2);                                              \
        cr_assert_stderr_eq_str("fetch-line: usage: " line "; try --help\n");  \
        cr_assert_stdout_eq_str("");                                           \
    } while (0)

TestSuite(opts, .init = reset_and_redirect);

Test(opts, parses_every_kind_of_option)
{
    int status;
    struct sockaddr_in *sin = (struct sockaddr_in *)&peer.ss;

    cr_assert(PARSE(&status, "--connect", "127.0.0.1:7000", "--timeout-ms",
                    "300", "--offset", "-10", "--name", "x y", "--trace"));
    cr_assert_eq(status, 0);
    cr_assert_eq(sin->sin_family, AF_INET);
    cr_assert_eq(ntohs(sin->sin_port), 7000);
    cr_assert_eq(timeout_ms, 300);
    cr_assert_eq(offset, -10);
    cr_assert_str_eq(name, "x y");
    cr_assert(trace);
    cr_assert_stderr_eq_str("");
}

Test(opts, accepts_name_equals_value)
{
    int status;

    cr_assert(
        PARSE(&status, "--connect=[::1]:80", "--timeout-ms=1", "--name="));
    cr_assert_eq(peer.ss.ss_family, AF_INET6);
    cr_assert_eq(timeout_ms, 1);
    cr_assert_str_eq(name, "");
}

Test(opts, keeps_defaults_of_absent_options)
{
    int status;

    cr_assert(PARSE(&status, "--connect", "localhost:1"));
    cr_assert_eq(timeout_ms, 5000);
    cr_assert_eq(offset, 0);
    cr_assert_str_eq(name, "default");
    cr_assert_not(trace);
}

Test(opts, accepts_the_ends_of_an_int_range)
{
    int status;

    cr_assert(PARSE(&status, "--connect", "localhost:1", "--timeout-ms",
                    "2147483647", "--offset", "10"));
    cr_assert_eq(timeout_ms, INT32_MAX);
    cr_assert_eq(offset, 10);
}

Test(opts, sets_the_program_name_for_reports)
{
    int status;

    cr_assert(PARSE(&status, "--connect", "localhost:1"));
    cr_assert_str_eq(report_program(), "fetch-line");
}

Test(opts, help_prints_usage_to_stdout_and_exits_0)
{
    int status;

    cr_assert_not(PARSE(&status, "--help"));
    cr_assert_eq(status, 0);
    fflush(stdout);
    cr_assert_stdout_eq_str(
        "usage: fetch-line --connect HOST:PORT [--timeout-ms N] "
        "[--offset N] [--name TEXT] [--trace]\n"
        "Fetches one line from a server.\n"
        "\n"
        "  --connect HOST:PORT  where to connect\n"
        "  --timeout-ms N       deadline for the whole operation "
        "(default 5000)\n"
        "  --offset N           a signed number\n"
        "  --name TEXT          a name\n"
        "  --trace              print what happens\n"
        "  --help               print this help and exit\n");
    cr_assert_stderr_eq_str("");
}

Test(opts, help_wins_over_a_missing_required_option)
{
    int status;

    cr_assert_not(PARSE(&status, "--trace", "--help"));
    cr_assert_eq(status, 0);
}

Test(opts, rejects_an_unknown_option)
{
    CHECK_USAGE_ERROR("unknown option --foo", "--foo");
}

Test(opts, rejects_an_unknown_option_with_a_value)
{
    CHECK_USAGE_ERROR("unknown option --foo", "--foo=bar");
}

Test(opts, rejects_short_options)
{
    CHECK_USAGE_ERROR("unknown option -h", "-h");
}

Test(opts, rejects_a_malformed_number)
{
    CHECK_USAGE_ERROR("--timeout-ms needs a whole number from 1 to "
                      "2147483647, not \"abc\"",
                      "--connect", "localhost:1", "--timeout-ms", "abc");
}

Test(opts, rejects_numbers_with_junk_signs_or_spaces)
{
    static const char *const bad[] = {
        "", "12abc", "+5", " 5", "5 ", "1.5", "0x10", "99999999999999999999"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int status;

        cr_assert_not(
            PARSE(&status, "--connect", "localhost:1", "--timeout-ms", bad[i]),
            "accepted \"%s\"", bad[i]);
        cr_assert_eq(status, 2);
    }
}

Test(opts, rejects_numbers_out_of_range)
{
    CHECK_USAGE_ERROR("--timeout-ms needs a whole number from 1 to "
                      "2147483647, not \"0\"",
                      "--connect", "localhost:1", "--timeout-ms", "0");
}

Test(opts, rejects_a_number_just_over_the_top)
{
    CHECK_USAGE_ERROR("--offset needs a whole number from -10 to 10, "
                      "not \"11\"",
                      "--connect", "localhost:1", "--offset", "11");
}

Test(opts, rejects_a_missing_required_option)
{
    CHECK_USAGE_ERROR("--connect is required", "--timeout-ms", "5");
}

Test(opts, rejects_a_malformed_address)
{
    CHECK_USAGE_ERROR("--connect needs HOST:PORT, not \"x\"", "--connect", "x");
}

Test(opts, rejects_a_positional_argument)
{
    CHECK_USAGE_ERROR("unexpected argument \"foo\"", "--connect", "localhost:1",
                      "foo");
}

Test(opts, rejects_an_argument_after_double_dash)
{
    CHECK_USAGE_ERROR("unexpected argument \"--trace\"", "--connect",
                      "localhost:1", "--", "--trace");
}

Test(opts, rejects_a_missing_value)
{
    CHECK_USAGE_ERROR("--connect needs a value", "--connect");
}

Test(opts, rejects_a_value_given_to_a_flag)
{
    CHECK_USAGE_ERROR("--trace takes no value", "--connect", "localhost:1",
                      "--trace=yes");
}

Test(opts, reports_only_the_first_problem)
{
    CHECK_USAGE_ERROR("unknown option --bogus", "--bogus", "--connect", "x",
                      "extra");
}

Test(opts, can_be_called_again)
{
    int status;

    cr_assert(PARSE(&status, "--connect", "localhost:1", "--timeout-ms", "7"));
    cr_assert_eq(timeout_ms, 7);
    cr_assert(PARSE(&status, "--timeout-ms", "8", "--connect", "localhost:2"));
    cr_assert_eq(timeout_ms, 8);
    cr_assert_eq(ntohs(((struct sockaddr_in *)&peer.ss)->sin_port), 2);
    cr_assert_not(PARSE(&status, "--nope"));
    cr_assert_eq(status, 2);
    cr_assert(PARSE(&status, "--connect", "localhost:3"));
    cr_assert_eq(status, 0);
}
