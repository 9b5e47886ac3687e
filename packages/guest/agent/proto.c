/* smolvm agent protocol v1: frame codec. See proto.h and packages/protocol/SPEC.md. */
#include "proto.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const status_names[SMOL_STATUS_COUNT] = {
    [SMOL_OK] = "ok",
    [SMOL_E_TRUNCATED] = "truncated",
    [SMOL_E_TOO_LARGE] = "too_large",
    [SMOL_E_UNKNOWN_TYPE] = "unknown_type",
    [SMOL_E_BAD_FLAGS] = "bad_flags",
    [SMOL_E_BAD_RESERVED] = "bad_reserved",
    [SMOL_E_BAD_STREAM] = "bad_stream",
    [SMOL_E_SHORT_PAYLOAD] = "short_payload",
    [SMOL_E_TRAILING_BYTES] = "trailing_bytes",
    [SMOL_E_LIMIT] = "limit",
};

const char *smol_status_name(enum smol_status st) {
    if ((unsigned)st >= SMOL_STATUS_COUNT) return "?";
    return status_names[st];
}

const char *smol_type_name(uint8_t type) {
    switch (type) {
    case SMOL_HELLO: return "HELLO";
    case SMOL_HELLO_ACK: return "HELLO_ACK";
    case SMOL_PING: return "PING";
    case SMOL_PONG: return "PONG";
    case SMOL_SHUTDOWN: return "SHUTDOWN";
    case SMOL_EXEC: return "EXEC";
    case SMOL_STDIN: return "STDIN";
    case SMOL_STDOUT: return "STDOUT";
    case SMOL_STDERR: return "STDERR";
    case SMOL_WINDOW: return "WINDOW";
    case SMOL_SIGNAL: return "SIGNAL";
    case SMOL_RESIZE: return "RESIZE";
    case SMOL_EXIT: return "EXIT";
    case SMOL_ERROR: return "ERROR";
    case SMOL_FS_WRITE: return "FS_WRITE";
    case SMOL_FS_READ: return "FS_READ";
    case SMOL_FS_STAT: return "FS_STAT";
    case SMOL_FS_LIST: return "FS_LIST";
    case SMOL_FS_MKDIR: return "FS_MKDIR";
    case SMOL_FS_REMOVE: return "FS_REMOVE";
    case SMOL_FS_DONE: return "FS_DONE";
    case SMOL_FS_ENTRY: return "FS_ENTRY";
    case SMOL_TCP_CONNECT: return "TCP_CONNECT";
    default: return NULL;
    }
}

int smol_type_is_data(uint8_t type) {
    return type == SMOL_STDIN || type == SMOL_STDOUT || type == SMOL_STDERR;
}

int smol_type_is_control(uint8_t type) {
    return type >= SMOL_HELLO && type <= SMOL_SHUTDOWN;
}

/* ---- big-endian helpers ---- */

