// libzmq behind one door; the Swift module `ZeroMQ` is its only caller.
#ifndef CZMQ_SHIM_H
#define CZMQ_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

/// Called by libzmq (on its I/O thread) when it no longer needs a zero-copy frame's bytes.
typedef void (*czmq_release_fn)(void *data, void *hint);

/// Initialises `msg` to send `size` bytes at `data` without copying; `release(data, hint)` runs when
/// libzmq is done with them. Returns 0 or -1 with errno set.
int czmq_msg_init_borrowed(zmq_msg_t *msg, void *data, size_t size, czmq_release_fn release, void *hint);

/// A non-blocking eventfd for waking a thread in zmq_poll from any other thread; -1 with errno on failure.
int czmq_wakeup_fd(void);
void czmq_wakeup_signal(int fd);
void czmq_wakeup_drain(int fd);

/// The libzmq version as major * 10000 + minor * 100 + patch.
int czmq_version(void);

#endif
