/* Serving the agent protocol on one channel: a single-threaded poll() loop. */
#ifndef SMOLVM_SESSION_H
#define SMOLVM_SESSION_H

#define AGENT_NAME "smolvm-agent 0.1.0"

struct session_config {
    int in_fd, out_fd;     /* the channel (may be the same fd) */
    const char *exec_root; /* workloads are chrooted here; NULL = run them in the agent's root */
    const char *fs_root;   /* file operations resolve inside this directory; NULL = exec_root, or "/" */
    int verbose;           /* log every frame to stderr */
};

enum session_end {
    SESSION_SHUTDOWN, /* the host sent SHUTDOWN */
    SESSION_EOF,      /* the host closed the channel */
    SESSION_FATAL,    /* malformed header, unsupported version or an internal error */
};

/*
 * Serves until SHUTDOWN, channel EOF or a fatal channel error. Before returning it flushes what it can
 * (bounded) and SIGKILLs the process groups of every remaining exec. The caller must have blocked
 * SIGCHLD (it is read with a signalfd) and ignored SIGPIPE.
 */
enum session_end session_run(const struct session_config *cfg);

const char *session_end_name(enum session_end e);

#endif