static uint16_t get16(const uint8_t *p) { return (uint16_t)((unsigned)p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* ---- decoding ---- */

enum smol_status smol_decode_header(const uint8_t *buf, struct smol_header *h) {
    h->length = get32(buf);
    h->type = buf[4];
    h->flags = buf[5];
    h->stream = get32(buf + 8);
    if (h->length > SMOL_MAX_PAYLOAD) return SMOL_E_TOO_LARGE;
    if (smol_type_name(h->type) == NULL) return SMOL_E_UNKNOWN_TYPE;
    uint8_t allowed = smol_type_is_data(h->type) ? SMOL_FLAG_FIN : 0;
    if (h->flags & ~allowed) return SMOL_E_BAD_FLAGS;
    if (buf[6] != 0 || buf[7] != 0) return SMOL_E_BAD_RESERVED;
    if (h->type == SMOL_ERROR) return SMOL_OK; /* any stream */
    if (smol_type_is_control(h->type) ? h->stream != 0 : h->stream == 0) return SMOL_E_BAD_STREAM;
    return SMOL_OK;
}

/* A cursor over a payload; every read checks the remaining length. */
struct rd {
    const uint8_t *p;
    uint32_t left;
};

#define NEED(r, n)                                                                                 \
    do {                                                                                           \
        if ((r)->left < (n)) return SMOL_E_SHORT_PAYLOAD;                                          \
    } while (0)

static enum smol_status rd_u8(struct rd *r, uint8_t *v) {
    NEED(r, 1);
    *v = r->p[0];
    r->p += 1;
    r->left -= 1;
    return SMOL_OK;
}
static enum smol_status rd_u16(struct rd *r, uint16_t *v) {
    NEED(r, 2);
    *v = get16(r->p);
    r->p += 2;
    r->left -= 2;
    return SMOL_OK;
}
static enum smol_status rd_u32(struct rd *r, uint32_t *v) {
    NEED(r, 4);
    *v = get32(r->p);
    r->p += 4;
    r->left -= 4;
    return SMOL_OK;
}
static enum smol_status rd_u64(struct rd *r, uint64_t *v) {
    uint32_t hi, lo;
    enum smol_status st = rd_u32(r, &hi);
    if (st == SMOL_OK) st = rd_u32(r, &lo);
    if (st == SMOL_OK) *v = (uint64_t)hi << 32 | lo;
    return st;
}
static enum smol_status rd_str(struct rd *r, struct smol_bytes *s) {
    uint32_t n;
    enum smol_status st = rd_u32(r, &n);
    if (st != SMOL_OK) return st;
    if (n > SMOL_MAX_STR) return SMOL_E_LIMIT;
    NEED(r, n);
    s->ptr = r->p;
    s->len = n;
    r->p += n;
    r->left -= n;
    return SMOL_OK;
}
static enum smol_status rd_strlist(struct rd *r, struct smol_strlist *l, uint32_t min_count) {
    enum smol_status st = rd_u32(r, &l->count);
    if (st != SMOL_OK) return st;
    if (l->count > SMOL_MAX_LIST || l->count < min_count) return SMOL_E_LIMIT;
    l->raw = r->p;
    uint32_t start_left = r->left;
    for (uint32_t i = 0; i < l->count; i++) {
        struct smol_bytes s;
        st = rd_str(r, &s);
        if (st != SMOL_OK) return st;
    }
    l->raw_len = start_left - r->left;
    return SMOL_OK;
}

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        enum smol_status st_ = (expr);                                                             \
        if (st_ != SMOL_OK) return st_;                                                            \
    } while (0)

enum smol_status smol_decode_payload(const struct smol_header *h, const uint8_t *payload,
                                     struct smol_frame *f) {
    struct rd r = {payload, h->length};
    memset(f, 0, sizeof *f);
    f->type = h->type;
    f->stream = h->stream;
    switch (h->type) {
    case SMOL_HELLO:
        TRY(rd_u16(&r, &f->u.hello.min_version));
        TRY(rd_u16(&r, &f->u.hello.max_version));
        TRY(rd_u32(&r, &f->u.hello.capabilities));
        break;
    case SMOL_HELLO_ACK:
        TRY(rd_u16(&r, &f->u.hello_ack.version));
        TRY(rd_u32(&r, &f->u.hello_ack.capabilities));
        TRY(rd_str(&r, &f->u.hello_ack.agent));
        break;
    case SMOL_PING:
    case SMOL_PONG:
        TRY(rd_u64(&r, &f->u.ping.nonce));
        break;
    case SMOL_SHUTDOWN:
        break;
    case SMOL_EXEC:
        TRY(rd_u32(&r, &f->u.exec.flags));
        if (f->u.exec.flags & ~SMOL_EXEC_KNOWN_FLAGS) return SMOL_E_BAD_FLAGS;
        TRY(rd_u32(&r, &f->u.exec.uid));
        TRY(rd_u32(&r, &f->u.exec.gid));
        TRY(rd_u16(&r, &f->u.exec.rows));
        TRY(rd_u16(&r, &f->u.exec.cols));
        TRY(rd_u32(&r, &f->u.exec.window));
        if (f->u.exec.window == 0) return SMOL_E_LIMIT;
        TRY(rd_strlist(&r, &f->u.exec.argv, 1));
        TRY(rd_strlist(&r, &f->u.exec.env, 0));
        TRY(rd_str(&r, &f->u.exec.cwd));
        break;
    case SMOL_STDIN:
    case SMOL_STDOUT:
    case SMOL_STDERR:
        f->fin = (h->flags & SMOL_FLAG_FIN) ? 1 : 0;
        f->u.data.ptr = payload;
        f->u.data.len = h->length;
        r.left = 0;
        break;
    case SMOL_WINDOW:
        TRY(rd_u8(&r, &f->u.window.fd));
        if (f->u.window.fd > 2) return SMOL_E_LIMIT;
        TRY(rd_u32(&r, &f->u.window.increment));
        if (f->u.window.increment == 0) return SMOL_E_LIMIT;
        break;
    case SMOL_SIGNAL:
        TRY(rd_u32(&r, &f->u.signal.signo));
        if (f->u.signal.signo < 1 || f->u.signal.signo > 64) return SMOL_E_LIMIT;
        break;
    case SMOL_RESIZE:
        TRY(rd_u16(&r, &f->u.resize.rows));
        TRY(rd_u16(&r, &f->u.resize.cols));
        break;
    case SMOL_EXIT: {
        uint32_t code;
        TRY(rd_u32(&r, &code));
        f->u.exit.exit_code = (int32_t)code; /* two's complement on every target we build for */
        TRY(rd_u32(&r, &f->u.exit.signal));
        TRY(rd_u32(&r, &f->u.exit.exec_errno));
        break;
    }
    case SMOL_ERROR:
        TRY(rd_u32(&r, &f->u.error.code));
        TRY(rd_str(&r, &f->u.error.message));
        break;
    case SMOL_FS_WRITE:
    case SMOL_FS_MKDIR:
        TRY(rd_u32(&r, &f->u.fs.mode));
        if (f->u.fs.mode > SMOL_FS_MAX_MODE) return SMOL_E_LIMIT;
        TRY(rd_u32(&r, &f->u.fs.flags));
        if (f->u.fs.flags & ~SMOL_FS_KNOWN_FLAGS) return SMOL_E_BAD_FLAGS;
        TRY(rd_str(&r, &f->u.fs.path));
        break;
    case SMOL_FS_READ:
        TRY(rd_u32(&r, &f->u.fs.window));
        if (f->u.fs.window == 0) return SMOL_E_LIMIT;
        TRY(rd_str(&r, &f->u.fs.path));
        break;
    case SMOL_FS_STAT:
    case SMOL_FS_LIST:
        TRY(rd_str(&r, &f->u.fs.path));
        break;
    case SMOL_FS_REMOVE:
        TRY(rd_u32(&r, &f->u.fs.flags));
        if (f->u.fs.flags & ~SMOL_FS_KNOWN_FLAGS) return SMOL_E_BAD_FLAGS;
        TRY(rd_str(&r, &f->u.fs.path));
        break;
    case SMOL_TCP_CONNECT:
        TRY(rd_u32(&r, &f->u.tcp.window));
        if (f->u.tcp.window == 0) return SMOL_E_LIMIT;
        TRY(rd_u16(&r, &f->u.tcp.port));
        if (f->u.tcp.port == 0) return SMOL_E_LIMIT;
        break;
    case SMOL_FS_DONE:
        TRY(rd_u32(&r, &f->u.fs_done.err));
        TRY(rd_str(&r, &f->u.fs_done.message));
        break;
    case SMOL_FS_ENTRY: {
        uint64_t mtime;
        TRY(rd_u8(&r, &f->u.fs_entry.kind));
        if (f->u.fs_entry.kind < SMOL_KIND_FILE || f->u.fs_entry.kind > SMOL_KIND_SOCK)
            return SMOL_E_LIMIT;
        TRY(rd_u32(&r, &f->u.fs_entry.mode));
        if (f->u.fs_entry.mode > SMOL_FS_MAX_MODE) return SMOL_E_LIMIT;
        TRY(rd_u32(&r, &f->u.fs_entry.uid));
        TRY(rd_u32(&r, &f->u.fs_entry.gid));
        TRY(rd_u64(&r, &f->u.fs_entry.size));
        TRY(rd_u64(&r, &mtime));
        f->u.fs_entry.mtime = (int64_t)mtime; /* two's complement */
        TRY(rd_str(&r, &f->u.fs_entry.name));
        TRY(rd_str(&r, &f->u.fs_entry.target));
        break;
    }
    default:
        return SMOL_E_UNKNOWN_TYPE;
    }
    if (r.left != 0) return SMOL_E_TRAILING_BYTES;
    return SMOL_OK;
}

enum smol_status smol_decode(const uint8_t *buf, size_t len, struct smol_frame *f, size_t *consumed,
                             struct smol_header *hdr) {
    struct smol_header h;
    *consumed = 0;
    if (len < SMOL_HEADER_LEN) return SMOL_E_TRUNCATED;
    enum smol_status st = smol_decode_header(buf, &h);
    if (st != SMOL_OK) return st;
    if (hdr) *hdr = h;
    if (len - SMOL_HEADER_LEN < h.length) return SMOL_E_TRUNCATED;
    *consumed = SMOL_HEADER_LEN + (size_t)h.length;
    return smol_decode_payload(&h, buf + SMOL_HEADER_LEN, f);
}

int smol_strlist_next(const struct smol_strlist *l, uint32_t *pos, struct smol_bytes *out) {
    /* The list was validated by the decoder (or built by an encoder), but stay defensive. */
    if (*pos + 4 > l->raw_len || *pos + 4 < *pos) return 0;
    uint32_t n = get32(l->raw + *pos);
    if (n > l->raw_len - *pos - 4) return 0;
    out->ptr = l->raw + *pos + 4;
    out->len = n;
    *pos += 4 + n;
    return 1;
}

/* ---- encoding ---- */

static size_t payload_size(const struct smol_frame *f) {
    switch (f->type) {
    case SMOL_HELLO: return 8;
    case SMOL_HELLO_ACK:
        if (f->u.hello_ack.agent.len > SMOL_MAX_STR) return SIZE_MAX;
        return 2 + 4 + 4 + (size_t)f->u.hello_ack.agent.len;
    case SMOL_PING:
    case SMOL_PONG: return 8;
    case SMOL_SHUTDOWN: return 0;
    case SMOL_EXEC:
        if ((f->u.exec.flags & ~SMOL_EXEC_KNOWN_FLAGS) || f->u.exec.window == 0 ||
            f->u.exec.argv.count < 1 || f->u.exec.argv.count > SMOL_MAX_LIST ||
            f->u.exec.env.count > SMOL_MAX_LIST || f->u.exec.cwd.len > SMOL_MAX_STR)
            return SIZE_MAX;
        return 4 + 4 + 4 + 2 + 2 + 4 + 4 + (size_t)f->u.exec.argv.raw_len + 4 +
               (size_t)f->u.exec.env.raw_len + 4 + (size_t)f->u.exec.cwd.len;
    case SMOL_STDIN:
    case SMOL_STDOUT:
    case SMOL_STDERR: return f->u.data.len;
    case SMOL_WINDOW:
        if (f->u.window.fd > 2 || f->u.window.increment == 0) return SIZE_MAX;
        return 5;
    case SMOL_SIGNAL:
        if (f->u.signal.signo < 1 || f->u.signal.signo > 64) return SIZE_MAX;
        return 4;
    case SMOL_RESIZE: return 4;
    case SMOL_EXIT: return 12;
    case SMOL_ERROR:
        if (f->u.error.message.len > SMOL_MAX_STR) return SIZE_MAX;
        return 4 + 4 + (size_t)f->u.error.message.len;
    case SMOL_FS_WRITE:
    case SMOL_FS_MKDIR:
        if (f->u.fs.mode > SMOL_FS_MAX_MODE || (f->u.fs.flags & ~SMOL_FS_KNOWN_FLAGS) ||
            f->u.fs.path.len > SMOL_MAX_STR)
            return SIZE_MAX;
        return 4 + 4 + 4 + (size_t)f->u.fs.path.len;
    case SMOL_FS_READ:
        if (f->u.fs.window == 0 || f->u.fs.path.len > SMOL_MAX_STR) return SIZE_MAX;
        return 4 + 4 + (size_t)f->u.fs.path.len;
    case SMOL_FS_STAT:
    case SMOL_FS_LIST:
        if (f->u.fs.path.len > SMOL_MAX_STR) return SIZE_MAX;
        return 4 + (size_t)f->u.fs.path.len;
    case SMOL_FS_REMOVE:
        if ((f->u.fs.flags & ~SMOL_FS_KNOWN_FLAGS) || f->u.fs.path.len > SMOL_MAX_STR)
            return SIZE_MAX;
        return 4 + 4 + (size_t)f->u.fs.path.len;
    case SMOL_TCP_CONNECT:
        if (f->u.tcp.window == 0 || f->u.tcp.port == 0) return SIZE_MAX;
        return 4 + 2;
    case SMOL_FS_DONE:
        if (f->u.fs_done.message.len > SMOL_MAX_STR) return SIZE_MAX;
        return 4 + 4 + (size_t)f->u.fs_done.message.len;
    case SMOL_FS_ENTRY:
        if (f->u.fs_entry.kind < SMOL_KIND_FILE || f->u.fs_entry.kind > SMOL_KIND_SOCK ||
            f->u.fs_entry.mode > SMOL_FS_MAX_MODE || f->u.fs_entry.name.len > SMOL_MAX_STR ||
            f->u.fs_entry.target.len > SMOL_MAX_STR)
            return SIZE_MAX;
        return 1 + 4 + 4 + 4 + 8 + 8 + 4 + (size_t)f->u.fs_entry.name.len + 4 +
               (size_t)f->u.fs_entry.target.len;
    default: return SIZE_MAX;
    }
}

size_t smol_encoded_size(const struct smol_frame *f) {
    size_t n = payload_size(f);
    if (n > SMOL_MAX_PAYLOAD) return 0;
    if (f->type != SMOL_ERROR &&
        (smol_type_is_control(f->type) ? f->stream != 0 : f->stream == 0))
        return 0;
    if (f->fin && !smol_type_is_data(f->type)) return 0;
    return SMOL_HEADER_LEN + n;
}

struct wr {
    uint8_t *p;
};
static void wr_u8(struct wr *w, uint8_t v) { *w->p++ = v; }
static void wr_u16(struct wr *w, uint16_t v) {
    put16(w->p, v);
    w->p += 2;
}
static void wr_u32(struct wr *w, uint32_t v) {
    put32(w->p, v);
    w->p += 4;
}
static void wr_u64(struct wr *w, uint64_t v) {
    wr_u32(w, (uint32_t)(v >> 32));
    wr_u32(w, (uint32_t)v);
}
static void wr_bytes(struct wr *w, const uint8_t *p, size_t n) {
    if (n) memcpy(w->p, p, n);
    w->p += n;
}
static void wr_str(struct wr *w, struct smol_bytes s) {
    wr_u32(w, s.len);
    wr_bytes(w, s.ptr, s.len);
}

size_t smol_encode(const struct smol_frame *f, uint8_t *out, size_t cap) {
    size_t total = smol_encoded_size(f);
    if (total == 0 || total > cap) return 0;
    struct wr w = {out};
    wr_u32(&w, (uint32_t)(total - SMOL_HEADER_LEN));
    wr_u8(&w, f->type);
    wr_u8(&w, f->fin ? SMOL_FLAG_FIN : 0);
    wr_u16(&w, 0);
    wr_u32(&w, f->stream);
    switch (f->type) {
    case SMOL_HELLO:
        wr_u16(&w, f->u.hello.min_version);
        wr_u16(&w, f->u.hello.max_version);
        wr_u32(&w, f->u.hello.capabilities);
        break;
    case SMOL_HELLO_ACK:
        wr_u16(&w, f->u.hello_ack.version);
        wr_u32(&w, f->u.hello_ack.capabilities);
        wr_str(&w, f->u.hello_ack.agent);
        break;
    case SMOL_PING:
    case SMOL_PONG:
        wr_u32(&w, (uint32_t)(f->u.ping.nonce >> 32));
        wr_u32(&w, (uint32_t)f->u.ping.nonce);
        break;
    case SMOL_SHUTDOWN: break;
    case SMOL_EXEC:
        wr_u32(&w, f->u.exec.flags);
        wr_u32(&w, f->u.exec.uid);
        wr_u32(&w, f->u.exec.gid);
        wr_u16(&w, f->u.exec.rows);
        wr_u16(&w, f->u.exec.cols);
        wr_u32(&w, f->u.exec.window);
        wr_u32(&w, f->u.exec.argv.count);
        wr_bytes(&w, f->u.exec.argv.raw, f->u.exec.argv.raw_len);
        wr_u32(&w, f->u.exec.env.count);
        wr_bytes(&w, f->u.exec.env.raw, f->u.exec.env.raw_len);
        wr_str(&w, f->u.exec.cwd);
        break;
    case SMOL_STDIN:
    case SMOL_STDOUT:
    case SMOL_STDERR: wr_bytes(&w, f->u.data.ptr, f->u.data.len); break;
    case SMOL_WINDOW:
        wr_u8(&w, f->u.window.fd);
        wr_u32(&w, f->u.window.increment);
        break;
    case SMOL_SIGNAL: wr_u32(&w, f->u.signal.signo); break;
    case SMOL_RESIZE:
        wr_u16(&w, f->u.resize.rows);
        wr_u16(&w, f->u.resize.cols);
        break;
    case SMOL_EXIT:
        wr_u32(&w, (uint32_t)f->u.exit.exit_code);
        wr_u32(&w, f->u.exit.signal);
        wr_u32(&w, f->u.exit.exec_errno);
        break;
    case SMOL_ERROR:
        wr_u32(&w, f->u.error.code);
        wr_str(&w, f->u.error.message);
        break;
    case SMOL_FS_WRITE:
    case SMOL_FS_MKDIR:
        wr_u32(&w, f->u.fs.mode);
        wr_u32(&w, f->u.fs.flags);
        wr_str(&w, f->u.fs.path);
        break;
    case SMOL_FS_READ:
        wr_u32(&w, f->u.fs.window);
        wr_str(&w, f->u.fs.path);
        break;
    case SMOL_FS_STAT:
    case SMOL_FS_LIST: wr_str(&w, f->u.fs.path); break;
    case SMOL_FS_REMOVE:
        wr_u32(&w, f->u.fs.flags);
        wr_str(&w, f->u.fs.path);
        break;
    case SMOL_TCP_CONNECT:
        wr_u32(&w, f->u.tcp.window);
        wr_u16(&w, f->u.tcp.port);
        break;
    case SMOL_FS_DONE:
        wr_u32(&w, f->u.fs_done.err);
        wr_str(&w, f->u.fs_done.message);
        break;
    case SMOL_FS_ENTRY:
        wr_u8(&w, f->u.fs_entry.kind);
        wr_u32(&w, f->u.fs_entry.mode);
        wr_u32(&w, f->u.fs_entry.uid);
        wr_u32(&w, f->u.fs_entry.gid);
        wr_u64(&w, f->u.fs_entry.size);
        wr_u64(&w, (uint64_t)f->u.fs_entry.mtime);
        wr_str(&w, f->u.fs_entry.name);
        wr_str(&w, f->u.fs_entry.target);
        break;
    default: return 0;
    }
    return total;
}

/* ---- canonical description ---- */

struct sbuf {
    char *p;
    size_t len, cap;
    int failed;
};

static void sb_reserve(struct sbuf *b, size_t extra) {
    if (b->failed) return;
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 128;
    while (cap < b->len + extra + 1) cap *= 2;
    char *np = realloc(b->p, cap);
    if (!np) {
        b->failed = 1;
        return;
    }
    b->p = np;
    b->cap = cap;
}

static void sb_put(struct sbuf *b, const char *s, size_t n) {
    sb_reserve(b, n);
    if (b->failed) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_printf(struct sbuf *b, const char *fmt, ...) {
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        b->failed = 1;
        return;
    }
    sb_put(b, tmp, (size_t)n);
}

static void sb_jstr(struct sbuf *b, const uint8_t *p, uint32_t n) {
    static const char hex[] = "0123456789abcdef";
    sb_reserve(b, (size_t)n * 6 + 2);
    if (b->failed) return;
    char *o = b->p + b->len;
    *o++ = '"';
    for (uint32_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c >= 0x20 && c <= 0x7e && c != '"' && c != '\\') {
            *o++ = (char)c;
        } else {
            memcpy(o, "\\u00", 4);
            o[4] = hex[c >> 4];
            o[5] = hex[c & 15];
            o += 6;
        }
    }
    *o++ = '"';
    *o = 0;
    b->len = (size_t)(o - b->p);
}

