/* cli: the command line of each of the kit's programs, defined once. */
#include "cli.h"

#include <stddef.h>
#include <string.h>

#include "opts.h"
#include "trace.h"

#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

/* Parses with spec, then applies --trace. */
static bool cli_parse(const struct opts_spec *spec, const bool *trace_on,
                      int argc, char **argv, int *exit_status)
{
    if (!opts_parse(spec, argc, argv, exit_status))
        return false;
    trace_enable(*trace_on);
    return true;
}

bool cli_fetch_line(const char *program, int argc, char **argv,
                    struct fetch_line_cli *cli, int *exit_status)
{
    bool trace_on = false;
    const struct opt options[] = {
        {"connect", OPT_ADDR, &cli->peer, OPT_REQUIRED, 0, 0, "HOST:PORT",
         "the peer to fetch a line from"},
        {"timeout-ms", OPT_INT, &cli->timeout_ms, 0, 1, INT32_MAX, "N",
         "deadline for the whole operation, in ms (default 5000)"},
        {"send", OPT_STRING, &cli->send_text, 0, 0, 0, "TEXT",
         "send TEXT and a newline before reading"},
        {"trace", OPT_FLAG, &trace_on, 0, 0, 0, NULL,
         "print what happens on stderr"},
    };
    const struct opts_spec spec = {
        program,
        "Connect, send a line if asked, print the first line received; "
        "one deadline bounds it all.",
        options,
        COUNT(options),
    };

    cli->timeout_ms = 5000;
    cli->send_text = NULL;
    return cli_parse(&spec, &trace_on, argc, argv, exit_status);
}

bool cli_dashboard(int argc, char **argv, struct dashboard_cli *cli,
                   int *exit_status)
{
    bool trace_on = false;
    const struct opt options[] = {
        {"connect", OPT_ADDR, &cli->source, OPT_REQUIRED, 0, 0, "HOST:PORT",
         "the event source, one event per line"},
        {"tick-ms", OPT_INT, &cli->tick_ms, 0, 10, INT32_MAX, "N",
         "the period between batches, in ms (default 500)"},
        {"trace", OPT_FLAG, &trace_on, 0, 0, 0, NULL,
         "print what happens on stderr"},
    };
    const struct opts_spec spec = {
        "dashboard",
        "Print, every tick, a JSON batch of the events a source sent since "
        "the last tick.",
        options,
        COUNT(options),
    };

    cli->tick_ms = 500;
    return cli_parse(&spec, &trace_on, argc, argv, exit_status);
}

bool cli_journal(int argc, char **argv, struct journal_cli *cli,
                 int *exit_status)
{
    bool trace_on = false;
    const struct opt options[] = {
        {"listen", OPT_ADDR, &cli->listen, OPT_REQUIRED, 0, 0, "HOST:PORT",
         "where to accept publishers and subscribers (port 0: any)"},
        {"file", OPT_STRING, &cli->file, OPT_REQUIRED, 0, 0, "PATH",
         "the journal file (created if missing)"},
        {"flush-ms", OPT_INT, &cli->flush_ms, 0, 1, INT32_MAX, "N",
         "write pending events at least this often, in ms (default 200)"},
        {"replay-timeout-ms", OPT_INT, &cli->replay_timeout_ms, 0, 1, INT32_MAX,
         "N", "give up a replay after this long (default 5000)"},
        {"max-backlog", OPT_INT, &cli->max_backlog, 0, 1, INT64_MAX, "BYTES",
         "close a subscriber with more unsent (default 8 MiB)"},
        {"max-clients", OPT_INT, &cli->max_clients, 0, 1, INT32_MAX, "N",
         "connections at once (default 1024)"},
        {"trace", OPT_FLAG, &trace_on, 0, 0, 0, NULL,
         "print what happens on stderr"},
    };
    const struct opts_spec spec = {
        "journal",
        "Store published events in a file and stream them, replay first, "
        "to subscribers.",
        options,
        COUNT(options),
    };

    cli->file = NULL;
    cli->flush_ms = 200;
    cli->replay_timeout_ms = 5000;
    cli->max_backlog = 8 * 1024 * 1024;
    cli->max_clients = 1024;
    return cli_parse(&spec, &trace_on, argc, argv, exit_status);
}

bool cli_wait_client(int argc, char **argv, struct wait_client_cli *cli,
                     int *exit_status)
{
    bool trace_on = false;
    const struct opt options[] = {
        {"listen", OPT_ADDR, &cli->listen, OPT_REQUIRED, 0, 0, "HOST:PORT",
         "where to wait for the client (port 0: any)"},
        {"timeout-ms", OPT_INT, &cli->timeout_ms, 0, 1, INT32_MAX, "N",
         "give up when no client came within N ms (default 5000)"},
        {"trace", OPT_FLAG, &trace_on, 0, 0, 0, NULL,
         "print what happens on stderr"},
    };
    const struct opts_spec spec = {
        "wait-client",
        "Wait for one client, greet it with a line and close; give up "
        "after a deadline.",
        options,
        COUNT(options),
    };

    cli->timeout_ms = 5000;
    return cli_parse(&spec, &trace_on, argc, argv, exit_status);
}

/* Drops every address that already came earlier in addrs[0..n), keeping
 * the order of first appearance, and returns how many are left: each
 * address is tried at most once. addr_parse() zeroes what it fills, so
 * equal addresses are equal byte for byte. */
static size_t cli_distinct_addrs(struct addr *addrs, size_t n)
{
    size_t kept = 0;

    for (size_t i = 0; i < n; i++) {
        bool seen = false;

        for (size_t j = 0; j < kept && !seen; j++)
            seen = addrs[j].len == addrs[i].len &&
                   memcmp(&addrs[j].ss, &addrs[i].ss, addrs[i].len) == 0;
        if (!seen)
            addrs[kept++] = addrs[i];
    }
    return kept;
}

bool cli_happy_eyeballs(int argc, char **argv, struct happy_eyeballs_cli *cli,
                        int *exit_status)
{
    bool trace_on = false;
    struct opt_addrs peers = {cli->peers, 0};
    const struct opt options[] = {
        {"connect", OPT_ADDRS, &peers, OPT_REQUIRED, 0, CLI_MAX_ATTEMPTS,
         "HOST:PORT",
         "an address of the service; repeat it, in the order "
         "to try (at most 16)"},
        {"stagger-ms", OPT_INT, &cli->stagger_ms, 0, 1, INT32_MAX, "N",
         "start the next attempt N ms after the last one (default 250)"},
        {"timeout-ms", OPT_INT, &cli->timeout_ms, 0, 1, INT32_MAX, "N",
         "deadline for the whole run, in ms (default 5000)"},
        {"send", OPT_STRING, &cli->send_text, 0, 0, 0, "TEXT",
         "send TEXT and a newline to the winner before reading"},
        {"trace", OPT_FLAG, &trace_on, 0, 0, 0, NULL,
         "print what happens on stderr"},
    };
    const struct opts_spec spec = {
        "happy-eyeballs",
        "Race connects to the addresses, starting them one stagger apart; "
        "the first to connect wins, the others are cancelled; print the "
        "winner's first line.",
        options,
        COUNT(options),
    };
    bool go_on;

    cli->stagger_ms = 250;
    cli->timeout_ms = 5000;
    cli->send_text = NULL;
    go_on = cli_parse(&spec, &trace_on, argc, argv, exit_status);
    cli->count = cli_distinct_addrs(cli->peers, peers.count);
    return go_on;
}
