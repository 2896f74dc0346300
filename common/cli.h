/* cli: the command line of each of the kit's programs, defined once.
 *
 * Every track builds the same programs with the same options, so the
 * option tables, their defaults and their limits live here, not in each
 * track: the tracks differ only in how they are concurrent. Each function
 * fills a struct with the defaults, parses argv with opts.h, and turns
 * tracing on when --trace is given.
 *
 * Returns true when the program should go on; false when it should exit at
 * once with *exit_status (0 after --help, 2 after a usage error, which was
 * printed). Strings in the structs are borrowed from argv. Call once, from
 * main(), before any thread exists.
 */
#ifndef KIT_CLI_H
#define KIT_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

/* fetch-line --connect HOST:PORT [--timeout-ms N] [--send TEXT] [--trace] */
struct fetch_line_cli {
    struct addr peer;      /* --connect: where to fetch a line from */
    int64_t timeout_ms;    /* --timeout-ms: for the whole operation */
    const char *send_text; /* --send: a line to send first, or NULL */
};

/* program: the name messages start with ("fetch-line", or another program
 * keeping the same contract, such as "fetch-line-watchdog"). */
bool cli_fetch_line(const char *program, int argc, char **argv,
                    struct fetch_line_cli *cli, int *exit_status);

/* dashboard --connect HOST:PORT [--tick-ms N] [--trace] */
struct dashboard_cli {
    struct addr source; /* --connect: the event source */
    int64_t tick_ms;    /* --tick-ms: the period, at least 10 */
};

bool cli_dashboard(int argc, char **argv, struct dashboard_cli *cli,
                   int *exit_status);

/* journal --listen HOST:PORT --file PATH [--flush-ms N]
 *         [--replay-timeout-ms N] [--max-backlog BYTES] [--max-clients N]
 *         [--trace] */
struct journal_cli {
    struct addr listen;        /* --listen: where to accept clients */
    const char *file;          /* --file: the journal file */
    int64_t flush_ms;          /* --flush-ms: longest wait before a write */
    int64_t replay_timeout_ms; /* --replay-timeout-ms: per replay */
    int64_t max_backlog;       /* --max-backlog: unsent bytes per subscriber */
    int64_t max_clients;       /* --max-clients: connections at once */
};

bool cli_journal(int argc, char **argv, struct journal_cli *cli,
                 int *exit_status);

/* wait-client --listen HOST:PORT [--timeout-ms N] [--trace] */
struct wait_client_cli {
    struct addr listen; /* --listen: where to wait for the client */
    int64_t timeout_ms; /* --timeout-ms: how long to wait for it */
};

bool cli_wait_client(int argc, char **argv, struct wait_client_cli *cli,
                     int *exit_status);

/* happy-eyeballs --connect HOST:PORT [--connect HOST:PORT ...]
 *                [--stagger-ms N] [--timeout-ms N] [--send TEXT] [--trace] */

/* The most --connect options happy-eyeballs takes. */
#define CLI_MAX_ATTEMPTS 16

struct happy_eyeballs_cli {
    struct addr peers[CLI_MAX_ATTEMPTS]; /* --connect, in the order given,
                                            each address once (a repeat
                                            is dropped) */
    size_t count;                        /* how many (1..CLI_MAX_ATTEMPTS) */
    int64_t stagger_ms;    /* --stagger-ms: from one attempt's start to the
                           next's, unless the earlier one fails first */
    int64_t timeout_ms;    /* --timeout-ms: for the whole run */
    const char *send_text; /* --send: a line for the winner, or NULL */
};

bool cli_happy_eyeballs(int argc, char **argv, struct happy_eyeballs_cli *cli,
                        int *exit_status);

#endif
