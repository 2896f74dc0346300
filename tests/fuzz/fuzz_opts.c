/* Fuzz target: the option parser (common/opts) through every program's
 * command line (common/cli).
 *
 * The input is an argv: the first byte picks the program, the rest is
 * split at NUL bytes into arguments. Whatever the words, the parser must
 * not crash or read out of bounds, must say "go on" or "exit 0 / 2", and
 * on "go on" every value must be inside its documented range, every
 * required option present (COM-2). */
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fuzzin.h"

#define MAX_ARGS 32

int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The parser prints usage and help: keep the fuzzer's output readable. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    int null = open("/dev/null", O_WRONLY);

    (void)argc;
    (void)argv;
    if (null >= 0) {
        dup2(null, STDOUT_FILENO);
        close(null);
    }
    return 0;
}

/* Splits s[0..n) at NUL bytes into argv (copies, NUL-terminated). */
static int split(const uint8_t *s, size_t n, char **argv, char *store)
{
    int argc = 1;
    size_t start = 0;

    argv[0] = (char *)"prog";
    memcpy(store, s, n);
    store[n] = '\0';
    for (size_t i = 0; i <= n && argc < MAX_ARGS; i++) {
        if (i == n || store[i] == '\0') {
            argv[argc++] = store + start;
            start = i + 1;
        }
    }
    argv[argc] = NULL;
    return argc;
}

static bool addr_set(const struct addr *a)
{
    return a->len > 0 &&
           (a->ss.ss_family == AF_INET || a->ss.ss_family == AF_INET6);
}

static void parse(int which, int argc, char **argv)
{
    int status = -1;
    bool go;

    switch (which) {
    case 0: {
        struct fetch_line_cli c;

        memset(&c, 0, sizeof(c));
        go = cli_fetch_line("fetch-line", argc, argv, &c, &status);
        if (go)
            FUZZ_CHECK(addr_set(&c.peer) && c.timeout_ms >= 1 &&
                       c.timeout_ms <= INT32_MAX);
        break;
    }
    case 1: {
        struct dashboard_cli c;

        memset(&c, 0, sizeof(c));
        go = cli_dashboard(argc, argv, &c, &status);
        if (go)
            FUZZ_CHECK(addr_set(&c.source) && c.tick_ms >= 10);
        break;
    }
    case 2: {
        struct journal_cli c;

        memset(&c, 0, sizeof(c));
        go = cli_journal(argc, argv, &c, &status);
        if (go)
            FUZZ_CHECK(addr_set(&c.listen) && c.file != NULL &&
                       c.flush_ms >= 1 && c.replay_timeout_ms >= 1 &&
                       c.max_backlog >= 1 && c.max_clients >= 1);
        break;
    }
    default: {
        struct wait_client_cli c;

        memset(&c, 0, sizeof(c));
        go = cli_wait_client(argc, argv, &c, &status);
        if (go)
            FUZZ_CHECK(addr_set(&c.listen) && c.timeout_ms >= 1);
        break;
    }
    }
    FUZZ_CHECK(go || status == 0 || status == 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzzin in = {data, size};
    int which = fuzzin_byte(&in) % 4;
    char *argv[MAX_ARGS + 1];
    char *store;
    int argc;

    if (in.len > 4096)
        return 0;
    store = malloc(in.len + 1);
    if (!store)
        return 0;
    argc = split(in.data, in.len, argv, store);
    parse(which, argc, argv);
    free(store);
    return 0;
}
