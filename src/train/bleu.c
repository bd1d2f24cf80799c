/*
 * bleu.c — corpus BLEU-4 (bleu.h).
 */
#include "bleu.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Occurrences of the n-gram at g in s[0..len). */
static int count_in(const int32_t *g, int n, const int32_t *s, int len)
{
    int c = 0;
    for (int i = 0; i + n <= len; i++)
        if (memcmp(s + i, g, (size_t)n * sizeof *s) == 0)
            c++;
    return c;
}

void rs_bleu_add(rs_bleu *b, const int32_t *hyp, int hn, const int32_t *const *refs,
                 const int *ref_n, int n_refs)
{
    for (int n = 1; n <= 4; n++) {
        if (hn < n)
            continue;
        b->total[n - 1] += hn - n + 1;
        for (int i = 0; i + n <= hn; i++) {
            /* each distinct n-gram once, at its first occurrence */
            if (count_in(hyp + i, n, hyp, i + n - 1) > 0)
                continue;
            int in_hyp = count_in(hyp + i, n, hyp, hn), most = 0;
            for (int r = 0; r < n_refs; r++) {
                int c = count_in(hyp + i, n, refs[r], ref_n[r]);
                most = c > most ? c : most;
            }
            b->match[n - 1] += in_hyp < most ? in_hyp : most;
        }
    }
    /* the closest reference length, ties to the shorter */
    int best = -1;
    for (int r = 0; r < n_refs; r++) {
        int d = abs(ref_n[r] - hn), bd = best < 0 ? 0 : abs(ref_n[best] - hn);
        if (best < 0 || d < bd || (d == bd && ref_n[r] < ref_n[best]))
            best = r;
    }
    b->hyp_len += hn;
    b->ref_len += best >= 0 ? ref_n[best] : 0;
}

double rs_bleu_score(const rs_bleu *b)
{
    double log_sum = 0;
    for (int n = 0; n < 4; n++) {
        if (b->match[n] == 0 || b->total[n] == 0)
            return 0.0;
        log_sum += 0.25 * log((double)b->match[n] / (double)b->total[n]);
    }
    if (b->hyp_len == 0)
        return 0.0;
    double bp = b->hyp_len > b->ref_len ? 1.0 : exp(1.0 - (double)b->ref_len / (double)b->hyp_len);
    return 100.0 * bp * exp(log_sum);
}
