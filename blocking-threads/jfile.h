/* jfile: the journal's file, on blocking system calls (JR-5, JR-12, JR-13).
 *
 * Opening checks the whole file with jrec's scanner and cuts off a torn
 * last line; appending writes whole records, and when the disk refuses
 * (full, or over RLIMIT_FSIZE) it cuts the file back to its last complete
 * record, so the file never ends in half a line. Nothing here is about
 * concurrency: the caller decides who may touch the file and when
 * (journal.c holds one mutex around every call). Not thread-safe.
 */
#ifndef KIT_JFILE_H
#define KIT_JFILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct jfile {
    int fd;            /* open O_APPEND, or -1 */
    uint64_t size;     /* bytes in the file: always whole records */
    uint64_t last_seq; /* SEQ of the last record jfile_open() found */
    /* Set by jfile_open() for its caller's messages: */
    uint64_t bad_line; /* -EINVAL: the number of the first bad line */
    uint64_t cut;      /* bytes of a torn last line that were cut off */
};

/* Opens path (creating it, mode 0644, if missing) and checks every line.
 * Returns 0 (f->cut says whether a torn last line was removed), -EINVAL
 * when a line is not the next record (f->bad_line names it; the file is
 * left untouched and closed), or another negative errno from open(),
 * read() or ftruncate(). */
int jfile_open(struct jfile *f, const char *path);

/* Appends len bytes of whole records with as many write() calls as it
 * takes. Returns 0, or a negative errno (-EFBIG, -ENOSPC, -EIO...) after
 * cutting the file back to the end of the last record it holds completely;
 * f->size then counts what is left. */
int jfile_append(struct jfile *f, const char *records, size_t len);

/* Reads up to n bytes at offset into dst. Returns how many (0 at the end
 * of the file) or a negative errno. The file offset is not used, so reads
 * never disturb appends. */
ssize_t jfile_read(struct jfile *f, uint64_t offset, char *dst, size_t n);

/* Closes the file. Returns 0 or a negative errno (a late write error). */
int jfile_close(struct jfile *f);

#endif
