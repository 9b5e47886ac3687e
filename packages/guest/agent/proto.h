/*
 * smolvm agent protocol, version 1: frame codec (see packages/protocol/SPEC.md).
 *
 * The decoder never allocates: strings and string lists in a decoded frame point into the buffer that
 * was decoded, so that buffer must outlive the frame. Every length is checked against the buffer before
 * it is used.
 */
#ifndef SMOLVM_PROTO_H
#define SMOLVM_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define SMOL_PROTOCOL_VERSION 1u
#define SMOL_HEADER_LEN 12u
#define SMOL_MAX_PAYLOAD 1048576u /* 1 MiB */
#define SMOL_MAX_FRAME (SMOL_HEADER_LEN + SMOL_MAX_PAYLOAD)
#define SMOL_MAX_STR 262144u
#define SMOL_MAX_LIST 4096u
#define SMOL_MAX_DATA 65536u       /* most payload bytes a data frame carries (sender rule) */
#define SMOL_STDIN_WINDOW 262144u  /* credit the host starts with for STDIN */

#define SMOL_FLAG_FIN 0x01u

#define SMOL_CAP_TTY 0x1u
#define SMOL_CAP_SIGNALS 0x2u
#define SMOL_CAP_FLOW_CONTROL 0x4u
#define SMOL_CAP_FILES 0x8u
#define SMOL_CAP_TCP 0x10u
#define SMOL_CAPS_V1 \
    (SMOL_CAP_TTY | SMOL_CAP_SIGNALS | SMOL_CAP_FLOW_CONTROL | SMOL_CAP_FILES | SMOL_CAP_TCP)

#define SMOL_EXEC_TTY 0x1u
#define SMOL_EXEC_STDIN 0x2u
#define SMOL_EXEC_KNOWN_FLAGS (SMOL_EXEC_TTY | SMOL_EXEC_STDIN)

/* File operations: FS_WRITE MKDIRS, FS_MKDIR PARENTS, FS_REMOVE RECURSIVE (all bit 0). */
#define SMOL_FS_MKDIRS 0x1u
#define SMOL_FS_PARENTS 0x1u
#define SMOL_FS_RECURSIVE 0x1u
#define SMOL_FS_KNOWN_FLAGS 0x1u
#define SMOL_FS_MAX_MODE 07777u

/* FS_ENTRY.kind */
enum smol_fs_kind {
    SMOL_KIND_FILE = 1,
    SMOL_KIND_DIR = 2,
    SMOL_KIND_SYMLINK = 3,
    SMOL_KIND_CHR = 4,
    SMOL_KIND_BLK = 5,
    SMOL_KIND_FIFO = 6,
    SMOL_KIND_SOCK = 7,
};

enum smol_type {
    SMOL_HELLO = 0x01,
    SMOL_HELLO_ACK = 0x02,
    SMOL_PING = 0x03,
    SMOL_PONG = 0x04,
    SMOL_SHUTDOWN = 0x05,
    SMOL_EXEC = 0x10,
    SMOL_STDIN = 0x11,
    SMOL_STDOUT = 0x12,
    SMOL_STDERR = 0x13,
    SMOL_WINDOW = 0x14,
    SMOL_SIGNAL = 0x15,
    SMOL_RESIZE = 0x16,
    SMOL_EXIT = 0x17,
    SMOL_ERROR = 0x1f,
    SMOL_FS_WRITE = 0x20,
    SMOL_FS_READ = 0x21,
    SMOL_FS_STAT = 0x22,
    SMOL_FS_LIST = 0x23,
    SMOL_FS_MKDIR = 0x24,
    SMOL_FS_REMOVE = 0x25,
    SMOL_FS_DONE = 0x26,
    SMOL_FS_ENTRY = 0x27,
    SMOL_TCP_CONNECT = 0x28,
};

/* ERROR.code values. */
enum smol_error_code {
    SMOL_ERR_VERSION = 1,
    SMOL_ERR_MALFORMED = 2,
    SMOL_ERR_STREAM = 3,
    SMOL_ERR_EXEC_SETUP = 4,
    SMOL_ERR_FLOW = 5,
    SMOL_ERR_INTERNAL = 6,
};

/* Decoder results; the names (smol_status_name) are the test-vector reasons of SPEC.md. */
enum smol_status {
    SMOL_OK = 0,
    SMOL_E_TRUNCATED,
    SMOL_E_TOO_LARGE,
    SMOL_E_UNKNOWN_TYPE,
    SMOL_E_BAD_FLAGS,
    SMOL_E_BAD_RESERVED,
    SMOL_E_BAD_STREAM,
    SMOL_E_SHORT_PAYLOAD,
    SMOL_E_TRAILING_BYTES,
    SMOL_E_LIMIT,
    SMOL_STATUS_COUNT
};

