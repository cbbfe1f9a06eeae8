// oneDNN's convolution for training: the forward pass and both backward passes (data and weights with bias),
// created together (the backward primitives take the forward one as their hint) once per geometry. Callers hold
// plain NCHW / (G)OIHW tensors; each primitive reads and writes the layouts it prefers, reordered around each run.
#include "cdnnl.h"
#include "operand.h"

#include <stdlib.h>
#include <oneapi/dnnl/dnnl.h>

struct cdnnl_conv_training {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_primitive_desc_t forward_descriptor, data_descriptor, weights_descriptor;
    dnnl_primitive_t forward, backward_data, backward_weights;
    // forward
    operand src, weights, dst;
    dnnl_memory_t bias;
    // backward data: dx from dy and the weights
    operand data_diff_dst, data_weights, diff_src;
    // backward weights: dW and db from x and dy
    operand weights_src, weights_diff_dst, diff_weights;
    dnnl_memory_t diff_bias;
};

void cdnnl_conv_training_destroy(cdnnl_conv_training *c) {
    if (!c) return;
    operand *all[] = {&c->src, &c->weights, &c->dst, &c->data_diff_dst, &c->data_weights, &c->diff_src,
                      &c->weights_src, &c->weights_diff_dst, &c->diff_weights};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) operand_destroy(all[i]);
    if (c->bias) dnnl_memory_destroy(c->bias);
    if (c->diff_bias) dnnl_memory_destroy(c->diff_bias);
    dnnl_primitive_t primitives[] = {c->forward, c->backward_data, c->backward_weights};
    for (size_t i = 0; i < 3; i++) if (primitives[i]) dnnl_primitive_destroy(primitives[i]);
    dnnl_primitive_desc_t descriptors[] = {c->forward_descriptor, c->data_descriptor, c->weights_descriptor};
    for (size_t i = 0; i < 3; i++) if (descriptors[i]) dnnl_primitive_desc_destroy(descriptors[i]);
    if (c->stream) dnnl_stream_destroy(c->stream);
    if (c->engine) dnnl_engine_destroy(c->engine);
    free(c);
}

static const dnnl_memory_desc_t *query(dnnl_primitive_desc_t pd, dnnl_query_t what) {
    return dnnl_primitive_desc_query_md(pd, what, 0);
}

