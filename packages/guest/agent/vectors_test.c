/*
 * Runs the protocol test vectors (packages/protocol/vectors/v1.txt) against the C codec:
 *   ok HEX DESCRIPTION  -> decodes, describes to DESCRIPTION, re-encodes to HEX
 *   bad HEX REASON      -> decoding fails with REASON
 * Also checks that the file covers every message type (ok) and every decoder error (bad).
 * Usage: vectors-test [-w SEED_DIR] [FILE]
 *   -w writes each vector's bytes to a file in SEED_DIR (seeds for the fuzzer).
 */
#define _GNU_SOURCE
#include "proto.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Decodes `hex` (n chars) into a malloc'd buffer; returns NULL on bad hex. */
static uint8_t *unhex(const char *hex, size_t n, size_t *out_len) {
    if (n % 2) return NULL;
    uint8_t *b = malloc(n / 2 + 1);
    if (!b) return NULL;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval((unsigned char)hex[2 * i]), lo = hexval((unsigned char)hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(b);
            return NULL;
        }
        b[i] = (uint8_t)(hi << 4 | lo);
    }
    *out_len = n / 2;
    return b;
}

int main(int argc, char **argv) {
    const char *path = "../../protocol/vectors/v1.txt", *seed_dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-w") == 0 && i + 1 < argc) seed_dir = argv[++i];
        else path = argv[i];
    }
    FILE *fp = fopen(path, "r");
    if (!fp) {
        perror(path);
        return 2;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned lineno = 0, n_ok = 0, n_bad = 0, failures = 0;
    int seen_type[256] = {0};
    int seen_reason[SMOL_STATUS_COUNT] = {0};

    while ((n = getline(&line, &cap, fp)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        if (n == 0 || line[0] == '#') continue;
        char *sp1 = strchr(line, ' ');
        char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
        if (!sp1 || !sp2) {
            fprintf(stderr, "%s:%u: malformed vector line\n", path, lineno);
            failures++;
            continue;
        }
        *sp1 = 0;
        const char *kind = line, *hex = sp1 + 1, *rest = sp2 + 1;
        size_t blen = 0;
        uint8_t *buf = unhex(hex, (size_t)(sp2 - hex), &blen);
        if (!buf) {
            fprintf(stderr, "%s:%u: bad hex\n", path, lineno);
            failures++;
            continue;
        }
        if (seed_dir) {
            char seed_path[4096];
            snprintf(seed_path, sizeof seed_path, "%s/v1-line%u", seed_dir, lineno);
            FILE *sp = fopen(seed_path, "wb");
            if (!sp || fwrite(buf, 1, blen, sp) != blen) {
                fprintf(stderr, "%s: cannot write\n", seed_path);
                failures++;
            }
            if (sp) fclose(sp);
        }
        struct smol_frame f;
        size_t consumed = 0;
        enum smol_status st = smol_decode(buf, blen, &f, &consumed, NULL);
        if (strcmp(kind, "ok") == 0) {
            n_ok++;
            if (st != SMOL_OK) {
                fprintf(stderr, "%s:%u: expected ok, decode failed: %s\n", path, lineno,
                        smol_status_name(st));
                failures++;
            } else if (consumed != blen) {
                fprintf(stderr, "%s:%u: %zu bytes after the frame\n", path, lineno, blen - consumed);
                failures++;
            } else {
                seen_type[f.type] = 1;
                char *d = smol_describe(&f);
                if (!d || strcmp(d, rest) != 0) {
                    fprintf(stderr, "%s:%u: description mismatch\n  want: %.300s\n  got:  %.300s\n",
                            path, lineno, rest, d ? d : "(null)");
                    failures++;
                }
                free(d);
                size_t sz = smol_encoded_size(&f);
                uint8_t *enc = malloc(sz ? sz : 1);
                size_t w = enc ? smol_encode(&f, enc, sz) : 0;
                if (w != blen || memcmp(enc, buf, blen) != 0) {
                    fprintf(stderr, "%s:%u: re-encoding differs (%zu vs %zu bytes)\n", path, lineno,
                            w, blen);
                    failures++;
                }
                free(enc);
            }
        } else if (strcmp(kind, "bad") == 0) {
            n_bad++;
            const char *got = smol_status_name(st);
            if (st == SMOL_OK || strcmp(got, rest) != 0) {
                fprintf(stderr, "%s:%u: expected %s, got %s\n", path, lineno, rest, got);
                failures++;
            }
            for (int r = 1; r < SMOL_STATUS_COUNT; r++)
                if (strcmp(rest, smol_status_name((enum smol_status)r)) == 0) seen_reason[r] = 1;
        } else {
            fprintf(stderr, "%s:%u: unknown vector kind '%s'\n", path, lineno, kind);
            failures++;
        }
        free(buf);
    }
    free(line);
    fclose(fp);

    for (int t = 0; t < 256; t++) {
        if (smol_type_name((uint8_t)t) && !seen_type[t]) {
            fprintf(stderr, "%s: no ok vector for %s\n", path, smol_type_name((uint8_t)t));
            failures++;
        }
    }
    for (int r = 1; r < SMOL_STATUS_COUNT; r++) {
        if (!seen_reason[r]) {
            fprintf(stderr, "%s: no bad vector for %s\n", path, smol_status_name((enum smol_status)r));
            failures++;
        }
    }
    if (failures) {
        printf("vectors: FAILED %u check(s) (%u ok, %u bad vectors in %s)\n", failures, n_ok, n_bad,
               path);
        return 1;
    }
    printf("vectors: all %u passed (%u ok, %u bad) from %s\n", n_ok + n_bad, n_ok, n_bad, path);
    return 0;
}
