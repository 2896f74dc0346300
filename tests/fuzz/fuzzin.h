/* fuzzin: reading a fuzzer's input as a stream of small decisions.
 *
 * A target takes its choices (chunk sizes, operations, limits) from the
 * front of the input and its payload from the rest, so libFuzzer's
 * mutations steer both. When the input runs out every choice is 0.
 * Header-only: each target is one .c file plus the code it tests.
 */
#ifndef KIT_FUZZIN_H
#define KIT_FUZZIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* A property of the code under test: a crash (so libFuzzer saves the
 * input) when it does not hold. Unlike assert(), never compiled out. */
#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz check failed: %s (%s:%d)\n", #cond,          \
                    __FILE__, __LINE__);                                       \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* libFuzzer's entry point, for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzzin {
    const uint8_t *data; /* borrowed: the fuzzer's input */
    size_t len;          /* bytes left */
};

/* The next byte, or 0 when none is left. */
static inline uint8_t fuzzin_byte(struct fuzzin *in)
{
    uint8_t b = 0;

    if (in->len > 0) {
        b = in->data[0];
        in->data++;
        in->len--;
    }
    return b;
}

/* A number in [lo, hi] from the next byte. */
static inline size_t fuzzin_range(struct fuzzin *in, size_t lo, size_t hi)
{
    return lo + fuzzin_byte(in) % (hi - lo + 1);
}

/* Takes up to n bytes of payload: returns where they start, sets *got. */
static inline const uint8_t *fuzzin_take(struct fuzzin *in, size_t n,
                                         size_t *got)
{
    const uint8_t *p = in->data;

    *got = n < in->len ? n : in->len;
    in->data += *got;
    in->len -= *got;
    return p;
}

#endif
