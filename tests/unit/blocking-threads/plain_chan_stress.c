/* Stress test for blocking-threads/chan, as a plain program so that it can
 * run under ThreadSanitizer (make tsan-plain), where Criterion cannot.
 *
 * Many producers send numbered items through a small channel, so that both
 * "full" and "empty" happen all the time; many consumers receive them,
 * half with chan_recv() and half with chan_recv_until() and short
 * deadlines (many of which time out). When every producer is done, the
 * channel is closed and the consumers drain it. Checked at the end:
 * every item was received exactly once, and each consumer saw each
 * producer's items in the order they were sent (the channel is FIFO).
 * Exits 0 on success, 1 with a message on failure.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "chan.h"
#include "clock.h"

enum {
    PRODUCERS = 4,
    CONSUMERS = 4,
    ITEMS_EACH = 20000, /* per producer */
    CAPACITY = 3,       /* small, so senders block often */
    WAIT_MS = 1,        /* chan_recv_until's deadline, from now */
};

static struct chan *chan;

/* seen[i] counts how often item i arrived. Each consumer writes only into
 * its own slice of counts, merged after the threads are joined, so these
 * need no lock. */
static unsigned counts[CONSUMERS][PRODUCERS * ITEMS_EACH];

struct consumer {
    int id;
    long timeouts;           /* chan_recv_until() that timed out */
    int last_seq[PRODUCERS]; /* the last sequence seen per producer */
    int out_of_order;        /* how often a producer's order broke */
};

/* An item is producer * ITEMS_EACH + seq + 1 (never 0, never NULL). */
static void *producer_main(void *arg)
{
    uintptr_t p = (uintptr_t)arg;

    for (uintptr_t seq = 0; seq < ITEMS_EACH; seq++) {
        if (chan_send(chan, (void *)(p * ITEMS_EACH + seq + 1)) != 0) {
            fprintf(stderr, "chan_send failed on an open channel\n");
            exit(1);
        }
    }
    return NULL;
}

/* Records one received item. */
static void consumer_take(struct consumer *me, void *it)
{
    uintptr_t n = (uintptr_t)it - 1;
    int producer = (int)(n / ITEMS_EACH);
    int seq = (int)(n % ITEMS_EACH);

    counts[me->id][n]++;
    if (seq <= me->last_seq[producer])
        me->out_of_order++;
    me->last_seq[producer] = seq;
}

static void *consumer_main(void *arg)
{
    struct consumer *me = arg;
    bool timed = me->id % 2 == 1;

    for (int p = 0; p < PRODUCERS; p++)
        me->last_seq[p] = -1;
    for (;;) {
        void *it;
        int rc = timed ? chan_recv_until(chan, &it, clock_deadline_in(WAIT_MS))
                       : chan_recv(chan, &it);

        if (rc == -ETIMEDOUT) {
            me->timeouts++;
            continue;
        }
        if (rc == -EPIPE)
            return NULL; /* closed and drained */
        if (rc != 0) {
            fprintf(stderr, "chan_recv: unexpected %d\n", rc);
            exit(1);
        }
        consumer_take(me, it);
    }
}

/* Checks every item arrived exactly once. Returns the number of errors. */
static int check_counts(void)
{
    int errors = 0;

    for (int n = 0; n < PRODUCERS * ITEMS_EACH; n++) {
        unsigned total = 0;

        for (int c = 0; c < CONSUMERS; c++)
            total += counts[c][n];
        if (total != 1 && errors++ < 10)
            fprintf(stderr, "item %d received %u times\n", n, total);
    }
    return errors;
}

int main(void)
{
    pthread_t producers[PRODUCERS], consumers[CONSUMERS];
    struct consumer cons[CONSUMERS] = {{0}};
    int64_t t0 = clock_now_ms();
    long timeouts = 0;
    int errors;

    chan = chan_new(CAPACITY);
    if (chan == NULL)
        return 1;
    for (int c = 0; c < CONSUMERS; c++) {
        cons[c].id = c;
        pthread_create(&consumers[c], NULL, consumer_main, &cons[c]);
    }
    for (uintptr_t p = 0; p < PRODUCERS; p++)
        pthread_create(&producers[p], NULL, producer_main, (void *)p);
    for (int p = 0; p < PRODUCERS; p++)
        pthread_join(producers[p], NULL);
    chan_close(chan);
    for (int c = 0; c < CONSUMERS; c++) {
        pthread_join(consumers[c], NULL);
        timeouts += cons[c].timeouts;
        if (cons[c].out_of_order > 0) {
            fprintf(stderr,
                    "consumer %d saw a producer's items out of "
                    "order %d times\n",
                    c, cons[c].out_of_order);
            return 1;
        }
    }
    chan_free(chan, NULL);
    errors = check_counts();
    printf("chan stress: %d items, %d producers, %d consumers, capacity %d, "
           "%ld timed-out waits, %lld ms: %s\n",
           PRODUCERS * ITEMS_EACH, PRODUCERS, CONSUMERS, CAPACITY, timeouts,
           (long long)(clock_now_ms() - t0), errors ? "FAILED" : "ok");
    return errors ? 1 : 0;
}
