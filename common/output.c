/* output: what a program prints on stdout for its user. */
#include "output.h"

#include <errno.h>
#include <stdio.h>

#include "buf.h"

int output_line(const char *line, size_t len)
{
    struct buf out = BUF_INIT;
    int rc = buf_append(&out, line, len);

    if (rc == 0)
        rc = buf_putc(&out, '\n');
    errno = 0;
    if (rc == 0 && (fwrite(out.data, 1, out.len, stdout) != out.len ||
                    fflush(stdout) != 0))
        rc = errno != 0 ? -errno : -EIO;
    buf_free(&out);
    return rc;
}
