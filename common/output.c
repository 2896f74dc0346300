/* output: what a program prints on stdout for its user. */
#include "output.h"

#include <errno.h>
#include <stdio.h>

#include "buf.h"

int output_lines(const char *bytes, size_t len)
{
    /* errno is cleared first: stdio does not always set it when it fails,
     * and a stale value from an earlier call would be reported instead. */
    errno = 0;
    if (fwrite(bytes, 1, len, stdout) != len || fflush(stdout) != 0)
        return errno != 0 ? -errno : -EIO;
    return 0;
}

int output_line(const char *line, size_t len)
{
    struct buf out = BUF_INIT;
    int rc = buf_append(&out, line, len);

    if (rc == 0)
        rc = buf_putc(&out, '\n');
    if (rc == 0)
        rc = output_lines(out.data, out.len);
    buf_free(&out);
    return rc;
}
