/* chan: a small bounded channel that carries pointers between threads. */
#include "chan.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"

/* The items live in a ring: the oldest is items[head], the next ones follow
 * it, wrapping around at capacity.
 *
 * Lock rule: `lock` guards every field marked (lock). A thread that finds
 * it cannot go on (empty, full) waits on a condition variable, which
 * releases the lock while it sleeps and takes it again before returning;
 * it then checks again, because a wake-up only means "something changed",
 * not "your turn". */
struct chan {
    pthread_mutex_t lock;
    pthread_cond_t not_empty; /* receivers wait here; send and close wake */
    pthread_cond_t not_full;  /* senders wait here; recv and close wake */
    void **items;             /* (lock) ring of capacity slots */
    size_t capacity;          /* fixed by chan_new; read without the lock */
    size_t head;              /* (lock) index of the oldest item */
    size_t count;             /* (lock) items queued, 0..capacity */
    bool closed;              /* (lock) set once by chan_close, never reset */
    size_t waiters;           /* (lock) threads in a wait below */
};

/* Condition variables measure their timeouts on CLOCK_REALTIME unless told
 * otherwise; ours use CLOCK_MONOTONIC, the clock deadlines come from, so
 * that setting the wall clock cannot make a wait end early or late. */
static int chan_init_cond(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    int rc;

    rc = pthread_condattr_init(&attr);
    if (rc != 0)
        return -rc;
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
    return -rc;
}

struct chan *chan_new(size_t capacity)
{
    struct chan *c;

    if (capacity == 0)
        return NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->items = calloc(capacity, sizeof(*c->items));
    if (c->items == NULL)
        goto fail_items;
    if (pthread_mutex_init(&c->lock, NULL) != 0)
        goto fail_lock;
    if (chan_init_cond(&c->not_empty) < 0)
        goto fail_not_empty;
    if (chan_init_cond(&c->not_full) < 0)
        goto fail_not_full;
    c->capacity = capacity;
    return c;

fail_not_full:
    pthread_cond_destroy(&c->not_empty);
fail_not_empty:
    pthread_mutex_destroy(&c->lock);
fail_lock:
    free(c->items);
fail_items:
    free(c);
    return NULL;
}

/* Removes the oldest item. The lock must be held and count > 0. */
static void *chan_take(struct chan *c)
{
    void *item = c->items[c->head];

    c->head = (c->head + 1) % c->capacity;
    c->count--;
    /* One slot just became free: one sender may go on. */
    pthread_cond_signal(&c->not_full);
    return item;
}

int chan_send(struct chan *c, void *item)
{
    int rc = 0;

    pthread_mutex_lock(&c->lock);
    c->waiters++;
    while (c->count == c->capacity && !c->closed)
        pthread_cond_wait(&c->not_full, &c->lock);
    c->waiters--;
    if (c->closed) {
        rc = -EPIPE; /* nobody will receive it: the caller keeps it */
    } else {
        c->items[(c->head + c->count) % c->capacity] = item;
        c->count++;
        pthread_cond_signal(&c->not_empty);
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

int chan_recv(struct chan *c, void **item)
{
    int rc = 0;

    pthread_mutex_lock(&c->lock);
    c->waiters++;
    while (c->count == 0 && !c->closed)
        pthread_cond_wait(&c->not_empty, &c->lock);
    c->waiters--;
    /* Closed but not empty: hand out what is left before saying EPIPE. */
    if (c->count > 0)
        *item = chan_take(c);
    else
        rc = -EPIPE;
    pthread_mutex_unlock(&c->lock);
    return rc;
}

/* The moment deadline_ms (clock.h's clock) falls on CLOCK_MONOTONIC as a
 * timespec, for pthread_cond_timedwait(). clock.h does not promise where
 * its clock starts, so we only use it for the time left. */
static struct timespec chan_abs_time(int64_t deadline_ms)
{
    int64_t left_ms = clock_ms_left(deadline_ms);
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(left_ms / 1000);
    ts.tv_nsec += (long)(left_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

int chan_recv_until(struct chan *c, void **item, int64_t deadline_ms)
{
    int rc = 0;

    pthread_mutex_lock(&c->lock);
    c->waiters++;
    /* The deadline is checked on our own clock, not trusted from the
     * ETIMEDOUT of the wait: a wait may end a little early (rounding) or
     * for no reason at all (a spurious wake-up), and the loop simply
     * waits again for the time that is really left. */
    while (c->count == 0 && !c->closed && !clock_passed(deadline_ms)) {
        struct timespec until = chan_abs_time(deadline_ms);

        pthread_cond_timedwait(&c->not_empty, &c->lock, &until);
    }
    c->waiters--;
    if (c->count > 0)
        *item = chan_take(c);
    else if (c->closed)
        rc = -EPIPE;
    else
        rc = -ETIMEDOUT;
    pthread_mutex_unlock(&c->lock);
    return rc;
}

void chan_close(struct chan *c)
{
    pthread_mutex_lock(&c->lock);
    c->closed = true;
    /* Broadcast, not signal: every waiter must see the channel closed. */
    pthread_cond_broadcast(&c->not_empty);
    pthread_cond_broadcast(&c->not_full);
    pthread_mutex_unlock(&c->lock);
}

size_t chan_waiters(struct chan *c)
{
    size_t n;

    pthread_mutex_lock(&c->lock);
    n = c->waiters;
    pthread_mutex_unlock(&c->lock);
    return n;
}

void chan_free(struct chan *c, void (*drop)(void *item))
{
    if (c == NULL)
        return;
    while (c->count > 0) {
        void *item = c->items[c->head];

        c->head = (c->head + 1) % c->capacity;
        c->count--;
        if (drop != NULL)
            drop(item);
    }
    pthread_cond_destroy(&c->not_full);
    pthread_cond_destroy(&c->not_empty);
    pthread_mutex_destroy(&c->lock);
    free(c->items);
    free(c);
}
