// The physical limit for `distillery-wire-bench`: libzmq used directly from C, with nothing on top.
#ifndef CWIRE_BASELINE_H
#define CWIRE_BASELINE_H

#include <stddef.h>

/// Sends `count` zero-copy messages of `size` bytes PUSH -> PULL over tcp loopback in one process and
/// returns the seconds from the first send to the last receive (negative on error). With keys (Z85,
/// non-NULL) the connection uses CURVE. `checksum`: CRC-32C over every message on both ends, the least any
/// layer that verifies its data does.
double cwire_baseline_push_pull(size_t size, int count, int checksum, const char *server_public, const char *server_secret,
                                const char *client_public, const char *client_secret);

#endif
