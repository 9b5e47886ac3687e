/*
 * File operations inside the workload root (SPEC.md "File operations").
 *
 * Every path is resolved with openat2(root, path, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): ".." and
 * symbolic links (absolute or relative) resolve as if `root` were "/", so nothing outside it can be
 * reached. Everything after that is a *at() call on the fds openat2 returned, with a single path
 * component that is never "." or "..", so it cannot leave the root either. Without openat2 (kernels
 * before 5.6) every operation fails with ENOSYS rather than resolving paths less strictly.
 *
 * Every function returns 0 (or a non-negative fd) on success and a negative errno on failure.
 */
#ifndef SMOLVM_FS_H
#define SMOLVM_FS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FS_PATH_MAX 4096 /* bytes of a path, NUL included */
#define FS_NAME_MAX 255
#define FS_REMOVE_MAX_DEPTH 256 /* deeper trees fail with ELOOP */

/* Whether FS_WRITE tries O_TMPFILE first (tests turn it off to exercise the named temporary file). */
extern int fs_use_tmpfile;

/* Opens `dir` as the root of all file operations (O_PATH). */
int fs_root_open(const char *dir);

/* Copies a path from a frame into `out` (FS_PATH_MAX bytes): EINVAL for a NUL byte, ENAMETOOLONG. */
int fs_path_copy(const uint8_t *p, uint32_t len, char *out);

/* openat2 inside the root; `path` "" means the root. Returns an fd or -errno. */
int fs_open(int root, const char *path, int flags);

struct fs_entry {
    uint8_t kind; /* SMOL_KIND_* */
    uint32_t mode, uid, gid;
    uint64_t size;
    int64_t mtime;
    char name[FS_PATH_MAX]; /* NUL-terminated */
    char target[FS_PATH_MAX];
    uint32_t name_len, target_len;
};

/* FS_STAT: lstat semantics (a final symlink is not followed); name = last component, "/" for the root. */
int fs_stat(int root, const char *path, struct fs_entry *e);

/* FS_MKDIR: `mode` exactly (not masked by the umask); with `parents`, missing parents get 0755 and an
   existing directory is not an error. */
int fs_mkdir(int root, const char *path, uint32_t mode, int parents);

/* FS_WRITE: a temporary file in the target's directory, renamed over the target by fs_writer_commit. */
struct fs_writer {
    int dirfd, fd;
    int unnamed;                  /* fd is an O_TMPFILE: nothing to clean up in the directory */
    char base[FS_NAME_MAX + 1];   /* the target's name in dirfd */
    char tmp[64];                 /* a named temporary file in dirfd, "" when none */
    uint32_t mode;
};
int fs_writer_open(int root, const char *path, uint32_t mode, int mkdirs, struct fs_writer *w);
int fs_writer_write(struct fs_writer *w, const uint8_t *p, size_t n);
/* fchmod, fsync, rename over the target, fsync the directory. Discards on failure. */
int fs_writer_commit(struct fs_writer *w);
/* Removes the temporary file and closes everything; safe to call twice. */
void fs_writer_discard(struct fs_writer *w);

/* FS_LIST: getdents64 in chunks, one entry at a time (bounded memory). */
struct fs_lister {
    int fd;
    int len, pos;
    _Alignas(8) uint8_t buf[16384];
};
int fs_lister_open(int root, const char *path, struct fs_lister *l);
/* 1 with *e filled, 0 at the end, -errno. Entries that vanish while listing are skipped. */
int fs_lister_next(struct fs_lister *l, struct fs_entry *e);
void fs_lister_close(struct fs_lister *l);

/* FS_REMOVE: a non-recursive remove finishes in fs_remover_start; a tree is removed by steps. */
struct fs_remover_level {
    int fd;
    int len, pos;
    int removed;   /* entries removed in this pass over the directory */
    size_t path_len; /* length of `path` up to this directory */
    char name[FS_NAME_MAX + 1]; /* its name in the level above (or in parent_fd) */
    _Alignas(8) uint8_t buf[4096];
};
struct fs_remover {
    int depth; /* levels in use; 0 = done */
    int parent_fd; /* the directory holding the tree's top */
    char top[FS_NAME_MAX + 1];
    struct fs_remover_level *levels[FS_REMOVE_MAX_DEPTH];
    char path[FS_PATH_MAX]; /* the path being worked on, for error messages */
};
/* 0: removed; 1: a tree remains, call fs_remover_step; -errno (r->path names the culprit). */
int fs_remover_start(int root, const char *path, int recursive, struct fs_remover *r);
/* Removes up to `budget` entries: 0 done, 1 more to do, -errno. */
int fs_remover_step(struct fs_remover *r, int budget);
void fs_remover_close(struct fs_remover *r);

#endif
