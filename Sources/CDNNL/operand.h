// A tensor between the caller's plain layout and the one a oneDNN primitive chose, with the reorder between them.
// Shared by the inference and training convolutions.
#ifndef CDNNL_OPERAND_H
#define CDNNL_OPERAND_H

#include <stdlib.h>
#include <oneapi/dnnl/dnnl.h>

/// A tensor as the caller holds it (`user`) and, when oneDNN wants another layout, as the primitive reads or
/// writes it (`internal`, owned here) with the reorder between them. A transient operand's internal buffer exists
/// only during a run (`operand_attach` / `operand_release`): training keeps one primitive set per layer and batch
/// size, and buffers of activation size kept for each would outweigh the activations themselves.
typedef struct {
    dnnl_memory_t user, internal;
    dnnl_primitive_desc_t reorder_descriptor;
    dnnl_primitive_t reorder;
    void *buffer;
    size_t bytes;
    int transient;
} operand;

static void operand_destroy(operand *o) {
    if (o->reorder) dnnl_primitive_destroy(o->reorder);
    if (o->reorder_descriptor) dnnl_primitive_desc_destroy(o->reorder_descriptor);
    if (o->internal) dnnl_memory_destroy(o->internal);
    if (o->user) dnnl_memory_destroy(o->user);
    free(o->buffer);
}

/// `chosen` is the layout the primitive uses; `incoming` says which way the reorder runs.
static int operand_init_as(operand *o, dnnl_engine_t engine, const dnnl_memory_desc_t *user_md, const dnnl_memory_desc_t *chosen,
                           int incoming, int transient) {
    if (dnnl_memory_create(&o->user, user_md, engine, DNNL_MEMORY_NONE) != dnnl_success) return 0;
    if (dnnl_memory_desc_equal(user_md, chosen)) return 1;
    o->transient = transient;
    o->bytes = dnnl_memory_desc_get_size(chosen);
    if (dnnl_memory_create(&o->internal, chosen, engine, transient ? DNNL_MEMORY_NONE : DNNL_MEMORY_ALLOCATE) != dnnl_success) return 0;
    const dnnl_memory_desc_t *from = incoming ? user_md : chosen, *to = incoming ? chosen : user_md;
    return dnnl_reorder_primitive_desc_create(&o->reorder_descriptor, from, engine, to, engine, NULL) == dnnl_success
        && dnnl_primitive_create(&o->reorder, o->reorder_descriptor) == dnnl_success;
}

static int operand_init(operand *o, dnnl_engine_t engine, const dnnl_memory_desc_t *user_md, const dnnl_memory_desc_t *chosen, int incoming) {
    return operand_init_as(o, engine, user_md, chosen, incoming, 0);
}

/// Gives a transient operand its buffer for one run.
static dnnl_status_t operand_attach(operand *o) {
    if (!o->transient || !o->internal) return dnnl_success;
    if (!o->buffer && posix_memalign(&o->buffer, 64, o->bytes ? o->bytes : 64) != 0) { o->buffer = NULL; return dnnl_out_of_memory; }
    return dnnl_memory_set_data_handle(o->internal, o->buffer);
}

static void operand_release(operand *o) {
    if (!o->transient || !o->buffer) return;
    free(o->buffer);
    o->buffer = NULL;
}

static dnnl_status_t operand_reorder(operand *o, dnnl_stream_t stream, int incoming) {
    if (!o->reorder) return dnnl_success;
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, incoming ? o->user : o->internal}, {DNNL_ARG_TO, incoming ? o->internal : o->user}};
    return dnnl_primitive_execute(o->reorder, stream, 2, args);
}

static dnnl_memory_t operand_memory(const operand *o) { return o->internal ? o->internal : o->user; }

#endif
