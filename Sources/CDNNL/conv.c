// oneDNN's convolution primitive for inference. Callers hold plain NCHW / OIHW tensors; the primitive is created
// with the layouts oneDNN prefers (blocked, for its JIT kernels; with plain ones it falls back to im2col + GEMM),
// and reorders move data in and out of them around each run.
#include "cdnnl.h"
#include "operand.h"

#include <stdlib.h>
#include <oneapi/dnnl/dnnl.h>

struct cdnnl_conv {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_primitive_desc_t descriptor;
    dnnl_primitive_t primitive;
    operand src, weights, dst;
    dnnl_memory_t bias;
};

void cdnnl_conv_destroy(cdnnl_conv *c) {
    if (!c) return;
    operand_destroy(&c->src);
    operand_destroy(&c->weights);
    operand_destroy(&c->dst);
    if (c->bias) dnnl_memory_destroy(c->bias);
    if (c->primitive) dnnl_primitive_destroy(c->primitive);
    if (c->descriptor) dnnl_primitive_desc_destroy(c->descriptor);
    if (c->stream) dnnl_stream_destroy(c->stream);
    if (c->engine) dnnl_engine_destroy(c->engine);
    free(c);
}

cdnnl_conv *cdnnl_conv_create(int64_t batch, int64_t in_channels, int64_t height, int64_t width,
                              int64_t out_channels, int64_t groups, int64_t kernel_h, int64_t kernel_w,
                              int64_t stride_h, int64_t stride_w, int64_t dilation_h, int64_t dilation_w,
                              int64_t pad_top, int64_t pad_left, int64_t pad_bottom, int64_t pad_right, int has_bias) {
    cdnnl_conv *c = calloc(1, sizeof(cdnnl_conv));
    if (!c) return NULL;
    int64_t span_h = (kernel_h - 1) * dilation_h + 1, span_w = (kernel_w - 1) * dilation_w + 1;
    int64_t out_h = (height + pad_top + pad_bottom - span_h) / stride_h + 1;
    int64_t out_w = (width + pad_left + pad_right - span_w) / stride_w + 1;
    dnnl_dims_t src_dims = {batch, in_channels, height, width};
    dnnl_dims_t dst_dims = {batch, out_channels, out_h, out_w};
    dnnl_dims_t bias_dims = {out_channels};
    dnnl_dims_t strides = {stride_h, stride_w}, dilates = {dilation_h - 1, dilation_w - 1};
    dnnl_dims_t pad_l = {pad_top, pad_left}, pad_r = {pad_bottom, pad_right};
    dnnl_memory_desc_t src_md, weights_md, bias_md, dst_md, any_src, any_weights, any_dst;
    dnnl_convolution_desc_t desc;
    int ok = dnnl_engine_create(&c->engine, dnnl_cpu, 0) == dnnl_success
        && dnnl_stream_create(&c->stream, c->engine, dnnl_stream_default_flags) == dnnl_success
        && dnnl_memory_desc_init_by_tag(&src_md, 4, src_dims, dnnl_f32, dnnl_nchw) == dnnl_success
        && dnnl_memory_desc_init_by_tag(&dst_md, 4, dst_dims, dnnl_f32, dnnl_nchw) == dnnl_success
        && dnnl_memory_desc_init_by_tag(&bias_md, 1, bias_dims, dnnl_f32, dnnl_x) == dnnl_success
        && dnnl_memory_desc_init_by_tag(&any_src, 4, src_dims, dnnl_f32, dnnl_format_tag_any) == dnnl_success
        && dnnl_memory_desc_init_by_tag(&any_dst, 4, dst_dims, dnnl_f32, dnnl_format_tag_any) == dnnl_success;
    if (ok && groups == 1) {
        dnnl_dims_t weight_dims = {out_channels, in_channels, kernel_h, kernel_w};
        ok = dnnl_memory_desc_init_by_tag(&weights_md, 4, weight_dims, dnnl_f32, dnnl_oihw) == dnnl_success
            && dnnl_memory_desc_init_by_tag(&any_weights, 4, weight_dims, dnnl_f32, dnnl_format_tag_any) == dnnl_success;
    } else if (ok) {
        dnnl_dims_t weight_dims = {groups, out_channels / groups, in_channels / groups, kernel_h, kernel_w};
        ok = dnnl_memory_desc_init_by_tag(&weights_md, 5, weight_dims, dnnl_f32, dnnl_goihw) == dnnl_success
            && dnnl_memory_desc_init_by_tag(&any_weights, 5, weight_dims, dnnl_f32, dnnl_format_tag_any) == dnnl_success;
    }
    ok = ok && dnnl_dilated_convolution_forward_desc_init(&desc, dnnl_forward_inference, dnnl_convolution_direct, &any_src, &any_weights,
                                                          has_bias ? &bias_md : NULL, &any_dst, strides, dilates, pad_l, pad_r) == dnnl_success
        && dnnl_primitive_desc_create(&c->descriptor, &desc, NULL, c->engine, NULL) == dnnl_success
        && dnnl_primitive_create(&c->primitive, c->descriptor) == dnnl_success
        && operand_init(&c->src, c->engine, &src_md, dnnl_primitive_desc_query_md(c->descriptor, dnnl_query_src_md, 0), 1)
        && operand_init(&c->weights, c->engine, &weights_md, dnnl_primitive_desc_query_md(c->descriptor, dnnl_query_weights_md, 0), 1)
        && operand_init(&c->dst, c->engine, &dst_md, dnnl_primitive_desc_query_md(c->descriptor, dnnl_query_dst_md, 0), 0)
        && (!has_bias || dnnl_memory_create(&c->bias, &bias_md, c->engine, DNNL_MEMORY_NONE) == dnnl_success);
    if (!ok) {
        cdnnl_conv_destroy(c);
        return NULL;
    }
    return c;
}

int cdnnl_conv_execute(cdnnl_conv *c, const float *src, const float *weights, const float *bias, float *dst) {
    dnnl_status_t status;
    if ((status = dnnl_memory_set_data_handle(c->src.user, (void *)src)) != dnnl_success) return (int)status;
    if ((status = dnnl_memory_set_data_handle(c->weights.user, (void *)weights)) != dnnl_success) return (int)status;
    if ((status = dnnl_memory_set_data_handle(c->dst.user, dst)) != dnnl_success) return (int)status;
    if (c->bias && (status = dnnl_memory_set_data_handle(c->bias, (void *)bias)) != dnnl_success) return (int)status;
    if ((status = operand_reorder(&c->src, c->stream, 1)) != dnnl_success) return (int)status;
    if ((status = operand_reorder(&c->weights, c->stream, 1)) != dnnl_success) return (int)status;
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, operand_memory(&c->src)}, {DNNL_ARG_WEIGHTS, operand_memory(&c->weights)},
                               {DNNL_ARG_DST, operand_memory(&c->dst)}, {DNNL_ARG_BIAS, c->bias}};
    if ((status = dnnl_primitive_execute(c->primitive, c->stream, c->bias ? 4 : 3, args)) != dnnl_success) return (int)status;
    if ((status = operand_reorder(&c->dst, c->stream, 0)) != dnnl_success) return (int)status;
    return (int)dnnl_stream_wait(c->stream);
}

const char *cdnnl_conv_implementation(const cdnnl_conv *c) {
    const char *name = "unknown";
    dnnl_primitive_desc_query(c->descriptor, dnnl_query_impl_info_str, 0, &name);
    return name;
}
