/* proc: process-wide settings every program of the kit makes at start. */
#include "proc.h"

#include <signal.h>
#include <string.h>

#include "clock.h"

static void proc_ignore(int sig)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

void proc_setup(void)
{
    clock_mark_start();
    /* With these ignored, write() to a closed socket fails with EPIPE and
     * write() past RLIMIT_FSIZE fails with EFBIG: errors the program can
     * report, instead of signals that kill it silently. */
    proc_ignore(SIGPIPE);
    proc_ignore(SIGXFSZ);
}
