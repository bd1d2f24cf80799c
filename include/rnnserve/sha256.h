/*
 * sha256.h — SHA-256 (FIPS 180-4), for recording which dataset a model was
 * trained on.  Not constant-time; not for secrets.
 */
#ifndef RNNSERVE_SHA256_H
#define RNNSERVE_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct rs_sha256 {
    uint32_t state[8];
    uint64_t bytes;
    uint8_t block[64];
    size_t used;
} rs_sha256;

void rs_sha256_init(rs_sha256 *ctx);
void rs_sha256_update(rs_sha256 *ctx, const void *data, size_t len);
void rs_sha256_final(rs_sha256 *ctx, uint8_t digest[32]);
/* Lower-case hex digest of a whole file into hex (65 bytes).  0, or < 0 with err. */
int rs_sha256_file(const char *path, char hex[65], char *err, size_t errlen);

#endif
