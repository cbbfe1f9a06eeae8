#include "cchecksum.h"

#include <pthread.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

// CRC-32C with the SSE4.2 crc32 instruction on three interleaved streams (the instruction has a latency
// of three cycles and a throughput of one), combined with precomputed "append N zero bytes" operators.
// After Mark Adler's public-domain crc32c.c.

#define POLY 0x82F63B78u
#define LONG 8192
#define SHORT 256

static uint32_t table[256];
// Folding constants: x^(D+63) and x^(D-1) mod P for a fold over D bits, in the low and high halves (see fold).
static uint64_t fold2048[2], fold512[2], fold384[2], fold256[2], fold128[2];
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

// x^n mod P, reflected (bit 31 is x^0), in the top half of 64 bits as vpclmulqdq reads it.
static uint64_t x_power(unsigned n) {
    uint32_t c = 0x80000000u;
    while (n--) c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
    return (uint64_t)c << 32;
}

static void fold_constants(uint64_t k[2], unsigned bits) {
    k[0] = x_power(bits + 63);
    k[1] = x_power(bits - 1);
}

static void init_tables(void) {
    fold_constants(fold2048, 2048);
    fold_constants(fold512, 512);
    fold_constants(fold384, 384);
    fold_constants(fold256, 256);
    fold_constants(fold128, 128);
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

#if defined(__x86_64__)
// Above a few hundred bytes, carry-less multiplication folds 256 bytes a step (4 x 512-bit lanes) down to 16 bytes
// congruent to the data mod P; the crc32 instruction finishes. A 128-bit value X followed by D more bits becomes
// X.lo * x^(D+63) ^ X.hi * x^(D-1) (the extra x is clmul's one-bit shift of reflected products). Three times the
// crc32 instruction's rate here, where the wire checksums every tensor on both ends.
#define FOLD_MINIMUM 512

__attribute__((target("avx512f,vpclmulqdq,pclmul")))
static inline __m512i fold512x(__m512i x, __m512i k, __m512i next) {
    return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x, k, 0x00), _mm512_clmulepi64_epi128(x, k, 0x11), next, 0x96);
}

__attribute__((target("pclmul")))
static inline __m128i fold128x(__m128i x, __m128i k, __m128i next) {
    return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11)), next);
}

__attribute__((target("avx512f,vpclmulqdq,pclmul,sse4.2")))
static uint32_t folded(uint32_t crc, const uint8_t *p, size_t len) {
    const __m512i k2048 = _mm512_broadcast_i32x4(_mm_loadu_si128((const void *)fold2048));
    const __m512i k512 = _mm512_broadcast_i32x4(_mm_loadu_si128((const void *)fold512));
    __m512i x0 = _mm512_loadu_si512(p), x1 = _mm512_loadu_si512(p + 64);
    __m512i x2 = _mm512_loadu_si512(p + 128), x3 = _mm512_loadu_si512(p + 192);
    // The running CRC enters as the first four bytes XORed, as with the crc32 instruction.
    x0 = _mm512_xor_si512(x0, _mm512_inserti32x4(_mm512_setzero_si512(), _mm_cvtsi32_si128((int)crc), 0));
    p += 256;
    len -= 256;
    for (; len >= 256; p += 256, len -= 256) {
        x0 = fold512x(x0, k2048, _mm512_loadu_si512(p));
        x1 = fold512x(x1, k2048, _mm512_loadu_si512(p + 64));
        x2 = fold512x(x2, k2048, _mm512_loadu_si512(p + 128));
        x3 = fold512x(x3, k2048, _mm512_loadu_si512(p + 192));
    }
    x1 = fold512x(x0, k512, x1);
    x2 = fold512x(x1, k512, x2);
    x3 = fold512x(x2, k512, x3);
    for (; len >= 64; p += 64, len -= 64) x3 = fold512x(x3, k512, _mm512_loadu_si512(p));
    // Four 128-bit lanes, 384, 256 and 128 bits before the last one, into one.
    __m128i lane = _mm512_extracti32x4_epi32(x3, 3);
    lane = fold128x(_mm512_extracti32x4_epi32(x3, 0), _mm_loadu_si128((const void *)fold384), lane);
    lane = fold128x(_mm512_extracti32x4_epi32(x3, 1), _mm_loadu_si128((const void *)fold256), lane);
    const __m128i k128 = _mm_loadu_si128((const void *)fold128);
    lane = fold128x(_mm512_extracti32x4_epi32(x3, 2), k128, lane);
    for (; len >= 16; p += 16, len -= 16) lane = fold128x(lane, k128, _mm_loadu_si128((const void *)p));
    uint64_t c = __builtin_ia32_crc32di(0, (uint64_t)_mm_cvtsi128_si64(lane));
    c = __builtin_ia32_crc32di(c, (uint64_t)_mm_extract_epi64(lane, 1));
    uint32_t c32 = (uint32_t)c;
    while (len--) c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}

static int has_folding(void) {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("vpclmulqdq") && __builtin_cpu_supports("pclmul");
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
    if (len >= FOLD_MINIMUM && has_folding()) return ~folded(crc, p, len);
    if (cchecksum_crc32c_is_hardware()) return ~hardware(crc, p, len);
#endif
    return ~software(crc, p, len);
}
