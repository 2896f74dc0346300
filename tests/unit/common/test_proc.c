/* Unit tests for common/proc: the process-wide settings (COM-8, JR-12). */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#include "clock.h"
#include "proc.h"

static bool is_ignored(int sig)
{
    struct sigaction sa;

    cr_assert_eq(sigaction(sig, NULL, &sa), 0);
    return sa.sa_handler == SIG_IGN;
}

Test(proc, ignores_sigpipe_and_sigxfsz)
{
    proc_setup();
    cr_assert(is_ignored(SIGPIPE));
    cr_assert(is_ignored(SIGXFSZ));
}

Test(proc, write_to_closed_pipe_fails_with_epipe_instead_of_killing)
{
    int fds[2];

    proc_setup();
    cr_assert_eq(pipe(fds), 0);
    close(fds[0]);
    errno = 0;
    cr_assert_eq(write(fds[1], "x", 1), -1);
    cr_assert_eq(errno, EPIPE);
    close(fds[1]);
}

Test(proc, write_past_file_size_limit_fails_with_efbig)
{
    struct rlimit old;
    struct rlimit lim;
    FILE *f = tmpfile();
    ssize_t first, second;
    int second_errno;

    proc_setup();
    cr_assert_not_null(f);
    /* Only the soft limit, restored at once: stderr may be a file too. */
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 4;
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    first = write(fileno(f), "1234", 4);
    second = write(fileno(f), "5", 1);
    second_errno = errno;
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    cr_assert_eq(first, 4);
    cr_assert_eq(second, -1);
    cr_assert_eq(second_errno, EFBIG);
    fclose(f);
}

Test(proc, marks_the_start_for_the_clock)
{
    int64_t before = clock_now_us();

    proc_setup();
    cr_assert_geq(clock_start_us(), before);
    cr_assert_leq(clock_start_us(), clock_now_us());
}
