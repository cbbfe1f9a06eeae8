#include "cwire_baseline.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "cchecksum.h"

struct receiver {
    void *socket;
    int count;
    int checksum;
    int ok;
    uint32_t crc;  // kept, so the checksums cannot be optimised away
};

static void *receive_all(void *arg) {
    struct receiver *r = arg;
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    for (int i = 0; i < r->count; i++) {
        if (zmq_msg_recv(&msg, r->socket, 0) < 0) { r->ok = 0; break; }
        if (r->checksum) r->crc ^= cchecksum_crc32c(0, zmq_msg_data(&msg), zmq_msg_size(&msg));
    }
    zmq_msg_close(&msg);
    return NULL;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

double cwire_baseline_push_pull(size_t size, int count, int checksum, const char *server_public, const char *server_secret,
                                const char *client_public, const char *client_secret) {
    void *ctx = zmq_ctx_new();
    void *pull = zmq_socket(ctx, ZMQ_PULL);
    void *push = zmq_socket(ctx, ZMQ_PUSH);
    int linger = 0;
    zmq_setsockopt(pull, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof linger);
    if (server_secret) {
        int on = 1;
        zmq_setsockopt(pull, ZMQ_CURVE_SERVER, &on, sizeof on);
        zmq_setsockopt(pull, ZMQ_CURVE_SECRETKEY, server_secret, 40);
        zmq_setsockopt(push, ZMQ_CURVE_SERVERKEY, server_public, 40);
        zmq_setsockopt(push, ZMQ_CURVE_PUBLICKEY, client_public, 40);
        zmq_setsockopt(push, ZMQ_CURVE_SECRETKEY, client_secret, 40);
    }
    char endpoint[256];
    size_t length = sizeof endpoint;
    double result = -1;
    if (zmq_bind(pull, "tcp://127.0.0.1:*") != 0) goto done;
    zmq_getsockopt(pull, ZMQ_LAST_ENDPOINT, endpoint, &length);
    if (zmq_connect(push, endpoint) != 0) goto done;

    char *buffer = malloc(size);
    memset(buffer, 7, size);
    struct receiver r = {pull, count, checksum, 1, 0};
    uint32_t sent_crc = 0;
    pthread_t thread;
    double start = now();
    pthread_create(&thread, NULL, receive_all, &r);
    for (int i = 0; i < count; i++) {
        zmq_msg_t msg;
        if (checksum) sent_crc ^= cchecksum_crc32c(0, buffer, size);
        zmq_msg_init_data(&msg, buffer, size, NULL, NULL);  // zero-copy; the buffer outlives the run
        if (zmq_msg_send(&msg, push, 0) < 0) { zmq_msg_close(&msg); break; }
    }
    pthread_join(thread, NULL);
    if (r.ok && r.crc == sent_crc) result = now() - start;
    free(buffer);
done:
    zmq_close(push);
    zmq_close(pull);
    zmq_ctx_term(ctx);
    return result;
}
