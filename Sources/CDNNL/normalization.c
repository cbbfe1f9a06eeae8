// Elementwise activations (GELU in both forms, SiLU) and layer normalization for training on oneDNN: vectorised
// and threaded where the Swift loops were scalar, forward and backward, one primitive set per geometry.
#include "cdnnl.h"
#include "context.h"

#include <stdlib.h>
#include <oneapi/dnnl/dnnl.h>


// MARK: elementwise

struct cdnnl_eltwise {
    context ctx;
    dnnl_primitive_desc_t forward_descriptor, backward_descriptor;
    dnnl_primitive_t forward, backward;
    dnnl_memory_t memories[4];  // src, dst, diff_dst, diff_src
};

void cdnnl_eltwise_destroy(cdnnl_eltwise *e) {
    if (!e) return;
    for (size_t i = 0; i < 4; i++) if (e->memories[i]) dnnl_memory_destroy(e->memories[i]);
    if (e->forward) dnnl_primitive_destroy(e->forward);
    if (e->backward) dnnl_primitive_destroy(e->backward);
    if (e->forward_descriptor) dnnl_primitive_desc_destroy(e->forward_descriptor);
    if (e->backward_descriptor) dnnl_primitive_desc_destroy(e->backward_descriptor);
    context_destroy(&e->ctx);
    free(e);
}

cdnnl_eltwise *cdnnl_eltwise_create(int64_t count, int kind) {
    dnnl_alg_kind_t algorithm;
    switch (kind) {
    case CDNNL_GELU_ERF: algorithm = dnnl_eltwise_gelu_erf; break;
    case CDNNL_GELU_TANH: algorithm = dnnl_eltwise_gelu_tanh; break;
    case CDNNL_SILU: algorithm = dnnl_eltwise_swish; break;
    default: return NULL;
    }
    cdnnl_eltwise *e = calloc(1, sizeof(cdnnl_eltwise));
    if (!e) return NULL;
    dnnl_dims_t dims = {count};
    dnnl_memory_desc_t md;
    dnnl_eltwise_desc_t forward, backward;
    float alpha = kind == CDNNL_SILU ? 1.0f : 0.0f;  // swish's sigmoid scale: x * sigmoid(1 * x)
    int ok = context_init(&e->ctx)
        && dnnl_memory_desc_init_by_tag(&md, 1, dims, dnnl_f32, dnnl_a) == dnnl_success
        && dnnl_eltwise_forward_desc_init(&forward, dnnl_forward_training, algorithm, &md, alpha, 0) == dnnl_success
        && dnnl_primitive_desc_create(&e->forward_descriptor, &forward, NULL, e->ctx.engine, NULL) == dnnl_success
        && dnnl_eltwise_backward_desc_init(&backward, algorithm, &md, &md, alpha, 0) == dnnl_success
        && dnnl_primitive_desc_create(&e->backward_descriptor, &backward, NULL, e->ctx.engine, e->forward_descriptor) == dnnl_success
        && dnnl_primitive_create(&e->forward, e->forward_descriptor) == dnnl_success
        && dnnl_primitive_create(&e->backward, e->backward_descriptor) == dnnl_success;
    for (size_t i = 0; ok && i < 4; i++) ok = dnnl_memory_create(&e->memories[i], &md, e->ctx.engine, DNNL_MEMORY_NONE) == dnnl_success;
    if (!ok) {
        cdnnl_eltwise_destroy(e);
        return NULL;
    }
    return e;
}

int cdnnl_eltwise_forward(cdnnl_eltwise *e, const float *src, float *dst) {
    TRY(dnnl_memory_set_data_handle(e->memories[0], (void *)src));
    TRY(dnnl_memory_set_data_handle(e->memories[1], dst));
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_SRC, e->memories[0]}, {DNNL_ARG_DST, e->memories[1]}};
    TRY(dnnl_primitive_execute(e->forward, e->ctx.stream, 2, args));
    return (int)dnnl_stream_wait(e->ctx.stream);
}

int cdnnl_eltwise_backward(cdnnl_eltwise *e, const float *src, const float *diff_dst, float *diff_src) {
    TRY(dnnl_memory_set_data_handle(e->memories[0], (void *)src));
    TRY(dnnl_memory_set_data_handle(e->memories[2], (void *)diff_dst));
    TRY(dnnl_memory_set_data_handle(e->memories[3], diff_src));
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, e->memories[0]}, {DNNL_ARG_DIFF_DST, e->memories[2]},
                               {DNNL_ARG_DIFF_SRC, e->memories[3]}};
    TRY(dnnl_primitive_execute(e->backward, e->ctx.stream, 3, args));
    return (int)dnnl_stream_wait(e->ctx.stream);
}

// MARK: layer normalization

struct cdnnl_layer_norm {
    context ctx;
    dnnl_primitive_desc_t forward_descriptor, backward_descriptor;
    dnnl_primitive_t forward, backward;
    // src, dst, scale, shift, mean, variance, diff_dst, diff_src, diff_scale, diff_shift
    dnnl_memory_t memories[10];
};

