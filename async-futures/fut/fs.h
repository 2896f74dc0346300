/* fs: file operations as futures, on libuv's thread pool: append bytes to
 * a file, read a slice of a file.
 *
 * Regular files are always "ready" to the kernel, so epoll cannot wait for
 * them; libuv runs each file system call in a thread of its pool and calls
 * back on the loop. Each future here is a short chain of such requests
 * (open, write or read, close), one request at a time, each started by a
 * poll (so not polling it pauses it between steps).
 *
 * Cancellation, honestly: a system call already running in the pool
 * cannot be stopped. Dropping a future whose request is in flight
 * therefore only detaches it: the future's memory (the uv_fs_t and the
 * data buffer the pool thread is using) now belongs to the library, and
 * the request's callback, when it comes, closes the file if it was opened
 * and frees it; nobody is woken. So a dropped append may still have
 * written its bytes (D4), and the loop must run until that callback before
 * uv_loop_close().
 *
 * How it is built: one leaf future, a request (one uv_fs_* call), and
 * every operation below a coroutine that awaits requests in turn. The
 * operations by path are the kept-open file's operations in a row (open,
 * read or write, close). So, unlike most futures of the library, these
 * allocate while they are polled: a request (and a step, for the
 * operations by path) each time a step starts. A step that finds no
 * memory ends the operation with -ENOMEM; a file it had opened is closed.
 *
 * Cost: three pool round trips per operation (open, op, close). A program
 * that appends often keeps the file open instead (struct fut_file below):
 * one round trip per operation, and no descriptor to find when the process
 * is out of them.
 */
#ifndef KIT_FS_H
#define KIT_FS_H

#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "fut/fut.h"

/* Returns a new future that appends the bytes of *data to the file at path
 * (created with mode 0644 if missing). Takes ownership of data's bytes
 * (data is left empty), also when it returns fut_ready(-ENOMEM). path is
 * copied. Ready with the number of bytes written (all of them), or a
 * negative errno (-ENOSPC, -EFBIG, ...). */
struct fut *fut_fs_append(uv_loop_t *loop, const char *path, struct buf *data);

/* Returns a new future that reads up to max bytes at offset from the file
 * at path. Ready with the number of bytes read (0 at the end of the file)
 * and the bytes in *out (its old contents replaced), or a negative errno
 * (-ENOENT, ...). out must stay valid until ready or dropped; it is only
 * written by the poll that returns ready. */
struct fut *fut_fs_read(uv_loop_t *loop, const char *path, int64_t offset,
                        size_t max, struct buf *out);

/* A file kept open: opened once by a future, then read, written and cut by
 * futures that borrow it, each one request on the pool, and closed once.
 * Several of its futures may exist at a time (libuv runs them in any
 * order: a program that cares, like the journal, awaits one before it
 * starts the next). Dropping one cancels it as above: a request already in
 * the pool runs to its end, and its memory is freed by its callback. */
struct fut_file;

/* Returns a new future that opens path (copied) with open(2)'s flags
 * (O_CLOEXEC is added) and mode. Ready with 0 and *out set to a new open
 * file (close it with fut_file_close), or with a negative errno (*out
 * untouched). Dropped while the open runs: if it succeeds, the library
 * closes the file. */
struct fut *fut_file_open(uv_loop_t *loop, const char *path, int flags,
                          int mode, struct fut_file **out);

/* Returns a new future that writes the bytes of *data to f (borrowed)
 * starting at offset (-1: at the current position, which is the end for
 * a file opened with O_APPEND), a short write being followed by the rest.
 * Takes ownership of data's bytes (data is left empty), also when it
 * returns fut_ready(-ENOMEM). Ready with 0 once every byte is written,
 * or a negative errno (-ENOSPC, -EFBIG ...): the bytes before the
 * failure may be in the file, and it is the caller's business
 * to cut them off (fut_file_truncate) if they must not stay. */
struct fut *fut_file_write(struct fut_file *f, int64_t offset,
                           struct buf *data);

/* Returns a new future that reads up to max bytes of f (borrowed) at
 * offset (-1: at the current position, as libuv does): as fut_fs_read(),
 * without the open and the close. */
struct fut *fut_file_read(struct fut_file *f, int64_t offset, size_t max,
                          struct buf *out);

/* Returns a new future that sets the size of f (borrowed) to size bytes,
 * as ftruncate(2). Ready with 0 or a negative errno. */
struct fut *fut_file_truncate(struct fut_file *f, int64_t size);

/* Closes f. Every future on f must have been dropped. A request of a
 * dropped future may still be in the pool: the descriptor is then closed
 * when the last one has ended (never earlier, or the pool could use a
 * descriptor number that meanwhile belongs to another file). The memory
 * is freed once the close has run: run the loop before uv_loop_close().
 * f may be NULL. */
void fut_file_close(struct fut_file *f);

#endif
