#include "czlib.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

int czlib_inflate(const uint8_t *src, size_t src_len, int window_bits, size_t size_hint,
                  uint8_t **out, size_t *out_len) {
    z_stream s;
    memset(&s, 0, sizeof s);
    int rc = inflateInit2(&s, window_bits);
    if (rc != Z_OK) return rc;
    size_t cap = size_hint > 0 ? size_hint : (src_len * 4 + 1024);
    uint8_t *buf = malloc(cap);
    if (!buf) { inflateEnd(&s); return Z_MEM_ERROR; }
    size_t len = 0;
    const uint8_t *next = src;
    size_t left = src_len;
    for (;;) {
        if (len == cap) {
            size_t grown = cap * 2;
            uint8_t *nb = realloc(buf, grown);
            if (!nb) { free(buf); inflateEnd(&s); return Z_MEM_ERROR; }
            buf = nb;
            cap = grown;
        }
        // zlib counts in uInt: feed at most 1 GiB at a time.
        uInt in_chunk = left > (1u << 30) ? (1u << 30) : (uInt)left;
        uInt out_chunk = (cap - len) > (1u << 30) ? (1u << 30) : (uInt)(cap - len);
        s.next_in = (Bytef *)next;
        s.avail_in = in_chunk;
        s.next_out = buf + len;
        s.avail_out = out_chunk;
        rc = inflate(&s, Z_NO_FLUSH);
        size_t consumed = in_chunk - s.avail_in;
        next += consumed;
        left -= consumed;
        len += out_chunk - s.avail_out;
        if (rc == Z_STREAM_END) break;
        if (rc == Z_BUF_ERROR && left == 0 && s.avail_out != 0) { rc = Z_BUF_ERROR; break; }
        if (rc != Z_OK && rc != Z_BUF_ERROR) break;
    }
    inflateEnd(&s);
    if (rc != Z_STREAM_END) { free(buf); return rc == Z_OK ? Z_BUF_ERROR : rc; }
    *out = buf;
    *out_len = len;
    return 0;
}

void czlib_free(void *p) { free(p); }

uint32_t czlib_crc32(const uint8_t *src, size_t len) {
    uLong c = crc32(0L, Z_NULL, 0);
    while (len > 0) {
        uInt chunk = len > (1u << 30) ? (1u << 30) : (uInt)len;
        c = crc32(c, src, chunk);
        src += chunk;
        len -= chunk;
    }
    return (uint32_t)c;
}
