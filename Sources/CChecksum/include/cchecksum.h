// CRC-32C for the wire's tensor frames; the Swift module `WireProtocol` is its only caller.
#ifndef CCHECKSUM_H
#define CCHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/// CRC-32C (Castagnoli) of `len` bytes, continuing from `crc` (0 to start). Uses the SSE4.2 crc32
/// instruction when the CPU has it (about 10x a table-driven loop: the receiver checks every frame), and from
/// 512 bytes AVX-512 carry-less multiplication where there is one (about 2x that again).
uint32_t cchecksum_crc32c(uint32_t crc, const void *data, size_t len);

/// 1 when the hardware path is in use.
int cchecksum_crc32c_is_hardware(void);

#endif
