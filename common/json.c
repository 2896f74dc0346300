/* json: writing JSON strings byte-exactly. */
#include "json.h"

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

/* Whether byte c must be escaped: '"', '\\' and the control bytes. */
static int json_needs_escape(unsigned char c)
{
    return c < 0x20 || c == '"' || c == '\\';
}

int json_append_string(struct buf *out, const char *s, size_t len)
{
    size_t old_len = out->len;
    size_t i = 0;
    int rc = buf_putc(out, '"');

    /* Escaping in runs: find the next byte that needs an escape, copy the
     * plain bytes before it in one buf_append (one memcpy), then its
     * escape. Most events need no escape at all, and cost one copy
     * instead of one call per byte. */
    while (rc == 0 && i < len) {
        size_t run = i;
        char esc[7];

        while (i < len && !json_needs_escape((unsigned char)s[i]))
            i++;
        rc = buf_append(out, s + run, i - run);
        if (rc == 0 && i < len) {
            rc = buf_append(out, esc, json_escape((unsigned char)s[i], esc));
            i++;
        }
    }
    if (rc == 0)
        rc = buf_putc(out, '"');
    /* All or nothing: on failure, drop what this call appended. */
    if (rc < 0)
        out->len = old_len;
    return rc;
}
