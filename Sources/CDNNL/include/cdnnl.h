// Thin, prefixed wrappers over oneDNN 2.6; the Swift module `Compute` is their only caller.
#ifndef CDNNL_H
#define CDNNL_H

#include <stdint.h>

/// Row-major C = alpha * op(A) * op(B) + beta * C; op is 'N' or 'T'. Returns a dnnl_status_t (0 = success).
int cdnnl_sgemm(char transa, char transb, int64_t m, int64_t n, int64_t k,
                float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                float beta, float *c, int64_t ldc);

/// Row-major C(int32) = (op(A) - ao) * op(B) with A uint8 and B int8, accumulated exactly in int32.
int cdnnl_gemm_u8s8s32(char transa, char transb, int64_t m, int64_t n, int64_t k,
                       const uint8_t *a, int64_t lda, uint8_t ao, const int8_t *b, int64_t ldb,
                       int32_t *c, int64_t ldc);

/// Sets the OpenMP thread count oneDNN uses (oneDNN 2.6 has no thread API of its own).
void cdnnl_set_num_threads(int threads);

/// The thread count OpenMP will use for the next parallel region.
int cdnnl_max_threads(void);

/// Sets flush-to-zero and denormals-are-zero for this thread (and threads it creates later):
/// optimizer moments decaying through the denormal range otherwise slow every step several-fold.
void cdnnl_flush_denormals(void);

/// Keeps large buffers in malloc's heap instead of fresh mmaps: training allocates the same big
/// activations every step, and page-faulting them in again cost more than the arithmetic.
void cdnnl_keep_large_allocations(void);

/// Runs fn(context, begin, end) on `threads` disjoint chunks of 0..<n in oneDNN's own OpenMP team,
/// so elementwise work shares the threads the GEMMs use instead of fighting them for the cores.
typedef void (*cdnnl_chunk_fn)(void *context, int64_t begin, int64_t end);
void cdnnl_parallel_for(int64_t n, int threads, cdnnl_chunk_fn fn, void *context);

/// oneDNN's version as major * 10000 + minor * 100 + patch.
int cdnnl_version(void);

#endif
