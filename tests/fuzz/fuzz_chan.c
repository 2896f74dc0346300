/* Fuzz target: the futures library's channel (async-futures/fut/chan)
 * under random sequences of operations.
 *
 * Operations (one input byte each): create a send or a receive future,
 * poll one, drop one, try_send, try_recv, close. A model follows the
 * channel's contract (fut/chan.h):
 *   - a message is queued exactly when its send is ready with 0 (or
 *     try_send returns 0), and received in that order, once;
 *   - a bounded channel never holds more than its capacity;
 *   - a dropped send gives its message back; a dropped receive takes none;
 *   - once closed, sends end with -EPIPE and receives drain, then end 0;
 *   - nobody sleeps for ever: after close, polling only the futures
 *     that were woken (as an executor does) finishes every one.
 * At the end every message must be in exactly one place. */
#include <errno.h>
#include <string.h>

#include "fut/chan.h"
#include "fuzzin.h"

#define SLOTS  8  /* live futures at once */
#define TOKENS 64 /* distinct messages */

struct slot {
    struct fut *f; /* NULL when free */
    int is_send;
    int token;   /* send: the message's token; recv: -1 */
    void *got;   /* recv: where the message lands */
    int wakes;   /* times its waker ran */
    int pending; /* its last poll said FUT_PENDING */
};

static int tokens[TOKENS]; /* messages are &tokens[i] */

struct model {
    int queue[TOKENS * 4]; /* tokens queued, oldest first */
    size_t head, tail;
    int received[TOKENS]; /* times each token was received */
    int queued[TOKENS];   /* times each token was queued */
    int closed;
    size_t capacity; /* 0: unbounded */
};

static void on_wake(void *data)
{
    ((struct slot *)data)->wakes++;
}

static void model_push(struct model *m, int token)
{
    FUZZ_CHECK(m->tail < sizeof(m->queue) / sizeof(m->queue[0]));
    m->queue[m->tail++] = token;
    m->queued[token]++;
    FUZZ_CHECK(m->capacity == 0 || m->tail - m->head <= m->capacity);
}

static void model_pop(struct model *m, void *msg)
{
    int token = (int)((int *)msg - tokens);

    FUZZ_CHECK(token >= 0 && token < TOKENS);
    FUZZ_CHECK(m->head < m->tail && m->queue[m->head] == token);
    m->head++;
    m->received[token]++;
}

static void poll_slot(struct slot *s, struct model *m)
{
    struct fut_ctx ctx = {{on_wake, s}, NULL, 0};

    if (fut_poll(s->f, &ctx) == FUT_PENDING) {
        s->pending = 1;
        s->wakes = 0;
        return;
    }
    s->pending = 0;
    if (s->is_send) {
        int rc = fut_result(s->f);

        FUZZ_CHECK(rc == 0 || (rc == -EPIPE && m->closed));
        if (rc == 0)
            model_push(m, s->token);
    } else {
        int rc = fut_result(s->f);

        FUZZ_CHECK(rc == 0 || rc == 1);
        if (rc == 1)
            model_pop(m, s->got);
        else
            FUZZ_CHECK(m->closed && m->head == m->tail);
    }
    fut_drop(s->f);
    s->f = NULL;
}

static void drop_slot(struct slot *s)
{
    fut_drop(s->f);
    s->f = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzzin in = {data, size};
    struct model m;
    struct slot slots[SLOTS];
    struct fut_chan *ch;
    int next_token = 0;
    void *got;

    memset(&m, 0, sizeof(m));
    memset(slots, 0, sizeof(slots));
    m.capacity = fuzzin_range(&in, 0, 4);
    ch = m.capacity ? fut_chan_new(m.capacity) : fut_chan_new_unbounded();
    if (!ch)
        return 0;
    while (in.len > 0) {
        uint8_t op = fuzzin_byte(&in);
        struct slot *s = &slots[(op >> 3) % SLOTS];

        switch (op % 8) {
        case 0: /* a new send future */
            if (s->f || next_token >= TOKENS)
                break;
            s->is_send = 1;
            s->token = next_token++;
            s->pending = 0;
            s->f = fut_chan_send(ch, &tokens[s->token]);
            break;
        case 1: /* a new receive future */
            if (s->f)
                break;
            s->is_send = 0;
            s->token = -1;
            s->pending = 0;
            s->f = fut_chan_recv(ch, &s->got);
            break;
        case 2:
        case 3:
            if (s->f)
                poll_slot(s, &m);
            break;
        case 4:
            if (s->f)
                drop_slot(s);
            break;
        case 5: /* try_send */
            if (next_token < TOKENS) {
                int t = next_token++;
                int rc = fut_chan_try_send(ch, &tokens[t]);

                FUZZ_CHECK(rc == 0 || rc == -EAGAIN ||
                           (rc == -EPIPE && m.closed));
                if (rc == 0)
                    model_push(&m, t);
            }
            break;
        case 6: { /* try_recv */
            int rc = fut_chan_try_recv(ch, &got);

            FUZZ_CHECK(rc == 0 || rc == 1);
            if (rc == 1)
                model_pop(&m, got);
            else
                FUZZ_CHECK(m.head == m.tail);
            break;
        }
        default:
            if (op & 0x80) {
                fut_chan_close(ch);
                m.closed = 1;
            }
            break;
        }
        FUZZ_CHECK(fut_chan_len(ch) == m.tail - m.head);
    }
    /* Close, then run the futures as an executor would: a first poll for
     * those never polled, then polls only for those that were woken. Every
     * one must finish; one left pending was never woken again: a lost
     * wake-up, a task that would sleep for ever. */
    fut_chan_close(ch);
    m.closed = 1;
    for (int i = 0; i < SLOTS; i++)
        if (slots[i].f && !slots[i].pending)
            poll_slot(&slots[i], &m);
    for (int round = 0, woken = 1; woken; round++) {
        FUZZ_CHECK(round < 4 * TOKENS);
        woken = 0;
        for (int i = 0; i < SLOTS; i++) {
            if (slots[i].f && slots[i].wakes > 0) {
                poll_slot(&slots[i], &m);
                woken = 1;
            }
        }
    }
    for (int i = 0; i < SLOTS; i++)
        FUZZ_CHECK(slots[i].f == NULL); /* pending, and nobody woke it */
    while (fut_chan_try_recv(ch, &got) == 1)
        model_pop(&m, got);
    for (int t = 0; t < TOKENS; t++)
        FUZZ_CHECK(m.queued[t] == m.received[t] && m.queued[t] <= 1);
    fut_chan_free(ch);
    return 0;
}
