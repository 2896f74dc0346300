/* report: the kit's exit statuses and its one-line messages (COM-4, COM-5).
 *
 * Every message is one line on stderr starting with the program's name, so
 * a grader or a student can tell which program said what:
 *     fetch-line: error: connection refused
 *     fetch-line: timed out after 300 ms
 *     journal: cut a torn last line (12 bytes) from events.log
 * Thread-safe: each message is a single write to stderr.
 */
#ifndef KIT_REPORT_H
#define KIT_REPORT_H

#include <stdint.h>

enum {
    EXIT_DONE = 0,      /* finished */
    EXIT_ERROR = 1,     /* refused, reset, closed early, too long, I/O */
    EXIT_USAGE = 2,     /* bad command line */
    EXIT_TIMEOUT = 124, /* a deadline passed (as coreutils timeout) */
};

/* Sets the program name used in every message (opts_parse calls it). */
void report_init(const char *program);

/* The name set by report_init(), or "kit" before. */
const char *report_program(void);

/* "PROGRAM: error: WHAT" */
void report_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "PROGRAM: timed out after N ms" */
void report_timeout(int64_t timeout_ms);

/* "PROGRAM: WHAT", for notes that are not errors (a torn line cut, a
 * client refused because of a limit). */
void report_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Text for a negative errno as the kit words it: -EMSGSIZE is
 * "line too long", -ETIMEDOUT "timed out", otherwise strerror(). */
const char *report_strerror(int negative_errno);

#endif
