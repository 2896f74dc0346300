/* Unit tests for common/addr: "HOST:PORT" parsing and printing (COM-3). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "addr.h"

/* Parses text, which must be valid, and formats it back. */
static void check_round_trip(const char *text, const char *want)
{
    struct addr a;
    char out[ADDR_TEXT_MAX];

    cr_assert_eq(addr_parse(text, &a), 0, "rejected \"%s\"", text);
    addr_format((struct sockaddr *)&a.ss, out, sizeof(out));
    cr_assert_str_eq(out, want);
}

Test(addr, parses_dotted_ipv4)
{
    struct addr a;
    struct sockaddr_in *sin = (struct sockaddr_in *)&a.ss;

    cr_assert_eq(addr_parse("10.1.2.3:7000", &a), 0);
    cr_assert_eq(sin->sin_family, AF_INET);
    cr_assert_eq(a.len, sizeof(struct sockaddr_in));
    cr_assert_eq(ntohs(sin->sin_port), 7000);
    cr_assert_eq(ntohl(sin->sin_addr.s_addr), 0x0a010203);
}

Test(addr, parses_localhost_as_127_0_0_1)
{
    struct addr a;
    struct sockaddr_in *sin = (struct sockaddr_in *)&a.ss;

    cr_assert_eq(addr_parse("localhost:80", &a), 0);
    cr_assert_eq(sin->sin_family, AF_INET);
    cr_assert_eq(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
    cr_assert_eq(ntohs(sin->sin_port), 80);
}

Test(addr, parses_bracketed_ipv6)
{
    struct addr a;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a.ss;

    cr_assert_eq(addr_parse("[::1]:7000", &a), 0);
    cr_assert_eq(sin6->sin6_family, AF_INET6);
    cr_assert_eq(a.len, sizeof(struct sockaddr_in6));
    cr_assert_eq(ntohs(sin6->sin6_port), 7000);
    cr_assert(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
}

Test(addr, accepts_ports_0_and_65535)
{
    check_round_trip("127.0.0.1:0", "127.0.0.1:0");
    check_round_trip("127.0.0.1:65535", "127.0.0.1:65535");
    check_round_trip("[::]:0", "[::]:0");
}

Test(addr, formats_ipv4_and_ipv6)
{
    check_round_trip("127.0.0.1:7000", "127.0.0.1:7000");
    check_round_trip("localhost:7000", "127.0.0.1:7000");
    check_round_trip("[::1]:7000", "[::1]:7000");
    check_round_trip("[2001:DB8:0:0::1]:443", "[2001:db8::1]:443");
    check_round_trip("[::ffff:1.2.3.4]:9", "[::ffff:1.2.3.4]:9");
}

Test(addr, rejects_malformed_addresses)
{
    static const char *const bad[] = {
        "",                 /* nothing */
        "127.0.0.1",        /* missing port */
        "127.0.0.1:",       /* empty port */
        "1.2.3.4:",         /* empty port */
        ":80",              /* empty host */
        "[]:80",            /* empty IPv6 host */
        "127.0.0.1:65536",  /* port too big */
        "127.0.0.1:99999",  /* port too big */
        "127.0.0.1:000001", /* too many digits */
        "127.0.0.1:-1",     /* sign */
        "127.0.0.1:+1",     /* sign */
        "127.0.0.1: 80",    /* space */
        "127.0.0.1:80 ",    /* trailing junk */
        "127.0.0.1:80x",    /* trailing junk */
        "127.0.0.1:80:90",  /* two ports */
        "abc:1",            /* a name: no DNS */
        "example.com:80",   /* a name: no DNS */
        "LOCALHOST:80",     /* only "localhost" itself */
        "1.2.3:80",         /* short IPv4 */
        "1.2.3.256:80",     /* octet too big */
        "::1:80",           /* IPv6 without brackets */
        "[::1]",            /* missing port */
        "[::1]:",           /* empty port */
        "[::1]80",          /* missing colon */
        "[::1:80",          /* missing bracket */
        "[127.0.0.1]:80",   /* IPv4 in brackets */
        "[::1]:80]",        /* trailing junk */
        "[localhost]:80",   /* a name in brackets */
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct addr a;

        cr_expect_eq(addr_parse(bad[i], &a), -EINVAL, "accepted \"%s\"",
                     bad[i]);
    }
}

Test(addr, rejects_overlong_host)
{
    char text[200];
    struct addr a;

    memset(text, '1', sizeof(text));
    text[0] = '[';
    memcpy(text + 150, "]:80", 5);
    cr_assert_eq(addr_parse(text, &a), -EINVAL);
}

Test(addr, formats_unknown_family_as_question_mark)
{
    struct sockaddr sa;
    char out[ADDR_TEXT_MAX];

    memset(&sa, 0, sizeof(sa));
    sa.sa_family = AF_UNIX;
    cr_assert_eq(addr_format(&sa, out, sizeof(out)), out);
    cr_assert_str_eq(out, "?");
}

Test(addr, formats_longest_address_within_addr_text_max)
{
    check_round_trip("[1111:2222:3333:4444:5555:6666:7777:8888]:65535",
                     "[1111:2222:3333:4444:5555:6666:7777:8888]:65535");
    check_round_trip("[::ffff:255.255.255.255]:65535",
                     "[::ffff:255.255.255.255]:65535");
}

Test(addr, format_cuts_to_the_given_size)
{
    struct addr a;
    char out[8];

    cr_assert_eq(addr_parse("127.0.0.1:7000", &a), 0);
    addr_format((struct sockaddr *)&a.ss, out, sizeof(out));
    cr_assert_str_eq(out, "127.0.0");
}
