#include "cchecksum.h"

#include <pthread.h>
#include <string.h>

// CRC-32C with the SSE4.2 crc32 instruction on three interleaved streams (the instruction has a latency
// of three cycles and a throughput of one), combined with precomputed "append N zero bytes" operators.
// After Mark Adler's public-domain crc32c.c.

#define POLY 0x82F63B78u
#define LONG 8192
#define SHORT 256

static uint32_t table[256];
static uint32_t zeros_long[4][256];
static uint32_t zeros_short[4][256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static uint32_t gf2_times(const uint32_t *mat, uint32_t vec) {
    uint32_t sum = 0;
    while (vec) {
        if (vec & 1) sum ^= *mat;
        vec >>= 1;
        mat++;
    }
    return sum;
}

static void gf2_square(uint32_t *square, const uint32_t *mat) {
    for (int n = 0; n < 32; n++) square[n] = gf2_times(mat, mat[n]);
}

// The operator that appends `len` (a power of two) zero bytes to a CRC state.
static void zeros_operator(uint32_t *even, size_t len) {
    uint32_t odd[32];
    odd[0] = POLY;
    uint32_t row = 1;
    for (int n = 1; n < 32; n++) {
        odd[n] = row;
        row <<= 1;
    }
    gf2_square(even, odd);
    gf2_square(odd, even);
    do {
        gf2_square(even, odd);
        len >>= 1;
        if (len == 0) return;
        gf2_square(odd, even);
        len >>= 1;
    } while (len);
    memcpy(even, odd, sizeof odd);
}

static void zeros_tables(uint32_t zeros[][256], size_t len) {
    uint32_t op[32];
    zeros_operator(op, len);
    for (uint32_t n = 0; n < 256; n++) {
        zeros[0][n] = gf2_times(op, n);
        zeros[1][n] = gf2_times(op, n << 8);
        zeros[2][n] = gf2_times(op, n << 16);
        zeros[3][n] = gf2_times(op, n << 24);
    }
}

static void init_tables(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
        table[i] = c;
    }
    zeros_tables(zeros_long, LONG);
    zeros_tables(zeros_short, SHORT);
}

static uint32_t shift(uint32_t zeros[][256], uint32_t crc) {
    return zeros[0][crc & 0xFF] ^ zeros[1][(crc >> 8) & 0xFF] ^ zeros[2][(crc >> 16) & 0xFF] ^ zeros[3][crc >> 24];
}

static uint32_t software(uint32_t crc, const uint8_t *p, size_t len) {
    while (len--) crc = table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
static inline uint64_t load64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);  // unaligned-safe
    return v;
}

// Three streams of `block` bytes each, combined: crc(A B C) = shift(shift(crc A) ^ crc B) ^ crc C.
__attribute__((target("sse4.2")))
static uint64_t triple(uint64_t crc0, const uint8_t **next, size_t *len, size_t block, uint32_t zeros[][256]) {
    while (*len >= 3 * block) {
        uint64_t crc1 = 0, crc2 = 0;
        const uint8_t *p = *next, *end = *next + block;
        do {
            crc0 = __builtin_ia32_crc32di(crc0, load64(p));
            crc1 = __builtin_ia32_crc32di(crc1, load64(p + block));
            crc2 = __builtin_ia32_crc32di(crc2, load64(p + 2 * block));
            p += 8;
        } while (p < end);
        crc0 = shift(zeros, (uint32_t)crc0) ^ crc1;
        crc0 = shift(zeros, (uint32_t)crc0) ^ crc2;
        *next += 3 * block;
        *len -= 3 * block;
    }
    return crc0;
}

__attribute__((target("sse4.2")))
static uint32_t hardware(uint32_t crc, const uint8_t *p, size_t len) {
    uint64_t c = crc;
    c = triple(c, &p, &len, LONG, zeros_long);
    c = triple(c, &p, &len, SHORT, zeros_short);
    while (len >= 8) {
        c = __builtin_ia32_crc32di(c, load64(p));
        p += 8;
        len -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (len--) c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}
#endif

int cchecksum_crc32c_is_hardware(void) {
#if defined(__x86_64__)
    return __builtin_cpu_supports("sse4.2");
#else
    return 0;
#endif
}

uint32_t cchecksum_crc32c(uint32_t crc, const void *data, size_t len) {
    pthread_once(&once, init_tables);
    const uint8_t *p = data;
    crc = ~crc;
#if defined(__x86_64__)
    if (cchecksum_crc32c_is_hardware()) return ~hardware(crc, p, len);
#endif
    return ~software(crc, p, len);
}
