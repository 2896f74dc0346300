/* sandbox-exec: run one program with the grader's limits.
 *
 *   sandbox-exec [--uid N --gid N] [--cpu S] [--as BYTES] [--nproc N]
 *                [--nofile N] [--fsize BYTES] [--chdir DIR] -- PROG ARG...
 *
 * The grader puts this in front of every student program (a small shell
 * script in the folder the tests take their programs from execs it), so the
 * test harness starts the student's program exactly as before: same pid,
 * same process group, same arguments and environment.
 *
 * Limits are only ever LOWERED: a test that sets a tighter limit itself
 * (a small RLIMIT_NOFILE, say) keeps it. Then, when --uid is given (the
 * grader runs as root), the program loses every privilege: supplementary
 * groups, gid, uid, and the right to gain any back through a set-uid file.
 * Finally it execs PROG in DIR. It is exec, not fork: nothing stays behind.
 *
 * The grader compiles this file itself (it is not part of the kit's build).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

static void die(const char *what)
{
    fprintf(stderr, "sandbox-exec: %s: %s\n", what, strerror(errno));
    exit(126);
}

/* Lowers both the soft and the hard limit of `which` to at most `value`. */
static void lower(int which, const char *value)
{
    struct rlimit now;
    rlim_t want = (rlim_t)strtoull(value, NULL, 10);

    if (getrlimit(which, &now) != 0)
        die("getrlimit");
    if (now.rlim_max == RLIM_INFINITY || now.rlim_max > want)
        now.rlim_max = want;
    if (now.rlim_cur == RLIM_INFINITY || now.rlim_cur > now.rlim_max)
        now.rlim_cur = now.rlim_max;
    if (setrlimit(which, &now) != 0)
        die("setrlimit");
}

static int limit_named(const char *option)
{
    static const struct { const char *name; int which; } table[] = {
        { "--cpu", RLIMIT_CPU },     { "--as", RLIMIT_AS },
        { "--nproc", RLIMIT_NPROC }, { "--nofile", RLIMIT_NOFILE },
        { "--fsize", RLIMIT_FSIZE }, { "--core", RLIMIT_CORE },
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(option, table[i].name) == 0)
            return table[i].which;
    return -1;
}

int main(int argc, char **argv)
{
    long uid = -1, gid = -1;
    const char *dir = NULL;
    int i = 1;

    for (; i + 1 < argc && strcmp(argv[i], "--") != 0; i += 2) {
        int which = limit_named(argv[i]);
        if (which >= 0)
            lower(which, argv[i + 1]);
        else if (strcmp(argv[i], "--uid") == 0)
            uid = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--gid") == 0)
            gid = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--chdir") == 0)
            dir = argv[i + 1];
        else {
            fprintf(stderr, "sandbox-exec: unknown option %s\n", argv[i]);
            return 126;
        }
    }
    if (i >= argc - 1 || strcmp(argv[i], "--") != 0) {
        fprintf(stderr, "sandbox-exec: usage: [OPTIONS] -- PROG [ARG...]\n");
        return 126;
    }
    if (uid >= 0) {
        /* Order matters: groups and gid first, while still root. */
        if (setgroups(0, NULL) != 0)
            die("setgroups");
        if (setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid) != 0)
            die("setresgid");
        if (setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) != 0)
            die("setresuid");
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        die("prctl");
    if (dir && chdir(dir) != 0)
        die("chdir");
    execv(argv[i + 1], argv + i + 1);
    die(argv[i + 1]);
}
