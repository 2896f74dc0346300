/* proc: process-wide settings every program of the kit makes at start.
 *
 * A network program must not die of SIGPIPE when a peer goes away (COM-8),
 * and a journal must not die of SIGXFSZ when its file hits a size limit
 * (JR-12): both signals are ignored, so the failing call returns EPIPE or
 * EFBIG and the program reports it like any other error.
 */
#ifndef KIT_PROC_H
#define KIT_PROC_H

/* Ignores SIGPIPE and SIGXFSZ, and marks the program's start for the clock
 * and --trace. Call first thing in main(), before any thread exists. */
void proc_setup(void);

#endif
