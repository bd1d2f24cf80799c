/*
 * atomic_out.c — a file written through a temporary file and a rename
 * (atomic_out.h).
 */
#include "atomic_out.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int rs_write_lines_atomically(const char *path, const void *ctx, rs_emit_line emit, const int *idx,
                              int n, char *err, size_t errlen)
{
    size_t plen = strlen(path) + 32;
    char *tmp = malloc(plen);
    if (!tmp) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(tmp, plen, "%s.tmp.%ld", path, (long)getpid());
    FILE *fp = fopen(tmp, "w");
    if (!fp) {
        snprintf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    int bad = 0;
    for (int k = 0; k < n && !bad; k++)
        bad = emit(ctx, idx[k], fp) < 0;
    if (fflush(fp) != 0 || fsync(fileno(fp)) != 0)
        bad = 1;
    if (fclose(fp) != 0)
        bad = 1;
    if (bad || rename(tmp, path) != 0) {
        snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

typedef struct bytes {
    const char *buf;
    size_t len;
} bytes;

static int emit_bytes(const void *ctx, int item, FILE *fp)
{
    (void)item;
    const bytes *b = ctx;
    return fwrite(b->buf, 1, b->len, fp) == b->len ? 0 : -1;
}

int rs_write_bytes_atomically(const char *path, const char *buf, size_t len, char *err,
                              size_t errlen)
{
    const bytes b = {buf, len};
    const int one = 0;
    return rs_write_lines_atomically(path, &b, emit_bytes, &one, 1, err, errlen);
}
