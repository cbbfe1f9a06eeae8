#include "cdnnl.h"

#include <malloc.h>
#include <stdlib.h>
#include <oneapi/dnnl/dnnl.h>
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

// libgomp's entry points, declared here because Swift's clang does not see GCC's <omp.h>.
extern void omp_set_num_threads(int threads);
extern int omp_get_max_threads(void);
extern int omp_get_thread_num(void);
extern int omp_get_num_threads(void);
// What `#pragma omp parallel` compiles to with GCC; Swift's clang would emit LLVM libomp calls instead.
extern void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);

int cdnnl_sgemm(char transa, char transb, int64_t m, int64_t n, int64_t k,
                float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                float beta, float *c, int64_t ldc) {
    return (int)dnnl_sgemm(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

int cdnnl_has_int8_dot_product(void) {
    static int known = -1;
    if (known < 0) {
        const unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
        // The VNNI bits of dnnl_cpu_isa_avx512_core_vnni (0x67, and the ISAs above it) and dnnl_cpu_isa_avx2_vnni (0x407).
        known = (isa & 0x40u) || (isa & 0x400u);
    }
    return known;
}

static int gemm_u8s8s32(char transa, char transb, int64_t m, int64_t n, int64_t k,
                        const uint8_t *a, int64_t lda, uint8_t ao, const int8_t *b, int64_t ldb,
                        int32_t *c, int64_t ldc) {
    const int32_t no_offset = 0;
    return (int)dnnl_gemm_u8s8s32(transa, transb, 'F', m, n, k, 1.0f, a, lda, ao, b, ldb, 0, 0.0f, c, ldc, &no_offset);
}

int cdnnl_gemm_u8s8s32(char transa, char transb, int64_t m, int64_t n, int64_t k,
                       const uint8_t *a, int64_t lda, uint8_t ao, const int8_t *b, int64_t ldb,
                       int32_t *c, int64_t ldc) {
    if (cdnnl_has_int8_dot_product() || m <= 0 || n <= 0) return gemm_u8s8s32(transa, transb, m, n, k, a, lda, ao, b, ldb, c, ldc);
    // Without VNNI, oneDNN adds each pair of u8 x s8 products in int16 (vpmaddubsw), which saturates past 32767
    // (2 x 255 x 127 = 64770). A's low 7 bits and its top bit each keep a pair within 2 x 127 x 128, so two exact
    // products recombine exactly: (A - ao) B = A_lo B + 128 A_hi B - ao 1 B.
    const int64_t rows = (transa == 'N' || transa == 'n') ? m : k;
    const size_t bytes = (size_t)(rows * lda);
    uint8_t *lo = malloc(bytes), *hi = malloc(bytes);
    int32_t *high = malloc((size_t)(m * n) * sizeof(int32_t)), *columns = calloc((size_t)n, sizeof(int32_t));
    int status = 5;  // dnnl_out_of_memory
    if (lo && hi && high && columns) {
        for (size_t i = 0; i < bytes; i++) { lo[i] = a[i] & 127u; hi[i] = a[i] >> 7; }
        status = gemm_u8s8s32(transa, transb, m, n, k, lo, lda, 0, b, ldb, c, ldc);
        if (status == 0) status = gemm_u8s8s32(transa, transb, m, n, k, hi, lda, 0, b, ldb, high, n);
        if (status == 0) {
            const int transposed = transb == 'T' || transb == 't';
            for (int64_t p = 0; p < k; p++)
                for (int64_t j = 0; j < n; j++) columns[j] += transposed ? b[j * ldb + p] : b[p * ldb + j];
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = 0; j < n; j++) c[i * ldc + j] += 128 * high[i * n + j] - (int32_t)ao * columns[j];
        }
    }
    free(lo); free(hi); free(high); free(columns);
    return status;
}

void cdnnl_set_num_threads(int threads) { omp_set_num_threads(threads); }

int cdnnl_max_threads(void) { return omp_get_max_threads(); }

int cdnnl_version(void) {
    const dnnl_version_t *v = dnnl_version();
    return v->major * 10000 + v->minor * 100 + v->patch;
}

void cdnnl_flush_denormals(void) {
#if defined(__x86_64__)
    _mm_setcsr(_mm_getcsr() | 0x8040); // FTZ (bit 15) | DAZ (bit 6)
#endif
}

void cdnnl_keep_large_allocations(void) {
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

struct cdnnl_job {
    cdnnl_chunk_fn fn;
    void *context;
    int64_t n;
};

static void cdnnl_run_chunk(void *data) {
    const struct cdnnl_job *job = data;
    int64_t team = omp_get_num_threads(), me = omp_get_thread_num();
    int64_t size = (job->n + team - 1) / team;
    int64_t begin = me * size, end = begin + size < job->n ? begin + size : job->n;
    if (begin < end) job->fn(job->context, begin, end);
}

void cdnnl_parallel_for(int64_t n, int threads, cdnnl_chunk_fn fn, void *context) {
    struct cdnnl_job job = {fn, context, n};
    GOMP_parallel(cdnnl_run_chunk, &job, (unsigned)threads, 0);
}
