// An engine and a stream, which every primitive wrapper holds, and the status check their runs share.
#ifndef CDNNL_CONTEXT_H
#define CDNNL_CONTEXT_H

#include <oneapi/dnnl/dnnl.h>

#define TRY(call) do { dnnl_status_t status_ = (call); if (status_ != dnnl_success) return (int)status_; } while (0)

typedef struct {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
} context;

static inline int context_init(context *c) {
    return dnnl_engine_create(&c->engine, dnnl_cpu, 0) == dnnl_success
        && dnnl_stream_create(&c->stream, c->engine, dnnl_stream_default_flags) == dnnl_success;
}

static inline void context_destroy(context *c) {
    if (c->stream) dnnl_stream_destroy(c->stream);
    if (c->engine) dnnl_engine_destroy(c->engine);
}

static inline const char *implementation(dnnl_primitive_desc_t pd) {
    const char *name = "unknown";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name);
    return name;
}

#endif
