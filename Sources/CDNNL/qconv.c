// oneDNN's int8 convolution for the int8 runtime: uint8 NHWC activations in, uint8 NHWC (a chain's next layer) or
// float NHWC (a tree's next float layer; oneDNN's fast int8 kernels want NHWC out) out; int8 weights reordered once into the primitive's layout; the
// requantization (per-channel scale, bias, zero points) in the primitive; grouped and depthwise by `groups`.
#include "cdnnl.h"

#include <stdlib.h>
#include <oneapi/dnnl/dnnl.h>

struct cdnnl_qconv {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_primitive_desc_t descriptor;
    dnnl_primitive_t primitive;
    dnnl_memory_t src, weights, bias, dst;
};

void cdnnl_qconv_destroy(cdnnl_qconv *c) {
    if (!c) return;
    if (c->src) dnnl_memory_destroy(c->src);
    if (c->weights) dnnl_memory_destroy(c->weights);
    if (c->bias) dnnl_memory_destroy(c->bias);
    if (c->dst) dnnl_memory_destroy(c->dst);
    if (c->primitive) dnnl_primitive_destroy(c->primitive);
    if (c->descriptor) dnnl_primitive_desc_destroy(c->descriptor);
    if (c->stream) dnnl_stream_destroy(c->stream);
    if (c->engine) dnnl_engine_destroy(c->engine);
    free(c);
}

/// Copies `user` (OIHW, or GOIHW when grouped, int8) into the primitive's weight layout, once.
static int load_weights(cdnnl_qconv *c, const dnnl_memory_desc_t *user_md, const int8_t *weights) {
    const dnnl_memory_desc_t *chosen = dnnl_primitive_desc_query_md(c->descriptor, dnnl_query_weights_md, 0);
    if (dnnl_memory_create(&c->weights, chosen, c->engine, DNNL_MEMORY_ALLOCATE) != dnnl_success) return 0;
    dnnl_memory_t user;
    if (dnnl_memory_create(&user, user_md, c->engine, (void *)weights) != dnnl_success) return 0;
    dnnl_primitive_desc_t reorder_pd = NULL;
    dnnl_primitive_t reorder = NULL;
    int ok = dnnl_reorder_primitive_desc_create(&reorder_pd, user_md, c->engine, chosen, c->engine, NULL) == dnnl_success
        && dnnl_primitive_create(&reorder, reorder_pd) == dnnl_success;
    if (ok) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, c->weights}};
        ok = dnnl_primitive_execute(reorder, c->stream, 2, args) == dnnl_success && dnnl_stream_wait(c->stream) == dnnl_success;
    }
    if (reorder) dnnl_primitive_destroy(reorder);
    if (reorder_pd) dnnl_primitive_desc_destroy(reorder_pd);
    dnnl_memory_destroy(user);
    return ok;
}

