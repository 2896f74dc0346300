/* sig: SIGINT and SIGTERM as a future (see sig.h). */
#include "fut/sig.h"

#include <errno.h>
#include <signal.h>

struct sig_fut {
    struct fut base;
    uv_loop_t *loop;
    uv_signal_t handles[2]; /* SIGINT, SIGTERM; .data = this */
    struct fut_waker waker;
    int got;  /* the first signal received, or 0 */
    int open; /* handles not yet closed */
};

static void on_signal(uv_signal_t *h, int signum)
{
    struct sig_fut *s = h->data;

    if (s->got == 0)
        s->got = signum;
    fut_wake(&s->waker);
}

static int sig_start(struct sig_fut *s)
{
    static const int which[2] = {SIGINT, SIGTERM};
    int rc;

    for (int i = 0; i < 2; i++) {
        uv_signal_init(s->loop, &s->handles[i]);
        s->handles[i].data = s;
        s->open++;
        rc = uv_signal_start(&s->handles[i], on_signal, which[i]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static enum fut_poll sig_poll(struct fut *f, struct fut_ctx *ctx)
{
    struct sig_fut *s = (struct sig_fut *)f;
    int rc;

    if (s->open == 0 && (rc = sig_start(s)) < 0) {
        f->result = rc;
        return FUT_READY;
    }
    if (s->got != 0) {
        f->result = s->got;
        return FUT_READY;
    }
    s->waker = ctx->waker;
    return FUT_PENDING;
}

static void sig_closed(uv_handle_t *h)
{
    struct sig_fut *s = h->data;

    if (--s->open == 0)
        fut_mem_free(&s->base);
}

static void sig_drop(struct fut *f)
{
    struct sig_fut *s = (struct sig_fut *)f;
    int n = s->open;

    if (n == 0) {
        fut_mem_free(f);
        return;
    }
    /* uv_close stops each handle now (the default action returns); the
     * struct goes when the last close callback has run. */
    for (int i = 0; i < n; i++)
        uv_close((uv_handle_t *)&s->handles[i], sig_closed);
}

static const struct fut_vtable sig_vt = {"signal", sig_poll, sig_drop};

struct fut *fut_signal(uv_loop_t *loop)
{
    struct sig_fut *s = (struct sig_fut *)fut_alloc(&sig_vt, sizeof *s);

    if (s == NULL)
        return fut_ready(-ENOMEM);
    s->loop = loop;
    return &s->base;
}
