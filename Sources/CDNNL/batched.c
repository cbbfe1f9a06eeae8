// The pieces of attention on oneDNN: a batched matmul (optionally scaled, and causally masked after it), a softmax over rows with its backward, and an axis permutation (heads split out of and merged back
// into the feature axis). Each is created once per geometry and run many times on the caller's plain buffers.
#include "cdnnl.h"
#include "context.h"

#include <math.h>
#include <stdlib.h>
#include <oneapi/dnnl/dnnl.h>

// MARK: batched matmul

struct cdnnl_matmul {
    context ctx;
    dnnl_primitive_desc_t descriptor;
    dnnl_primitive_t primitive;
    dnnl_memory_t a, b, c;
    int64_t batch, m, n;
    int causal;
};

void cdnnl_matmul_destroy(cdnnl_matmul *m) {
    if (!m) return;
    dnnl_memory_t memories[] = {m->a, m->b, m->c};
    for (size_t i = 0; i < 3; i++) if (memories[i]) dnnl_memory_destroy(memories[i]);
    if (m->primitive) dnnl_primitive_destroy(m->primitive);
    if (m->descriptor) dnnl_primitive_desc_destroy(m->descriptor);
    context_destroy(&m->ctx);
    free(m);
}

// (batch, rows, columns) stored densely, or as its transpose (batch, columns, rows).
static dnnl_status_t batched_md(dnnl_memory_desc_t *md, int64_t batch, int64_t rows, int64_t columns, int transposed) {
    dnnl_dims_t dims = {batch, rows, columns};
    dnnl_dims_t plain = {rows * columns, columns, 1}, swapped = {rows * columns, 1, rows};
    return dnnl_memory_desc_init_by_strides(md, 3, dims, dnnl_f32, transposed ? swapped : plain);
}

cdnnl_matmul *cdnnl_matmul_create(int64_t batch, int64_t m, int64_t n, int64_t k, int trans_a, int trans_b,
                                  float alpha, int causal) {
    if (causal && m != n) return NULL;
    cdnnl_matmul *mm = calloc(1, sizeof(cdnnl_matmul));
    if (!mm) return NULL;
    mm->batch = batch; mm->m = m; mm->n = n; mm->causal = causal;
    dnnl_memory_desc_t a_md, b_md, c_md;
    dnnl_matmul_desc_t desc;
    dnnl_primitive_attr_t attr = NULL;
    int ok = context_init(&mm->ctx)
        && batched_md(&a_md, batch, m, k, trans_a) == dnnl_success
        && batched_md(&b_md, batch, k, n, trans_b) == dnnl_success
        && batched_md(&c_md, batch, m, n, 0) == dnnl_success
        && dnnl_matmul_desc_init(&desc, &a_md, &b_md, NULL, &c_md) == dnnl_success
        && dnnl_primitive_attr_create(&attr) == dnnl_success
        && (alpha == 1 || dnnl_primitive_attr_set_output_scales(attr, 1, 0, &alpha) == dnnl_success)
        && dnnl_primitive_desc_create(&mm->descriptor, &desc, attr, mm->ctx.engine, NULL) == dnnl_success
        && dnnl_primitive_create(&mm->primitive, mm->descriptor) == dnnl_success
        && dnnl_memory_create(&mm->a, &a_md, mm->ctx.engine, DNNL_MEMORY_NONE) == dnnl_success
        && dnnl_memory_create(&mm->b, &b_md, mm->ctx.engine, DNNL_MEMORY_NONE) == dnnl_success
        && dnnl_memory_create(&mm->c, &c_md, mm->ctx.engine, DNNL_MEMORY_NONE) == dnnl_success;
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (!ok) {
        cdnnl_matmul_destroy(mm);
        return NULL;
    }
    return mm;
}

