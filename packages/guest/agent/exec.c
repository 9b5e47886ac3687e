/* Starting workload processes: fork, session, pty or pipes, chroot, user, PATH lookup, execve. */
#define _GNU_SOURCE
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* What a child that failed before (or at) execve tells its parent over the CLOEXEC error pipe. */
enum { STAGE_SETUP = 1, STAGE_EXEC = 2 };
struct child_report {
    int32_t stage;
    int32_t err;
    char msg[240];
};

static void close_fd(int *fd) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

static int set_nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) return -1;
    return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        p += w;
        n -= (size_t)w;
    }
}

/* ---- child side (runs between fork and execve; the parent is single-threaded) ---- */

static _Noreturn void child_fail_setup(int report_fd, int err, const char *fmt, const char *arg) {
    struct child_report r;
    memset(&r, 0, sizeof r);
    r.stage = STAGE_SETUP;
    r.err = err;
    int n = snprintf(r.msg, sizeof r.msg, fmt, arg);
    if (n >= 0 && (size_t)n < sizeof r.msg - 3)
        snprintf(r.msg + n, sizeof r.msg - (size_t)n, ": %s", strerror(err));
    write_all(report_fd, &r, sizeof r);
    _exit(126);
}

static void try_execve(const char *path, char *const argv[], char *const envp[]) {
    execve(path, argv, envp);
    if (errno != ENOEXEC) return;
    /* A file without a #! line: run it with /bin/sh, as execvp does. */
    size_t argc = 0;
    while (argv[argc]) argc++;
    char **sh = malloc((argc + 2) * sizeof *sh);
    if (!sh) {
        errno = ENOEXEC;
        return;
    }
    sh[0] = "sh";
    sh[1] = (char *)path;
    for (size_t i = 1; i <= argc; i++) sh[i + 1] = argv[i];
    execve("/bin/sh", sh, envp);
    free(sh);
    errno = ENOEXEC;
}

/* execvpe-like lookup using PATH from envp. Returns only on failure, with errno set. */
static void exec_lookup(char *const argv[], char *const envp[]) {
    const char *file = argv[0];
    if (file[0] == 0) {
        errno = ENOENT;
        return;
    }
    if (strchr(file, '/')) {
        try_execve(file, argv, envp);
        return;
    }
    const char *path = NULL;
    for (char *const *e = envp; *e; e++) {
        if (strncmp(*e, "PATH=", 5) == 0) path = *e + 5;
    }
    if (!path) path = DEFAULT_PATH;
    size_t flen = strlen(file);
    char buf[4096];
    int seen_eacces = 0;
    for (const char *p = path;; p++) {
        const char *end = strchrnul(p, ':');
        size_t dlen = (size_t)(end - p);
        if (dlen + 1 + flen + 1 <= sizeof buf) {
            memcpy(buf, p, dlen);
            size_t o = dlen;
            if (dlen > 0) buf[o++] = '/';
            memcpy(buf + o, file, flen + 1);
            try_execve(buf, argv, envp);
            switch (errno) {
            case EACCES: seen_eacces = 1; break;
            case ENOENT:
            case ENOTDIR:
            case ENAMETOOLONG:
            case ELOOP:
            case ESTALE:
            case ENODEV:
            case ETIMEDOUT: break;
            default: return; /* a real error with this file: report it, as execvp does */
            }
        }
        if (*end == 0) break;
        p = end;
    }
    errno = seen_eacces ? EACCES : ENOENT;
}

static _Noreturn void child_main(const struct exec_request *rq, pid_t parent, int report_fd,
                                 int in_src, int out_src, int err_src) {
    /* The agent blocks SIGCHLD (signalfd) and ignores SIGPIPE: give the workload defaults. */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < 65; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
    }

    /* The agent may run SCHED_BATCH (agent.c); the workload gets the normal policy. Raw syscall: musl's
       sched_setscheduler is a stub that returns ENOSYS. */
    struct {
        int sched_priority;
    } sp = {0};
    syscall(SYS_sched_setscheduler, 0, 0 /* SCHED_OTHER */, &sp);

    if (setsid() < 0) child_fail_setup(report_fd, errno, "%s", "setsid");
    if (rq->tty && ioctl(out_src, TIOCSCTTY, 0) < 0)
        child_fail_setup(report_fd, errno, "%s", "make the pty the controlling terminal");

    if (rq->root) {
        if (chroot(rq->root) < 0) child_fail_setup(report_fd, errno, "chroot %s", rq->root);
        if (chdir("/") < 0) child_fail_setup(report_fd, errno, "%s", "chdir /");
    }
    if (rq->uid != geteuid() || rq->gid != getegid()) {
        gid_t g = rq->gid;
        char id[32];
        snprintf(id, sizeof id, "%u", (unsigned)rq->gid);
        if (setgroups(1, &g) < 0) child_fail_setup(report_fd, errno, "setgroups %s", id);
        if (setgid(g) < 0) child_fail_setup(report_fd, errno, "setgid %s", id);
        snprintf(id, sizeof id, "%u", (unsigned)rq->uid);
        if (setuid(rq->uid) < 0) child_fail_setup(report_fd, errno, "setuid %s", id);
    }
    /* Die with the agent (matters in test mode; PID 1 never exits). Set after the credential change,
       which clears it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);

    const char *cwd = rq->cwd[0] ? rq->cwd : "/";
    if (chdir(cwd) < 0) child_fail_setup(report_fd, errno, "working directory %s", cwd);

    /* All source fds are >= 3 (the agent keeps 0..2 open) and close on exec. */
    if (dup2(in_src, 0) < 0 || dup2(out_src, 1) < 0 || dup2(err_src, 2) < 0)
        child_fail_setup(report_fd, errno, "%s", "set up stdio");

    exec_lookup(rq->argv, rq->envp);

    int err = errno;
    if (err == ENOENT && !strchr(rq->argv[0], '/'))
        dprintf(2, "smolvm: %s: command not found\n", rq->argv[0]);
    else
        dprintf(2, "smolvm: %s: %s\n", rq->argv[0], strerror(err));
    struct child_report r;
    memset(&r, 0, sizeof r);
    r.stage = STAGE_EXEC;
    r.err = err;
    write_all(report_fd, &r, sizeof r);
    _exit(err == ENOENT ? 127 : 126);
}

