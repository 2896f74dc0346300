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

int json_append_string(struct buf *out, const char *s, size_t len)
{
    size_t old_len = out->len;
    size_t run = 0; /* start of the bytes not yet appended */
    size_t i;
    int rc = buf_putc(out, '"');

    /* Plain bytes are appended a run at a time, not one by one. */
    for (i = 0; rc == 0 && i < len; i++) {
        char esc[7];
        size_t n = json_escape((unsigned char)s[i], esc);

        if (n == 0)
            continue;
        rc = buf_append(out, s + run, i - run);
        if (rc == 0)
            rc = buf_append(out, esc, n);
        run = i + 1;
    }
    if (rc == 0)
        rc = buf_append(out, s + run, len - run);
    if (rc == 0)
        rc = buf_putc(out, '"');
    /* All or nothing: on failure, drop what this call appended. */
    if (rc < 0)
        out->len = old_len;
    return rc;
}