void cdnnl_layer_norm_destroy(cdnnl_layer_norm *n) {
    if (!n) return;
    for (size_t i = 0; i < 10; i++) if (n->memories[i]) dnnl_memory_destroy(n->memories[i]);
    if (n->forward) dnnl_primitive_destroy(n->forward);
    if (n->backward) dnnl_primitive_destroy(n->backward);
    if (n->forward_descriptor) dnnl_primitive_desc_destroy(n->forward_descriptor);
    if (n->backward_descriptor) dnnl_primitive_desc_destroy(n->backward_descriptor);
    context_destroy(&n->ctx);
    free(n);
}

cdnnl_layer_norm *cdnnl_layer_norm_create(int64_t rows, int64_t features, float epsilon) {
    cdnnl_layer_norm *n = calloc(1, sizeof(cdnnl_layer_norm));
    if (!n) return NULL;
    dnnl_dims_t data_dims = {rows, features}, stat_dims = {rows}, parameter_dims = {features};
    dnnl_memory_desc_t data, stats, parameters;
    dnnl_layer_normalization_desc_t forward, backward;
    unsigned flags = dnnl_use_scale | dnnl_use_shift;
    int ok = context_init(&n->ctx)
        && dnnl_memory_desc_init_by_tag(&data, 2, data_dims, dnnl_f32, dnnl_ab) == dnnl_success
        && dnnl_memory_desc_init_by_tag(&stats, 1, stat_dims, dnnl_f32, dnnl_a) == dnnl_success
        && dnnl_memory_desc_init_by_tag(&parameters, 1, parameter_dims, dnnl_f32, dnnl_a) == dnnl_success
        && dnnl_layer_normalization_forward_desc_init(&forward, dnnl_forward_training, &data, &stats, epsilon, flags) == dnnl_success
        && dnnl_primitive_desc_create(&n->forward_descriptor, &forward, NULL, n->ctx.engine, NULL) == dnnl_success
        && dnnl_layer_normalization_backward_desc_init(&backward, dnnl_backward, &data, &data, &stats, epsilon, flags) == dnnl_success
        && dnnl_primitive_desc_create(&n->backward_descriptor, &backward, NULL, n->ctx.engine, n->forward_descriptor) == dnnl_success
        && dnnl_primitive_create(&n->forward, n->forward_descriptor) == dnnl_success
        && dnnl_primitive_create(&n->backward, n->backward_descriptor) == dnnl_success;
    const dnnl_memory_desc_t *kinds[10] = {&data, &data, &parameters, &parameters, &stats, &stats, &data, &data, &parameters, &parameters};
    for (size_t i = 0; ok && i < 10; i++) ok = dnnl_memory_create(&n->memories[i], kinds[i], n->ctx.engine, DNNL_MEMORY_NONE) == dnnl_success;
    if (!ok) {
        cdnnl_layer_norm_destroy(n);
        return NULL;
    }
    return n;
}

int cdnnl_layer_norm_forward(cdnnl_layer_norm *n, const float *src, const float *scale, const float *shift, float *dst,
                             float *mean, float *variance) {
    const void *handles[6] = {src, dst, scale, shift, mean, variance};
    for (size_t i = 0; i < 6; i++) TRY(dnnl_memory_set_data_handle(n->memories[i], (void *)handles[i]));
    dnnl_exec_arg_t args[6] = {{DNNL_ARG_SRC, n->memories[0]}, {DNNL_ARG_DST, n->memories[1]}, {DNNL_ARG_SCALE, n->memories[2]},
                               {DNNL_ARG_SHIFT, n->memories[3]}, {DNNL_ARG_MEAN, n->memories[4]}, {DNNL_ARG_VARIANCE, n->memories[5]}};
    TRY(dnnl_primitive_execute(n->forward, n->ctx.stream, 6, args));
    return (int)dnnl_stream_wait(n->ctx.stream);
}

int cdnnl_layer_norm_backward(cdnnl_layer_norm *n, const float *src, const float *scale, const float *shift, const float *mean, const float *variance,
                              const float *diff_dst, float *diff_src, float *diff_scale, float *diff_shift) {
    // oneDNN 2.6 refuses the backward without the shift, though the gradients do not depend on it.
    const void *handles[10] = {src, NULL, scale, shift, mean, variance, diff_dst, diff_src, diff_scale, diff_shift};
    for (size_t i = 0; i < 10; i++) if (handles[i]) TRY(dnnl_memory_set_data_handle(n->memories[i], (void *)handles[i]));
    dnnl_exec_arg_t args[9] = {{DNNL_ARG_SRC, n->memories[0]}, {DNNL_ARG_SCALE, n->memories[2]}, {DNNL_ARG_SHIFT, n->memories[3]},
                               {DNNL_ARG_MEAN, n->memories[4]},
                               {DNNL_ARG_VARIANCE, n->memories[5]}, {DNNL_ARG_DIFF_DST, n->memories[6]},
                               {DNNL_ARG_DIFF_SRC, n->memories[7]}, {DNNL_ARG_DIFF_SCALE, n->memories[8]},
                               {DNNL_ARG_DIFF_SHIFT, n->memories[9]}};
    TRY(dnnl_primitive_execute(n->backward, n->ctx.stream, 9, args));
    return (int)dnnl_stream_wait(n->ctx.stream);
}
