/* chan: a small bounded channel that carries pointers between threads.
 *
 * Threads in this track never share data by poking at each other's
 * variables: one thread sends an item, another receives it. The channel is
 * a queue of at most `capacity` items guarded by one mutex, with two
 * condition variables: receivers sleep on "not empty", senders on "not
 * full". Because it is bounded, a fast sender is slowed down to the pace of
 * its receiver (back-pressure) instead of filling memory.
 *
 * Items are void pointers; the channel never looks at what they point to.
 * Ownership of an item moves with it: chan_send() takes ownership when it
 * returns 0, the channel holds the item while it is in flight, and
 * chan_recv() hands ownership to the receiver. If chan_send() fails, the
 * caller still owns the item. Items still queued when the channel is freed
 * are given to the `drop` function passed to chan_free().
 *
 * Closing is how a channel ends: after chan_close(), sends fail with -EPIPE
 * and receivers first get the items still queued, then -EPIPE. Every
 * thread blocked in the channel is woken by chan_close().
 *
 * Every function may be called from any thread, except chan_free(), which
 * runs once no other thread can touch the channel any more.
 */
#ifndef KIT_CHAN_H
#define KIT_CHAN_H

#include <stddef.h>
#include <stdint.h>

struct chan;

/* Returns a new open channel holding at most capacity (>= 1) items, or
 * NULL when capacity is 0 or memory runs out. Free with chan_free(). */
struct chan *chan_new(size_t capacity);

/* Queues item, waiting while the channel is full.
 * Returns 0 (the channel now owns item) or -EPIPE when the channel is or
 * becomes closed while waiting (the caller still owns item). */
int chan_send(struct chan *c, void *item);

/* Takes the oldest item, waiting while the channel is empty.
 * Returns 0 and sets *item (the caller now owns it), or -EPIPE when the
 * channel is closed and every item has been received. */
int chan_recv(struct chan *c, void **item);

/* Like chan_recv(), but waits no later than deadline_ms, an absolute time
 * on the clock of common/clock.h (clock_now_ms()).
 * Returns 0 and sets *item, -EPIPE (closed and drained), or -ETIMEDOUT
 * when the deadline passed with nothing to receive. A queued item is
 * returned even if the deadline has already passed; -ETIMEDOUT is never
 * returned before the deadline. */
int chan_recv_until(struct chan *c, void **item, int64_t deadline_ms);

/* Closes the channel and wakes every thread waiting in it. Items already
 * queued stay receivable. Closing twice is harmless. */
void chan_close(struct chan *c);

/* How many threads are blocked in the channel at this moment: receivers
 * waiting for an item and senders waiting for room. Meant for tests, which
 * must know that another thread has blocked before they act on it; the
 * answer may be out of date as soon as it is returned. */
size_t chan_waiters(struct chan *c);

/* Frees the channel. Every item still queued is passed to drop (which may
 * be NULL when the items need no freeing). No thread may be using c, or
 * use it afterwards. c may be NULL. */
void chan_free(struct chan *c, void (*drop)(void *item));

#endif
