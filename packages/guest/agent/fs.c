/* File operations inside the workload root. See fs.h for the containment argument. */
#define _GNU_SOURCE
#include "fs.h"

#include "proto.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* musl (and older glibc) have neither an openat2 wrapper nor <linux/openat2.h>'s struct. */
#ifndef SYS_openat2
#define SYS_openat2 437 /* the same on every architecture */
#endif
struct smol_open_how {
    uint64_t flags;
    uint64_t mode;
    uint64_t resolve;
};
#define SMOL_RESOLVE_NO_MAGICLINKS 0x02
#define SMOL_RESOLVE_IN_ROOT 0x10

#ifndef O_TMPFILE
#define O_TMPFILE (020000000 | O_DIRECTORY)
#endif

struct smol_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

int fs_use_tmpfile = 1;

static int neg_errno(void) { return errno ? -errno : -EIO; }

static void close_fd(int *fd) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

int fs_root_open(const char *dir) {
    int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    return fd < 0 ? neg_errno() : fd;
}

int fs_path_copy(const uint8_t *p, uint32_t len, char *out) {
    if (len >= FS_PATH_MAX) return -ENAMETOOLONG;
    if (len && memchr(p, 0, len)) return -EINVAL;
    if (len) memcpy(out, p, len);
    out[len] = 0;
    return 0;
}

int fs_open(int root, const char *path, int flags) {
    struct smol_open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .mode = 0,
        .resolve = SMOL_RESOLVE_IN_ROOT | SMOL_RESOLVE_NO_MAGICLINKS,
    };
    long fd;
    do fd = syscall(SYS_openat2, root, path[0] ? path : ".", &how, sizeof how);
    while (fd < 0 && errno == EINTR);
    return fd < 0 ? neg_errno() : (int)fd;
}

/*
 * Splits `path` into the directory that holds its last component and that component. Trailing slashes
 * are ignored. The root ("", "/", "//") gives base "". dir is relative to the root fd either way.
 */
static int split_path(const char *path, char *dir, char *base) {
    size_t n = strlen(path);
    while (n > 0 && path[n - 1] == '/') n--;
    if (n == 0) {
        strcpy(dir, "/");
        base[0] = 0;
        return 0;
    }
    size_t b = n;
    while (b > 0 && path[b - 1] != '/') b--;
    if (n - b > FS_NAME_MAX) return -ENAMETOOLONG;
    memcpy(base, path + b, n - b);
    base[n - b] = 0;
    if (b == 0) {
        strcpy(dir, "/");
    } else {
        memcpy(dir, path, b);
        dir[b] = 0;
    }
    return 0;
}