int cdnnl_matmul_execute(cdnnl_matmul *mm, const float *a, const float *b, float *c) {
    TRY(dnnl_memory_set_data_handle(mm->a, (void *)a));
    TRY(dnnl_memory_set_data_handle(mm->b, (void *)b));
    TRY(dnnl_memory_set_data_handle(mm->c, c));
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, mm->a}, {DNNL_ARG_WEIGHTS, mm->b}, {DNNL_ARG_DST, mm->c}};
    TRY(dnnl_primitive_execute(mm->primitive, mm->ctx.stream, 3, args));
    TRY(dnnl_stream_wait(mm->ctx.stream));
    // The causal mask as a fill of each row's tail: oneDNN 2.6 runs a matmul with a broadcast binary post-op
    // (the mask) on its reference kernel, about a thousand times slower than this.
    if (mm->causal)
        for (int64_t row = 0; row < mm->batch * mm->m; row++) {
            float *tail = c + row * mm->n;
            for (int64_t j = row % mm->m + 1; j < mm->n; j++) tail[j] = -INFINITY;
        }
    return 0;
}

const char *cdnnl_matmul_implementation(const cdnnl_matmul *mm) { return implementation(mm->descriptor); }

// MARK: softmax over rows

struct cdnnl_softmax {
    context ctx;
    dnnl_primitive_desc_t forward_descriptor, backward_descriptor;
    dnnl_primitive_t forward, backward;
    dnnl_memory_t src, dst, diff_dst, diff_src;
};

void cdnnl_softmax_destroy(cdnnl_softmax *s) {
    if (!s) return;
    dnnl_memory_t memories[] = {s->src, s->dst, s->diff_dst, s->diff_src};
    for (size_t i = 0; i < 4; i++) if (memories[i]) dnnl_memory_destroy(memories[i]);
    if (s->forward) dnnl_primitive_destroy(s->forward);
    if (s->backward) dnnl_primitive_destroy(s->backward);
    if (s->forward_descriptor) dnnl_primitive_desc_destroy(s->forward_descriptor);
    if (s->backward_descriptor) dnnl_primitive_desc_destroy(s->backward_descriptor);
    context_destroy(&s->ctx);
    free(s);
}

cdnnl_softmax *cdnnl_softmax_create(int64_t rows, int64_t columns) {
    cdnnl_softmax *s = calloc(1, sizeof(cdnnl_softmax));
    if (!s) return NULL;
    dnnl_dims_t dims = {rows, columns};
    dnnl_memory_desc_t md;
    dnnl_softmax_desc_t forward, backward;
    int ok = context_init(&s->ctx)
        && dnnl_memory_desc_init_by_tag(&md, 2, dims, dnnl_f32, dnnl_ab) == dnnl_success
        && dnnl_softmax_forward_desc_init(&forward, dnnl_forward_training, &md, 1) == dnnl_success
        && dnnl_primitive_desc_create(&s->forward_descriptor, &forward, NULL, s->ctx.engine, NULL) == dnnl_success
        && dnnl_softmax_backward_desc_init(&backward, &md, &md, 1) == dnnl_success
        && dnnl_primitive_desc_create(&s->backward_descriptor, &backward, NULL, s->ctx.engine, s->forward_descriptor) == dnnl_success
        && dnnl_primitive_create(&s->forward, s->forward_descriptor) == dnnl_success
        && dnnl_primitive_create(&s->backward, s->backward_descriptor) == dnnl_success;
    dnnl_memory_t *memories[] = {&s->src, &s->dst, &s->diff_dst, &s->diff_src};
    for (size_t i = 0; ok && i < 4; i++) ok = dnnl_memory_create(memories[i], &md, s->ctx.engine, DNNL_MEMORY_NONE) == dnnl_success;
    if (!ok) {
        cdnnl_softmax_destroy(s);
        return NULL;
    }
    return s;
}

