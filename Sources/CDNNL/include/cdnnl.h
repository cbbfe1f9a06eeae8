// Thin, prefixed wrappers over oneDNN 2.6; the Swift module `Compute` is their only caller.
#ifndef CDNNL_H
#define CDNNL_H

#include <stdint.h>

/// Row-major C = alpha * op(A) * op(B) + beta * C; op is 'N' or 'T'. Returns a dnnl_status_t (0 = success).
int cdnnl_sgemm(char transa, char transb, int64_t m, int64_t n, int64_t k,
                float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                float beta, float *c, int64_t ldc);

/// Whether oneDNN runs int8 products on VNNI (AVX-512 VNNI or AVX-VNNI): without it, its u8 x s8 kernels can
/// saturate an int16 intermediate, so exact results need the work-around in cdnnl_gemm_u8s8s32.
int cdnnl_has_int8_dot_product(void);

/// Row-major C(int32) = (op(A) - ao) * op(B) with A uint8 and B int8, accumulated exactly in int32 on any x86-64
/// (two products of 7-bit halves of A where the processor has no VNNI).
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

/// A 2-D convolution primitive for inference on plain NCHW tensors (weights (groups *) OIHW, bias optional),
/// created once per geometry and run many times. Pads are top, left, bottom, right; dilation 1 means none.
typedef struct cdnnl_conv cdnnl_conv;
cdnnl_conv *cdnnl_conv_create(int64_t batch, int64_t in_channels, int64_t height, int64_t width,
                              int64_t out_channels, int64_t groups, int64_t kernel_h, int64_t kernel_w,
                              int64_t stride_h, int64_t stride_w, int64_t dilation_h, int64_t dilation_w,
                              int64_t pad_top, int64_t pad_left, int64_t pad_bottom, int64_t pad_right, int has_bias);
/// dst = conv(src, weights) + bias. Returns a dnnl_status_t (0 = success).
int cdnnl_conv_execute(cdnnl_conv *conv, const float *src, const float *weights, const float *bias, float *dst);
/// The implementation oneDNN chose (e.g. "jit:avx512_core"), for benchmarks and logs.
const char *cdnnl_conv_implementation(const cdnnl_conv *conv);
void cdnnl_conv_destroy(cdnnl_conv *conv);

/// A 2-D convolution for training on plain NCHW tensors (weights (groups *) OIHW, with bias; square kernel, equal
/// padding on every side): forward, and backward to the input (optional) and to the weights and bias.
typedef struct cdnnl_conv_training cdnnl_conv_training;
cdnnl_conv_training *cdnnl_conv_training_create(int64_t batch, int64_t in_channels, int64_t height, int64_t width,
                                                int64_t out_channels, int64_t groups, int64_t kernel, int64_t stride,
                                                int64_t padding);
/// dst = conv(src, weights) + bias. Returns a dnnl_status_t (0 = success).
int cdnnl_conv_training_forward(cdnnl_conv_training *conv, const float *src, const float *weights, const float *bias, float *dst);
/// diff_weights and diff_bias (overwritten) from src and diff_dst; diff_src too unless NULL.
int cdnnl_conv_training_backward(cdnnl_conv_training *conv, const float *src, const float *weights, const float *diff_dst,
                                 float *diff_src, float *diff_weights, float *diff_bias);
const char *cdnnl_conv_training_implementation(const cdnnl_conv_training *conv);
void cdnnl_conv_training_destroy(cdnnl_conv_training *conv);

/// An int8 convolution for inference: uint8 NHWC in and out, int8 OIHW weights (copied into the primitive's
/// layout), dst = saturate(round(scales[o] * (acc + bias[o])) + dst_zero) where acc counts src - src_zero.
typedef struct cdnnl_qconv cdnnl_qconv;
cdnnl_qconv *cdnnl_qconv_create(int64_t batch, int64_t in_channels, int64_t height, int64_t width, int64_t out_channels,
                                int64_t kernel, int64_t stride, int64_t padding, const int8_t *weights, const float *bias,
                                const float *scales, int32_t src_zero, int32_t dst_zero);
int cdnnl_qconv_execute(cdnnl_qconv *conv, const uint8_t *src, uint8_t *dst);
const char *cdnnl_qconv_implementation(const cdnnl_qconv *conv);
void cdnnl_qconv_destroy(cdnnl_qconv *conv);

/// oneDNN's version as major * 10000 + minor * 100 + patch.
int cdnnl_version(void);

#endif
