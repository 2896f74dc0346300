/* sandbox-exec: run one program with the grader's limits.
 *
 *   sandbox-exec [--uid N --gid N] [--cpu S] [--as BYTES] [--nproc N]
 *                [--nofile N] [--fsize BYTES] [--chdir DIR]
 *                [--root DIR [--ro PATH]... [--rw PATH]...] -- PROG ARG...
 *
 * The grader puts this in front of every student program (a small shell
 * script in the folder the tests take their programs from execs it), so the
 * test harness starts the student's program exactly as before: same pid,
 * same process group, same arguments and environment.
 *
 * Limits are only ever LOWERED: a test that sets a tighter limit itself
 * (a small RLIMIT_NOFILE, say) keeps it. Then, when --uid is given (the
 * grader runs as root), the program loses every privilege: supplementary
 * groups, gid, uid, and the right to gain any back through a set-uid file.
 * Finally it execs PROG in DIR. It is exec, not fork: nothing stays behind.
 *
 * --root DIR (root only) gives the program a file system of its own, in a
 * mount namespace of its own (see private_root below): the system's
 * programs and libraries read-only, a fresh empty /tmp, and of the grader's
 * files only the paths named with --ro (read-only) and --rw, each at its
 * own path. DIR is an empty folder used as the mount point of the new root;
 * the grader's own view of the file system does not change.
 *
 * The grader compiles this file itself (it is not part of the kit's build).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

static void die(const char *what)
{
    fprintf(stderr, "sandbox-exec: %s: %s\n", what, strerror(errno));
    exit(126);
}

/* Lowers both the soft and the hard limit of `which` to at most `value`. */
static void lower(int which, const char *value)
{
    struct rlimit now;
    rlim_t want = (rlim_t)strtoull(value, NULL, 10);

    if (getrlimit(which, &now) != 0)
        die("getrlimit");
    if (now.rlim_max == RLIM_INFINITY || now.rlim_max > want)
        now.rlim_max = want;
    if (now.rlim_cur == RLIM_INFINITY || now.rlim_cur > now.rlim_max)
        now.rlim_cur = now.rlim_max;
    if (setrlimit(which, &now) != 0)
        die("setrlimit");
}

static int limit_named(const char *option)
{
    static const struct {
        const char *name;
        int which;
    } table[] = {
        {"--cpu", RLIMIT_CPU},     {"--as", RLIMIT_AS},
        {"--nproc", RLIMIT_NPROC}, {"--nofile", RLIMIT_NOFILE},
        {"--fsize", RLIMIT_FSIZE}, {"--core", RLIMIT_CORE},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(option, table[i].name) == 0)
            return table[i].which;
    return -1;
}

/* ------------------------------------------------------------------ */
/* The private root (--root). */

#define MAX_BINDS 32

/* What the new root shows of the grader's machine. */
struct view {
    const char *root;          /* mount point of the new root */
    const char *ro[MAX_BINDS]; /* grader paths shown read-only */
    const char *rw[MAX_BINDS]; /* grader paths shown writable */
    int n_ro, n_rw;
};

/* The system's programs and libraries, shown read-only: what any program,
 * in any language installed from the distribution, needs to start. */
static const char *const system_paths[] = {
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc",
};

/* Makes every folder of `path` (an absolute path) that is missing. */
static void make_dirs(const char *path)
{
    char buf[PATH_MAX];

    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        die("path too long");
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            die(buf);
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        die(buf);
}

/* The mount flags a bind of `path` must keep when it is remounted:
 * a remount may not clear nosuid, nodev or noexec where the kernel has
 * locked them (in a container, say). */
static unsigned long kept_flags(const char *path)
{
    struct statvfs st;
    unsigned long flags = 0;

    if (statvfs(path, &st) != 0)
        return 0;
    if (st.f_flag & ST_NOSUID)
        flags |= MS_NOSUID;
    if (st.f_flag & ST_NODEV)
        flags |= MS_NODEV;
    if (st.f_flag & ST_NOEXEC)
        flags |= MS_NOEXEC;
    return flags;
}

/* Shows the grader's `path` at the same path under `root`. A symbolic link
 * (/bin -> usr/bin on a merged-/usr system) is copied as a link; a missing
 * path is skipped. A file gets an empty file as its mount point. */
static void show(const char *root, const char *path, int writable)
{
    char at[PATH_MAX], link[PATH_MAX];
    struct stat st;
    ssize_t n;

    if (lstat(path, &st) != 0)
        return;
    if (snprintf(at, sizeof at, "%s%s", root, path) >= (int)sizeof at)
        die("path too long");
    if (S_ISLNK(st.st_mode)) {
        n = readlink(path, link, sizeof link - 1);
        if (n < 0)
            die(path);
        link[n] = '\0';
        if (symlink(link, at) != 0 && errno != EEXIST)
            die(at);
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        make_dirs(at);
    } else {
        int fd;

        *strrchr(at, '/') = '\0';
        make_dirs(at);
        at[strlen(at)] = '/';
        fd = open(at, O_WRONLY | O_CREAT, 0644);
        if (fd < 0)
            die(at);
        close(fd);
    }
    if (mount(path, at, NULL, MS_BIND | MS_REC, NULL) != 0)
        die(path);
    if (!writable &&
        mount(NULL, at, NULL,
              MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | kept_flags(path),
              NULL) != 0)
        die(path);
}