static int is_dot(const char *name) {
    return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

static uint8_t kind_of(mode_t m) {
    switch (m & S_IFMT) {
    case S_IFDIR: return SMOL_KIND_DIR;
    case S_IFLNK: return SMOL_KIND_SYMLINK;
    case S_IFCHR: return SMOL_KIND_CHR;
    case S_IFBLK: return SMOL_KIND_BLK;
    case S_IFIFO: return SMOL_KIND_FIFO;
    case S_IFSOCK: return SMOL_KIND_SOCK;
    default: return SMOL_KIND_FILE;
    }
}

/* Fills *e from a stat and (for a symlink) the link at dirfd/name ("" with an O_PATH fd of the link). */
static int fill_entry(struct fs_entry *e, const struct stat *st, int dirfd, const char *name,
                      const char *display) {
    e->kind = kind_of(st->st_mode);
    e->mode = (uint32_t)(st->st_mode & 07777);
    e->uid = (uint32_t)st->st_uid;
    e->gid = (uint32_t)st->st_gid;
    e->size = st->st_size < 0 ? 0 : (uint64_t)st->st_size;
    e->mtime = (int64_t)st->st_mtim.tv_sec;
    size_t dl = strlen(display);
    if (dl >= sizeof e->name) dl = sizeof e->name - 1;
    memcpy(e->name, display, dl);
    e->name[dl] = 0;
    e->name_len = (uint32_t)dl;
    e->target[0] = 0;
    e->target_len = 0;
    if (e->kind == SMOL_KIND_SYMLINK) {
        ssize_t n = readlinkat(dirfd, name, e->target, sizeof e->target - 1);
        if (n < 0) return neg_errno();
        e->target[n] = 0;
        e->target_len = (uint32_t)n;
    }
    return 0;
}

int fs_stat(int root, const char *path, struct fs_entry *e) {
    char dir[FS_PATH_MAX], base[FS_NAME_MAX + 1];
    int rc = split_path(path, dir, base);
    if (rc < 0) return rc;
    /* O_PATH | O_NOFOLLOW opens a final symlink itself; everything before it resolves in the root. */
    int fd = fs_open(root, path, O_PATH | O_NOFOLLOW);
    if (fd < 0) return fd;
    struct stat st;
    if (fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
        rc = neg_errno();
    } else {
        rc = fill_entry(e, &st, fd, "", base[0] ? base : "/");
    }
    close(fd);
    return rc;
}

/*
 * Opens directory `dir` (O_RDONLY) inside the root, creating missing components with mode 0755: each
 * prefix is resolved with openat2 and a missing last component is created with mkdirat in the fd of the
 * prefix before it (a single name, so it is created where the resolution says, inside the root).
 */
static int open_dir_creating(int root, const char *dir) {
    int fd = fs_open(root, dir, O_RDONLY | O_DIRECTORY);
    if (fd != -ENOENT) return fd;
    char buf[FS_PATH_MAX];
    size_t n = strlen(dir);
    if (n >= sizeof buf) return -ENAMETOOLONG;
    memcpy(buf, dir, n + 1);
    int prev = fs_open(root, "", O_PATH | O_DIRECTORY);
    if (prev < 0) return prev;
    for (size_t i = 0; i < n;) {
        while (i < n && buf[i] == '/') i++;
        if (i >= n) break;
        size_t start = i;
        while (i < n && buf[i] != '/') i++;
        char save = buf[i];
        buf[i] = 0;
        int cur = fs_open(root, buf, O_PATH | O_DIRECTORY);
        if (cur == -ENOENT) {
            if (mkdirat(prev, buf + start, 0755) < 0 && errno != EEXIST) {
                cur = neg_errno();
            } else {
                /* EEXIST: a racing creator, or a dangling symlink (which then stays ENOENT). */
                cur = fs_open(root, buf, O_PATH | O_DIRECTORY);
            }
        }
        buf[i] = save;
        close(prev);
        if (cur < 0) return cur;
        prev = cur;
    }
    close(prev);
    return fs_open(root, dir, O_RDONLY | O_DIRECTORY);
}

int fs_mkdir(int root, const char *path, uint32_t mode, int parents) {
    char dir[FS_PATH_MAX], base[FS_NAME_MAX + 1];
    int rc = split_path(path, dir, base);
    if (rc < 0) return rc;
    if (!base[0]) return parents ? 0 : -EEXIST; /* the root */
    int dfd = parents ? open_dir_creating(root, dir) : fs_open(root, dir, O_PATH | O_DIRECTORY);
    if (dfd < 0) return dfd;
    if (mkdirat(dfd, base, (mode_t)(mode & 0777)) < 0) {
        rc = neg_errno();
        if (rc == -EEXIST && parents) {
            /* Fine when it is a directory (through symlinks, resolved inside the root). */
            int fd = fs_open(root, path, O_PATH | O_DIRECTORY);
            rc = fd >= 0 ? 0 : (fd == -ENOTDIR ? -EEXIST : fd);
            if (fd >= 0) close(fd);
        }
        close(dfd);
        return rc;
    }
    /* The exact mode (the umask masked it; setgid/sticky need a chmod). Never follow a link here. */
    int fd = openat(dfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fchmod(fd, (mode_t)mode) < 0) rc = neg_errno();
    if (fd >= 0) close(fd);
    close(dfd);
    return rc;
}

/* ---- FS_WRITE ---- */

static unsigned tmp_counter;

static void tmp_name(char *out, size_t cap) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(out, cap, ".smolvm-write.%d.%u.%lx", (int)getpid(), tmp_counter++,
             (unsigned long)(ts.tv_nsec ^ ((unsigned long)ts.tv_sec << 20)));
}

