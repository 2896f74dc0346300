/* json: writing JSON strings byte-exactly. */
#include "json.h"

#include <string.h>

/* The escape for byte c, written into esc; returns its length, or 0 when c
 * is copied as it is. */
static size_t json_escape(unsigned char c, char esc[7])
{
    static const char hex[] = "0123456789abcdef";

    switch (c) {
    case '"':
        esc[1] = '"';
        break;
    case '\\':
        esc[1] = '\\';
        break;
    case '\b':
        esc[1] = 'b';
        break;
    case '\f':
        esc[1] = 'f';
        break;
    case '\n':
        esc[1] = 'n';
        break;
    case '\r':
        esc[1] = 'r';
        break;
    case '\t':
        esc[1] = 't';
        break;
    default:
        if (c >= 0x20)
            return 0;
        /* The other control bytes have no short form: \u00XX. */
        esc[0] = '\\';
        esc[1] = 'u';
        esc[2] = '0';
        esc[3] = '0';
        esc[4] = hex[c >> 4];
        esc[5] = hex[c & 0xf];
        return 6;
    }
    esc[0] = '\\';
    return 2;
}

/* The bytes that must be escaped: '"', '\\' and the control bytes. A
 * table, so that finding the end of a run costs one load per byte. */
static const unsigned char json_special[256] = {
    [0x00] = 1, [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1,
    [0x06] = 1, [0x07] = 1, [0x08] = 1, [0x09] = 1, [0x0a] = 1, [0x0b] = 1,
    [0x0c] = 1, [0x0d] = 1, [0x0e] = 1, [0x0f] = 1, [0x10] = 1, [0x11] = 1,
    [0x12] = 1, [0x13] = 1, [0x14] = 1, [0x15] = 1, [0x16] = 1, [0x17] = 1,
    [0x18] = 1, [0x19] = 1, [0x1a] = 1, [0x1b] = 1, [0x1c] = 1, [0x1d] = 1,
    [0x1e] = 1, [0x1f] = 1, ['"'] = 1,  ['\\'] = 1,
};

/* Where the run of plain bytes starting at s[i] ends: the index of the
 * next byte to escape, or len. */
static inline size_t json_run_end(const char *s, size_t i, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;

    /* Four bytes a turn while they are all plain, then one at a time:
     * the same loop, unrolled, for a quarter of the loop's own work. */
    while (i + 4 <= len && !(json_special[u[i]] | json_special[u[i + 1]] |
                             json_special[u[i + 2]] | json_special[u[i + 3]]))
        i += 4;
    while (i < len && !json_special[u[i]])
        i++;
    return i;
}

/* The rest of json_append_string(), from s[i], the first byte to escape:
 * an escape, a run, an escape, a run... then the closing quote. */
static int json_append_escaped(struct buf *out, const char *s, size_t i,
                               size_t len)
{
    int rc = 0;

    while (rc == 0 && i < len) {
        char esc[7];
        size_t run = i + 1;

        rc = buf_append(out, esc, json_escape((unsigned char)s[i], esc));
        i = json_run_end(s, run, len);
        if (rc == 0)
            rc = buf_append(out, s + run, i - run);
    }
    if (rc == 0)
        rc = buf_putc(out, '"');
    return rc;
}

/* Escaping in runs: find the next byte that needs an escape, copy the
 * plain bytes before it at once (one memcpy), then its escape. Most
 * events need no escape at all: they are one run, written straight into
 * the buffer, quotes included, after one reservation. */
int json_append_string(struct buf *out, const char *s, size_t len)
{
    size_t old_len = out->len;
    size_t i = json_run_end(s, 0, len);
    int rc = buf_reserve(out, i + 2);

    if (rc < 0)
        return rc;
    out->data[out->len] = '"';
    memcpy(out->data + out->len + 1, s, i);
    out->len += i + 1;
    if (i == len) {
        out->data[out->len++] = '"';
        return 0;
    }
    rc = json_append_escaped(out, s, i, len);
    /* All or nothing: on failure, drop what this call appended. */
    if (rc < 0)
        out->len = old_len;
    return rc;
}