/* An empty tmpfs at root/path, writable by everyone (as /tmp is). */
static void fresh_tmp(const char *root, const char *path)
{
    char at[PATH_MAX];

    if (snprintf(at, sizeof at, "%s%s", root, path) >= (int)sizeof at)
        die("path too long");
    make_dirs(at);
    if (mount("tmpfs", at, "tmpfs", MS_NOSUID | MS_NODEV,
              "mode=1777,size=256m") != 0)
        die(at);
}

/* Builds the view's root and makes it the process's "/". Why each step:
 * - a mount namespace of its own, whose mounts never propagate back, so
 *   the grader and every other run keep their own view;
 * - a tmpfs as the new root: it holds nothing but the mount points made
 *   here, so whatever is not shown does not exist for the program;
 * - /dev and /proc as they are (a program needs /dev/null, a sanitizer
 *   reads /proc/self/maps), but a fresh /dev/shm and /tmp, so nothing
 *   written there outlives the run or reaches another one;
 * - pivot_root, then the old root detached: unlike chroot, there is no
 *   way back to it. Under a chroot (pivot_root refuses: the current root
 *   is not a mount point) chroot is used; the program loses the
 *   capability to leave it when it loses root below. */
static void private_root(const struct view *v)
{
    if (unshare(CLONE_NEWNS) != 0)
        die("unshare(CLONE_NEWNS)");
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        die("mount --make-rprivate /");
    if (mount("tmpfs", v->root, "tmpfs", MS_NOSUID | MS_NODEV,
              "mode=0755,size=16m") != 0)
        die(v->root);
    for (size_t i = 0; i < sizeof system_paths / sizeof system_paths[0]; i++)
        show(v->root, system_paths[i], 0);
    show(v->root, "/sys", 0);
    show(v->root, "/dev", 1);
    show(v->root, "/proc", 1);
    fresh_tmp(v->root, "/dev/shm");
    fresh_tmp(v->root, "/tmp");
    for (int i = 0; i < v->n_ro; i++)
        show(v->root, v->ro[i], 0);
    for (int i = 0; i < v->n_rw; i++)
        show(v->root, v->rw[i], 1);
    if (chdir(v->root) != 0)
        die(v->root);
    if (syscall(SYS_pivot_root, ".", ".") == 0) {
        if (umount2(".", MNT_DETACH) != 0)
            die("umount the old root");
    } else if (chroot(".") != 0) {
        die("pivot_root and chroot");
    }
    if (chdir("/") != 0)
        die("chdir /");
}

static void add_bind(const char **list, int *n, const char *path)
{
    if (*n == MAX_BINDS) {
        fprintf(stderr, "sandbox-exec: more than %d --ro/--rw paths\n",
                MAX_BINDS);
        exit(126);
    }
    if (path[0] != '/') {
        fprintf(stderr, "sandbox-exec: not an absolute path: %s\n", path);
        exit(126);
    }
    list[(*n)++] = path;
}

int main(int argc, char **argv)
{
    long uid = -1, gid = -1;
    const char *dir = NULL;
    struct view view = {0};
    int i = 1;

    for (; i + 1 < argc && strcmp(argv[i], "--") != 0; i += 2) {
        int which = limit_named(argv[i]);
        if (which >= 0)
            lower(which, argv[i + 1]);
        else if (strcmp(argv[i], "--uid") == 0)
            uid = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--gid") == 0)
            gid = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--chdir") == 0)
            dir = argv[i + 1];
        else if (strcmp(argv[i], "--root") == 0)
            view.root = argv[i + 1];
        else if (strcmp(argv[i], "--ro") == 0)
            add_bind(view.ro, &view.n_ro, argv[i + 1]);
        else if (strcmp(argv[i], "--rw") == 0)
            add_bind(view.rw, &view.n_rw, argv[i + 1]);
        else {
            fprintf(stderr, "sandbox-exec: unknown option %s\n", argv[i]);
            return 126;
        }
    }
    if (i >= argc - 1 || strcmp(argv[i], "--") != 0) {
        fprintf(stderr, "sandbox-exec: usage: [OPTIONS] -- PROG [ARG...]\n");
        return 126;
    }
    /* First the new root, while still root; the working folder is then
     * looked up in it (it must be one of the --rw paths). */
    if (view.root)
        private_root(&view);
    if (uid >= 0) {
        /* Order matters: groups and gid first, while still root. */
        if (setgroups(0, NULL) != 0)
            die("setgroups");
        if (setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid) != 0)
            die("setresgid");
        if (setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) != 0)
            die("setresuid");
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        die("prctl");
    if (dir && chdir(dir) != 0)
        die("chdir");
    execv(argv[i + 1], argv + i + 1);
    die(argv[i + 1]);
}
