/*
 * lexicon.c — IBM Model 1 by EM, and each source word's most probable
 * translations (lexicon.h).
 *
 * The table p(f | e) is sparse: only the (e, f) that share a pair can be
 * non-zero.  Those cells are found once (every co-occurrence as a key
 * e·V + f, sorted, made unique), and each pair's (source position, target
 * position) gets the index of its cell, so that an EM iteration is plain
 * array work: for each target word f of a pair, its posterior over the
 * pair's source words (NULL included) is t(f | e) / Σ_e' t(f | e'), added
 * to the expected counts c(e, f) and c(e); then t(f | e) = c(e, f) / c(e).
 */
#include "lexicon.h"

#include <stdlib.h>
#include <string.h>

static int by_key(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

/* The index of key in cells[0..n) (sorted, unique), which holds it. */
static uint32_t find(const uint64_t *cells, size_t n, uint64_t key)
{
    size_t lo = 0, hi = n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (cells[mid] <= key)
            lo = mid;
        else
            hi = mid;
    }
    return (uint32_t)lo;
}

typedef struct entry {
    double p;
    int32_t f;
} entry;

int rs_lexicon_fit(const rs_id_pairs *p, const rs_lexicon_opts *o, int32_t *lexical)
{
    const uint64_t TV = (uint64_t)p->tgt_vocab;
    const int32_t NUL = p->src_vocab; /* the NULL word's row */
    size_t n_keys = 0;
    for (int i = 0; i < p->n; i++)
        n_keys += (size_t)(p->src_off[i + 1] - p->src_off[i] + 1) *
                  (size_t)(p->tgt_off[i + 1] - p->tgt_off[i]);
    uint64_t *cells = malloc((n_keys ? n_keys : 1) * sizeof *cells);
    uint32_t *slot = malloc((n_keys ? n_keys : 1) * sizeof *slot);
    double *t = NULL, *count = NULL, *total = calloc((size_t)NUL + 1, sizeof *total);
    int status = -1;
    if (!cells || !slot || !total)
        goto done;
    /* the cells: every co-occurrence, then sorted and unique */
    size_t k = 0;
    for (int i = 0; i < p->n; i++) {
        int s0 = p->src_off[i], ns = p->src_off[i + 1] - s0 + 1;
        int t0 = p->tgt_off[i], nt = p->tgt_off[i + 1] - t0;
        for (int a = 0; a < ns; a++) {
            uint64_t e = a == 0 ? (uint64_t)NUL : (uint64_t)p->src[s0 + a - 1];
            for (int b = 0; b < nt; b++)
                cells[k++] = e * TV + (uint64_t)p->tgt[t0 + b];
        }
    }
    qsort(cells, n_keys, sizeof *cells, by_key);
    size_t n_cells = 0;
    for (size_t c = 0; c < n_keys; c++)
        if (n_cells == 0 || cells[c] != cells[n_cells - 1])
            cells[n_cells++] = cells[c];
    /* each (source position, target position) of each pair: its cell */
    k = 0;
    for (int i = 0; i < p->n; i++) {
        int s0 = p->src_off[i], ns = p->src_off[i + 1] - s0 + 1;
        int t0 = p->tgt_off[i], nt = p->tgt_off[i + 1] - t0;
        for (int a = 0; a < ns; a++) {
            uint64_t e = a == 0 ? (uint64_t)NUL : (uint64_t)p->src[s0 + a - 1];
            for (int b = 0; b < nt; b++)
                slot[k++] = find(cells, n_cells, e * TV + (uint64_t)p->tgt[t0 + b]);
        }
    }
    t = malloc((n_cells ? n_cells : 1) * sizeof *t);
    count = malloc((n_cells ? n_cells : 1) * sizeof *count);
    if (!t || !count)
        goto done;
    for (size_t c = 0; c < n_cells; c++)
        t[c] = 1.0; /* uniform: the first E-step splits each f evenly */
    for (int it = 0; it < o->iterations; it++) {
        memset(count, 0, n_cells * sizeof *count);
        memset(total, 0, ((size_t)NUL + 1) * sizeof *total);
        k = 0;
        for (int i = 0; i < p->n; i++) {
            int ns = p->src_off[i + 1] - p->src_off[i] + 1, nt = p->tgt_off[i + 1] - p->tgt_off[i];
            const uint32_t *s = slot + k; /* (ns, nt) */
            for (int b = 0; b < nt; b++) {
                double denom = 0;
                for (int a = 0; a < ns; a++)
                    denom += t[s[(size_t)a * nt + b]];
                for (int a = 0; a < ns; a++) {
                    uint32_t c = s[(size_t)a * nt + b];
                    double d = t[c] / denom;
                    count[c] += d;
                    total[cells[c] / TV] += d;
                }
            }
            k += (size_t)ns * nt;
        }
        for (size_t c = 0; c < n_cells; c++) {
            double z = total[cells[c] / TV];
            t[c] = z > 0 ? count[c] / z : 0;
        }
    }
    /* each source word's row: its best target words from common up */
    for (int32_t e = 0; e < NUL; e++)
        for (int j = 0; j < o->per_word; j++)
            lexical[(size_t)e * o->per_word + j] = -1;
    entry *best = malloc((size_t)(o->per_word > 0 ? o->per_word : 1) * sizeof *best);
    if (!best)
        goto done;
    for (size_t c = 0; c < n_cells;) {
        uint64_t e = cells[c] / TV;
        int nb = 0;
        for (; c < n_cells && cells[c] / TV == e; c++) {
            int32_t f = (int32_t)(cells[c] % TV);
            if (e == (uint64_t)NUL || f < o->common || t[c] < o->min_prob)
                continue;
            if (nb == o->per_word && t[c] <= best[nb - 1].p)
                continue;
            int at = nb < o->per_word ? nb++ : o->per_word - 1;
            while (at > 0 && best[at - 1].p < t[c]) { /* f ascending among equals */
                best[at] = best[at - 1];
                at--;
            }
            best[at] = (entry){t[c], f};
        }
        for (int j = 0; j < nb; j++)
            lexical[e * (uint64_t)o->per_word + (uint64_t)j] = best[j].f;
    }
    free(best);
    status = 0;
done:
    free(cells);
    free(slot);
    free(t);
    free(count);
    free(total);
    return status;
}
