#include "czmq_shim.h"

#include <sys/eventfd.h>
#include <unistd.h>

int czmq_msg_init_borrowed(zmq_msg_t *msg, void *data, size_t size, czmq_release_fn release, void *hint) {
    return zmq_msg_init_data(msg, data, size, release, hint);
}

int czmq_version(void) {
    int major, minor, patch;
    zmq_version(&major, &minor, &patch);
    return major * 10000 + minor * 100 + patch;
}

int czmq_wakeup_fd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

void czmq_wakeup_signal(int fd) {
    uint64_t one = 1;
    (void)!write(fd, &one, sizeof one);
}

void czmq_wakeup_drain(int fd) {
    uint64_t count;
    (void)!read(fd, &count, sizeof count);
}
