#include "cdnnl.h"

#include <malloc.h>
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

int cdnnl_gemm_u8s8s32(char transa, char transb, int64_t m, int64_t n, int64_t k,
                       const uint8_t *a, int64_t lda, uint8_t ao, const int8_t *b, int64_t ldb,
                       int32_t *c, int64_t ldc) {
    const int32_t no_offset = 0;
    return (int)dnnl_gemm_u8s8s32(transa, transb, 'F', m, n, k, 1.0f, a, lda, ao, b, ldb, 0, 0.0f, c, ldc, &no_offset);
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
