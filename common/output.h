/* output: what a program prints on stdout for its user.
 *
 * A line of output goes out as one write of the line and its '\n', then
 * stdout is flushed, so a test or a pipe sees it at once and never half of
 * it. Call from one thread at a time.
 */
#ifndef KIT_OUTPUT_H
#define KIT_OUTPUT_H

#include <stddef.h>

/* Writes line[0..len) (borrowed; any bytes, NUL included) and a '\n' to
 * stdout in one write, then flushes. Returns 0, or a negative errno. */
int output_line(const char *line, size_t len);

/* Writes bytes[0..len) (borrowed: one or more whole lines, each with its
 * '\n') to stdout in one write, then flushes. Returns 0, or a negative
 * errno: stdout's own error (-EPIPE, -ENOSPC ...), or -EIO when stdio
 * does not say. */
int output_lines(const char *bytes, size_t len);

#endif
