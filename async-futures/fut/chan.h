/* chan: a bounded channel between futures of one loop: send waits while
 * the channel is full, receive waits while it is empty.
 *
 * Messages are pointers (void *); what they point to is the sender's
 * business until the send is ready, then the receiver's. A channel holds
 * at most `capacity` of them, so a fast sender is slowed down to the pace
 * of its receiver instead of filling memory. (An unbounded channel, made
 * by fut_chan_new_unbounded(), is the exception, for senders that must
 * never wait: its sends never do.)
 *
 * Cancellation loses nothing:
 *  - a send that is dropped before it was ready has not queued its
 *    message: the caller still owns it (the message is "given back");
 *  - a receive takes a message out of the queue only in the poll that
 *    returns it, so a receive dropped while pending (e.g. the loser of a
 *    select) leaves every message queued for the next receive.
 *
 * Waiting futures queue in FIFO order; when one is woken but dropped
 * before it could use the room or the message, the wake is passed on to
 * the next one in line, so no waiter sleeps through a message.
 *
 * Single loop, single thread: this is not a channel between threads (the
 * blocking-threads track has that one).
 */
#ifndef KIT_CHAN_H
#define KIT_CHAN_H

#include <stddef.h>

#include "fut/fut.h"

struct fut_chan;

/* Returns a new channel holding at most capacity (>= 1) messages, or NULL
 * on -ENOMEM. Free with fut_chan_free(). */
struct fut_chan *fut_chan_new(size_t capacity);

/* Returns a new channel without a bound, or NULL on -ENOMEM. Its sends
 * never wait: when its ring of slots is full, the ring doubles. Nothing
 * then limits the memory its messages take but the pace of the receiver,
 * so use it only where a sender must never be slowed down (the journal's
 * publishers, whose receiver may be busy with a replay for seconds) and a
 * bounded channel everywhere else. A send is ready with -ENOMEM (and
 * fut_chan_try_send returns it) only when the ring cannot grow. */
struct fut_chan *fut_chan_new_unbounded(void);

/* Frees ch. No send or receive future on ch may exist any more. Messages
 * still queued are not freed (drain them first with fut_chan_try_recv()
 * if they own memory). */
void fut_chan_free(struct fut_chan *ch);

/* Closes the sending side: pending and later sends are ready with -EPIPE
 * (the caller keeps the message); receives drain what is queued, then are
 * ready with 0. Idempotent. */
void fut_chan_close(struct fut_chan *ch);

/* Returns a new future that queues msg: ready with 0 once it is queued,
 * or -EPIPE if the channel is closed. Until it is ready with 0, msg still
 * belongs to the caller (also when it is dropped). ch is borrowed. */
struct fut *fut_chan_send(struct fut_chan *ch, void *msg);

/* Returns a new future that is ready with 1 and *out set to the oldest
 * message (now owned by the caller), or with 0 once the channel is closed
 * and empty. ch is borrowed. */
struct fut *fut_chan_recv(struct fut_chan *ch, void **out);

/* Takes the oldest message without waiting: returns 1 and sets *out, or 0
 * when the channel is empty. Wakes a waiting sender. */
int fut_chan_try_recv(struct fut_chan *ch, void **out);

/* Queues msg without waiting: returns 0 (msg now belongs to the channel),
 * -EAGAIN when it is full or others are waiting to send, -EPIPE when it is
 * closed. Wakes a waiting receiver. */
int fut_chan_try_send(struct fut_chan *ch, void *msg);

/* Messages queued now. */
size_t fut_chan_len(const struct fut_chan *ch);

#endif
