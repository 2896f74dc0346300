/* jfile: the journal's file, on blocking system calls. */
#include "jfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jrec.h"

/* How much of the file one read() asks for while checking it. */
enum { JFILE_CHUNK = 64 * 1024 };

/* Feeds the whole file to the scanner. Returns 0, -EINVAL at a bad line,
 * or the negative errno of a failed read. */
static int jfile_scan(int fd, struct jrec_scanner *scan)
{
    char *chunk = malloc(JFILE_CHUNK);
    int rc = 0;

    if (chunk == NULL)
        return -ENOMEM;
    for (;;) {
        ssize_t n = read(fd, chunk, JFILE_CHUNK);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : 0;
            break;
        }
        rc = jrec_scanner_feed(scan, chunk, (size_t)n);
        if (rc < 0)
            break;
    }
    free(chunk);
    return rc;
}

int jfile_open(struct jfile *f, const char *path)
{
    struct jrec_scanner scan;
    int rc;

    memset(f, 0, sizeof(*f));
    f->fd = -1;
    /* O_APPEND: every write() lands at the end of the file, whatever the
     * file offset is, so appending needs no lseek() and no offset. */
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

    if (fd < 0)
        return -errno;
    rc = jrec_scanner_init(&scan);
    if (rc == 0)
        rc = jfile_scan(fd, &scan);
    if (rc == -EINVAL)
        f->bad_line = scan.bad_line;
    if (rc == 0) {
        /* The scan refused nothing, so only a last line without its '\n'
         * can follow the good records: a write cut short by a crash. */
        f->cut = jrec_scanner_torn_bytes(&scan);
        if (f->cut > 0 && ftruncate(fd, (off_t)scan.valid_bytes) < 0)
            rc = -errno;
        f->size = scan.valid_bytes;
        f->last_seq = scan.last_seq;
    }
    jrec_scanner_free(&scan);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    f->fd = fd;
    return 0;
}

/* After a failed append of which written bytes reached the file: cuts the
 * file back to the end of the last complete record among them. Returns
 * err, the append's error. */
static int jfile_cut_back(struct jfile *f, const char *records, size_t written,
                          int err)
{
    size_t keep = written;

    while (keep > 0 && records[keep - 1] != '\n')
        keep--;
    /* Shrinking a file is allowed even past RLIMIT_FSIZE or on a full
     * disk. If it fails anyway there is nothing better left to do than
     * report the write error. */
    if (ftruncate(f->fd, (off_t)(f->size + keep)) == 0)
        f->size += keep;
    return err;
}

int jfile_append(struct jfile *f, const char *records, size_t len)
{
    size_t done = 0;

    /* write() may write less than asked: near RLIMIT_FSIZE it writes up to
     * the limit and returns the count, and only the next call fails (with
     * EFBIG, since proc_setup() ignores SIGXFSZ). */
    while (done < len) {
        ssize_t n = write(f->fd, records + done, len - done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return jfile_cut_back(f, records, done, -errno);
        if (n == 0)
            return jfile_cut_back(f, records, done, -EIO);
        done += (size_t)n;
    }
    /* No fsync(): "in the file" means in the kernel's page cache, which
     * outlives a crash of this process (not of the machine). */
    f->size += len;
    return 0;
}

ssize_t jfile_read(struct jfile *f, uint64_t offset, char *dst, size_t n)
{
    for (;;) {
        ssize_t got = pread(f->fd, dst, n, (off_t)offset);

        if (got >= 0)
            return got;
        if (errno != EINTR)
            return -errno;
    }
}

int jfile_close(struct jfile *f)
{
    int rc = 0;

    if (f->fd >= 0 && close(f->fd) < 0)
        rc = -errno;
    f->fd = -1;
    return rc;
}
