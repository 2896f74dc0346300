/* Fuzz target: the line framer (common/line) against a model.
 *
 * The input is a byte stream fed in chunks of fuzzed sizes, alternately
 * through line_framer_push() and line_framer_space()/commit(). The model
 * splits the whole stream at '\n': the framer must hand out exactly those
 * lines, in order, and report -EMSGSIZE exactly when more than max_line
 * bytes came without a '\n' (and nothing after that). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzin.h"
#include "line.h"

/* The model's next line: its length, or max_line + 1 when it is too long
 * (or -1 when the stream ends first without a '\n'). */
static long model_next(const uint8_t *s, size_t n, size_t *pos, size_t max_line)
{
    const uint8_t *nl = memchr(s + *pos, '\n', n - *pos);
    size_t len = nl ? (size_t)(nl - (s + *pos)) : n - *pos;

    if (len > max_line)
        return (long)max_line + 1;
    if (!nl)
        return -1;
    *pos += len + 1;
    return (long)len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzzin in = {data, size};
    size_t max_line = fuzzin_range(&in, 1, 64);
    uint8_t chunk_seed = fuzzin_byte(&in);
    const uint8_t *stream = in.data;
    size_t n = in.len, fed = 0, pos = 0;
    struct line_framer fr;
    int too_long = 0;

    if (line_framer_init(&fr, max_line) < 0)
        return 0;
    while (fed < n && !too_long) {
        size_t chunk = 1 + (chunk_seed + fed) % 13, taken;
        const char *line;
        size_t len;
        int rc;

        if (chunk > n - fed)
            chunk = n - fed;
        if (fed % 2) {
            taken = line_framer_push(&fr, (const char *)stream + fed, chunk);
        } else {
            size_t room;
            char *dst = line_framer_space(&fr, &room);

            taken = chunk < room ? chunk : room;
            memcpy(dst, stream + fed, taken);
            line_framer_commit(&fr, taken);
        }
        fed += taken;
        while ((rc = line_framer_next(&fr, &line, &len)) == 1) {
            long want = model_next(stream, fed, &pos, max_line);

            FUZZ_CHECK(want >= 0 && (size_t)want == len);
            FUZZ_CHECK(memcmp(line, stream + pos - len - 1, len) == 0);
        }
        if (rc < 0) {
            FUZZ_CHECK(rc == -EMSGSIZE);
            /* The model agrees: the line now pending is over the limit. */
            FUZZ_CHECK(model_next(stream, fed, &pos, max_line) ==
                       (long)max_line + 1);
            too_long = 1;
        } else {
            /* Nothing complete is left, and the pending bytes are the
             * start of the model's next line. */
            FUZZ_CHECK(model_next(stream, fed, &pos, max_line) == -1);
            FUZZ_CHECK(line_framer_pending(&fr) == fed - pos);
        }
        FUZZ_CHECK(taken > 0 || too_long);
    }
    line_framer_free(&fr);
    return 0;
}
