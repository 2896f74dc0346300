/* Fuzz target: the JSON string writer (common/json) through a strict
 * decoder.
 *
 * json_append_string() of any bytes must give a JSON string that a strict
 * parser accepts and decodes back to exactly those bytes (DB-5): quotes
 * around, no raw byte below 0x20 inside, no bare '"', only the escapes
 * JSON defines. Python's json module cannot run inside the fuzzer, so the
 * decoder is here, written for this check only. */
#include <errno.h>
#include <string.h>

#include "buf.h"
#include "fuzzin.h"
#include "json.h"

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes the JSON string s[0..n) (quotes included) into out, which has
 * room for n bytes. Returns the decoded length, or -1 when s is not
 * exactly one valid JSON string. A \u escape must stay below 0x100: the
 * kit writes bytes, and only those can come back as the same bytes. */
static long json_decode(const char *s, size_t n, char *out)
{
    size_t i = 1, o = 0;

    if (n < 2 || s[0] != '"')
        return -1;
    while (i < n - 1) {
        unsigned char c = (unsigned char)s[i];

        if (c == '"' || c < 0x20)
            return -1; /* a bare quote ends the string early */
        if (c != '\\') {
            out[o++] = (char)c;
            i++;
            continue;
        }
        if (i + 1 >= n - 1)
            return -1;
        switch (s[i + 1]) {
        case '"':
            out[o++] = '"';
            break;
        case '\\':
            out[o++] = '\\';
            break;
        case '/':
            out[o++] = '/';
            break;
        case 'b':
            out[o++] = '\b';
            break;
        case 'f':
            out[o++] = '\f';
            break;
        case 'n':
            out[o++] = '\n';
            break;
        case 'r':
            out[o++] = '\r';
            break;
        case 't':
            out[o++] = '\t';
            break;
        case 'u': {
            int v = 0;

            if (i + 6 > n - 1)
                return -1;
            for (int k = 2; k < 6; k++) {
                int d = hex_digit(s[i + k]);

                if (d < 0)
                    return -1;
                v = v * 16 + d;
            }
            if (v > 0xff)
                return -1;
            out[o++] = (char)v;
            i += 4;
            break;
        }
        default:
            return -1;
        }
        i += 2;
    }
    return s[n - 1] == '"' && i == n - 1 ? (long)o : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf out = BUF_INIT;
    char *back;
    long len;

    /* Something before the string: the writer appends, it never rewrites. */
    FUZZ_CHECK(buf_puts(&out, "[") == 0);
    if (json_append_string(&out, (const char *)data, size) < 0) {
        buf_free(&out);
        return 0;
    }
    FUZZ_CHECK(out.len >= 3 && out.data[0] == '[');
    back = malloc(out.len);
    FUZZ_CHECK(back != NULL);
    len = json_decode(out.data + 1, out.len - 1, back);
    FUZZ_CHECK(len >= 0);
    FUZZ_CHECK((size_t)len == size && memcmp(back, data, size) == 0);
    /* DB-5: bytes from 0x20 up, but for '"' and '\\', are copied as they
     * are, so the output is at most 6 bytes a byte, and exactly one byte a
     * byte for plain text. */
    FUZZ_CHECK(out.len - 1 <= 2 + 6 * size);
    free(back);
    buf_free(&out);
    return 0;
}