cdnnl_conv_training *cdnnl_conv_training_create(int64_t batch, int64_t in_channels, int64_t height, int64_t width,
                                                int64_t out_channels, int64_t groups, int64_t kernel, int64_t stride,
                                                int64_t padding) {
    cdnnl_conv_training *c = calloc(1, sizeof(cdnnl_conv_training));
    if (!c) return NULL;
    int64_t out_h = (height + 2 * padding - kernel) / stride + 1, out_w = (width + 2 * padding - kernel) / stride + 1;
    dnnl_dims_t src_dims = {batch, in_channels, height, width}, dst_dims = {batch, out_channels, out_h, out_w};
    dnnl_dims_t bias_dims = {out_channels}, strides = {stride, stride}, pads = {padding, padding};
    dnnl_dims_t plain_weights = {out_channels, in_channels, kernel, kernel};
    dnnl_dims_t grouped_weights = {groups, out_channels / groups, in_channels / groups, kernel, kernel};
    int weight_rank = groups == 1 ? 4 : 5;
    dnnl_format_tag_t weight_tag = groups == 1 ? dnnl_oihw : dnnl_goihw;
    int64_t *weight_dims = groups == 1 ? plain_weights : grouped_weights;
    dnnl_memory_desc_t src_md, weights_md, bias_md, dst_md, any_src, any_weights, any_dst;
    dnnl_convolution_desc_t forward, data, weights;
    int ok = dnnl_engine_create(&c->engine, dnnl_cpu, 0) == dnnl_success
        && dnnl_stream_create(&c->stream, c->engine, dnnl_stream_default_flags) == dnnl_success
        && dnnl_memory_desc_init_by_tag(&src_md, 4, src_dims, dnnl_f32, dnnl_nchw) == dnnl_success
        && dnnl_memory_desc_init_by_tag(&dst_md, 4, dst_dims, dnnl_f32, dnnl_nchw) == dnnl_success
        && dnnl_memory_desc_init_by_tag(&bias_md, 1, bias_dims, dnnl_f32, dnnl_x) == dnnl_success
        && dnnl_memory_desc_init_by_tag(&weights_md, weight_rank, weight_dims, dnnl_f32, weight_tag) == dnnl_success
        && dnnl_memory_desc_init_by_tag(&any_src, 4, src_dims, dnnl_f32, dnnl_format_tag_any) == dnnl_success
        && dnnl_memory_desc_init_by_tag(&any_dst, 4, dst_dims, dnnl_f32, dnnl_format_tag_any) == dnnl_success
        && dnnl_memory_desc_init_by_tag(&any_weights, weight_rank, weight_dims, dnnl_f32, dnnl_format_tag_any) == dnnl_success
        && dnnl_convolution_forward_desc_init(&forward, dnnl_forward_training, dnnl_convolution_direct, &any_src, &any_weights,
                                              &bias_md, &any_dst, strides, pads, pads) == dnnl_success
        && dnnl_primitive_desc_create(&c->forward_descriptor, &forward, NULL, c->engine, NULL) == dnnl_success
        && dnnl_convolution_backward_data_desc_init(&data, dnnl_convolution_direct, &any_src, &any_weights, &any_dst,
                                                    strides, pads, pads) == dnnl_success
        && dnnl_primitive_desc_create(&c->data_descriptor, &data, NULL, c->engine, c->forward_descriptor) == dnnl_success
        && dnnl_convolution_backward_weights_desc_init(&weights, dnnl_convolution_direct, &any_src, &any_weights, &bias_md,
                                                       &any_dst, strides, pads, pads) == dnnl_success
        && dnnl_primitive_desc_create(&c->weights_descriptor, &weights, NULL, c->engine, c->forward_descriptor) == dnnl_success
        && dnnl_primitive_create(&c->forward, c->forward_descriptor) == dnnl_success
        && dnnl_primitive_create(&c->backward_data, c->data_descriptor) == dnnl_success
        && dnnl_primitive_create(&c->backward_weights, c->weights_descriptor) == dnnl_success
        && operand_init_as(&c->src, c->engine, &src_md, query(c->forward_descriptor, dnnl_query_src_md), 1, 1)
        && operand_init_as(&c->weights, c->engine, &weights_md, query(c->forward_descriptor, dnnl_query_weights_md), 1, 1)
        && operand_init_as(&c->dst, c->engine, &dst_md, query(c->forward_descriptor, dnnl_query_dst_md), 0, 1)
        && dnnl_memory_create(&c->bias, &bias_md, c->engine, DNNL_MEMORY_NONE) == dnnl_success
        && operand_init_as(&c->data_diff_dst, c->engine, &dst_md, query(c->data_descriptor, dnnl_query_diff_dst_md), 1, 1)
        && operand_init_as(&c->data_weights, c->engine, &weights_md, query(c->data_descriptor, dnnl_query_weights_md), 1, 1)
        && operand_init_as(&c->diff_src, c->engine, &src_md, query(c->data_descriptor, dnnl_query_diff_src_md), 0, 1)
        && operand_init_as(&c->weights_src, c->engine, &src_md, query(c->weights_descriptor, dnnl_query_src_md), 1, 1)
        && operand_init_as(&c->weights_diff_dst, c->engine, &dst_md, query(c->weights_descriptor, dnnl_query_diff_dst_md), 1, 1)
        && operand_init_as(&c->diff_weights, c->engine, &weights_md, query(c->weights_descriptor, dnnl_query_diff_weights_md), 0, 1)
        && dnnl_memory_create(&c->diff_bias, &bias_md, c->engine, DNNL_MEMORY_NONE) == dnnl_success;
    if (!ok) {
        cdnnl_conv_training_destroy(c);
        return NULL;
    }
    return c;
}

#define TRY(call) do { dnnl_status_t status_ = (call); if (status_ != dnnl_success) return (int)status_; } while (0)

static int forward(cdnnl_conv_training *c, const float *src, const float *weights, const float *bias, float *dst) {
    TRY(operand_attach(&c->src));
    TRY(operand_attach(&c->weights));
    TRY(operand_attach(&c->dst));
    TRY(dnnl_memory_set_data_handle(c->src.user, (void *)src));
    TRY(dnnl_memory_set_data_handle(c->weights.user, (void *)weights));
    TRY(dnnl_memory_set_data_handle(c->bias, (void *)bias));
    TRY(dnnl_memory_set_data_handle(c->dst.user, dst));
    TRY(operand_reorder(&c->src, c->stream, 1));
    TRY(operand_reorder(&c->weights, c->stream, 1));
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, operand_memory(&c->src)}, {DNNL_ARG_WEIGHTS, operand_memory(&c->weights)},
                               {DNNL_ARG_BIAS, c->bias}, {DNNL_ARG_DST, operand_memory(&c->dst)}};
    TRY(dnnl_primitive_execute(c->forward, c->stream, 4, args));
    TRY(operand_reorder(&c->dst, c->stream, 0));
    return (int)dnnl_stream_wait(c->stream);
}

