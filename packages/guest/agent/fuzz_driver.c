/*
 * A self-contained random-mutation fuzzer for hosts without libFuzzer (gcc): it loads seed files (the
 * test vectors, written by `vectors-test -w DIR`), mutates them with a bias towards the protocol's
 * interesting values and boundaries, and runs LLVMFuzzerTestOneInput on each result, under
 * -fsanitize=address,undefined. It stops by itself after -t SECONDS.
 *
 *   fuzz-decoder [-t SECONDS] [-s RANDOM_SEED] [SEED_DIR]
 */
#define _GNU_SOURCE
#include "proto.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT (SMOL_MAX_FRAME + 64)
#define POOL_MAX 2048

struct input {
    uint8_t *p;
    size_t n;
};

static struct input pool[POOL_MAX];
static size_t npool;
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void) {
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}
static size_t below(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

static void pool_add(const uint8_t *p, size_t n) {
    struct input in = {malloc(n ? n : 1), n};
    if (!in.p) return;
    if (n) memcpy(in.p, p, n);
    if (npool < POOL_MAX) {
        pool[npool++] = in;
    } else {
        size_t k = below(POOL_MAX);
        free(pool[k].p);
        pool[k] = in;
    }
}

static void load_seeds(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *fp = fopen(path, "rb");
        if (!fp) continue;
        uint8_t *buf = malloc(FUZZ_MAX_INPUT);
        size_t n = buf ? fread(buf, 1, FUZZ_MAX_INPUT, fp) : 0;
        fclose(fp);
        if (buf) pool_add(buf, n);
        free(buf);
    }
    closedir(d);
}

static const uint32_t interesting32[] = {0,       1,       2,       3,       4,          5,
                                         8,       12,      63,      64,      65,         4095,
                                         4096,    4097,    65535,   65536,   65537,      262143,
                                         262144,  262145,  1048575, 1048576, 1048577,    0x7fffffff,
                                         0x80000000, 0xfffffffe, 0xffffffff};
static const uint8_t interesting8[] = {0,    1,    2,    3,    4,    5,    0x06, 0x0f, 0x10,
                                       0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x1e,
                                       0x1f, 0x20, 0x7f, 0x80, 0xfe, 0xff};

static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static size_t mutate(uint8_t *b, size_t n, size_t cap) {
    int rounds = 1 + (int)below(6);
    for (int r = 0; r < rounds; r++) {
        switch (below(11)) {
        case 0: /* flip a bit */
            if (n) b[below(n)] ^= (uint8_t)(1u << below(8));
            break;
        case 1: /* random byte */
            if (n) b[below(n)] = (uint8_t)rnd();
            break;
        case 2: /* interesting byte, often in the header (type, flags, reserved) */
            if (n) {
                size_t at = below(2) && n > 8 ? 4 + below(4) : below(n);
                b[at] = interesting8[below(sizeof interesting8)];
            }
            break;
        case 3: /* interesting u32 at a random place: lengths, counts, stream ids */
            if (n >= 4) put32(b + below(n - 3), interesting32[below(sizeof interesting32 / 4)]);
            break;
        case 4: /* truncate */
            if (n) n = below(n + 1);
            break;
        case 5: /* insert random bytes */ {
            size_t k = 1 + below(16);
            if (n + k > cap) break;
            size_t at = below(n + 1);
            memmove(b + at + k, b + at, n - at);
            for (size_t i = 0; i < k; i++) b[at + i] = (uint8_t)rnd();
            n += k;
            break;
        }
        case 6: /* delete bytes */ {
            if (!n) break;
            size_t at = below(n), k = 1 + below(16);
            if (k > n - at) k = n - at;
            memmove(b + at, b + at + k, n - at - k);
            n -= k;
            break;
        }
        case 7: /* duplicate a chunk (repeats strings, list entries, whole frames) */ {
            if (!n) break;
            size_t at = below(n), k = 1 + below(n - at);
            if (n + k > cap) break;
            memmove(b + at + k, b + at, n - at);
            n += k;
            break;
        }
        case 8: /* splice in the start of another pool entry (frames back to back) */ {
            struct input *o = &pool[below(npool)];
            size_t k = below(o->n + 1);
            if (n + k > cap) k = cap - n;
            memcpy(b + n, o->p, k);
            n += k;
            break;
        }
        case 9: /* make the header length agree with the bytes present, to reach the payload code */
        case 10:
            if (n >= SMOL_HEADER_LEN) put32(b, (uint32_t)(n - SMOL_HEADER_LEN));
            break;
        }
    }
    return n;
}

int main(int argc, char **argv) {
    double seconds = 20;
    const char *dir = NULL;
    uint64_t seed = (uint64_t)time(NULL);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc) seed = strtoull(argv[++i], NULL, 0);
        else dir = argv[i];
    }
    rng_state ^= seed * 0x100000001b3ull;
    if (!rng_state) rng_state = 1;
    if (dir) load_seeds(dir);
    size_t nseeds = npool;
    if (npool == 0) {
        static const uint8_t ping[] = {0, 0, 0, 8, 3, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8};
        pool_add(ping, sizeof ping);
    }
    /* Every seed as it is first. */
    for (size_t i = 0; i < npool; i++) {
        uint8_t *copy = malloc(pool[i].n ? pool[i].n : 1);
        memcpy(copy, pool[i].p, pool[i].n);
        LLVMFuzzerTestOneInput(copy, pool[i].n);
        free(copy);
    }

    size_t cap = 0;
    for (size_t i = 0; i < npool; i++) cap = pool[i].n > cap ? pool[i].n : cap;
    cap = cap * 2 + 256;
    if (cap > FUZZ_MAX_INPUT) cap = FUZZ_MAX_INPUT;
    uint8_t *work = malloc(cap);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned long long execs = 0, kept = 0;
    unsigned char seen[256][SMOL_STATUS_COUNT];
    memset(seen, 0, sizeof seen);
    for (;;) {
        if ((execs & 255) == 0) {
            clock_gettime(CLOCK_MONOTONIC, &t);
            double el = (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9;
            if (el >= seconds) break;
        }
        struct input *src = &pool[below(npool)];
        size_t n = src->n < cap ? src->n : cap;
        memcpy(work, src->p, n);
        n = mutate(work, n, cap);
        /* An exact-size copy, so that any read past the end is caught. */
        uint8_t *in = malloc(n ? n : 1);
        memcpy(in, work, n);
        LLVMFuzzerTestOneInput(in, n);
        execs++;
        /* Keep inputs that reach a new (type, result) pair, as cheap feedback. */
        if (n >= SMOL_HEADER_LEN) {
            struct smol_frame f;
            size_t used;
            enum smol_status st = smol_decode(in, n, &f, &used, NULL);
            if (!seen[in[4]][st]) {
                seen[in[4]][st] = 1;
                pool_add(in, n);
                kept++;
            }
        }
        free(in);
    }
    printf("fuzz: %llu executions in %.0f s from %zu seeds (%llu new inputs kept), no failures\n",
           execs, seconds, nseeds, kept);
    free(work);
    for (size_t i = 0; i < npool; i++) free(pool[i].p);
    return 0;
}
