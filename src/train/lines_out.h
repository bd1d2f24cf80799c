/*
 * lines_out.h — writing a text file of lines atomically (src/train/lines_out.c):
 * a temporary file beside the target, fsynced, renamed over it, so that a
 * reader never sees half a file and a failed write leaves the old one.
 * What `rnntrain split` and `rnntrain translator --valid-out` write with.
 */
#ifndef RNNTRAIN_LINES_OUT_H
#define RNNTRAIN_LINES_OUT_H

#include <stddef.h>
#include <stdio.h>

/* Writes line k of n by emit(ctx, idx[k], fp) (negative: failed). */
typedef int (*rs_emit_line)(const void *ctx, int item, FILE *fp);

/* 0, or -1 with a one-line message in err (the temporary file removed). */
int rs_write_lines_atomically(const char *path, const void *ctx, rs_emit_line emit, const int *idx,
                              int n, char *err, size_t errlen);

#endif
