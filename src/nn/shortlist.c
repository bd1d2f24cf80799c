/*
 * shortlist.c — a sentence's candidate target words (shortlist.h).
 */
#include "rnnserve/shortlist.h"

#include <stdlib.h>

int rs_shortlist_capacity(const rs_shortlist *s, int n)
{
    return (n > 0 ? n : 0) * s->per_word + 1;
}

static int ascending(const void *x, const void *y)
{
    int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
    return (a > b) - (a < b);
}

int rs_shortlist_for(const rs_shortlist *s, const int32_t *src, int n, int32_t *out)
{
    int count = 0;
    for (int i = 0; i < n; i++) {
        if (src[i] < 0 || src[i] >= s->src_vocab)
            continue;
        const int32_t *row = s->lexical + (size_t)src[i] * s->per_word;
        for (int k = 0; k < s->per_word; k++)
            if (row[k] >= s->common)
                out[count++] = row[k];
    }
    qsort(out, (size_t)count, sizeof *out, ascending);
    int m = 0;
    for (int i = 0; i < count; i++)
        if (m == 0 || out[i] != out[m - 1])
            out[m++] = out[i];
    return m;
}
