/* Unit tests for jfile: the journal's file on the futures library (the
 * check at start, the replay's reading). */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "futtest.h"
#include "jfile.h"

static char dir[64];
static char path[96];

static void make_file(const char *contents)
{
    FILE *out;

    strcpy(dir, "/tmp/jfile-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/journal", dir);
    if (contents == NULL)
        return;
    out = fopen(path, "wb");
    cr_assert_not_null(out);
    fputs(contents, out);
    fclose(out);
}

static void remove_file(void)
{
    unlink(path);
    rmdir(dir);
}

static long file_size(void)
{
    FILE *in = fopen(path, "rb");
    long n;

    cr_assert_not_null(in);
    fseek(in, 0, SEEK_END);
    n = ftell(in);
    fclose(in);
    return n;
}

static int open_journal(uv_loop_t *loop, struct jfile_start *st)
{
    *st = (struct jfile_start){0};
    return ft_run(loop, jfile_open(loop, path, st));
}

Test(jfile, a_missing_file_is_created_empty)
{
    uv_loop_t loop;
    struct jfile_start st;

    make_file(NULL);
    uv_loop_init(&loop);
    cr_assert_eq(open_journal(&loop, &st), 0);
    cr_assert_eq(st.size, 0);
    cr_assert_eq(st.last_seq, 0);
    fut_file_close(st.file);
    ft_close_loop(&loop);
    cr_assert_eq(file_size(), 0);
    remove_file();
}

Test(jfile, a_journal_gives_its_size_and_last_seq_and_loses_its_torn_line)
{
    uv_loop_t loop;
    struct jfile_start st;

    make_file("1 one\n2 two\n3 thr");
    uv_loop_init(&loop);
    cr_assert_eq(open_journal(&loop, &st), 0);
    cr_assert_eq(st.size, 12);
    cr_assert_eq(st.last_seq, 2);
    fut_file_close(st.file);
    ft_close_loop(&loop);
    cr_assert_eq(file_size(), 12, "the torn last line was not cut");
    remove_file();
}

Test(jfile, a_file_that_is_not_a_journal_is_refused_untouched)
{
    uv_loop_t loop;
    struct jfile_start st;

    make_file("1 one\n3 three\n");
    uv_loop_init(&loop);
    cr_assert_eq(open_journal(&loop, &st), -EINVAL);
    fut_file_close(st.file);
    ft_close_loop(&loop);
    cr_assert_eq(file_size(), 14);
    remove_file();
}

/* --- the replay ---------------------------------------------------------- */

struct rig {
    struct jfile_start st;
    struct fut_tcp_listener *l;
    struct fut_tcp *conn;
    int peer;
    char got[256];
    size_t got_len;
};

static void rig_open(uv_loop_t *loop, void *arg)
{
    struct rig *r = arg;
    struct addr any, where;

    cr_assert_eq(open_journal(loop, &r->st), 0);
    cr_assert_eq(addr_parse("127.0.0.1:0", &any), 0);
    cr_assert_eq(fut_tcp_listen(loop, &any, "ERR busy\n", &r->l), 0);
    cr_assert_eq(fut_tcp_listener_addr(r->l, &where), 0);
    r->peer = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(connect(r->peer, (struct sockaddr *)&where.ss, where.len), 0);
    fcntl(r->peer, F_SETFL, O_NONBLOCK);
    cr_assert_eq(ft_run(loop, fut_tcp_accept(r->l, &r->conn)), 0);
    r->got_len = 0;
}

static void rig_close(uv_loop_t *loop, void *arg)
{
    struct rig *r = arg;

    (void)loop;
    fut_tcp_close(r->conn);
    fut_tcp_listener_close(r->l);
    fut_file_close(r->st.file);
    close(r->peer);
}

static void peer_pump(void *arg)
{
    struct rig *r = arg;
    ssize_t n =
        read(r->peer, r->got + r->got_len, sizeof r->got - 1 - r->got_len);

    if (n > 0)
        r->got_len += (size_t)n;
}

Test(jfile, a_replay_sends_the_first_end_bytes)
{
    uv_loop_t loop;
    struct rig r;
    struct fut *f;

    make_file("1 one\n2 two\n3 three\n");
    uv_loop_init(&loop);
    rig_open(&loop, &r);
    f = jfile_replay(r.st.file, r.conn, 12);
    ft_drive(&loop, f, peer_pump, &r);
    cr_assert_eq(fut_result(f), 0);
    fut_drop(f);
    for (int i = 0; i < 100 && r.got_len < 12; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        peer_pump(&r);
    }
    r.got[r.got_len] = '\0';
    cr_assert_str_eq(r.got, "1 one\n2 two\n");
    rig_close(&loop, &r);
    ft_close_loop(&loop);
    remove_file();
}

static struct rig case_rig;

static struct fut *make_replay(uv_loop_t *loop, void *arg)
{
    struct rig *r = arg;

    (void)loop;
    return jfile_replay(r->st.file, r->conn, r->st.size);
}

Test(jfile, a_replay_can_be_dropped_at_every_pending_point)
{
    struct ft_cancel_case c = {&case_rig, rig_open, make_replay, peer_pump,
                               rig_close};

    make_file("1 one\n2 two\n3 three\n");
    cr_assert_geq(ft_cancel_everywhere(&c, 20), 2);
    remove_file();
}
