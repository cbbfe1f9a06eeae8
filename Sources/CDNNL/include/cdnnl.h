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

/// An int8 convolution for inference: uint8 NHWC in; out uint8 NHWC, dst = saturate(round(scales[o] * (acc +
/// bias[o])) + dst_zero) where acc counts src - src_zero, or with `float_dst` float NHWC scales[o] * (acc + bias[o]);
/// int8 OIHW weights (out, in / groups, k, k), copied into the primitive's layout.
typedef struct cdnnl_qconv cdnnl_qconv;
cdnnl_qconv *cdnnl_qconv_create(int64_t batch, int64_t in_channels, int64_t height, int64_t width, int64_t out_channels,
                                int64_t kernel, int64_t stride, int64_t padding, const int8_t *weights, const float *bias,
                                const float *scales, int32_t src_zero, int32_t dst_zero, int64_t groups, int float_dst);
int cdnnl_qconv_execute(cdnnl_qconv *conv, const uint8_t *src, void *dst);
const char *cdnnl_qconv_implementation(const cdnnl_qconv *conv);
void cdnnl_qconv_destroy(cdnnl_qconv *conv);

/// A batched matmul on plain buffers: C(batch, m, n) = alpha * op(A)(batch, m, k) x op(B)(batch, k, n), op a
/// transpose of the last two axes when asked; `causal` (m == n) then sets every score above the diagonal to -inf.
typedef struct cdnnl_matmul cdnnl_matmul;
cdnnl_matmul *cdnnl_matmul_create(int64_t batch, int64_t m, int64_t n, int64_t k, int trans_a, int trans_b,
                                  float alpha, int causal);
int cdnnl_matmul_execute(cdnnl_matmul *matmul, const float *a, const float *b, float *c);
const char *cdnnl_matmul_implementation(const cdnnl_matmul *matmul);
void cdnnl_matmul_destroy(cdnnl_matmul *matmul);

/// Softmax along each row of a (rows, columns) buffer, and its backward (diff_src from dst and diff_dst).
typedef struct cdnnl_softmax cdnnl_softmax;
cdnnl_softmax *cdnnl_softmax_create(int64_t rows, int64_t columns);
int cdnnl_softmax_forward(cdnnl_softmax *softmax, const float *src, float *dst);
int cdnnl_softmax_backward(cdnnl_softmax *softmax, const float *dst, const float *diff_dst, float *diff_src);
const char *cdnnl_softmax_implementation(const cdnnl_softmax *softmax);
void cdnnl_softmax_destroy(cdnnl_softmax *softmax);

/// Copies a tensor between two strided layouts of the same dimensions (an axis permutation), in one reorder.
typedef struct cdnnl_permute cdnnl_permute;
cdnnl_permute *cdnnl_permute_create(int rank, const int64_t *dims, const int64_t *src_strides, const int64_t *dst_strides);
int cdnnl_permute_execute(cdnnl_permute *permute, const float *src, float *dst);
const char *cdnnl_permute_implementation(const cdnnl_permute *permute);
void cdnnl_permute_destroy(cdnnl_permute *permute);

/// Elementwise activations for training on a flat buffer: forward, and backward from the input and dy.
enum { CDNNL_GELU_ERF = 0, CDNNL_GELU_TANH = 1, CDNNL_SILU = 2 };
typedef struct cdnnl_eltwise cdnnl_eltwise;
cdnnl_eltwise *cdnnl_eltwise_create(int64_t count, int kind);
int cdnnl_eltwise_forward(cdnnl_eltwise *eltwise, const float *src, float *dst);
int cdnnl_eltwise_backward(cdnnl_eltwise *eltwise, const float *src, const float *diff_dst, float *diff_src);
void cdnnl_eltwise_destroy(cdnnl_eltwise *eltwise);

/// Layer normalization over the last axis of (rows, features), with scale and shift: the forward writes each row's
/// mean and biased variance; the backward takes them and writes dx, dscale and dshift.
typedef struct cdnnl_layer_norm cdnnl_layer_norm;
cdnnl_layer_norm *cdnnl_layer_norm_create(int64_t rows, int64_t features, float epsilon);
int cdnnl_layer_norm_forward(cdnnl_layer_norm *norm, const float *src, const float *scale, const float *shift, float *dst,
                             float *mean, float *variance);
int cdnnl_layer_norm_backward(cdnnl_layer_norm *norm, const float *src, const float *scale, const float *shift, const float *mean, const float *variance,
                              const float *diff_dst, float *diff_src, float *diff_scale, float *diff_shift);
void cdnnl_layer_norm_destroy(cdnnl_layer_norm *norm);

/// oneDNN's version as major * 10000 + minor * 100 + patch.
int cdnnl_version(void);

#endif
