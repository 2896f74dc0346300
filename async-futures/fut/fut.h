/* fut: the core of the kit's futures library, and the contract every future
 * keeps.
 *
 * A future is an operation that is not finished yet, as an object: a struct
 * that starts with `struct fut` and a table of two functions, poll and drop.
 * It does nothing by itself. Somebody (a task of the executor, exec.h, or a
 * combinator, comb.h) calls poll; poll does as much of the work as can be
 * done right now without blocking and answers FUT_READY or FUT_PENDING.
 * This is Rust's Future, written out in C.
 *
 * THE POLL RULES
 *
 *  P1. poll never blocks. It returns FUT_READY with the output stored, or
 *      FUT_PENDING.
 *  P2. Before returning FUT_PENDING a future has arranged to call
 *      ctx->waker once progress is possible (a libuv callback will call
 *      it, or another future will). The waker of the LATEST poll is the one
 *      to call: a future may be moved from one task or combinator to
 *      another between polls, so it copies ctx->waker on every poll.
 *  P3. A future may be polled when nothing happened (a spurious poll, e.g.
 *      a combinator re-polls every branch); it must then simply answer
 *      FUT_PENDING again. The executor itself polls a task only after a
 *      wake, so an idle program uses no CPU.
 *  P4. A future makes no progress unless it is polled: leaf futures start
 *      their operation in their first poll, not when they are created. Not
 *      polling a future IS pausing it.
 *  P5. Once poll has returned FUT_READY the future must not be polled
 *      again. Its only remaining use is fut_result() and fut_drop().
 *      fut_poll() checks this unless NDEBUG is defined (the kit's build
 *      does not define it): a second poll aborts with the future's
 *      vtable name, instead of whatever the future would do with its
 *      released insides. (The one shared fut_ready(-ENOMEM) future is let
 *      through: each of its owners polls it once.)
 *  P6. The exception: a REUSABLE future (its constructor says so: a line
 *      read, a select over borrowed branches) may be polled again after
 *      FUT_READY once its owner has taken the output and called
 *      fut_reuse(). The next poll then waits for the next output: the
 *      next line, the next winner. This is how a loop keeps one future
 *      for its whole life instead of allocating one per turn, as Rust
 *      polls a stream's next() or a `&mut` future in every turn of a
 *      select! loop.
 *
 * THE OUTPUT
 *
 *  Every future's output includes an int, fut_result(): 0 or a count on
 *  success, a negative errno on failure (-ETIMEDOUT when a deadline passed,
 *  -ECANCELED when cancelled, -ECONNREFUSED, ...). Combinators read it
 *  without knowing what the future does. Outputs that are not an int (an
 *  accepted connection, a line, a message) are written through a pointer
 *  given to the constructor, only in the poll that returns FUT_READY, and
 *  only on success. Such a pointer must stay valid until the future is
 *  ready or dropped.
 *
 * THE DROP RULES (cancellation)
 *
 *  D1. fut_drop() may be called at any time: before the first poll, while
 *      pending, after ready. Dropping a pending future cancels it.
 *  D2. Cancellation is synchronous: once fut_drop() returns, the future has
 *      no further effect. No callback it caused will touch the caller's
 *      memory or wake anybody.
 *  D3. Everything the future owned is released: libuv handles are closed,
 *      child futures dropped, and memory freed. libuv needs a handle's
 *      memory until its close callback runs, and a file-system request's
 *      memory until its callback runs (a syscall already running in libuv's
 *      thread pool cannot be stopped). That memory belongs to the library
 *      from the moment of the drop, and is freed by the callback; so the
 *      loop must run once more before uv_loop_close() (see the tests).
 *  D4. What a cancelled operation had already done stays done: bytes that
 *      reached the kernel are sent, a line already framed stays buffered.
 *      Each constructor says what its future does when dropped half-way.
 *
 * WHO OWNS WHAT
 *
 *  Constructors return a new future, allocated once; nothing else is
 *  allocated while it is polled, unless its comment says so. fut_drop()
 *  frees it (D3). A combinator takes ownership of the futures given to it
 *  and drops them. Constructors never return NULL: when memory runs out
 *  they return fut_ready(-ENOMEM), a future that is ready at once with
 *  -ENOMEM, so an allocation failure surfaces where every other error
 *  does. Code that must tell "the constructor failed" apart from "the
 *  operation was started" asks fut_is_nomem(), never compares pointers.
 *
 * WAKERS
 *
 *  W1. A waker is two raw words, {fn, data}, copied into whatever will
 *      call it; nothing counts the copies. So a waker must not outlive
 *      what its data points at: the task (or test, or combinator) that
 *      handed it out. Whoever keeps a copy forgets it when it is dropped
 *      (D2), and a task's future is dropped before the task's memory goes
 *      (exec.c), so no copy survives its task. A future that passes a
 *      waker to something living longer than itself breaks this rule.
 *      Rust's wakers are reference-counted (Waker::clone, drop): a stale
 *      one is harmless there, it only wakes a task that is gone. Here a
 *      stale waker is a use after free; the price of a waker that is
 *      plain data and costs no allocation.
 *
 * THREADS
 *
 *  None. Every function of the library is called from the thread that runs
 *  the uv_loop_t the futures live on, and from nowhere else (not from a
 *  signal handler either: signals arrive as a future, sig.h).
 */
