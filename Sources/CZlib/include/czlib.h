// Thin wrappers over zlib; the Swift module `Datasets` is their only caller.
#ifndef CZLIB_H
#define CZLIB_H

#include <stddef.h>
#include <stdint.h>

/// Inflates `src` into a malloc'd buffer (`*out`, `*out_len`; free with czlib_free).
/// window_bits: 15 + 32 detects gzip or zlib headers, -15 reads raw deflate (zip entries).
/// Returns 0 on success, else a zlib error code (Z_DATA_ERROR = -3, Z_BUF_ERROR = -5 for truncated input).
int czlib_inflate(const uint8_t *src, size_t src_len, int window_bits, size_t size_hint,
                  uint8_t **out, size_t *out_len);

void czlib_free(void *p);

/// CRC-32 (the zip/gzip polynomial) of `len` bytes.
uint32_t czlib_crc32(const uint8_t *src, size_t len);

#endif
