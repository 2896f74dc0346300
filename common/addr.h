/* addr: parse and print "HOST:PORT" socket addresses (COM-3).
 *
 * HOST is a dotted IPv4 address, "localhost" (127.0.0.1), or an IPv6
 * address in brackets ("[::1]:7000"). PORT is 0..65535; 0 asks the kernel
 * to choose (for listening). No name lookup ever happens: the kit's
 * programs must not block on DNS. Pure functions, thread-safe.
 */
#ifndef KIT_ADDR_H
#define KIT_ADDR_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

struct addr {
    struct sockaddr_storage ss; /* sockaddr_in or sockaddr_in6 */
    socklen_t len;              /* the size of the one in use */
};

/* Longest text addr_format() writes, NUL included ("[v6]:65535"). */
#define ADDR_TEXT_MAX (INET6_ADDRSTRLEN + 9)

/* Parses text into *out. Returns 0, or -EINVAL when text is not an
 * address as above. */
int addr_parse(const char *text, struct addr *out);

/* Writes sa as "HOST:PORT" (IPv6 in brackets) into out, which holds size
 * bytes (ADDR_TEXT_MAX is enough). Returns out. On an unknown family it
 * writes "?". */
char *addr_format(const struct sockaddr *sa, char *out, size_t size);

#endif
