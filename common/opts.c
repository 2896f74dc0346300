/* opts: long options for the kit's programs, on top of getopt_long. */
#include "opts.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "report.h"

/* The most options one program may declare (--help not counted). */
enum { OPTS_MAX = 32 };

/* getopt_long returns val for a long option; table entry i gets
 * OPTS_VAL_BASE + i, above every character getopt returns itself ('?',
 * ':'). --help gets OPTS_VAL_BASE + OPTS_MAX. */
enum { OPTS_VAL_BASE = 256, OPTS_VAL_HELP = OPTS_VAL_BASE + OPTS_MAX };

/* Prints "PROGRAM: usage: WHAT; try --help" as one line, and sets the
 * status for a usage error. Always returns false, for `return opts_fail()`. */
static bool opts_fail(int *exit_status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static bool opts_fail(int *exit_status, const char *fmt, ...)
{
    char what[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    report_note("usage: %s; try --help", what);
    *exit_status = EXIT_USAGE;
    return false;
}

/* "--name ARG" as shown in the usage; returns its length. */
static int opts_shown(const struct opt *o, char *out, size_t size)
{
    if (o->kind == OPT_FLAG)
        return snprintf(out, size, "--%s", o->name);
    return snprintf(out, size, "--%s %s", o->name,
                    o->arg_name ? o->arg_name : "ARG");
}

static void opts_print_help(const struct opts_spec *spec)
{
    char shown[128];
    int width = (int)strlen("--help");
    size_t i;

    printf("usage: %s", spec->program);
    for (i = 0; i < spec->count; i++) {
        const struct opt *o = &spec->opts[i];
        int n = opts_shown(o, shown, sizeof(shown));

        if (n > width)
            width = n;
        printf(o->required ? " %s" : " [%s]", shown);
    }
    printf("\n%s\n\n", spec->summary);
    for (i = 0; i < spec->count; i++) {
        opts_shown(&spec->opts[i], shown, sizeof(shown));
        printf("  %-*s  %s\n", width, shown, spec->opts[i].help);
    }
    printf("  %-*s  %s\n", width, "--help", "print this help and exit");
    fflush(stdout);
}

/* Parses a whole number in [min, max]: an optional '-', then digits, and
 * nothing else (no spaces, no "+", no "12abc"). */
static bool opts_parse_int(const char *text, int64_t min, int64_t max,
                           int64_t *out)
{
    const char *digits = text[0] == '-' ? text + 1 : text;
    char *end;
    long long value;

    if (digits[0] < '0' || digits[0] > '9')
        return false;
    errno = 0;
    value = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0' || value < min || value > max)
        return false;
    *out = value;
    return true;
}

/* Appends one address to an OPT_ADDRS option's list. Returns false after
 * reporting a bad address or one too many. */
static bool opts_store_addrs(const struct opt *o, const char *arg,
                             int *exit_status)
{
    struct opt_addrs *list = o->dest;

    if (list->count >= (size_t)o->max)
        return opts_fail(exit_status,
                         "--%s may be given at most %" PRId64 " times", o->name,
                         o->max);
    if (addr_parse(arg, &list->items[list->count]) < 0)
        return opts_fail(exit_status, "--%s needs HOST:PORT, not \"%s\"",
                         o->name, arg);
    list->count++;
    return true;
}

/* Stores one option's value. Returns false after reporting a bad value. */
static bool opts_store(const struct opt *o, const char *arg, int *exit_status)
{
    switch (o->kind) {
    case OPT_FLAG:
        *(bool *)o->dest = true;
        return true;
    case OPT_INT:
        if (!opts_parse_int(arg, o->min, o->max, (int64_t *)o->dest))
            return opts_fail(exit_status,
                             "--%s needs a whole number from %" PRId64
                             " to %" PRId64 ", not \"%s\"",
                             o->name, o->min, o->max, arg);
        return true;
    case OPT_STRING:
        *(const char **)o->dest = arg;
        return true;
    case OPT_ADDR:
        if (addr_parse(arg, (struct addr *)o->dest) < 0)
            return opts_fail(exit_status, "--%s needs HOST:PORT, not \"%s\"",
                             o->name, arg);
        return true;
    case OPT_ADDRS:
        return opts_store_addrs(o, arg, exit_status);
    }
    return true;
}

/* Reports what getopt_long did not like: c is '?' or ':'. */
static bool opts_fail_getopt(const struct opts_spec *spec, int c, char **argv,
                             int *exit_status)
{
    if (c == ':' && optopt >= OPTS_VAL_BASE && optopt < OPTS_VAL_HELP)
        return opts_fail(exit_status, "--%s needs a value",
                         spec->opts[optopt - OPTS_VAL_BASE].name);
    if (optopt >= OPTS_VAL_BASE && optopt < OPTS_VAL_HELP)
        return opts_fail(exit_status, "--%s takes no value",
                         spec->opts[optopt - OPTS_VAL_BASE].name);
    if (optopt == OPTS_VAL_HELP)
        return opts_fail(exit_status, "--help takes no value");
    if (optopt != 0) /* a short option, as in "-x" */
        return opts_fail(exit_status, "unknown option -%c", optopt);
    /* An unknown or ambiguous long option: getopt has stepped past it.
     * Show it without any "=value". */
    const char *arg = argv[optind - 1];
    int len = (int)strcspn(arg, "=");

    return opts_fail(exit_status, "unknown option %.*s", len, arg);
}

/* Builds getopt_long's table from spec: option i returns OPTS_VAL_BASE +
 * i, --help returns OPTS_VAL_HELP, and a zeroed entry ends it. longopts
 * holds spec->count + 2 entries. */
static void opts_table(const struct opts_spec *spec, struct option *longopts)
{
    size_t i;

    if (spec->count > OPTS_MAX) {
        report_error("opts: more than %d options", OPTS_MAX);
        abort(); /* a mistake in the program, not in its command line */
    }
    for (i = 0; i < spec->count; i++) {
        const struct opt *o = &spec->opts[i];

        longopts[i].name = o->name;
        longopts[i].has_arg =
            o->kind == OPT_FLAG ? no_argument : required_argument;
        longopts[i].flag = NULL;
        longopts[i].val = OPTS_VAL_BASE + (int)i;
    }
    longopts[i] = (struct option){"help", no_argument, NULL, OPTS_VAL_HELP};
    longopts[i + 1] = (struct option){NULL, 0, NULL, 0};
}

/* After the options: no positional argument, every required option seen.
 * Returns true when the program should go on. */
static bool opts_check_rest(const struct opts_spec *spec, const bool *seen,
                            int argc, char **argv, int *exit_status)
{
    if (optind < argc)
        return opts_fail(exit_status, "unexpected argument \"%s\"",
                         argv[optind]);
    for (size_t i = 0; i < spec->count; i++) {
        if (spec->opts[i].required && !seen[i])
            return opts_fail(exit_status, "--%s is required",
                             spec->opts[i].name);
    }
    *exit_status = EXIT_DONE;
    return true;
}

bool opts_parse(const struct opts_spec *spec, int argc, char **argv,
                int *exit_status)
{
    struct option longopts[OPTS_MAX + 2];
    bool seen[OPTS_MAX] = {false};
    int c;

    report_init(spec->program);
    opts_table(spec, longopts);
    /* optind = 0 makes glibc start over, so opts_parse() can be called
     * again (the unit tests do). opterr = 0: we print our own messages,
     * getopt's are not one line in the kit's format. "+" stops at the
     * first non-option; ":" makes a missing value return ':'. */
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:", longopts, NULL)) != -1) {
        if (c == OPTS_VAL_HELP) {
            opts_print_help(spec);
            *exit_status = EXIT_DONE;
            return false;
        }
        if (c < OPTS_VAL_BASE)
            return opts_fail_getopt(spec, c, argv, exit_status);
        if (!opts_store(&spec->opts[c - OPTS_VAL_BASE], optarg, exit_status))
            return false;
        seen[c - OPTS_VAL_BASE] = true;
    }
    return opts_check_rest(spec, seen, argc, argv, exit_status);
}