static void sb_jlist(struct sbuf *b, const struct smol_strlist *l) {
    uint32_t pos = 0;
    struct smol_bytes s;
    int first = 1;
    sb_put(b, "[", 1);
    while (smol_strlist_next(l, &pos, &s)) {
        if (!first) sb_put(b, ",", 1);
        first = 0;
        sb_jstr(b, s.ptr, s.len);
    }
    sb_put(b, "]", 1);
}

char *smol_describe(const struct smol_frame *f) {
    struct sbuf b = {0};
    const char *name = smol_type_name(f->type);
    sb_printf(&b, "%s stream=%" PRIu32, name ? name : "UNKNOWN", f->stream);
    switch (f->type) {
    case SMOL_HELLO:
        sb_printf(&b, " min_version=%u max_version=%u capabilities=0x%" PRIx32,
                  f->u.hello.min_version, f->u.hello.max_version, f->u.hello.capabilities);
        break;
    case SMOL_HELLO_ACK:
        sb_printf(&b, " version=%u capabilities=0x%" PRIx32 " agent=", f->u.hello_ack.version,
                  f->u.hello_ack.capabilities);
        sb_jstr(&b, f->u.hello_ack.agent.ptr, f->u.hello_ack.agent.len);
        break;
    case SMOL_PING:
    case SMOL_PONG: sb_printf(&b, " nonce=%" PRIu64, f->u.ping.nonce); break;
    case SMOL_SHUTDOWN: break;
    case SMOL_EXEC:
        sb_printf(&b, " flags=0x%" PRIx32 " uid=%" PRIu32 " gid=%" PRIu32, f->u.exec.flags,
                  f->u.exec.uid, f->u.exec.gid);
        sb_printf(&b, " rows=%u cols=%u window=%" PRIu32 " argv=", f->u.exec.rows, f->u.exec.cols,
                  f->u.exec.window);
        sb_jlist(&b, &f->u.exec.argv);
        sb_put(&b, " env=", 5);
        sb_jlist(&b, &f->u.exec.env);
        sb_put(&b, " cwd=", 5);
        sb_jstr(&b, f->u.exec.cwd.ptr, f->u.exec.cwd.len);
        break;
    case SMOL_STDIN:
    case SMOL_STDOUT:
    case SMOL_STDERR:
        sb_printf(&b, " fin=%d data=", f->fin ? 1 : 0);
        sb_jstr(&b, f->u.data.ptr, f->u.data.len);
        break;
    case SMOL_WINDOW:
        sb_printf(&b, " fd=%u increment=%" PRIu32, f->u.window.fd, f->u.window.increment);
        break;
    case SMOL_SIGNAL: sb_printf(&b, " signo=%" PRIu32, f->u.signal.signo); break;
    case SMOL_RESIZE: sb_printf(&b, " rows=%u cols=%u", f->u.resize.rows, f->u.resize.cols); break;
    case SMOL_EXIT:
        sb_printf(&b, " exit_code=%" PRId32 " signal=%" PRIu32 " exec_errno=%" PRIu32,
                  f->u.exit.exit_code, f->u.exit.signal, f->u.exit.exec_errno);
        break;
    case SMOL_ERROR:
        sb_printf(&b, " code=%" PRIu32 " message=", f->u.error.code);
        sb_jstr(&b, f->u.error.message.ptr, f->u.error.message.len);
        break;
    case SMOL_FS_WRITE:
    case SMOL_FS_MKDIR:
        sb_printf(&b, " mode=%" PRIu32 " flags=0x%" PRIx32 " path=", f->u.fs.mode, f->u.fs.flags);
        sb_jstr(&b, f->u.fs.path.ptr, f->u.fs.path.len);
        break;
    case SMOL_FS_READ:
        sb_printf(&b, " window=%" PRIu32 " path=", f->u.fs.window);
        sb_jstr(&b, f->u.fs.path.ptr, f->u.fs.path.len);
        break;
    case SMOL_FS_STAT:
    case SMOL_FS_LIST:
        sb_put(&b, " path=", 6);
        sb_jstr(&b, f->u.fs.path.ptr, f->u.fs.path.len);
        break;
    case SMOL_FS_REMOVE:
        sb_printf(&b, " flags=0x%" PRIx32 " path=", f->u.fs.flags);
        sb_jstr(&b, f->u.fs.path.ptr, f->u.fs.path.len);
        break;
    case SMOL_TCP_CONNECT:
        sb_printf(&b, " window=%" PRIu32 " port=%u", f->u.tcp.window, (unsigned)f->u.tcp.port);
        break;
    case SMOL_FS_DONE:
        sb_printf(&b, " errno=%" PRIu32 " message=", f->u.fs_done.err);
        sb_jstr(&b, f->u.fs_done.message.ptr, f->u.fs_done.message.len);
        break;
    case SMOL_FS_ENTRY:
        sb_printf(&b, " kind=%u mode=%" PRIu32 " uid=%" PRIu32 " gid=%" PRIu32, f->u.fs_entry.kind,
                  f->u.fs_entry.mode, f->u.fs_entry.uid, f->u.fs_entry.gid);
        sb_printf(&b, " size=%" PRIu64 " mtime=%" PRId64 " name=", f->u.fs_entry.size,
                  f->u.fs_entry.mtime);
        sb_jstr(&b, f->u.fs_entry.name.ptr, f->u.fs_entry.name.len);
        sb_put(&b, " target=", 8);
        sb_jstr(&b, f->u.fs_entry.target.ptr, f->u.fs_entry.target.len);
        break;
    default: break;
    }
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
