/* opts: long options for the kit's programs, on top of getopt_long (COM-2).
 *
 * A program describes its options in a table; opts_parse() fills the
 * destinations, prints the usage for --help (stdout, exit 0), and rejects
 * an unknown, missing or malformed option with one line on stderr,
 * "PROGRAM: usage: WHAT; try --help" (exit 2). No program repeats this.
 *
 *     static int64_t timeout_ms = 5000;
 *     static struct addr peer;
 *     static const struct opt options[] = {
 *         {"connect", OPT_ADDR, &peer, OPT_REQUIRED, 0, 0, "HOST:PORT",
 *          "where to connect"},
 *         {"timeout-ms", OPT_INT, &timeout_ms, 0, 1, INT32_MAX, "N",
 *          "deadline for the whole operation (default 5000)"},
 *     };
 *
 * Not thread-safe (getopt keeps global state): call it once from main().
 */
#ifndef KIT_OPTS_H
#define KIT_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

enum opt_kind {
    OPT_FLAG,   /* no argument; dest is a bool*, set to true */
    OPT_INT,    /* whole number in [min, max]; dest is an int64_t* */
    OPT_STRING, /* any text; dest is a const char** (borrowed from argv) */
    OPT_ADDR,   /* HOST:PORT (see addr.h); dest is a struct addr* */
    OPT_ADDRS,  /* HOST:PORT, repeatable; dest is a struct opt_addrs*, */
                /* each use appends one; max is how many are allowed */
};

/* The destination of an OPT_ADDRS option: the addresses in the order the
 * options came. items (borrowed) has room for the option's max entries. */
struct opt_addrs {
    struct addr *items; /* where the addresses go */
    size_t count;       /* how many were given (0 before parsing) */
};

#define OPT_REQUIRED 1

struct opt {
    const char *name;     /* long name without the leading "--" */
    enum opt_kind kind;   /* what the argument is */
    void *dest;           /* where the value goes; untouched if absent */
    int required;         /* OPT_REQUIRED, or 0 */
    int64_t min, max;     /* OPT_INT only: accepted range */
    const char *arg_name; /* shown in the usage, e.g. "N"; NULL for flags */
    const char *help;     /* one line for --help */
};

struct opts_spec {
    const char *program;    /* e.g. "fetch-line" */
    const char *summary;    /* one sentence: what the program does */
    const struct opt *opts; /* the table (--help is added by opts_parse) */
    size_t count;           /* entries in opts */
};

/* Parses argv against spec. Returns true when the program should go on.
 * Returns false when it should exit at once with *exit_status: 0 after
 * printing --help, 2 after printing a one-line usage error. Also records
 * spec->program for report.h. Positional arguments are usage errors. */
bool opts_parse(const struct opts_spec *spec, int argc, char **argv,
                int *exit_status);

#endif
