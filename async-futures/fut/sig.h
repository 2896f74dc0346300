/* sig: SIGINT and SIGTERM as a future, for servers that shut down in order
 * (COM-8).
 *
 * A signal handler may do almost nothing safely; libuv's handler only
 * writes a byte to a pipe, and the loop turns that into a callback on the
 * loop's thread. This future waits for that callback, so "a signal came"
 * is one more thing a program can select over, next to its sockets.
 *
 * While the future exists (from its first poll to its drop) the two
 * signals no longer kill the process: libuv has installed its handler.
 * A signal that arrives while nobody polls is remembered and reported by
 * the next poll. Cost: two uv_signal_t in the future's struct.
 */
#ifndef KIT_SIG_H
#define KIT_SIG_H

#include <uv.h>

#include "fut/fut.h"

/* Returns a new future that is ready with the number of the first SIGINT
 * or SIGTERM received (SIGINT or SIGTERM) after its first poll. Dropped:
 * both handlers are removed (the default action is back); the memory is
 * freed when libuv has closed both handles. loop is borrowed. */
struct fut *fut_signal(uv_loop_t *loop);

#endif