int cdnnl_softmax_forward(cdnnl_softmax *s, const float *src, float *dst) {
    TRY(dnnl_memory_set_data_handle(s->src, (void *)src));
    TRY(dnnl_memory_set_data_handle(s->dst, dst));
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_SRC, s->src}, {DNNL_ARG_DST, s->dst}};
    TRY(dnnl_primitive_execute(s->forward, s->ctx.stream, 2, args));
    return (int)dnnl_stream_wait(s->ctx.stream);
}

int cdnnl_softmax_backward(cdnnl_softmax *s, const float *dst, const float *diff_dst, float *diff_src) {
    TRY(dnnl_memory_set_data_handle(s->dst, (void *)dst));
    TRY(dnnl_memory_set_data_handle(s->diff_dst, (void *)diff_dst));
    TRY(dnnl_memory_set_data_handle(s->diff_src, diff_src));
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_DST, s->dst}, {DNNL_ARG_DIFF_DST, s->diff_dst}, {DNNL_ARG_DIFF_SRC, s->diff_src}};
    TRY(dnnl_primitive_execute(s->backward, s->ctx.stream, 3, args));
    return (int)dnnl_stream_wait(s->ctx.stream);
}

const char *cdnnl_softmax_implementation(const cdnnl_softmax *s) { return implementation(s->forward_descriptor); }

// MARK: axis permutation

struct cdnnl_permute {
    context ctx;
    dnnl_primitive_desc_t descriptor;
    dnnl_primitive_t primitive;
    dnnl_memory_t src, dst;
};

void cdnnl_permute_destroy(cdnnl_permute *p) {
    if (!p) return;
    if (p->src) dnnl_memory_destroy(p->src);
    if (p->dst) dnnl_memory_destroy(p->dst);
    if (p->primitive) dnnl_primitive_destroy(p->primitive);
    if (p->descriptor) dnnl_primitive_desc_destroy(p->descriptor);
    context_destroy(&p->ctx);
    free(p);
}

cdnnl_permute *cdnnl_permute_create(int rank, const int64_t *dims, const int64_t *src_strides, const int64_t *dst_strides) {
    if (rank < 1 || rank > DNNL_MAX_NDIMS) return NULL;
    cdnnl_permute *p = calloc(1, sizeof(cdnnl_permute));
    if (!p) return NULL;
    dnnl_dims_t d, from, to;
    for (int i = 0; i < rank; i++) { d[i] = dims[i]; from[i] = src_strides[i]; to[i] = dst_strides[i]; }
    dnnl_memory_desc_t src_md, dst_md;
    int ok = context_init(&p->ctx)
        && dnnl_memory_desc_init_by_strides(&src_md, rank, d, dnnl_f32, from) == dnnl_success
        && dnnl_memory_desc_init_by_strides(&dst_md, rank, d, dnnl_f32, to) == dnnl_success
        && dnnl_reorder_primitive_desc_create(&p->descriptor, &src_md, p->ctx.engine, &dst_md, p->ctx.engine, NULL) == dnnl_success
        && dnnl_primitive_create(&p->primitive, p->descriptor) == dnnl_success
        && dnnl_memory_create(&p->src, &src_md, p->ctx.engine, DNNL_MEMORY_NONE) == dnnl_success
        && dnnl_memory_create(&p->dst, &dst_md, p->ctx.engine, DNNL_MEMORY_NONE) == dnnl_success;
    if (!ok) {
        cdnnl_permute_destroy(p);
        return NULL;
    }
    return p;
}

int cdnnl_permute_execute(cdnnl_permute *p, const float *src, float *dst) {
    TRY(dnnl_memory_set_data_handle(p->src, (void *)src));
    TRY(dnnl_memory_set_data_handle(p->dst, dst));
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, p->src}, {DNNL_ARG_TO, p->dst}};
    TRY(dnnl_primitive_execute(p->primitive, p->ctx.stream, 2, args));
    return (int)dnnl_stream_wait(p->ctx.stream);
}

const char *cdnnl_permute_implementation(const cdnnl_permute *p) { return implementation(p->descriptor); }