struct smol_bytes {
    const uint8_t *ptr;
    uint32_t len;
};

/* A validated string list: `count` strings, encoded back to back (u32 length + bytes) in `raw`. */
struct smol_strlist {
    uint32_t count;
    const uint8_t *raw;
    uint32_t raw_len;
};

struct smol_header {
    uint32_t length;
    uint8_t type;
    uint8_t flags;
    uint32_t stream;
};

struct smol_frame {
    uint8_t type;
    uint8_t fin; /* data frames only */
    uint32_t stream;
    union {
        struct {
            uint16_t min_version, max_version;
            uint32_t capabilities;
        } hello;
        struct {
            uint16_t version;
            uint32_t capabilities;
            struct smol_bytes agent;
        } hello_ack;
        struct {
            uint64_t nonce;
        } ping; /* PING and PONG */
        struct {
            uint32_t flags, uid, gid;
            uint16_t rows, cols;
            uint32_t window;
            struct smol_strlist argv, env;
            struct smol_bytes cwd;
        } exec;
        struct smol_bytes data; /* STDIN, STDOUT, STDERR */
        struct {
            uint8_t fd;
            uint32_t increment;
        } window;
        struct {
            uint32_t signo;
        } signal;
        struct {
            uint16_t rows, cols;
        } resize;
        struct {
            int32_t exit_code;
            uint32_t signal, exec_errno;
        } exit;
        struct {
            uint32_t code;
            struct smol_bytes message;
        } error;
        /* FS_WRITE (mode, flags, path), FS_READ (window, path), FS_STAT and FS_LIST (path),
           FS_MKDIR (mode, flags, path), FS_REMOVE (flags, path); unused fields are 0. */
        struct {
            uint32_t mode, flags, window;
            struct smol_bytes path;
        } fs;
        struct {
            uint32_t window;
            uint16_t port;
        } tcp; /* TCP_CONNECT */
        struct {
            uint32_t err; /* errno */
            struct smol_bytes message;
        } fs_done;
        struct {
            uint8_t kind;
            uint32_t mode, uid, gid;
            uint64_t size;
            int64_t mtime;
            struct smol_bytes name, target;
        } fs_entry;
    } u;
};

/* "truncated", "too_large", ... ("ok" for SMOL_OK). */
const char *smol_status_name(enum smol_status st);
/* "HELLO", "EXEC", ... or NULL for an unknown type. */
const char *smol_type_name(uint8_t type);
int smol_type_is_data(uint8_t type);
int smol_type_is_control(uint8_t type); /* must travel on stream 0 */

/*
 * Checks the 12-byte header at `buf` (which must hold at least 12 bytes). Errors: too_large,
 * unknown_type, bad_flags, bad_reserved, bad_stream, in that order. A header error means the channel
 * can no longer be trusted.
 */
enum smol_status smol_decode_header(const uint8_t *buf, struct smol_header *h);

/* Decodes the `h->length` payload bytes at `payload` for a header that smol_decode_header accepted. */
enum smol_status smol_decode_payload(const struct smol_header *h, const uint8_t *payload,
                                     struct smol_frame *f);

/*
 * Decodes one frame from the start of `buf`. On SMOL_OK, *consumed is the frame's size. SMOL_E_TRUNCATED
 * means more bytes are needed (a streaming reader keeps reading); header errors are reported as soon as
 * the 12 header bytes are there. On a payload error *consumed is still the frame's size, so a reader can
 * skip the frame; *hdr (when not NULL) receives the header whenever it was valid.
 */
enum smol_status smol_decode(const uint8_t *buf, size_t len, struct smol_frame *f, size_t *consumed,
                             struct smol_header *hdr);

/* Iterates a string list: *pos starts at 0; returns 0 at the end. */
int smol_strlist_next(const struct smol_strlist *l, uint32_t *pos, struct smol_bytes *out);

/* Size of the encoded frame, or 0 if the frame cannot be encoded (a field out of range). */
size_t smol_encoded_size(const struct smol_frame *f);
/* Encodes into out[0..cap); returns the size written, or 0 when it does not fit or is invalid. */
size_t smol_encode(const struct smol_frame *f, uint8_t *out, size_t cap);

/*
 * Canonical description (SPEC.md "Test vectors"), NUL-terminated, malloc'd; NULL on allocation
 * failure. The caller frees it.
 */
char *smol_describe(const struct smol_frame *f);

#endif
