/* Fuzz target: the journal record reader (common/jrec) against a model.
 *
 * A fuzzed "file" is fed to jrec_scanner in chunks of fuzzed sizes. The
 * model checks the whole file at once: the first line that is not
 * "SEQ EVENT" with SEQ counting 1, 2, 3 ... is bad (JR-13); otherwise the
 * bytes after the last '\n' are a torn tail to cut off (JR-5). Scanner and
 * model must agree on the bad line, the last SEQ, the valid bytes and the
 * torn bytes. Every record also goes through jrec_format() and back. */
#include <errno.h>
#include <string.h>

#include "buf.h"
#include "fuzzin.h"
#include "jrec.h"

struct model {
    uint64_t bad_line, last_seq, valid_bytes, torn;
};

/* Strict reading of one line: decimal SEQ, no leading zero, fits in 64
 * bits, then a space. Written apart from jrec_parse on purpose. */
static int model_line(const uint8_t *s, size_t len, uint64_t want)
{
    uint64_t v = 0;
    size_t i = 0;

    if (len == 0 || s[0] == '0')
        return 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
            return 0;
        v = v * 10 + (uint64_t)(s[i] - '0');
        i++;
    }
    return i > 0 && i < len && s[i] == ' ' && v == want;
}

static struct model model_check(const uint8_t *s, size_t n)
{
    struct model m = {0, 0, 0, 0};
    size_t pos = 0;
    uint64_t line = 0;

    for (;;) {
        const uint8_t *nl = memchr(s + pos, '\n', n - pos);
        size_t len = nl ? (size_t)(nl - (s + pos)) : n - pos;

        if (len > JREC_MAX_LINE) {
            m.bad_line = line + 1;
            return m;
        }
        if (!nl) {
            m.torn = len;
            return m;
        }
        line++;
        if (!model_line(s + pos, len, m.last_seq + 1)) {
            m.bad_line = line;
            return m;
        }
        m.last_seq++;
        pos += len + 1;
        m.valid_bytes = pos;
    }
}

static void check_round_trip(uint64_t seq, const uint8_t *ev, size_t n)
{
    struct buf out = BUF_INIT;
    uint64_t got;
    const char *event;
    size_t event_len;
    const uint8_t *nl = memchr(ev, '\n', n);

    if (nl)
        n = (size_t)(nl - ev); /* an event never holds a '\n' */
    FUZZ_CHECK(jrec_format(&out, seq, (const char *)ev, n) == 0);
    FUZZ_CHECK(out.len > 0 && out.data[out.len - 1] == '\n');
    FUZZ_CHECK(jrec_parse(out.data, out.len - 1, &got, &event, &event_len) ==
               0);
    FUZZ_CHECK(got == seq && event_len == n && memcmp(event, ev, n) == 0);
    buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzzin in = {data, size};
    uint8_t chunk_seed = fuzzin_byte(&in);
    const uint8_t *file = in.data;
    size_t n = in.len, fed = 0;
    struct jrec_scanner sc;
    struct model m = model_check(file, n);
    int rc = 0;

    if (jrec_scanner_init(&sc) < 0)
        return 0;
    while (fed < n && rc == 0) {
        size_t chunk = 1 + (size_t)(chunk_seed * 7 + fed) % 97;

        if (chunk > n - fed)
            chunk = n - fed;
        rc = jrec_scanner_feed(&sc, (const char *)file + fed, chunk);
        fed += chunk;
    }
    FUZZ_CHECK(sc.bad_line == m.bad_line);
    FUZZ_CHECK((rc == -EINVAL) == (m.bad_line != 0));
    if (m.bad_line == 0) {
        FUZZ_CHECK(sc.last_seq == m.last_seq);
        FUZZ_CHECK(sc.valid_bytes == m.valid_bytes);
        FUZZ_CHECK(jrec_scanner_torn_bytes(&sc) == m.torn);
        FUZZ_CHECK(m.valid_bytes + m.torn == n);
    }
    jrec_scanner_free(&sc);
    check_round_trip(1 + (uint64_t)size * 1000003u, data, size);
    return 0;
}
