/* jfile: the journal's file, on the futures library: the check at start,
 * and the replay's reading. (The flushes are one fut_file_write each, in
 * journal.c.)
 *
 * What is not about futures is common/jrec.h's (the record format, the
 * scanner that checks a journal). This module only moves the bytes, with
 * fut/fs.h, in chunks of 64 KiB. One thread: the loop's.
 */
#ifndef KIT_JFILE_H
#define KIT_JFILE_H

#include <stdint.h>
#include <uv.h>

#include "fut/fs.h"
#include "fut/tcp.h"

/* What opening the journal found. */
struct jfile_start {
    struct fut_file *file; /* open for reading and writing */
    uint64_t size;         /* bytes in the file: whole records only */
    uint64_t last_seq;     /* SEQ of its last record, 0 if none */
};

/* Returns a new future that opens the journal at path (borrowed: must stay
 * valid until it is dropped), creating it if missing, checks every record
 * (JR-13) and cuts a torn last line (JR-5, with a note on stderr). Ready
 * with 0 and *out filled in, or a negative errno after reporting it on
 * stderr (-EINVAL: the file is not a journal; the message names the line).
 * out->file may be set also on failure: the caller closes it
 * (fut_file_close) either way. */
struct fut *jfile_open(uv_loop_t *loop, const char *path,
                       struct jfile_start *out);

/* Returns a new future that sends the first `end` bytes of file to conn
 * (both borrowed), read in chunks and written in turn. Ready with 0, or a
 * negative errno (-EIO when the file is shorter than `end`). Dropped at a
 * read: the read in libuv's pool finishes there on memory of its own
 * (fut/fs.h). Dropped at a write: what reached libuv is sent, unless conn
 * is closed. */
struct fut *jfile_replay(struct fut_file *file, struct fut_tcp *conn,
                         uint64_t end);

#endif
