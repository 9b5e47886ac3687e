/*
 * The protocol server: one poll() loop over the channel, a signalfd for SIGCHLD, and the pipes (or pty)
 * of every exec stream.
 *
 * Memory is bounded: one channel input buffer (one frame at most), one output queue that stops all
 * reading (channel and pipes) above OUTQ_HWM, and per stream a stdin buffer bounded by the STDIN window.
 *
 * Stream ends: a stream ends with EXIT (after its stdout/stderr reached EOF, FIN frames sent, and the
 * process was reaped) or with one ERROR. Either way it is then forgotten; frames that arrive later for
 * that id (a WINDOW or SIGNAL racing the EXIT) are ignored. A stream ended by ERROR while its process
 * runs has its process group SIGKILLed; the zombie is reaped by the generic waitpid(-1) loop.
 */
#define _GNU_SOURCE
#include "session.h"

#include "exec.h"
#include "fs.h"
#include "proto.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MAX_STREAMS 1024
#define OUTQ_HWM (1u << 20)                           /* stop reading anything above this */
#define OUTQ_CAP (OUTQ_HWM + (1u << 20))              /* room for what one step can add past HWM */
#define CLOSE_FLUSH_MS 3000                           /* how long to try to flush when closing */
#define CREDIT_MAX ((uint64_t)1 << 62)
#define READ_FRAMES 4 /* data frames one readv() of a process's output may fill (256 KiB) */
/*
 * After an exec's process exited, its output is read until the pipes are idle this long (while the host
 * grants credit and they hold nothing unread); then the stream ends even if a background process still holds
 * them open, as a container's exec does. Such a process is killed by SIGPIPE at its next write (workloads
 * get SIGPIPE's default action).
 */
#define DRAIN_IDLE_MS 300
/*
 * ...and at the latest this long after the exit (counted only while the host grants credit and the channel
 * is not backed up), once its pipes are empty (a chatty background writer); after twice this long, even a
 * background writer that keeps its pipe full is cut off.
 */
#define DRAIN_MAX_MS 2000
/* How long a TCP_CONNECT may take (a guest listener with a full accept queue drops SYNs). */
#define CONNECT_TIMEOUT_MS 2000

enum stream_kind { SK_EXEC, SK_FS_WRITE, SK_FS_READ, SK_FS_LIST, SK_FS_REMOVE, SK_TCP };

/* State of a file operation that outlives its request frame. */
struct fs_stream {
    char path[FS_PATH_MAX]; /* as requested, for messages */
    union {
        struct fs_writer w;  /* FS_WRITE */
        struct fs_lister l;  /* FS_LIST */
        struct fs_remover r; /* FS_REMOVE (recursive) */
    } u;
};

struct stream {
    uint32_t id;
    int kind;              /* enum stream_kind */
    struct fs_stream *fs;  /* file operations only; FS_READ reads its file through out_fd */
    pid_t pid;
    int tty;
    int dead; /* ended (EXIT or ERROR sent); freed by sweep() */
    int in_fd, out_fd, err_fd;
    uint64_t credit_out, credit_err;
    int reaped, status, exec_errno;
    int64_t idle_since_ms; /* reaped: when its output was last read (or the reap), for DRAIN_IDLE_MS */
    int64_t reaped_ms;     /* when the process was reaped, moved on by stalls; for DRAIN_MAX_MS */
    int tcp_err;           /* TCP: the errno a write failed with; reported once the output side ends */
    int64_t connect_deadline_ms; /* TCP_CONNECT still in progress (0 once connected) */
    /* stdin: bytes received from the host, not yet written to the process */
    uint8_t *in_buf;
    uint32_t in_cap, in_off, in_len;
    uint64_t in_credit; /* STDIN bytes the host may still send */
    int in_fin;
    int out_eof;     /* tty only: the master reads EOF/EIO but stays open until the process is reaped */
    int in_last_nl;  /* the last byte written was a newline (or nothing was written) */
    int tty_eof_sent;
};

static struct {
    const struct session_config *cfg;
    int sfd;
    uint8_t *in_buf; /* channel input, one frame at most */
    size_t in_len;
    int in_eof;
    uint8_t *out_buf; /* channel output queue: [out_head, out_tail) */
    size_t out_head, out_tail;
    int out_dead;
    struct stream *streams[MAX_STREAMS];
    unsigned nstreams;
    int closing;
    enum session_end end;
    int64_t close_deadline_ms;
    int rootfd; /* file operations resolve in here; a negative errno when it could not be opened */
    /*
     * Zero-copy output (splice_output): a data frame whose header is in the output queue just before
     * `at` and whose `left` payload bytes wait in the agent's own pipe spl_pipe, to be splice()d into
     * the channel once the queue up to `at` is written. One at a time; the queue after `at` holds later
     * frames.
     */
    int can_splice;
    int spl_pipe[2];
    struct {
        int active;
        size_t at;
        uint32_t left;
    } spl;
    struct fs_entry entry;
} S;

const char *session_end_name(enum session_end e) {
    switch (e) {
    case SESSION_SHUTDOWN: return "shutdown requested";
    case SESSION_EOF: return "the host closed the channel";
    case SESSION_FATAL: return "fatal channel error";
    }
    return "?";
}

