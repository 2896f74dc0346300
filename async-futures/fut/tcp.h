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
 * max_line + 1 bytes (LINE_MAX_BYTES unless set), allocated by the first
 * read. libuv reads straight into the framer's free space, so a read
 * copies no bytes, and what a connection holds stays bounded whatever the
 * peer sends. Bytes are read only while somebody reads: when data arrives
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
 * nothing is lost; bytes already read stay buffered for the next read. */
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
struct fut *fut_tcp_write_all(struct fut_tcp *c, const void *bytes,
                              size_t len);

/* The address of c's peer, into *out. Returns 0 or a negative errno. */
int fut_tcp_peer(const struct fut_tcp *c, struct addr *out);

/* Closes c; its memory is freed in libuv's close callback. Read, connect
 * and accept futures on c must have been dropped; a dropped write still in
 * flight is cancelled. */
void fut_tcp_close(struct fut_tcp *c);

/* Binds and listens on addr (borrowed) with the given backlog. Returns 0
 * and *out set to a new listener (close with fut_tcp_listener_close), or
 * a negative errno (-EADDRINUSE, ...). Synchronous: nothing here waits.
 * The listener keeps one spare descriptor, for fut_tcp_turn_away(). */
int fut_tcp_listen(uv_loop_t *loop, const struct sockaddr *addr,
                   int backlog, struct fut_tcp_listener **out);

/* The address l is bound to (its real port after port 0). 0 or -errno. */
int fut_tcp_listener_addr(const struct fut_tcp_listener *l,
                          struct addr *out);

/* Returns a new future that accepts the next connection on l (borrowed).
 * Ready with 0 and *out set to a new connection (close it with
 * fut_tcp_close), or a negative errno. -EMFILE (or -ENFILE) means the
 * process is out of file descriptors: the connection still waits in the
 * kernel's backlog and the listener keeps working, but accepting again at
 * once would fail again at once. The caller decides what to do: turn the
 * waiting one away (fut_tcp_turn_away) or wait a little before the next
 * accept. (libuv's own uv_listen() would close such connections silently,
 * which is why the listener accepts for itself.) Dropped while pending:
 * no connection is taken; the next accept gets it. */
struct fut *fut_tcp_accept(struct fut_tcp_listener *l, struct fut_tcp **out);

/* For a server out of file descriptors: turns away the oldest connection
 * waiting on l. The listener's spare descriptor is given up so that the
 * connection can be accepted, sent msg (a short message: what a fresh
 * socket takes at once, without waiting), and closed; then the spare is
 * taken back. Returns 1 when a connection was turned away, 0 when none was
 * waiting, or a negative errno (-EMFILE: not even the spare could be had;
 * wait before trying again). Synchronous: nothing here waits. */
int fut_tcp_turn_away(struct fut_tcp_listener *l, const char *msg);

/* Closes l: from now on connects are refused, and connections not yet
 * accepted are reset. Its memory is freed in the close callback. Its
 * accept future must have been dropped. */
void fut_tcp_listener_close(struct fut_tcp_listener *l);

#endif