int fs_writer_open(int root, const char *path, uint32_t mode, int mkdirs, struct fs_writer *w) {
    char dir[FS_PATH_MAX];
    memset(w, 0, sizeof *w);
    w->dirfd = w->fd = -1;
    w->mode = mode;
    int rc = split_path(path, dir, w->base);
    if (rc < 0) return rc;
    if (!w->base[0] || is_dot(w->base)) return -EISDIR;
    w->dirfd = mkdirs ? open_dir_creating(root, dir) : fs_open(root, dir, O_RDONLY | O_DIRECTORY);
    if (w->dirfd < 0) {
        rc = w->dirfd;
        w->dirfd = -1;
        return rc;
    }
    struct stat st;
    if (fstatat(w->dirfd, w->base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
        fs_writer_discard(w);
        return -EISDIR;
    }
    /* An unnamed file leaves nothing behind even if the VM dies mid-write; not every file system has
       them (overlayfs before Linux 6.6), so fall back to a named dot-file. */
    w->fd = fs_use_tmpfile ? openat(w->dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600) : -1;
    if (w->fd >= 0) {
        w->unnamed = 1;
        return 0;
    }
    for (int attempt = 0; attempt < 100; attempt++) {
        tmp_name(w->tmp, sizeof w->tmp);
        w->fd = openat(w->dirfd, w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (w->fd >= 0) return 0;
        if (errno != EEXIST) break;
    }
    rc = neg_errno();
    w->tmp[0] = 0;
    fs_writer_discard(w);
    return rc;
}

int fs_writer_write(struct fs_writer *w, const uint8_t *p, size_t n) {
    while (n > 0) {
        ssize_t k = write(w->fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return neg_errno();
        if (k == 0) return -EIO;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Gives an O_TMPFILE a (temporary) name in its directory. */
static int link_unnamed(struct fs_writer *w) {
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", w->fd);
    for (int attempt = 0; attempt < 100; attempt++) {
        tmp_name(w->tmp, sizeof w->tmp);
        if (linkat(AT_FDCWD, proc, w->dirfd, w->tmp, AT_SYMLINK_FOLLOW) == 0) return 0;
        if (errno == EEXIST) continue;
        /* No /proc: AT_EMPTY_PATH (needs CAP_DAC_READ_SEARCH before Linux 6.10). */
        if (linkat(w->fd, "", w->dirfd, w->tmp, AT_EMPTY_PATH) == 0) return 0;
        if (errno != EEXIST) break;
    }
    int rc = neg_errno();
    w->tmp[0] = 0;
    return rc;
}

int fs_writer_commit(struct fs_writer *w) {
    int rc = 0;
    if (fchmod(w->fd, (mode_t)w->mode) < 0 || fsync(w->fd) < 0) rc = neg_errno();
    if (rc == 0 && w->unnamed) rc = link_unnamed(w);
    if (rc == 0 && renameat(w->dirfd, w->tmp, w->dirfd, w->base) < 0) rc = neg_errno();
    if (rc < 0) {
        fs_writer_discard(w);
        return rc;
    }
    w->tmp[0] = 0; /* it is the target now */
    fsync(w->dirfd); /* best effort: make the rename durable */
    fs_writer_discard(w);
    return 0;
}

void fs_writer_discard(struct fs_writer *w) {
    if (w->tmp[0] && w->dirfd >= 0) unlinkat(w->dirfd, w->tmp, 0);
    w->tmp[0] = 0;
    close_fd(&w->fd);
    close_fd(&w->dirfd);
}

/* ---- FS_LIST ---- */

int fs_lister_open(int root, const char *path, struct fs_lister *l) {
    l->len = l->pos = 0;
    l->fd = fs_open(root, path, O_RDONLY | O_DIRECTORY);
    return l->fd < 0 ? l->fd : 0;
}

int fs_lister_next(struct fs_lister *l, struct fs_entry *e) {
    for (;;) {
        if (l->pos >= l->len) {
            long n = syscall(SYS_getdents64, l->fd, l->buf, sizeof l->buf);
            if (n < 0) return neg_errno();
            if (n == 0) return 0;
            l->len = (int)n;
            l->pos = 0;
        }
        struct smol_dirent64 *d = (struct smol_dirent64 *)(void *)(l->buf + l->pos);
        l->pos += d->d_reclen;
        if (is_dot(d->d_name)) continue;
        struct stat st;
        if (fstatat(l->fd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT) continue; /* removed while we list */
            return neg_errno();
        }
        int rc = fill_entry(e, &st, l->fd, d->d_name, d->d_name);
        if (rc == -ENOENT) continue;
        return rc < 0 ? rc : 1;
    }
}

void fs_lister_close(struct fs_lister *l) { close_fd(&l->fd); }

/* ---- FS_REMOVE ---- */

static int remover_push(struct fs_remover *r, int dirfd, const char *name) {
    if (r->depth >= FS_REMOVE_MAX_DEPTH) return -ELOOP;
    struct fs_remover_level *L = malloc(sizeof *L);
    if (!L) return -ENOMEM;
    /* O_NOFOLLOW: a directory swapped for a symlink meanwhile is not followed (ELOOP/ENOTDIR). */
    L->fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (L->fd < 0) {
        int rc = neg_errno();
        free(L);
        return rc;
    }
    L->len = L->pos = 0;
    L->removed = 0;
    L->path_len = strlen(r->path);
    snprintf(L->name, sizeof L->name, "%s", name);
    r->levels[r->depth++] = L;
    return 0;
}

/* Appends "/name" to r->path (for messages; truncated when too long). */
static void remover_path_push(struct fs_remover *r, const char *name) {
    size_t n = strlen(r->path);
    snprintf(r->path + n, sizeof r->path - n, "%s%s", n && r->path[n - 1] == '/' ? "" : "/", name);
}

static int rmdir_result(int rc) { return rc == -EEXIST ? -ENOTEMPTY : rc; }

int fs_remover_start(int root, const char *path, int recursive, struct fs_remover *r) {
    char dir[FS_PATH_MAX];
    memset(r, 0, sizeof *r);
    r->parent_fd = -1;
    snprintf(r->path, sizeof r->path, "%s", path);
    size_t pl = strlen(r->path);
    while (pl > 1 && r->path[pl - 1] == '/') r->path[--pl] = 0;
    int rc = split_path(path, dir, r->top);
    if (rc < 0) return rc;
    if (!r->top[0]) return -EBUSY; /* the root itself */
    if (is_dot(r->top)) return -EINVAL;
    r->parent_fd = fs_open(root, dir, O_PATH | O_DIRECTORY);
    if (r->parent_fd < 0) {
        rc = r->parent_fd;
        r->parent_fd = -1;
        return rc;
    }
    struct stat st;
    if (fstatat(r->parent_fd, r->top, &st, AT_SYMLINK_NOFOLLOW) < 0) return neg_errno();
    if (!S_ISDIR(st.st_mode)) return unlinkat(r->parent_fd, r->top, 0) < 0 ? neg_errno() : 0;
    if (unlinkat(r->parent_fd, r->top, AT_REMOVEDIR) == 0) return 0;
    rc = rmdir_result(neg_errno());
    if (rc != -ENOTEMPTY || !recursive) return rc;
    rc = remover_push(r, r->parent_fd, r->top); /* r->path already names the top */
    return rc < 0 ? rc : 1;
}

int fs_remover_step(struct fs_remover *r, int budget) {
    while (r->depth > 0 && budget-- > 0) {
        struct fs_remover_level *L = r->levels[r->depth - 1];
        r->path[L->path_len] = 0;
        if (L->pos >= L->len) {
            long n = syscall(SYS_getdents64, L->fd, L->buf, sizeof L->buf);
            if (n < 0) return neg_errno();
            if (n > 0) {
                L->len = (int)n;
                L->pos = 0;
                continue;
            }
            if (L->removed) {
                /* Another pass: removing while reading may hide entries from this one. */
                if (lseek(L->fd, 0, SEEK_SET) < 0) return neg_errno();
                L->removed = 0;
                L->len = L->pos = 0;
                continue;
            }
            /* Empty: remove the directory itself from its parent (r->path still names it). */
            int pfd = r->depth > 1 ? r->levels[r->depth - 2]->fd : r->parent_fd;
            int rc = 0;
            if (unlinkat(pfd, L->name, AT_REMOVEDIR) < 0) rc = rmdir_result(neg_errno());
            close(L->fd);
            free(L);
            r->depth--;
            if (rc < 0) return rc;
            if (r->depth) r->levels[r->depth - 1]->removed++;
            continue;
        }
        struct smol_dirent64 *d = (struct smol_dirent64 *)(void *)(L->buf + L->pos);
        L->pos += d->d_reclen;
        if (is_dot(d->d_name)) continue;
        if (unlinkat(L->fd, d->d_name, 0) == 0) {
            L->removed++;
            continue;
        }
        int rc = neg_errno();
        if (rc == -ENOENT) continue;
        if (rc == -EISDIR || rc == -EPERM) {
            /* A directory (unlink says EISDIR on Linux, EPERM on some file systems). */
            if (unlinkat(L->fd, d->d_name, AT_REMOVEDIR) == 0) {
                L->removed++;
                continue;
            }
            int rc2 = rmdir_result(neg_errno());
            if (rc2 == -ENOTEMPTY) {
                remover_path_push(r, d->d_name);
                rc2 = remover_push(r, L->fd, d->d_name);
                if (rc2 == 0) continue;
                return rc2;
            }
            if (rc2 != -ENOTDIR) rc = rc2; /* ENOTDIR: it was not a directory: report unlink's error */
        }
        remover_path_push(r, d->d_name);
        return rc;
    }
    return r->depth > 0 ? 1 : 0;
}

void fs_remover_close(struct fs_remover *r) {
    while (r->depth > 0) {
        struct fs_remover_level *L = r->levels[--r->depth];
        close(L->fd);
        free(L);
    }
    close_fd(&r->parent_fd);
}