static int backward(cdnnl_conv_training *c, const float *src, const float *weights, const float *diff_dst,
                    float *diff_src, float *diff_weights, float *diff_bias) {
    TRY(operand_attach(&c->weights_src));
    TRY(operand_attach(&c->weights_diff_dst));
    TRY(operand_attach(&c->diff_weights));
    TRY(dnnl_memory_set_data_handle(c->weights_src.user, (void *)src));
    TRY(dnnl_memory_set_data_handle(c->weights_diff_dst.user, (void *)diff_dst));
    TRY(dnnl_memory_set_data_handle(c->diff_weights.user, diff_weights));
    TRY(dnnl_memory_set_data_handle(c->diff_bias, diff_bias));
    TRY(operand_reorder(&c->weights_src, c->stream, 1));
    TRY(operand_reorder(&c->weights_diff_dst, c->stream, 1));
    dnnl_exec_arg_t weight_args[4] = {{DNNL_ARG_SRC, operand_memory(&c->weights_src)},
                                      {DNNL_ARG_DIFF_DST, operand_memory(&c->weights_diff_dst)},
                                      {DNNL_ARG_DIFF_WEIGHTS, operand_memory(&c->diff_weights)}, {DNNL_ARG_DIFF_BIAS, c->diff_bias}};
    TRY(dnnl_primitive_execute(c->backward_weights, c->stream, 4, weight_args));
    TRY(operand_reorder(&c->diff_weights, c->stream, 0));
    if (diff_src) {
        TRY(operand_attach(&c->data_diff_dst));
        TRY(operand_attach(&c->data_weights));
        TRY(operand_attach(&c->diff_src));
        TRY(dnnl_memory_set_data_handle(c->data_diff_dst.user, (void *)diff_dst));
        TRY(dnnl_memory_set_data_handle(c->data_weights.user, (void *)weights));
        TRY(dnnl_memory_set_data_handle(c->diff_src.user, diff_src));
        TRY(operand_reorder(&c->data_diff_dst, c->stream, 1));
        TRY(operand_reorder(&c->data_weights, c->stream, 1));
        dnnl_exec_arg_t data_args[3] = {{DNNL_ARG_DIFF_DST, operand_memory(&c->data_diff_dst)},
                                        {DNNL_ARG_WEIGHTS, operand_memory(&c->data_weights)},
                                        {DNNL_ARG_DIFF_SRC, operand_memory(&c->diff_src)}};
        TRY(dnnl_primitive_execute(c->backward_data, c->stream, 3, data_args));
        TRY(operand_reorder(&c->diff_src, c->stream, 0));
    }
    return (int)dnnl_stream_wait(c->stream);
}

// The public entry points: a run, then its transient buffers freed whatever happened.
int cdnnl_conv_training_forward(cdnnl_conv_training *c, const float *src, const float *weights, const float *bias, float *dst) {
    int status = forward(c, src, weights, bias, dst);
    operand_release(&c->src);
    operand_release(&c->weights);
    operand_release(&c->dst);
    return status;
}

int cdnnl_conv_training_backward(cdnnl_conv_training *c, const float *src, const float *weights, const float *diff_dst,
                                 float *diff_src, float *diff_weights, float *diff_bias) {
    int status = backward(c, src, weights, diff_dst, diff_src, diff_weights, diff_bias);
    operand *used[] = {&c->weights_src, &c->weights_diff_dst, &c->diff_weights, &c->data_diff_dst, &c->data_weights, &c->diff_src};
    for (size_t i = 0; i < sizeof(used) / sizeof(used[0]); i++) operand_release(used[i]);
    return status;
}

const char *cdnnl_conv_training_implementation(const cdnnl_conv_training *c) {
    const char *name = "unknown";
    dnnl_primitive_desc_query(c->forward_descriptor, dnnl_query_impl_info_str, 0, &name);
    return name;
}