static void logf_(const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    dprintf(2, "smolvm-agent: %s\n", buf);
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void close_fd(int *fd) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

static void log_frame(const char *dir, const struct smol_frame *f) {
    if (!S.cfg->verbose) return;
    char *d = smol_describe(f);
    if (d) logf_("%s %.300s%s", dir, d, strlen(d) > 300 ? "..." : "");
    free(d);
}

/* ---- channel output ---- */

static size_t outq_len(void) { return S.out_tail - S.out_head; }

/* Room for n more bytes at the tail of the output queue (compacting it if needed), or NULL. */
static uint8_t *outq_reserve(size_t n) {
    if (OUTQ_CAP - S.out_tail < n && S.out_head > 0) {
        memmove(S.out_buf, S.out_buf + S.out_head, outq_len());
        S.out_tail -= S.out_head;
        if (S.spl.active) S.spl.at -= S.out_head;
        S.out_head = 0;
    }
    if (OUTQ_CAP - S.out_tail < n) return NULL;
    return S.out_buf + S.out_tail;
}

static void send_frame(const struct smol_frame *f) {
    size_t n = smol_encoded_size(f);
    if (n == 0) {
        logf_("internal error: refusing to send an invalid %s frame", smol_type_name(f->type));
        return;
    }
    if (S.out_dead) return;
    if (!outq_reserve(n)) {
        /* Cannot happen: every producer checks OUTQ_HWM first. Never grow without bound. */
        logf_("internal error: output queue full, dropping a %s frame", smol_type_name(f->type));
        return;
    }
    log_frame(">", f);
    S.out_tail += smol_encode(f, S.out_buf + S.out_tail, OUTQ_CAP - S.out_tail);
}

/* A data frame's header, written in place (the payload was read into the queue right behind it). */
static void put_data_header(uint8_t *p, uint8_t type, uint32_t stream, uint32_t len) {
    p[0] = (uint8_t)(len >> 24);
    p[1] = (uint8_t)(len >> 16);
    p[2] = (uint8_t)(len >> 8);
    p[3] = (uint8_t)len;
    p[4] = type;
    p[5] = 0;
    p[6] = p[7] = 0;
    p[8] = (uint8_t)(stream >> 24);
    p[9] = (uint8_t)(stream >> 16);
    p[10] = (uint8_t)(stream >> 8);
    p[11] = (uint8_t)stream;
}

static void send_error(uint32_t stream, uint32_t code, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct smol_frame f = {.type = SMOL_ERROR, .stream = stream};
    f.u.error.code = code;
    f.u.error.message.ptr = (const uint8_t *)msg;
    f.u.error.message.len = (uint32_t)strlen(msg);
    send_frame(&f);
}

static void send_data(uint32_t stream, uint8_t type, const uint8_t *p, uint32_t n, int fin) {
    struct smol_frame f = {.type = type, .stream = stream, .fin = (uint8_t)fin};
    f.u.data.ptr = p;
    f.u.data.len = n;
    send_frame(&f);
}

static void begin_close(enum session_end why) {
    if (S.closing) return;
    S.closing = 1;
    S.end = why;
    S.close_deadline_ms = now_ms() + CLOSE_FLUSH_MS;
}

static int out_pending(void) { return outq_len() > 0 || S.spl.active; }

static void spl_done(void) { S.spl.active = 0; }

static void channel_failed(const char *what) {
    /* The host went away: nothing more can be said to it. */
    if (S.cfg->verbose) logf_("channel %s failed: %s", what, strerror(errno));
    S.out_dead = 1;
    begin_close(SESSION_EOF);
}

/*
 * The channel cannot splice (EINVAL): read the pending payload from the agent's pipe into its place in
 * the queue, and send everything by write() from now on.
 */
static void spl_fallback(void) {
    S.can_splice = 0;
    uint32_t k = S.spl.left;
    if (!outq_reserve(k)) {
        logf_("internal error: no room to fall back from splice");
        S.out_dead = 1;
        begin_close(SESSION_FATAL);
        return;
    }
    uint8_t *at = S.out_buf + S.spl.at;
    memmove(at + k, at, S.out_tail - S.spl.at);
    size_t got = 0;
    while (got < k) {
        ssize_t r = read(S.spl_pipe[0], at + got, k - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    if (got < k) {
        logf_("internal error: %u bytes announced, %zu read", k, got);
        S.out_dead = 1;
        begin_close(SESSION_FATAL);
        return;
    }
    S.out_tail += k;
    spl_done();
}

static void flush_out(void) {
    while (out_pending() && !S.out_dead) {
        size_t end = S.spl.active ? S.spl.at : S.out_tail;
        if (S.out_head < end) {
            ssize_t w = write(S.cfg->out_fd, S.out_buf + S.out_head, end - S.out_head);
            if (w > 0) S.out_head += (size_t)w;
            else if (w < 0 && errno == EINTR) continue;
            else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            else channel_failed("write");
            continue;
        }
        if (!S.spl.active) break;
        /* All of the pipe's content, always: virtio_console (Linux 6.1) sizes its scatterlist by the
           pipe's occupancy and hands the host zero-sized buffers when asked for less. */
        ssize_t r = splice(S.spl_pipe[0], NULL, S.cfg->out_fd, NULL, S.spl.left,
                           SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
        if (r > 0) {
            S.spl.left -= (uint32_t)r;
            if (S.spl.left == 0) spl_done();
        } else if (r < 0 && errno == EINTR) {
            continue;
        } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break; /* the channel is full (the payload is in the pipe) */
        } else if (r < 0 && errno == EINVAL) {
            spl_fallback();
        } else if (r == 0) {
            /* Nothing moved although the pipe holds the payload (a virtio port returns 0 when the
               virtqueue refused the buffer, after taking it from the pipe): the frame is lost. */
            logf_("splice into the channel moved nothing; the byte stream is broken");
            S.out_dead = 1;
            begin_close(SESSION_FATAL);
        } else {
            channel_failed("splice");
        }
    }
    if (S.out_dead && S.spl.active) spl_done();
    if (outq_len() == 0 || S.out_dead) {
        if (S.spl.active) S.spl.at -= S.out_head; /* 0: it is at the head */
        S.out_head = S.out_tail = 0;
    }
}

/* ---- streams ---- */

static struct stream *find_stream(uint32_t id) {
    for (unsigned i = 0; i < S.nstreams; i++) {
        if (S.streams[i]->id == id && !S.streams[i]->dead) return S.streams[i];
    }
    return NULL;
}

static void kill_process(struct stream *s, int sig) {
    if (s->pid <= 0) return;
    /*
     * The child called setsid(), so its pid is its process group. The group outlives a reaped leader while
     * a background process of it still runs (and, holding the stream's stdout, keeps the stream open): a
     * signal still reaches it. Linux never hands out a pid that is still some group's id, so this cannot
     * hit a stranger.
     */
    if (kill(-s->pid, sig) == 0) return;
    if (!s->reaped) kill(s->pid, sig);
    else if (errno == ESRCH) s->pid = 0; /* the group is gone: its id may be handed out again */
}

static void stream_close_fds(struct stream *s) {
    close_fd(&s->in_fd);
    close_fd(&s->out_fd);
    close_fd(&s->err_fd);
}

/* Ends a stream with ERROR: the host will not hear about it again. */
static void stream_abort(struct stream *s, uint32_t code, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    send_error(s->id, code, "%s", msg);
    kill_process(s, SIGKILL);
    stream_close_fds(s);
    s->dead = 1;
}

/* Grants the host `n` more bytes of STDIN credit (after they left the buffer). */
static void grant_stdin(struct stream *s, uint32_t n) {
    if (n == 0 || s->dead) return;
    s->in_credit += n;
    struct smol_frame f = {.type = SMOL_WINDOW, .stream = s->id};
    f.u.window.fd = 0;
    f.u.window.increment = n;
    send_frame(&f);
}

static void stdin_drop(struct stream *s) {
    uint32_t dropped = s->in_len;
    s->in_len = s->in_off = 0;
    close_fd(&s->in_fd);
    grant_stdin(s, dropped);
}

/*
 * End of input on a pty: closing our side cannot signal it, so type the terminal's EOF character when
 * the line discipline is canonical (twice after a partial line: the first one only ends the line).
 * A raw-mode program gets no such character; the host's user types whatever that program expects.
 */
static void tty_send_eof(struct stream *s) {
    struct termios t;
    if (s->tty_eof_sent) return;
    s->tty_eof_sent = 1;
    if (tcgetattr(s->in_fd, &t) < 0 || !(t.c_lflag & ICANON)) return;
    char eof[2] = {(char)t.c_cc[VEOF], (char)t.c_cc[VEOF]};
    ssize_t w = write(s->in_fd, eof, s->in_last_nl ? 1 : 2);
    (void)w; /* best effort: the pty input queue is nearly empty once our buffer drained */
}

static void fs_finish(struct stream *s, int err, const char *path);

static void stdin_write(struct stream *s) {
    if (s->connect_deadline_ms) return; /* buffered until the connection is up */
    while (s->in_len > 0 && s->in_fd >= 0) {
        ssize_t w = write(s->in_fd, s->in_buf + s->in_off, s->in_len);
        if (w > 0) {
            s->in_last_nl = s->in_buf[s->in_off + (uint32_t)w - 1] == '\n';
            s->in_off += (uint32_t)w;
            s->in_len -= (uint32_t)w;
            grant_stdin(s, (uint32_t)w);
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        } else if (s->kind == SK_TCP) {
            /* EPIPE, ECONNRESET: nothing more goes in, but what the service sent before (an error reply,
               say) is still read and delivered; the stream then ends with this errno, not cleanly. */
            s->tcp_err = errno;
            stdin_drop(s);
            return;
        } else {
            /* EPIPE (or EIO on a pty): the process no longer reads its stdin. */
            stdin_drop(s);
            return;
        }
    }
    if (s->in_len == 0) {
        s->in_off = 0;
        if (s->in_fin && s->in_fd >= 0) {
            if (s->tty) tty_send_eof(s);
            /* A connection shares its socket between in_fd and out_fd: only shutdown() says EOF. */
            if (s->kind == SK_TCP) shutdown(s->in_fd, SHUT_WR);
            close_fd(&s->in_fd);
        }
    }
}

static void send_fs_done(uint32_t id, int err, const char *path);

/*
 * Output from a process's pipe without copying it through the agent: the payload is spliced (page
 * references move, no copy) from the process's pipe into the agent's own pipe, its header goes into the
 * queue, and flush_out() splices the whole own pipe into the channel behind it (virtio_console hands the
 * pages to the host without a copy). Returns 0 when it moved nothing (an empty pipe: EOF or a spurious
 * wakeup, for the read path to find out), 1 otherwise.
 */
static int splice_output(struct stream *s, int fd, uint64_t *credit, uint8_t type) {
    for (int i = 0; i < READ_FRAMES && *credit > 0 && !S.spl.active && !S.out_dead; i++) {
        size_t want = *credit < SMOL_MAX_DATA ? (size_t)*credit : SMOL_MAX_DATA;
        if (!outq_reserve(SMOL_HEADER_LEN)) return i > 0;
        ssize_t r = splice(fd, NULL, S.spl_pipe[1], NULL, want, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
        if (r <= 0) {
            if (r < 0 && errno == EINVAL) S.can_splice = 0; /* cannot happen between two pipes */
            return i > 0;
        }
        uint32_t k = (uint32_t)r;
        put_data_header(S.out_buf + S.out_tail, type, s->id, k);
        S.out_tail += SMOL_HEADER_LEN;
        S.spl.active = 1;
        S.spl.at = S.out_tail;
        S.spl.left = k;
        *credit -= k;
        if (s->reaped) s->idle_since_ms = now_ms();
        if (S.cfg->verbose)
            logf_("> %s stream=%" PRIu32 " fin=0 data=(%" PRIu32 " bytes, spliced)", smol_type_name(type),
                  s->id, k);
        flush_out(); /* usually sends it all at once; if not, the loop finishes it on POLLOUT */
    }
    return 1;
}

static void pump_output(struct stream *s, int fdno) {
    int *fd = fdno == 1 ? &s->out_fd : &s->err_fd;
    uint64_t *credit = fdno == 1 ? &s->credit_out : &s->credit_err;
    uint8_t type = fdno == 1 ? SMOL_STDOUT : SMOL_STDERR;
    if (*fd < 0 || *credit == 0 || s->dead || (fdno == 1 && s->out_eof) || S.out_dead) return;
    if (S.can_splice && s->kind == SK_EXEC && !s->tty && !S.spl.active &&
        splice_output(s, *fd, credit, type))
        return;
    /*
     * Read straight into the output queue, up to READ_FRAMES frames in one readv: each iovec is the
     * payload slot of one frame, with a gap for its header in front. Every frame but the last comes out
     * full, so the frames are contiguous; only the headers are written afterwards.
     */
    const size_t slot = SMOL_HEADER_LEN + SMOL_MAX_DATA;
    size_t want = *credit < READ_FRAMES * (uint64_t)SMOL_MAX_DATA ? (size_t)*credit
                                                                  : READ_FRAMES * (size_t)SMOL_MAX_DATA;
    int nf = (int)((want + SMOL_MAX_DATA - 1) / SMOL_MAX_DATA);
    uint8_t *base = outq_reserve(want + (size_t)nf * SMOL_HEADER_LEN);
    if (!base) return; /* cannot happen below OUTQ_HWM; try again when the queue drained */
    struct iovec iov[READ_FRAMES];
    size_t left = want;
    for (int i = 0; i < nf; i++) {
        iov[i].iov_base = base + (size_t)i * slot + SMOL_HEADER_LEN;
        iov[i].iov_len = left < SMOL_MAX_DATA ? left : SMOL_MAX_DATA;
        left -= iov[i].iov_len;
    }
    ssize_t n = readv(*fd, iov, nf);
    if (n > 0) {
        size_t rest = (size_t)n;
        for (int i = 0; rest > 0; i++) {
            uint32_t k = rest < SMOL_MAX_DATA ? (uint32_t)rest : SMOL_MAX_DATA;
            uint8_t *h = base + (size_t)i * slot;
            put_data_header(h, type, s->id, k);
            if (S.cfg->verbose) {
                struct smol_frame f = {.type = type, .stream = s->id};
                f.u.data.ptr = h + SMOL_HEADER_LEN;
                f.u.data.len = k;
                log_frame(">", &f);
            }
            S.out_tail += SMOL_HEADER_LEN + k;
            rest -= k;
        }
        *credit -= (uint64_t)n;
        if (s->reaped) s->idle_since_ms = now_ms();
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (s->kind == SK_TCP && n < 0) {
        /* ECONNRESET and friends: the connection is broken both ways. */
        fs_finish(s, errno, s->fs->path);
        return;
    }
    if (s->kind == SK_FS_READ) {
        /* The whole file was sent (FIN, then FS_DONE), or reading it failed (FS_DONE only). */
        if (n == 0) send_data(s->id, type, NULL, 0, 1);
        fs_finish(s, n == 0 ? 0 : errno, s->fs->path);
        return;
    }
    /* EOF; EIO is how a pty master says every slave fd is closed. */
    send_data(s->id, type, NULL, 0, 1);
    if (s->tty) {
        /* Closing the last master fd hangs the terminal up: SIGHUP to a process that merely closed
           its stdio and still runs. Keep it until the stream ends (after the reap). */
        s->out_eof = 1;
    } else {
        close_fd(fd);
    }
}

static int output_done(const struct stream *s) {
    return (s->out_fd < 0 || s->out_eof) && s->err_fd < 0;
}

static void fs_release(struct stream *s) {
    if (!s->fs) return;
    switch (s->kind) {
    case SK_FS_WRITE: fs_writer_discard(&s->fs->u.w); break; /* unlinks an uncommitted temp file */
    case SK_FS_LIST: fs_lister_close(&s->fs->u.l); break;
    case SK_FS_REMOVE: fs_remover_close(&s->fs->u.r); break;
    default: break;
    }
    free(s->fs);
    s->fs = NULL;
}

/*
 * An exec whose process exited but whose output is still held open by something else: the time at which
 * it is ended (its remaining output fds get FIN), or -1 while it must wait (output not idle long enough, or
 * the host has granted no credit, so unread data may still be in the pipe).
 */
static int64_t drain_deadline(const struct stream *s) {
    if (s->kind != SK_EXEC || s->dead || !s->reaped || output_done(s)) return -1;
    if ((s->out_fd >= 0 && !s->out_eof && s->credit_out == 0) || (s->err_fd >= 0 && s->credit_err == 0)) return -1;
    int64_t idle = s->idle_since_ms + DRAIN_IDLE_MS, cap = s->reaped_ms + DRAIN_MAX_MS;
    return idle < cap ? idle : cap;
}

/* Bytes waiting unread in a pipe (or pty), 0 when it cannot tell. */
static int unread(int fd) {
    int n = 0;
    if (fd < 0 || ioctl(fd, FIONREAD, &n) < 0) return 0;
    return n;
}

/*
 * Ends the output of a drained stream, unless something is still unread (then the loop reads it first),
 * and unless the hard bound has passed: a background writer that never lets its pipe empty is cut off.
 */
static void drain_close(struct stream *s, int64_t now) {
    if ((unread(s->out_eof ? -1 : s->out_fd) > 0 || unread(s->err_fd) > 0) && now < s->reaped_ms + 2 * DRAIN_MAX_MS) {
        s->idle_since_ms = now;
        return;
    }
    if (s->out_fd >= 0 && !s->out_eof) {
        send_data(s->id, SMOL_STDOUT, NULL, 0, 1);
        if (s->tty) s->out_eof = 1;
        else close_fd(&s->out_fd);
    }
    if (s->err_fd >= 0) {
        send_data(s->id, SMOL_STDERR, NULL, 0, 1);
        close_fd(&s->err_fd);
    }
}

static void sweep(void) {
    int64_t now = now_ms();
    for (unsigned i = 0; i < S.nstreams;) {
        struct stream *s = S.streams[i];
        int64_t drain = drain_deadline(s);
        if (drain >= 0 && now >= drain && outq_len() < OUTQ_HWM) drain_close(s, now);
        /* A channel backed up past OUTQ_HWM reads nothing: that time does not count towards the bound. */
        if (s->reaped && outq_len() >= OUTQ_HWM && s->reaped_ms < now - DRAIN_IDLE_MS) s->reaped_ms = now - DRAIN_IDLE_MS;
        if (s->connect_deadline_ms && !s->dead && now >= s->connect_deadline_ms) fs_finish(s, ETIMEDOUT, s->fs->path);
        if (s->kind == SK_EXEC && !s->dead && s->reaped && output_done(s)) {
            struct smol_frame f = {.type = SMOL_EXIT, .stream = s->id};
            if (s->exec_errno) {
                f.u.exit.exit_code = s->exec_errno == ENOENT ? 127 : 126;
                f.u.exit.exec_errno = (uint32_t)s->exec_errno;
            } else if (WIFSIGNALED(s->status)) {
                f.u.exit.exit_code = 128 + WTERMSIG(s->status);
                f.u.exit.signal = (uint32_t)WTERMSIG(s->status);
            } else {
                f.u.exit.exit_code = WEXITSTATUS(s->status);
            }
            send_frame(&f);
            s->dead = 1;
        }
        if (s->kind == SK_TCP && !s->dead && s->out_fd < 0 && s->in_fd < 0) {
            /* Both directions ended: the guest service's EOF went out, the host's FIN went in (or writing
               failed, which is reported now). */
            send_fs_done(s->id, s->tcp_err, s->tcp_err ? s->fs->path : "");
            s->dead = 1;
        }
        if (s->dead) {
            stream_close_fds(s);
            fs_release(s);
            free(s->in_buf);
            free(s);
            S.streams[i] = S.streams[--S.nstreams];
            continue;
        }
        i++;
    }
}

static void reap_children(void) {
    struct signalfd_siginfo si;
    while (read(S.sfd, &si, sizeof si) > 0) {
    }
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0) break;
        for (unsigned i = 0; i < S.nstreams; i++) {
            struct stream *s = S.streams[i];
            if (s->pid == pid && !s->reaped) {
                s->reaped = 1;
                s->idle_since_ms = s->reaped_ms = now_ms();
                s->status = status;
                break;
            }
        }
        /* Any other pid is an orphan (we may be PID 1) or an aborted stream's process. */
    }
}


/* ---- file operations ---- */

static void send_fs_done(uint32_t id, int err, const char *path) {
    char msg[FS_PATH_MAX + 128];
    msg[0] = 0;
    if (err) snprintf(msg, sizeof msg, "%s: %s", path[0] ? path : "/", strerror(err));
    struct smol_frame f = {.type = SMOL_FS_DONE, .stream = id};
    f.u.fs_done.err = (uint32_t)err;
    f.u.fs_done.message.ptr = (const uint8_t *)msg;
    f.u.fs_done.message.len = (uint32_t)strlen(msg);
    send_frame(&f);
}

/* Ends a file-operation stream with FS_DONE; its resources go in sweep() (a pending write is discarded). */
static void fs_finish(struct stream *s, int err, const char *path) {
    if (s->dead) return;
    send_fs_done(s->id, err, path);
    close_fd(&s->out_fd);
    s->dead = 1;
}

static void send_entry(uint32_t id, const struct fs_entry *e) {
    struct smol_frame f = {.type = SMOL_FS_ENTRY, .stream = id};
    f.u.fs_entry.kind = e->kind;
    f.u.fs_entry.mode = e->mode;
    f.u.fs_entry.uid = e->uid;
    f.u.fs_entry.gid = e->gid;
    f.u.fs_entry.size = e->size;
    f.u.fs_entry.mtime = e->mtime;
    f.u.fs_entry.name.ptr = (const uint8_t *)e->name;
    f.u.fs_entry.name.len = e->name_len;
    f.u.fs_entry.target.ptr = (const uint8_t *)e->target;
    f.u.fs_entry.target.len = e->target_len;
    send_frame(&f);
}

static struct stream *fs_stream_new(uint32_t id, int kind, const char *path) {
    struct stream *s = calloc(1, sizeof *s);
    struct fs_stream *fs = malloc(sizeof *fs);
    if (!s || !fs) {
        free(s);
        free(fs);
        return NULL;
    }
    s->id = id;
    s->kind = kind;
    s->fs = fs;
    s->in_fd = s->out_fd = s->err_fd = -1;
    snprintf(fs->path, sizeof fs->path, "%s", path);
    return s;
}

/* A request that opens a stream on an id in use ends that stream with ERROR 3 (and opens nothing). */
static int stream_id_free(uint32_t id) {
    struct stream *old = find_stream(id);
    if (!old) return 1;
    stream_abort(old, SMOL_ERR_STREAM, "stream %" PRIu32 " is already in use", id);
    return 0;
}

static void handle_fs(const struct smol_frame *f) {
    uint32_t id = f->stream;
    if (!stream_id_free(id)) return;
    char path[FS_PATH_MAX];
    int rc = fs_path_copy(f->u.fs.path.ptr, f->u.fs.path.len, path);
    if (rc < 0) {
        send_fs_done(id, -rc, rc == -EINVAL ? "(a path with a NUL byte)" : "(a very long path)");
        return;
    }
    if (S.rootfd < 0) {
        send_fs_done(id, -S.rootfd, path);
        return;
    }
    int kind;
    switch (f->type) {
    case SMOL_FS_STAT:
        rc = fs_stat(S.rootfd, path, &S.entry);
        if (rc == 0) send_entry(id, &S.entry);
        send_fs_done(id, -rc, path);
        return;
    case SMOL_FS_MKDIR:
        rc = fs_mkdir(S.rootfd, path, f->u.fs.mode, (f->u.fs.flags & SMOL_FS_PARENTS) != 0);
        send_fs_done(id, -rc, path);
        return;
    case SMOL_FS_WRITE: kind = SK_FS_WRITE; break;
    case SMOL_FS_READ: kind = SK_FS_READ; break;
    case SMOL_FS_LIST: kind = SK_FS_LIST; break;
    default: kind = SK_FS_REMOVE; break;
    }
    if (S.nstreams >= MAX_STREAMS) {
        send_fs_done(id, EMFILE, path);
        return;
    }
    struct stream *s = fs_stream_new(id, kind, path);
    if (!s) {
        send_fs_done(id, ENOMEM, path);
        return;
    }
    const char *errpath = path;
    switch (kind) {
    case SK_FS_WRITE:
        rc = fs_writer_open(S.rootfd, path, f->u.fs.mode, (f->u.fs.flags & SMOL_FS_MKDIRS) != 0,
                            &s->fs->u.w);
        s->in_credit = SMOL_STDIN_WINDOW;
        break;
    case SK_FS_READ: {
        int fd = fs_open(S.rootfd, path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
        struct stat st;
        rc = fd;
        if (fd >= 0 && fstat(fd, &st) < 0) rc = -errno;
        else if (fd >= 0 && S_ISDIR(st.st_mode)) rc = -EISDIR;
        if (rc < 0 && fd >= 0) close(fd);
        if (rc >= 0) {
            s->out_fd = fd;
            s->credit_out = f->u.fs.window;
            rc = 0;
        }
        break;
    }
    case SK_FS_LIST: rc = fs_lister_open(S.rootfd, path, &s->fs->u.l); break;
    default:
        rc = fs_remover_start(S.rootfd, path, (f->u.fs.flags & SMOL_FS_RECURSIVE) != 0, &s->fs->u.r);
        errpath = s->fs->u.r.path;
        /* 1: a tree to remove by steps; 0: removed already. */
        rc = rc == 1 ? 0 : rc == 0 ? 1 : rc;
        break;
    }
    if (rc != 0) {
        /* Failed, or (a remove) already done: nothing more to stream. */
        send_fs_done(id, rc < 0 ? -rc : 0, errpath);
        s->dead = 1;
        fs_release(s);
        free(s);
        return;
    }
    S.streams[S.nstreams++] = s;
}

/* A connecting socket became writable (or connected at once): established, or the connect failed. */
static void tcp_connected(struct stream *s) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(s->in_fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err == 0 && (s->out_fd = fcntl(s->in_fd, F_DUPFD_CLOEXEC, 3)) < 0) err = errno;
    s->connect_deadline_ms = 0;
    if (err) {
        fs_finish(s, err, s->fs->path);
        return;
    }
    stdin_write(s); /* what the host sent meanwhile */
}

/*
 * TCP_CONNECT: a connection to 127.0.0.1:port in the guest (the workloads share the agent's network
 * namespace, so this is where a published port's service listens). The socket is both the stream's
 * "stdin" (host bytes in; FIN = shutdown(SHUT_WR)) and its "stdout" (guest bytes out; EOF = FIN), under
 * the same credit rules as an exec. The stream ends with FS_DONE once both directions ended, or with an
 * errno when the connection could not be made or broke.
 */
static void handle_tcp(const struct smol_frame *f) {
    uint32_t id = f->stream;
    if (!stream_id_free(id)) return;
    char where[32];
    snprintf(where, sizeof where, "127.0.0.1:%u", (unsigned)f->u.tcp.port);
    if (S.nstreams >= MAX_STREAMS) {
        send_fs_done(id, EMFILE, where);
        return;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        send_fs_done(id, errno, where);
        return;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(f->u.tcp.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* Never blocks the loop: a connect that does not complete at once (a full accept queue) is finished
       by tcp_connected() on POLLOUT, or ends with ETIMEDOUT after CONNECT_TIMEOUT_MS. */
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    int err = rc == 0 ? 0 : errno;
    if (rc < 0 && err != EINPROGRESS && err != EINTR) {
        send_fs_done(id, err, where);
        close(fd);
        return;
    }
    struct stream *s = fs_stream_new(id, SK_TCP, where);
    if (!s) {
        send_fs_done(id, ENOMEM, where);
        close(fd);
        return;
    }
    s->in_fd = fd;
    s->credit_out = f->u.tcp.window;
    s->in_credit = SMOL_STDIN_WINDOW;
    s->in_last_nl = 1;
    s->connect_deadline_ms = now_ms() + CONNECT_TIMEOUT_MS;
    S.streams[S.nstreams++] = s;
    if (rc == 0) tcp_connected(s);
}

/* STDIN on an FS_WRITE stream: straight into the temporary file, then the credit goes back. */
static void fs_write_input(struct stream *s, const struct smol_frame *f) {
    uint32_t n = f->u.data.len;
    if (n > s->in_credit) {
        stream_abort(s, SMOL_ERR_FLOW,
                     "STDIN flow-control violation: %" PRIu32 " bytes sent with %" PRIu64
                     " bytes of credit",
                     n, s->in_credit);
        return;
    }
    s->in_credit -= n;
    int rc = fs_writer_write(&s->fs->u.w, f->u.data.ptr, n);
    if (rc < 0) {
        fs_finish(s, -rc, s->fs->path);
        return;
    }
    if (f->fin) {
        rc = fs_writer_commit(&s->fs->u.w);
        fs_finish(s, -rc, s->fs->path);
        return;
    }
    grant_stdin(s, n);
}

/* Progress for streams that are not driven by an fd: a bounded amount of work per loop iteration. */
static int fs_busy(const struct stream *s) {
    return !s->dead && (s->kind == SK_FS_LIST || s->kind == SK_FS_REMOVE);
}

static void fs_step(struct stream *s) {
    if (s->kind == SK_FS_LIST) {
        for (int i = 0; i < 256 && outq_len() < OUTQ_HWM; i++) {
            int rc = fs_lister_next(&s->fs->u.l, &S.entry);
            if (rc <= 0) {
                fs_finish(s, -rc, s->fs->path);
                return;
            }
            send_entry(s->id, &S.entry);
        }
    } else if (s->kind == SK_FS_REMOVE) {
        int rc = fs_remover_step(&s->fs->u.r, 256);
        if (rc <= 0) fs_finish(s, -rc, s->fs->u.r.path);
    }
}

/* ---- frame handlers ---- */

/* Copies a strlist into a NULL-terminated array of C strings (one allocation). */
static char **strlist_to_c(const struct smol_strlist *l, const char *what, uint32_t stream) {
    size_t bytes = (size_t)(l->count + 1) * sizeof(char *) + l->raw_len + l->count;
    char **v = malloc(bytes);
    if (!v) {
        send_error(stream, SMOL_ERR_INTERNAL, "out of memory copying %s", what);
        return NULL;
    }
    char *dst = (char *)(v + l->count + 1);
    uint32_t pos = 0, i = 0;
    struct smol_bytes b;
    while (smol_strlist_next(l, &pos, &b)) {
        if (memchr(b.ptr, 0, b.len)) {
            send_error(stream, SMOL_ERR_EXEC_SETUP, "%s[%" PRIu32 "] contains a NUL byte", what, i);
            free(v);
            return NULL;
        }
        v[i++] = dst;
        if (b.len) memcpy(dst, b.ptr, b.len);
        dst[b.len] = 0;
        dst += b.len + 1;
    }
    v[i] = NULL;
    return v;
}

static void handle_exec(const struct smol_frame *f) {
    uint32_t id = f->stream;
    if (!stream_id_free(id)) return;
    if (S.nstreams >= MAX_STREAMS) {
        send_error(id, SMOL_ERR_EXEC_SETUP, "too many concurrent exec streams (the limit is %d)",
                   MAX_STREAMS);
        return;
    }
    char cwd[4097];
    if (f->u.exec.cwd.len >= sizeof cwd || memchr(f->u.exec.cwd.ptr, 0, f->u.exec.cwd.len)) {
        send_error(id, SMOL_ERR_EXEC_SETUP, "working directory: not a valid path");
        return;
    }
    memcpy(cwd, f->u.exec.cwd.ptr, f->u.exec.cwd.len);
    cwd[f->u.exec.cwd.len] = 0;

    char **argv = strlist_to_c(&f->u.exec.argv, "argv", id);
    if (!argv) return;
    char **envp = strlist_to_c(&f->u.exec.env, "env", id);
    if (!envp) {
        free(argv);
        return;
    }
    struct stream *s = calloc(1, sizeof *s);
    if (!s) {
        send_error(id, SMOL_ERR_INTERNAL, "out of memory");
        free(argv);
        free(envp);
        return;
    }
    struct exec_request rq = {
        .tty = (f->u.exec.flags & SMOL_EXEC_TTY) != 0,
        .want_stdin = (f->u.exec.flags & SMOL_EXEC_STDIN) != 0,
        .uid = f->u.exec.uid,
        .gid = f->u.exec.gid,
        .rows = f->u.exec.rows,
        .cols = f->u.exec.cols,
        .argv = argv,
        .envp = envp,
        .cwd = cwd,
        .root = S.cfg->exec_root,
    };
    struct exec_process p;
    char err[512];
    int rc = exec_spawn(&rq, &p, err, sizeof err);
    free(argv);
    free(envp);
    if (rc < 0) {
        send_error(id, SMOL_ERR_EXEC_SETUP, "%s", err);
        free(s);
        return;
    }
    /* A lingering finished stream whose process group is gone may name this pid: it must not signal it. */
    for (unsigned i = 0; i < S.nstreams; i++)
        if (S.streams[i]->reaped && S.streams[i]->pid == p.pid) S.streams[i]->pid = 0;
    s->id = id;
    s->pid = p.pid;
    s->tty = rq.tty;
    s->in_fd = p.in_fd;
    s->out_fd = p.out_fd;
    s->err_fd = p.err_fd;
    s->exec_errno = p.exec_errno;
    s->credit_out = s->credit_err = f->u.exec.window;
    s->in_credit = SMOL_STDIN_WINDOW;
    s->in_last_nl = 1;
    S.streams[S.nstreams++] = s;
    if (S.cfg->verbose) logf_("stream %" PRIu32 ": pid %d", id, (int)p.pid);
}

static void handle_stdin(const struct smol_frame *f) {
    struct stream *s = find_stream(f->stream);
    if (!s) return; /* ended already: late input is dropped */
    if (s->kind == SK_FS_WRITE) {
        fs_write_input(s, f);
        return;
    }
    if (s->kind != SK_EXEC && s->kind != SK_TCP) {
        stream_abort(s, SMOL_ERR_MALFORMED, "STDIN on a file operation that takes no input");
        return;
    }
    uint32_t n = f->u.data.len;
    if (n > s->in_credit) {
        stream_abort(s, SMOL_ERR_FLOW,
                     "STDIN flow-control violation: %" PRIu32 " bytes sent with %" PRIu64
                     " bytes of credit",
                     n, s->in_credit);
        return;
    }
    s->in_credit -= n;
    if (s->in_fd < 0 || s->in_fin) {
        grant_stdin(s, n); /* nobody reads it (no STDIN flag, closed, or after FIN) */
    } else if (n > 0) {
        if (s->in_off + s->in_len + n > s->in_cap) {
            if (s->in_len) memmove(s->in_buf, s->in_buf + s->in_off, s->in_len);
            s->in_off = 0;
        }
        if (s->in_len + n > s->in_cap) {
            /* Credit accounting keeps in_len + n <= SMOL_STDIN_WINDOW (every byte that leaves the
               buffer is granted back at once); the buffer never grows past that. */
            if (s->in_len + n > SMOL_STDIN_WINDOW) {
                stream_abort(s, SMOL_ERR_INTERNAL, "stdin buffer accounting error");
                return;
            }
            uint32_t cap = s->in_cap ? s->in_cap : 4096;
            while (cap < s->in_len + n) cap *= 2;
            if (cap > SMOL_STDIN_WINDOW) cap = SMOL_STDIN_WINDOW;
            uint8_t *nb = realloc(s->in_buf, cap);
            if (!nb) {
                stream_abort(s, SMOL_ERR_INTERNAL, "out of memory buffering stdin");
                return;
            }
            s->in_buf = nb;
            s->in_cap = cap;
        }
        memcpy(s->in_buf + s->in_off + s->in_len, f->u.data.ptr, n);
        s->in_len += n;
        stdin_write(s);
    }
    if (f->fin && !s->dead && !s->in_fin) {
        s->in_fin = 1;
        stdin_write(s); /* closes stdin (after a tty EOF) when nothing is pending */
    }
}

static void handle_frame(const struct smol_frame *f) {
    log_frame("<", f);
    struct stream *s;
    switch (f->type) {
    case SMOL_HELLO:
        if (f->u.hello.min_version <= SMOL_PROTOCOL_VERSION &&
            f->u.hello.max_version >= SMOL_PROTOCOL_VERSION) {
            struct smol_frame a = {.type = SMOL_HELLO_ACK, .stream = 0};
            a.u.hello_ack.version = SMOL_PROTOCOL_VERSION;
            a.u.hello_ack.capabilities = SMOL_CAPS_V1;
            a.u.hello_ack.agent.ptr = (const uint8_t *)AGENT_NAME;
            a.u.hello_ack.agent.len = (uint32_t)strlen(AGENT_NAME);
            send_frame(&a);
        } else {
            send_error(0, SMOL_ERR_VERSION,
                       "unsupported protocol version: the host offered %u..%u, this agent speaks %u",
                       f->u.hello.min_version, f->u.hello.max_version, SMOL_PROTOCOL_VERSION);
            begin_close(SESSION_FATAL);
        }
        break;
    case SMOL_PING: {
        struct smol_frame p = {.type = SMOL_PONG, .stream = 0};
        p.u.ping.nonce = f->u.ping.nonce;
        send_frame(&p);
        break;
    }
    case SMOL_PONG: break;
    case SMOL_SHUTDOWN: begin_close(SESSION_SHUTDOWN); break;
    case SMOL_EXEC: handle_exec(f); break;
    case SMOL_STDIN: handle_stdin(f); break;
    case SMOL_WINDOW:
        s = find_stream(f->stream);
        if (!s) break;
        /* Fresh credit restarts a finished process's drain: unread output may wait in its pipes. After a
           stall (no credit at all), the bound starts again too: the host's pace is not the guest's fault. */
        if (s->reaped) {
            int64_t t = now_ms();
            s->idle_since_ms = t;
            if ((f->u.window.fd == 1 && s->credit_out == 0) || (f->u.window.fd == 2 && s->credit_err == 0)) s->reaped_ms = t;
        }
        if (f->u.window.fd == 1) {
            s->credit_out += f->u.window.increment;
            if (s->credit_out > CREDIT_MAX) s->credit_out = CREDIT_MAX;
        } else if (f->u.window.fd == 2) {
            s->credit_err += f->u.window.increment;
            if (s->credit_err > CREDIT_MAX) s->credit_err = CREDIT_MAX;
        }
        /* fd 0 is the agent's to grant; ignore it from the host. */
        break;
    case SMOL_SIGNAL:
        s = find_stream(f->stream);
        if (s && s->kind == SK_EXEC) kill_process(s, (int)f->u.signal.signo);
        else if (s) fs_finish(s, ECANCELED, s->fs->path); /* abandoned: a write leaves nothing */
        break;
    case SMOL_RESIZE:
        s = find_stream(f->stream);
        if (s && s->tty && s->out_fd >= 0) {
            struct winsize ws = {.ws_row = f->u.resize.rows, .ws_col = f->u.resize.cols};
            ioctl(s->out_fd, TIOCSWINSZ, &ws);
        }
        break;
    case SMOL_ERROR:
        if (S.cfg->verbose) logf_("the host reported an error on stream %" PRIu32, f->stream);
        break;
    case SMOL_FS_WRITE:
    case SMOL_FS_READ:
    case SMOL_FS_STAT:
    case SMOL_FS_LIST:
    case SMOL_FS_MKDIR:
    case SMOL_FS_REMOVE: handle_fs(f); break;
    case SMOL_TCP_CONNECT: handle_tcp(f); break;
    default: /* HELLO_ACK, STDOUT, STDERR, EXIT, FS_DONE, FS_ENTRY: the agent sends these */
        if (f->stream != 0 && (s = find_stream(f->stream)) != NULL)
            stream_abort(s, SMOL_ERR_MALFORMED, "%s frames go from the agent to the host",
                         smol_type_name(f->type));
        else
            send_error(f->stream, SMOL_ERR_MALFORMED, "%s frames go from the agent to the host",
                       smol_type_name(f->type));
        break;
    }
}

static void process_input(void) {
    size_t pos = 0;
    while (!S.closing && pos < S.in_len && outq_len() < OUTQ_HWM) {
        struct smol_frame f;
        struct smol_header h;
        size_t used = 0;
        enum smol_status st = smol_decode(S.in_buf + pos, S.in_len - pos, &f, &used, &h);
        if (st == SMOL_E_TRUNCATED) break;
        if (used == 0) {
            /* A malformed header: the byte stream can no longer be trusted. */
            const uint8_t *b = S.in_buf + pos;
            send_error(0, SMOL_ERR_MALFORMED,
                       "malformed frame header (%s): %02x%02x%02x%02x %02x %02x %02x%02x "
                       "%02x%02x%02x%02x; closing the channel",
                       smol_status_name(st), b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8],
                       b[9], b[10], b[11]);
            logf_("malformed frame header from the host (%s); closing the channel",
                  smol_status_name(st));
            begin_close(SESSION_FATAL);
            pos = S.in_len;
            break;
        }
        pos += used;
        if (st != SMOL_OK) {
            const char *tn = smol_type_name(h.type);
            struct stream *s = h.stream ? find_stream(h.stream) : NULL;
            if (s)
                stream_abort(s, SMOL_ERR_MALFORMED, "malformed %s frame: %s", tn,
                             smol_status_name(st));
            else
                send_error(h.stream, SMOL_ERR_MALFORMED, "malformed %s frame: %s", tn,
                           smol_status_name(st));
            continue;
        }
        handle_frame(&f);
    }
    if (pos > 0) {
        memmove(S.in_buf, S.in_buf + pos, S.in_len - pos);
        S.in_len -= pos;
    }
}

static void read_channel(void) {
    ssize_t n = read(S.cfg->in_fd, S.in_buf + S.in_len, SMOL_MAX_FRAME - S.in_len);
    if (n > 0) {
        S.in_len += (size_t)n;
    } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        if (S.cfg->verbose) logf_("channel closed by the host");
        S.in_eof = 1;
        begin_close(SESSION_EOF);
    }
}

/* ---- the loop ---- */

enum { TAG_NONE, TAG_CHAN_IN, TAG_CHAN_OUT, TAG_SIG, TAG_OUT, TAG_ERR, TAG_IN, TAG_CONN };
struct tag {
    int kind;
    struct stream *s;
};

static int set_nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) return -1;
    return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

enum session_end session_run(const struct session_config *cfg) {
    memset(&S, 0, sizeof S);
    S.cfg = cfg;
    S.in_buf = malloc(SMOL_MAX_FRAME);
    S.out_buf = malloc(OUTQ_CAP);
    size_t maxfds = 3 + 3 * (size_t)MAX_STREAMS;
    struct pollfd *pfds = calloc(maxfds, sizeof *pfds);
    struct tag *tags = calloc(maxfds, sizeof *tags);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    S.sfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
    if (!S.in_buf || !S.out_buf || !pfds || !tags || S.sfd < 0) {
        logf_("cannot start the session: %s", strerror(errno ? errno : ENOMEM));
        free(S.in_buf);
        free(S.out_buf);
        free(pfds);
        free(tags);
        if (S.sfd >= 0) close(S.sfd);
        return SESSION_FATAL;
    }
    set_nonblock(cfg->in_fd);
    set_nonblock(cfg->out_fd);
    reap_children(); /* anything that exited before we started */
    struct stat ost;
    S.spl_pipe[0] = S.spl_pipe[1] = -1;
    S.can_splice = fstat(cfg->out_fd, &ost) == 0 && !isatty(cfg->out_fd) &&
                   (S_ISFIFO(ost.st_mode) || S_ISSOCK(ost.st_mode) || S_ISCHR(ost.st_mode)) &&
                   pipe2(S.spl_pipe, O_NONBLOCK | O_CLOEXEC) == 0;
    /* Room for a full frame's payload in any shape (up to 17 partial pages): 32 slots. */
    if (S.can_splice) fcntl(S.spl_pipe[1], F_SETPIPE_SZ, 2 * SMOL_MAX_DATA);
    const char *fs_root = cfg->fs_root ? cfg->fs_root : cfg->exec_root ? cfg->exec_root : "/";
    S.rootfd = fs_root_open(fs_root);
    if (S.rootfd < 0) logf_("file operations will fail: %s: %s", fs_root, strerror(-S.rootfd));

    for (;;) {
        if (S.closing && (!out_pending() || S.out_dead || now_ms() >= S.close_deadline_ms)) break;

        size_t n = 0;
        int chan_in = !S.closing && !S.in_eof && S.in_len < SMOL_MAX_FRAME && outq_len() < OUTQ_HWM;
        if (chan_in) {
            pfds[n] = (struct pollfd){.fd = cfg->in_fd, .events = POLLIN};
            tags[n++] = (struct tag){TAG_CHAN_IN, NULL};
        }
        if (out_pending() && !S.out_dead) {
            pfds[n] = (struct pollfd){.fd = cfg->out_fd, .events = POLLOUT};
            tags[n++] = (struct tag){TAG_CHAN_OUT, NULL};
        }
        pfds[n] = (struct pollfd){.fd = S.sfd, .events = POLLIN};
        tags[n++] = (struct tag){TAG_SIG, NULL};
        if (!S.closing) {
            int room = outq_len() < OUTQ_HWM;
            for (unsigned i = 0; i < S.nstreams; i++) {
                struct stream *s = S.streams[i];
                if (s->out_fd >= 0 && !s->out_eof && s->credit_out > 0 && room) {
                    pfds[n] = (struct pollfd){.fd = s->out_fd, .events = POLLIN};
                    tags[n++] = (struct tag){TAG_OUT, s};
                }
                if (s->err_fd >= 0 && s->credit_err > 0 && room) {
                    pfds[n] = (struct pollfd){.fd = s->err_fd, .events = POLLIN};
                    tags[n++] = (struct tag){TAG_ERR, s};
                }
                if (s->in_fd >= 0 && s->connect_deadline_ms) {
                    pfds[n] = (struct pollfd){.fd = s->in_fd, .events = POLLOUT};
                    tags[n++] = (struct tag){TAG_CONN, s};
                } else if (s->in_fd >= 0 && s->in_len > 0) {
                    pfds[n] = (struct pollfd){.fd = s->in_fd, .events = POLLOUT};
                    tags[n++] = (struct tag){TAG_IN, s};
                }
            }
        }
        int timeout = -1;
        int busy = 0;
        if (!S.closing && outq_len() < OUTQ_HWM) {
            for (unsigned i = 0; i < S.nstreams && !busy; i++) busy = fs_busy(S.streams[i]);
        }
        if (busy) timeout = 0;
        if (!busy && !S.closing) {
            int64_t now = now_ms();
            /* Above OUTQ_HWM nothing is read, so a drain waits for POLLOUT on the channel, not a timer. */
            int room = outq_len() < OUTQ_HWM;
            for (unsigned i = 0; i < S.nstreams; i++) {
                int64_t d = room ? drain_deadline(S.streams[i]) : -1;
                if (S.streams[i]->connect_deadline_ms && !S.streams[i]->dead &&
                    (d < 0 || S.streams[i]->connect_deadline_ms < d))
                    d = S.streams[i]->connect_deadline_ms;
                if (d < 0) continue;
                int left = d <= now ? 0 : (int)(d - now);
                if (timeout < 0 || left < timeout) timeout = left;
            }
        }
        if (S.closing) {
            int64_t left = S.close_deadline_ms - now_ms();
            timeout = left < 0 ? 0 : (int)left;
        }
        int rc = poll(pfds, (nfds_t)n, timeout);
        if (rc < 0) {
            if (errno == EINTR) continue;
            logf_("poll: %s", strerror(errno));
            begin_close(SESSION_FATAL);
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            if (!pfds[i].revents) continue;
            struct stream *s = tags[i].s;
            switch (tags[i].kind) {
            case TAG_CHAN_IN: read_channel(); break;
            case TAG_CHAN_OUT: flush_out(); break;
            case TAG_SIG: reap_children(); break;
            case TAG_OUT:
                if (outq_len() < OUTQ_HWM) pump_output(s, 1);
                break;
            case TAG_ERR:
                if (outq_len() < OUTQ_HWM) pump_output(s, 2);
                break;
            case TAG_IN:
                if (!s->dead) stdin_write(s);
                break;
            case TAG_CONN:
                if (!s->dead && s->connect_deadline_ms) tcp_connected(s);
                break;
            }
        }
        if (busy) {
            for (unsigned i = 0; i < S.nstreams && outq_len() < OUTQ_HWM; i++) {
                if (fs_busy(S.streams[i])) fs_step(S.streams[i]);
            }
        }
        process_input();
        sweep();
        flush_out();
    }

    /* Leaving: no workload outlives its session. */
    for (unsigned i = 0; i < S.nstreams; i++) {
        kill_process(S.streams[i], SIGKILL);
        S.streams[i]->dead = 1;
    }
    sweep();
    reap_children();
    if (S.spl_pipe[0] >= 0) close(S.spl_pipe[0]);
    if (S.spl_pipe[1] >= 0) close(S.spl_pipe[1]);
    close(S.sfd);
    if (S.rootfd >= 0) close(S.rootfd);
    free(S.in_buf);
    free(S.out_buf);
    free(pfds);
    free(tags);
    return S.end;
}
