/* addr: parse and print "HOST:PORT" socket addresses. */
#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Parses PORT: 1 to 5 decimal digits, 0..65535, nothing after them.
 * Returns the port or -EINVAL. */
static int addr_parse_port(const char *text)
{
    long port = 0;
    size_t i;

    for (i = 0; text[i] != '\0'; i++) {
        if (text[i] < '0' || text[i] > '9' || i == 5)
            return -EINVAL;
        port = port * 10 + (text[i] - '0');
    }
    if (i == 0 || port > 65535)
        return -EINVAL;
    return (int)port;
}

/* Fills out with an IPv4 address; host is "localhost" or dotted. */
static int addr_parse_v4(const char *host, int port, struct addr *out)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;

    memset(out, 0, sizeof(*out));
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    /* "localhost" is the one name we know; anything else would need a
     * DNS lookup, which could block the program. */
    if (strcmp(host, "localhost") == 0)
        sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
        return -EINVAL;
    out->len = sizeof(*sin);
    return 0;
}

static int addr_parse_v6(const char *host, int port, struct addr *out)
{
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;

    memset(out, 0, sizeof(*out));
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
        return -EINVAL;
    out->len = sizeof(*sin6);
    return 0;
}

int addr_parse(const char *text, struct addr *out)
{
    char host[INET6_ADDRSTRLEN];
    const char *colon;
    const char *host_start = text;
    size_t host_len;
    int port;

    if (text[0] == '[') {
        /* "[v6]:PORT": the brackets keep the address's own colons apart
         * from the one before the port. */
        const char *close = strchr(text, ']');

        if (close == NULL || close[1] != ':')
            return -EINVAL;
        host_start = text + 1;
        host_len = (size_t)(close - host_start);
        colon = close + 1;
    } else {
        colon = strchr(text, ':');
        if (colon == NULL)
            return -EINVAL;
        host_len = (size_t)(colon - text);
    }
    if (host_len == 0 || host_len >= sizeof(host))
        return -EINVAL;
    memcpy(host, host_start, host_len);
    host[host_len] = '\0';
    port = addr_parse_port(colon + 1);
    if (port < 0)
        return -EINVAL;
    if (text[0] == '[')
        return addr_parse_v6(host, port, out);
    return addr_parse_v4(host, port, out);
}

char *addr_format(const struct sockaddr *sa, char *out, size_t size)
{
    char host[INET6_ADDRSTRLEN];

    if (size == 0)
        return out;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
        snprintf(out, size, "%s:%u", host, ntohs(sin->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

        inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
        snprintf(out, size, "[%s]:%u", host, ntohs(sin6->sin6_port));
    } else {
        snprintf(out, size, "?");
    }
    return out;
}
