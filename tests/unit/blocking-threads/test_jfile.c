/* Unit tests for blocking-threads/jfile: the journal's file on blocking
 * calls (JR-5, JR-12, JR-13). Each test works in a fresh temporary
 * directory; Criterion runs each test in a process of its own, so a test
 * may lower its own RLIMIT_FSIZE. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jfile.h"

static char dir[] = "/tmp/kit-jfile-XXXXXX";
static char path[64];

static void make_dir(void)
{
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/j.log", dir);
}

static void remove_dir(void)
{
    unlink(path);
    rmdir(dir);
}

TestSuite(jfile, .init = make_dir, .fini = remove_dir);

static void write_file(const char *text)
{
    FILE *f = fopen(path, "wb");

    cr_assert_not_null(f);
    cr_assert_eq(fwrite(text, 1, strlen(text), f), strlen(text));
    fclose(f);
}

/* The file's whole contents, NUL-terminated (free it). */
static char *read_file(void)
{
    FILE *f = fopen(path, "rb");
    char *text = calloc(1, 1 << 16);
    size_t n;

    cr_assert_not_null(f);
    n = fread(text, 1, (1 << 16) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

Test(jfile, open_creates_a_missing_file_empty)
{
    struct jfile f;

    cr_assert_eq(jfile_open(&f, path), 0);
    cr_assert_eq(f.size, 0);
    cr_assert_eq(f.last_seq, 0);
    cr_assert_eq(f.cut, 0);
    cr_assert_eq(access(path, F_OK), 0);
    cr_assert_eq(jfile_close(&f), 0);
}

Test(jfile, open_finds_the_last_seq_and_size)
{
    struct jfile f;

    write_file("1 a\n2 \n3 c c\n");
    cr_assert_eq(jfile_open(&f, path), 0);
    cr_assert_eq(f.last_seq, 3);
    cr_assert_eq(f.size, 13);
    cr_assert_eq(f.cut, 0);
    jfile_close(&f);
}

Test(jfile, open_cuts_a_torn_last_line)
{
    struct jfile f;
    char *text;

    write_file("1 a\n2 b\n3 tor");
    cr_assert_eq(jfile_open(&f, path), 0);
    cr_assert_eq(f.last_seq, 2);
    cr_assert_eq(f.size, 8);
    cr_assert_eq(f.cut, 5);
    jfile_close(&f);
    text = read_file();
    cr_assert_str_eq(text, "1 a\n2 b\n");
    free(text);
}

Test(jfile, open_refuses_a_bad_line_and_leaves_the_file_untouched)
{
    const char *bad = "1 a\n2 b\n4 skipped\n5 e\n";
    struct jfile f;
    char *text;

    write_file(bad);
    cr_assert_eq(jfile_open(&f, path), -EINVAL);
    cr_assert_eq(f.bad_line, 3);
    cr_assert_eq(f.fd, -1);
    text = read_file();
    cr_assert_str_eq(text, bad);
    free(text);
}

Test(jfile, append_adds_at_the_end_after_a_cut)
{
    struct jfile f;
    char *text;

    write_file("1 a\n2 torn");
    cr_assert_eq(jfile_open(&f, path), 0);
    cr_assert_eq(jfile_append(&f, "2 b\n3 c\n", 8), 0);
    cr_assert_eq(f.size, 12);
    jfile_close(&f);
    text = read_file();
    cr_assert_str_eq(text, "1 a\n2 b\n3 c\n");
    free(text);
}

Test(jfile, read_returns_bytes_at_an_offset_and_0_at_the_end)
{
    struct jfile f;
    char got[8] = {0};

    write_file("1 a\n2 b\n");
    cr_assert_eq(jfile_open(&f, path), 0);
    cr_assert_eq(jfile_read(&f, 4, got, sizeof(got)), 4);
    cr_assert_eq(memcmp(got, "2 b\n", 4), 0);
    cr_assert_eq(jfile_read(&f, 8, got, sizeof(got)), 0);
    jfile_close(&f);
}

Test(jfile, failed_append_cuts_back_to_the_last_whole_record)
{
    const char *records = "1 aa\n2 bb\n3 cc\n4 ddddd\n";
    struct rlimit limit = {20, 20};
    struct jfile f;
    char *text;

    /* As proc_setup() does: past the limit, write() fails with EFBIG
     * instead of the process being killed. */
    signal(SIGXFSZ, SIG_IGN);
    cr_assert_eq(jfile_open(&f, path), 0);
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &limit), 0);
    /* The limit lets 20 bytes through, ending in the middle of "4 ddddd". */
    cr_assert_eq(jfile_append(&f, records, strlen(records)), -EFBIG);
    cr_assert_eq(f.size, 15);
    jfile_close(&f);
    text = read_file();
    cr_assert_str_eq(text, "1 aa\n2 bb\n3 cc\n");
    free(text);
}