#ifndef KIT_FUT_H
#define KIT_FUT_H

#include <stdbool.h>
#include <stddef.h>

enum fut_poll {
    FUT_PENDING = 0, /* not finished; the waker has been registered (P2) */
    FUT_READY = 1,   /* finished; the output is stored (P5) */
};

/* How a future says "poll me again": wake(data). Plain data, copied freely;
 * an executor task, a test, or a combinator may provide one. */
struct fut_waker {
    void (*wake)(void *data);
    void *data;
};

/* What a poll is given. file/line record where the innermost coroutine
 * parked (co.h fills them in), for the executor's dump of live tasks. */
struct fut_ctx {
    struct fut_waker waker;
    const char *file; /* NULL until an await point parks */
    int line;
};

struct fut;

/* The two functions every kind of future provides. */
struct fut_vtable {
    const char *name; /* e.g. "sleep", shown by the executor's dump */
    enum fut_poll (*poll)(struct fut *f, struct fut_ctx *ctx);
    void (*drop)(struct fut *f); /* cancel, release, free (D1-D4) */
};

/* The first member of every future. */
struct fut {
    const struct fut_vtable *vt;
    int result;     /* the output's int; valid once poll returned FUT_READY */
    bool was_ready; /* fut_poll() saw FUT_READY (the P5 check) */
};

/* Called by fut_poll() when f is polled after it was ready (P5): prints
 * the future's vtable name on stderr and aborts. */
void fut_poll_after_ready(const struct fut *f);

/* Polls f (see the rules above). Unless NDEBUG is defined, checks P5:
 * one flag test per poll. */
static inline enum fut_poll fut_poll(struct fut *f, struct fut_ctx *ctx)
{
    enum fut_poll r;

#ifndef NDEBUG
    if (f->was_ready)
        fut_poll_after_ready(f);
#endif
    r = f->vt->poll(f, ctx);
#ifndef NDEBUG
    f->was_ready = r == FUT_READY;
#endif
    return r;
}

/* The int output of a future that returned FUT_READY. */
static inline int fut_result(const struct fut *f)
{
    return f->result;
}

/* Wakes whoever registered w. Does nothing for an empty waker. */
static inline void fut_wake(const struct fut_waker *w)
{
    if (w->wake != NULL)
        w->wake(w->data);
}

/* Lets f, a reusable future that was ready, be polled again for its next
 * output (P6). On a future whose constructor does not say it is reusable
 * this is a bug. Costs nothing: it clears the P5 flag. */
static inline void fut_reuse(struct fut *f)
{
    f->was_ready = false;
}

/* Drops f (cancels it if pending; see D1-D4). f may be NULL. */
void fut_drop(struct fut *f);

/* Drops *fp if it is not NULL and sets *fp to NULL. The usual way to
 * release a child future held in a struct field. */
void fut_clear(struct fut **fp);

/* Returns a future that is ready at once with result rc: for an error found
 * before any work started, and what constructors return on -ENOMEM.
 * Never NULL (it needs no memory when rc is -ENOMEM). */
struct fut *fut_ready(int rc);

/* True when f is what a constructor returned because memory ran out
 * (fut_ready(-ENOMEM), or a fut_ready() that could not be allocated):
 * nothing was started, and f is ready with -ENOMEM. False for every
 * future that was made, including one whose operation later fails with
 * -ENOMEM. The one way to ask "did the constructor fail?". */
bool fut_is_nomem(const struct fut *f);

/* Returns a future that answers FUT_PENDING once, waking itself first,
 * then FUT_READY with 0: "let the others run", as in a cooperative yield.
 * It is also the simplest test of a wake that happens inside poll. */
struct fut *fut_yield(void);

/* Returns a future that is never ready and never wakes anybody; dropping it
 * is its only way to end. Useful in tests and as an empty select branch. */
struct fut *fut_never(void);

/* Helper for writing futures: allocates size bytes (size >= sizeof(struct
 * fut)), zeroed, with vt set. Returns NULL on -ENOMEM; the caller then
 * returns fut_ready(-ENOMEM). Free with fut_mem_free(). */
struct fut *fut_alloc(const struct fut_vtable *vt, size_t size);

/* Counters for the tests and the bench: how many futures have been
 * allocated and freed so far (malloc calls made by the library, not only
 * futures: handles, wrappers and buffers count too). Single-threaded. */
struct fut_stats {
    unsigned long allocs;
    unsigned long frees;
};
const struct fut_stats *fut_stats(void);

/* The counted allocator every module uses (so the tests can assert that a
 * steady-state poll allocates nothing): fut_mem_alloc() returns size
 * zeroed bytes or NULL; fut_mem_free() frees memory from it or from
 * fut_alloc() (a future's drop function ends with it); p may be NULL. */
void *fut_mem_alloc(size_t size);
void fut_mem_free(void *p);

/* For the tests: makes the allocation that comes after n more successful
 * ones fail, once (n = 0: the very next one); n < 0 turns this off. How a
 * test reaches the -ENOMEM path of a constructor or of a poll. */
void fut_mem_fail_after(long n);

#endif
