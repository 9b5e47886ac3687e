/*
 * Fuzz target for the frame decoder (libFuzzer entry point; fuzz_driver.c runs it without libFuzzer).
 * Properties checked on every input:
 *   - decoding never reads outside the input (the sanitizers watch);
 *   - a decoded frame describes without failing and re-encodes to exactly the bytes it came from;
 *   - a header error consumes nothing, a payload error consumes the whole frame;
 *   - a stream of frames can be walked the way the agent's channel reader walks it.
 */
#include "proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz: property failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void check_one(const uint8_t *data, size_t size, size_t *used_out, enum smol_status *st_out) {
    struct smol_frame f;
    struct smol_header h;
    size_t used = 0;
    enum smol_status st = smol_decode(data, size, &f, &used, &h);
    *used_out = used;
    *st_out = st;
    CHECK((unsigned)st < SMOL_STATUS_COUNT);
    CHECK(used <= size);
    if (st == SMOL_OK) {
        CHECK(used >= SMOL_HEADER_LEN && used == SMOL_HEADER_LEN + (size_t)h.length);
        char *d = smol_describe(&f);
        CHECK(d != NULL);
        CHECK(strncmp(d, smol_type_name(f.type), strlen(smol_type_name(f.type))) == 0);
        free(d);
        size_t n = smol_encoded_size(&f);
        CHECK(n == used);
        uint8_t *enc = malloc(n);
        CHECK(enc != NULL);
        CHECK(smol_encode(&f, enc, n) == n);
        CHECK(memcmp(enc, data, n) == 0);
        CHECK(smol_encode(&f, enc, n - 1) == 0); /* never writes past the capacity */
        free(enc);
        if (f.type == SMOL_EXEC) {
            uint32_t pos = 0, count = 0;
            struct smol_bytes b;
            while (smol_strlist_next(&f.u.exec.argv, &pos, &b)) count++;
            CHECK(count == f.u.exec.argv.count);
            pos = count = 0;
            while (smol_strlist_next(&f.u.exec.env, &pos, &b)) count++;
            CHECK(count == f.u.exec.env.count);
        }
    } else if (st == SMOL_E_TRUNCATED) {
        CHECK(used == 0);
    } else if (st == SMOL_E_SHORT_PAYLOAD || st == SMOL_E_TRAILING_BYTES || st == SMOL_E_LIMIT ||
               (st == SMOL_E_BAD_FLAGS && used > 0)) {
        CHECK(used == SMOL_HEADER_LEN + (size_t)h.length);
    } else {
        CHECK(used == 0); /* header error */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t used;
    enum smol_status st;
    check_one(data, size, &used, &st);
    /* Walk the input as a channel byte stream: frame after frame until a header error or the end. */
    size_t pos = 0;
    for (int i = 0; i < 4096 && pos < size; i++) {
        check_one(data + pos, size - pos, &used, &st);
        if (used == 0) break;
        pos += used;
    }
    return 0;
}
