/* Starting workload processes for EXEC streams. */
#ifndef SMOLVM_EXEC_H
#define SMOLVM_EXEC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct exec_request {
    int tty;        /* allocate a pseudo-terminal for stdin/stdout/stderr */
    int want_stdin; /* give the process a pipe for stdin (else /dev/null, or the tty when tty) */
    uint32_t uid, gid;
    uint16_t rows, cols;     /* initial window size when tty (ignored when 0) */
    char *const *argv;       /* NULL-terminated, argv[0] is looked up in PATH from envp */
    char *const *envp;       /* NULL-terminated: the whole environment */
    const char *cwd;         /* "" = "/"; relative paths are relative to "/" */
    const char *root;        /* chroot() into this directory first; NULL = none (host test mode) */
};

struct exec_process {
    pid_t pid;      /* process group leader of its own session */
    int in_fd;      /* non-blocking, write end of stdin (the pty master when tty); -1 when none */
    int out_fd;     /* non-blocking, read end of stdout (the pty master when tty) */
    int err_fd;     /* non-blocking, read end of stderr; -1 when tty */
    int exec_errno; /* non-zero when execve failed: the child has printed a message on its stderr and
                       exits with 127 (ENOENT) or 126 */
};

/*
 * Forks and starts the process. Returns 0 when the process exists (running, or exiting after a failed
 * execve, see exec_errno). Returns -1 when setting it up failed (pipes, pty, chroot, working directory,
 * user): then nothing is left behind (the child, if any, was reaped) and `err` holds a message.
 */
int exec_spawn(const struct exec_request *rq, struct exec_process *p, char *err, size_t errlen);

#endif