/* ---- parent side ---- */

static int open_pty(uint16_t rows, uint16_t cols, int *master, int *slave, char *err, size_t errlen) {
    *master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (*master < 0) {
        snprintf(err, errlen, "open /dev/ptmx: %s", strerror(errno));
        return -1;
    }
    int unlock = 0;
    if (ioctl(*master, TIOCSPTLCK, &unlock) < 0) {
        snprintf(err, errlen, "unlock pty: %s", strerror(errno));
        close_fd(master);
        return -1;
    }
    *slave = ioctl(*master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (*slave < 0) {
        /* Kernels before 4.13: open the slave by name. */
        unsigned n = 0;
        char name[64];
        if (ioctl(*master, TIOCGPTN, &n) == 0) {
            snprintf(name, sizeof name, "/dev/pts/%u", n);
            *slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
        }
    }
    if (*slave < 0) {
        snprintf(err, errlen, "open pty slave: %s", strerror(errno));
        close_fd(master);
        return -1;
    }
    if (rows && cols) {
        struct winsize ws = {.ws_row = rows, .ws_col = cols};
        ioctl(*master, TIOCSWINSZ, &ws);
    }
    return 0;
}

int exec_spawn(const struct exec_request *rq, struct exec_process *p, char *err, size_t errlen) {
    int report[2] = {-1, -1}, in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
    int master = -1, slave = -1, devnull = -1, in_dup = -1;
    int in_src, out_src, err_src;

    p->pid = -1;
    p->in_fd = p->out_fd = p->err_fd = -1;
    p->exec_errno = 0;

    if (pipe2(report, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        goto fail;
    }
    if (rq->tty) {
        if (open_pty(rq->rows, rq->cols, &master, &slave, err, errlen) < 0) goto fail;
        if (rq->want_stdin && (in_dup = fcntl(master, F_DUPFD_CLOEXEC, 3)) < 0) {
            snprintf(err, errlen, "dup pty: %s", strerror(errno));
            goto fail;
        }
        in_src = out_src = err_src = slave;
    } else {
        if (pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0) {
            snprintf(err, errlen, "pipe: %s", strerror(errno));
            goto fail;
        }
        if (rq->want_stdin) {
            if (pipe2(in_pipe, O_CLOEXEC) < 0) {
                snprintf(err, errlen, "pipe: %s", strerror(errno));
                goto fail;
            }
            in_src = in_pipe[0];
        } else {
            devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
            if (devnull < 0) {
                /* No /dev/null: an empty pipe whose write end is closed reads as EOF too. */
                if (pipe2(in_pipe, O_CLOEXEC) < 0) {
                    snprintf(err, errlen, "pipe: %s", strerror(errno));
                    goto fail;
                }
                close_fd(&in_pipe[1]);
                in_src = in_pipe[0];
            } else {
                in_src = devnull;
            }
        }
        out_src = out_pipe[1];
        err_src = err_pipe[1];
    }

    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        goto fail;
    }
    if (pid == 0) {
        close(report[0]);
        child_main(rq, parent, report[1], in_src, out_src, err_src);
    }

    /* Parent: drop the child's ends, then learn whether setup and execve worked. */
    close_fd(&report[1]);
    close_fd(&slave);
    close_fd(&devnull);
    close_fd(&in_pipe[0]);
    close_fd(&out_pipe[1]);
    close_fd(&err_pipe[1]);

    struct child_report r;
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = read(report[0], (char *)&r + got, sizeof r - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close_fd(&report[0]);

    if (got == sizeof r && r.stage == STAGE_SETUP) {
        r.msg[sizeof r.msg - 1] = 0;
        snprintf(err, errlen, "%s", r.msg);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
        goto fail;
    }
    if (got == sizeof r && r.stage == STAGE_EXEC) p->exec_errno = r.err ? r.err : ENOENT;

    p->pid = pid;
    if (rq->tty) {
        p->out_fd = master;
        p->in_fd = in_dup;
    } else {
        p->out_fd = out_pipe[0];
        p->err_fd = err_pipe[0];
        p->in_fd = in_pipe[1];
    }
    if (p->out_fd >= 0) set_nonblock(p->out_fd);
    if (p->err_fd >= 0) set_nonblock(p->err_fd);
    if (p->in_fd >= 0) set_nonblock(p->in_fd);
    return 0;

fail:
    close_fd(&report[0]);
    close_fd(&report[1]);
    close_fd(&in_pipe[0]);
    close_fd(&in_pipe[1]);
    close_fd(&out_pipe[0]);
    close_fd(&out_pipe[1]);
    close_fd(&err_pipe[0]);
    close_fd(&err_pipe[1]);
    close_fd(&master);
    close_fd(&slave);
    close_fd(&devnull);
    close_fd(&in_dup);
    return -1;
}
