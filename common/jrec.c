/* jrec: the journal file's records, "SEQ EVENT\n". */
#include "jrec.h"

#include <errno.h>
#include <inttypes.h>

int jrec_format(struct buf *out, uint64_t seq, const char *event, size_t len)
{
    size_t old_len = out->len;
    int rc = buf_printf(out, "%" PRIu64 " ", seq);

    if (rc == 0)
        rc = buf_append(out, event, len);
    if (rc == 0)
        rc = buf_putc(out, '\n');
    /* All or nothing: a half record must never reach the file. */
    if (rc < 0)
        out->len = old_len;
    return rc;
}

int jrec_parse(const char *line, size_t len, uint64_t *seq, const char **event,
               size_t *event_len)
{
    uint64_t value = 0;
    size_t i = 0;

    /* SEQ starts at 1, so its first digit is never '0'. */
    if (len == 0 || line[0] < '1' || line[0] > '9')
        return -EINVAL;
    for (; i < len && line[i] >= '0' && line[i] <= '9'; i++) {
        unsigned digit = (unsigned)(line[i] - '0');

        if (value > (UINT64_MAX - digit) / 10)
            return -EINVAL; /* does not fit in 64 bits */
        value = value * 10 + digit;
    }
    if (i == len || line[i] != ' ')
        return -EINVAL;
    *seq = value;
    *event = line + i + 1;
    *event_len = len - i - 1;
    return 0;
}

int jrec_scanner_init(struct jrec_scanner *s)
{
    s->last_seq = 0;
    s->lines = 0;
    s->valid_bytes = 0;
    s->bad_line = 0;
    return line_framer_init(&s->framer, JREC_MAX_LINE);
}

void jrec_scanner_free(struct jrec_scanner *s)
{
    line_framer_free(&s->framer);
}

/* Checks the complete lines buffered so far. */
static int jrec_scanner_check(struct jrec_scanner *s)
{
    const char *line;
    size_t len;
    int rc;

    while ((rc = line_framer_next(&s->framer, &line, &len)) == 1) {
        uint64_t seq;
        const char *event;
        size_t event_len;

        s->lines++;
        if (jrec_parse(line, len, &seq, &event, &event_len) < 0 ||
            seq != s->last_seq + 1) {
            s->bad_line = s->lines;
            return -EINVAL;
        }
        s->last_seq = seq;
        s->valid_bytes += len + 1;
    }
    if (rc < 0) {
        /* A line longer than any record: the next line is bad. */
        s->bad_line = s->lines + 1;
        return -EINVAL;
    }
    return 0;
}

int jrec_scanner_feed(struct jrec_scanner *s, const char *bytes, size_t n)
{
    if (s->bad_line != 0)
        return -EINVAL;
    while (n > 0) {
        size_t taken = line_framer_push(&s->framer, bytes, n);
        int rc;

        bytes += taken;
        n -= taken;
        rc = jrec_scanner_check(s);
        if (rc < 0)
            return rc;
    }
    return 0;
}

uint64_t jrec_scanner_torn_bytes(const struct jrec_scanner *s)
{
    return line_framer_pending(&s->framer);
}
