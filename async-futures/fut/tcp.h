/* tcp: TCP connections as futures: connect, accept, read a line, write
 * all bytes.
 *
 * Two kinds of things live here. Objects that last: a connection (struct
 * fut_tcp) and a listening socket (struct fut_tcp_listener), each closed
 * by its owner with its close function. And one-shot futures that borrow
 * them: each operation is a new future, ready once with its result, and
 * dropping it cancels that operation without closing the connection.
 *
 * One read future and one write future at a time per connection (reading
 * and writing may overlap), and one accept future per listener. A second
 * one while the first exists is a bug (an assert catches it).
 *
 * Lines are framed by common/line.h: the connection owns one framer of
 * max_line + 1 bytes (LINE_MAX_BYTES unless set), allocated when bytes
 * arrive and given back whenever a read has to wait with nothing buffered,
 * so an idle connection costs no read buffer. libuv reads straight into
 * the framer's free space, so a read copies no bytes, and what a
 * connection holds stays bounded whatever the peer sends. Bytes are read only while somebody reads: when data arrives
 * and no read future is waiting, it is kept and reading stops until the
 * next read future is polled (not polling is pausing, even for sockets).
 *
 * Errors are negative errno values (libuv's codes are those on Unix):
 * -ECONNREFUSED, -ECONNRESET, -EPIPE, -EMSGSIZE for a line over the limit.
 */
#ifndef KIT_TCP_H
#define KIT_TCP_H

#include <stddef.h>
#include <sys/socket.h>
#include <uv.h>

#include "addr.h"
#include "fut/fut.h"

struct fut_tcp;
struct fut_tcp_listener;

/* Returns a new future that connects to addr (borrowed; copied). Ready
 * with 0 and *out set to a new connection (close it with fut_tcp_close),
 * or with a negative errno (*out untouched). The connect starts at the
 * first poll. Dropped while connecting: the half-open socket is closed at
 * once (the peer may see a connection that is reset); nothing leaks. */
struct fut *fut_tcp_connect(uv_loop_t *loop, const struct sockaddr *addr,
                            struct fut_tcp **out);

/* Sets the longest line read_line accepts on c (default LINE_MAX_BYTES).
 * Only before the first read. */
void fut_tcp_set_max_line(struct fut_tcp *c, size_t max_line);

/* Returns a new future that reads the next line from c (borrowed). Ready
 * with 1, *line and *len set to the line without its '\n' (bytes borrowed
 * from c, valid until the next read on c); with 0 when the peer closed the
 * connection (fut_tcp_pending() then says whether it closed in the middle
 * of a line); or with a negative errno: -EMSGSIZE when more than max_line
 * bytes came without a '\n', -ECONNRESET, ... Dropped while pending:
 * nothing is lost; bytes already read stay buffered for the next read.
 *
 * Reusable (fut.h, P6): it is a stream of lines. After it was ready, take
 * the line, fut_reuse() it and poll it again for the next one; a loop that
 * reads line after line keeps one future and allocates nothing per line.
 * After 0 or an error, polling it again gives the same answer again. */
struct fut *fut_tcp_read_line(struct fut_tcp *c, const char **line,
                              size_t *len);

/* Bytes read from c that are not part of a complete line yet. */
size_t fut_tcp_pending(const struct fut_tcp *c);

/* Returns a new future that writes bytes[0..len) to c (borrowed). Ready
 * with 0 once libuv has handed every byte to the kernel, or a negative
 * errno (-EPIPE, -ECONNRESET ...). bytes must stay valid until the first
 * poll (they are written or copied there). The first poll tries to write
 * at once; only what the kernel does not take is copied into c's write
 * buffer (which is reused, so it stops allocating once large enough).
 * Dropped while pending: bytes already queued are still sent, in order,
 * unless c is closed (D4); nobody is woken. */
struct fut *fut_tcp_write_all(struct fut_tcp *c, const void *bytes, size_t len);

/* Bytes a write future offered to the kernel that the kernel has not
 * taken yet: they wait in libuv's write queue until the socket has room.
 * 0 when every byte written so far went to the kernel. */
size_t fut_tcp_unsent(const struct fut_tcp *c);

/* The address of c's peer, into *out. Returns 0 or a negative errno. */
int fut_tcp_peer(const struct fut_tcp *c, struct addr *out);

/* Closes c; its memory is freed in libuv's close callback. Read, connect
 * and accept futures on c must have been dropped; a dropped write still in
 * flight is cancelled. */
void fut_tcp_close(struct fut_tcp *c);

/* Listens on addr (borrowed) with common/lsock.h (SO_REUSEADDR, backlog
 * SOMAXCONN, a spare descriptor for running out of them). busy_msg (a
 * short line such as "ERR busy\n"; must stay valid until l is closed) is
 * what a client is told when the process has no descriptor left for it.
 * Returns 0 and *out set to a new listener (close with
 * fut_tcp_listener_close), or a negative errno (-EADDRINUSE, ...).
 * Synchronous: nothing here waits. */
int fut_tcp_listen(uv_loop_t *loop, const struct addr *addr,
                   const char *busy_msg, struct fut_tcp_listener **out);

/* The address l is bound to (its real port after port 0). 0 or -errno. */
int fut_tcp_listener_addr(const struct fut_tcp_listener *l, struct addr *out);

/* Says the server is ready: "listening on HOST:PORT" on stdout, flushed
 * (lsock_announce). 0 or a negative errno. */
int fut_tcp_listener_announce(const struct fut_tcp_listener *l);

/* Returns a new future that accepts the next connection on l (borrowed).
 * Ready with 0 and *out set to a new connection (close it with
 * fut_tcp_close), or a negative errno. When the process is out of file
 * descriptors, the waiting client is turned away inside the poll (the
 * listener's spare descriptor makes room for it: it is told busy_msg and
 * closed, lsock_accept) and the accept goes on waiting. -EMFILE means even
 * that was not possible: the client still waits in the kernel's backlog,
 * and accepting again at once would fail at once, so the caller rests
 * (LSOCK_REST_MS) before its next accept. Dropped while pending: no
 * connection is taken; the next accept gets it. */
struct fut *fut_tcp_accept(struct fut_tcp_listener *l, struct fut_tcp **out);

/* Turns away c, a connection just accepted that nothing was written to
 * yet (a server with too many clients): writes msg, a short line, whole or
 * not at all (lsock_turn_away), then closes c. A plain call, not a future,
 * on purpose: a fresh socket's send buffer is empty, so a short line goes
 * to the kernel at once, and there is nothing to wait for (lsock retries
 * a full buffer for a few ms at most, which never happens in practice). A
 * client that does not read cannot hold the server up. Takes c. Returns 0
 * when msg was sent, or a negative errno (the connection is then reset,
 * so the client never sees a cut line). */
int fut_tcp_turn_away(struct fut_tcp *c, const char *msg);

/* Closes l: from now on connects are refused, and connections not yet
 * accepted are reset. Its memory is freed in the close callback. Its
 * accept future must have been dropped. */
void fut_tcp_listener_close(struct fut_tcp_listener *l);

#endif