cdnnl_qconv *cdnnl_qconv_create(int64_t batch, int64_t in_channels, int64_t height, int64_t width, int64_t out_channels,
                                int64_t kernel, int64_t stride, int64_t padding, const int8_t *weights, const float *bias,
                                const float *scales, int32_t src_zero, int32_t dst_zero, int64_t groups, int float_dst) {
    cdnnl_qconv *c = calloc(1, sizeof(cdnnl_qconv));
    if (!c) return NULL;
    int64_t out_h = (height + 2 * padding - kernel) / stride + 1, out_w = (width + 2 * padding - kernel) / stride + 1;
    dnnl_dims_t src_dims = {batch, in_channels, height, width}, dst_dims = {batch, out_channels, out_h, out_w};
    dnnl_dims_t weight_dims = {out_channels, in_channels, kernel, kernel}, bias_dims = {out_channels};
    dnnl_dims_t grouped_dims = {groups, out_channels / groups, in_channels / groups, kernel, kernel};
    int weight_rank = groups > 1 ? 5 : 4;
    const int64_t *weight_shape = groups > 1 ? grouped_dims : weight_dims;
    dnnl_dims_t strides = {stride, stride}, pads = {padding, padding};
    dnnl_memory_desc_t src_md, dst_md, user_weights_md, any_weights_md, bias_md;
    dnnl_convolution_desc_t desc;
    dnnl_primitive_attr_t attr = NULL;
    int ok = dnnl_engine_create(&c->engine, dnnl_cpu, 0) == dnnl_success
        && dnnl_stream_create(&c->stream, c->engine, dnnl_stream_default_flags) == dnnl_success
        && dnnl_memory_desc_init_by_tag(&src_md, 4, src_dims, dnnl_u8, dnnl_nhwc) == dnnl_success
        && dnnl_memory_desc_init_by_tag(&dst_md, 4, dst_dims, float_dst ? dnnl_f32 : dnnl_u8, dnnl_nhwc) == dnnl_success
        && dnnl_memory_desc_init_by_tag(&user_weights_md, weight_rank, weight_shape, dnnl_s8, groups > 1 ? dnnl_goihw : dnnl_oihw) == dnnl_success
        && dnnl_memory_desc_init_by_tag(&any_weights_md, weight_rank, weight_shape, dnnl_s8, dnnl_format_tag_any) == dnnl_success
        && dnnl_memory_desc_init_by_tag(&bias_md, 1, bias_dims, dnnl_f32, dnnl_x) == dnnl_success
        && dnnl_primitive_attr_create(&attr) == dnnl_success
        && dnnl_primitive_attr_set_output_scales(attr, out_channels, 1 << 1, scales) == dnnl_success
        && (src_zero == 0 || dnnl_primitive_attr_set_zero_points(attr, DNNL_ARG_SRC, 1, 0, &src_zero) == dnnl_success)
        && (dst_zero == 0 || dnnl_primitive_attr_set_zero_points(attr, DNNL_ARG_DST, 1, 0, &dst_zero) == dnnl_success)
        && dnnl_convolution_forward_desc_init(&desc, dnnl_forward_inference, dnnl_convolution_direct, &src_md, &any_weights_md,
                                              &bias_md, &dst_md, strides, pads, pads) == dnnl_success
        && dnnl_primitive_desc_create(&c->descriptor, &desc, attr, c->engine, NULL) == dnnl_success
        && dnnl_primitive_create(&c->primitive, c->descriptor) == dnnl_success
        && load_weights(c, &user_weights_md, weights)
        && dnnl_memory_create(&c->bias, &bias_md, c->engine, DNNL_MEMORY_ALLOCATE) == dnnl_success
        && dnnl_memory_create(&c->src, &src_md, c->engine, DNNL_MEMORY_NONE) == dnnl_success
        && dnnl_memory_create(&c->dst, &dst_md, c->engine, DNNL_MEMORY_NONE) == dnnl_success;
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (ok) {
        void *handle = NULL;
        ok = dnnl_memory_get_data_handle(c->bias, &handle) == dnnl_success;
        if (ok) for (int64_t i = 0; i < out_channels; i++) ((float *)handle)[i] = bias[i];
    }
    if (!ok) {
        cdnnl_qconv_destroy(c);
        return NULL;
    }
    return c;
}

int cdnnl_qconv_execute(cdnnl_qconv *c, const uint8_t *src, void *dst) {
    dnnl_status_t status;
    if ((status = dnnl_memory_set_data_handle(c->src, (void *)src)) != dnnl_success) return (int)status;
    if ((status = dnnl_memory_set_data_handle(c->dst, dst)) != dnnl_success) return (int)status;
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, c->src}, {DNNL_ARG_WEIGHTS, c->weights}, {DNNL_ARG_BIAS, c->bias}, {DNNL_ARG_DST, c->dst}};
    if ((status = dnnl_primitive_execute(c->primitive, c->stream, 4, args)) != dnnl_success) return (int)status;
    return (int)dnnl_stream_wait(c->stream);
}

const char *cdnnl_qconv_implementation(const cdnnl_qconv *c) {
    const char *name = "unknown";
    dnnl_primitive_desc_query(c->descriptor, dnnl_query_impl_info_str, 0, &name);
    return name;
}
