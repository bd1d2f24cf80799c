/*
 * model_rows.c — a dataset's rows encoded for one model file, and padded
 * batches of them (see model_rows.h).
 */
#include "model_rows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rnnserve/status.h"
#include "rnnserve/text.h"

int rs_model_rows_encode(const rs_model *m, const rs_dataset *d, int use_labels, rs_model_rows *r,
                         char *err, size_t errlen)
{
    /* the longest text in characters bounds its tokens (char models) */
    long longest = 1;
    for (int i = 0; i < d->n; i++) {
        long c = rs_utf8_length(d->items[i].text, strlen(d->items[i].text));
        longest = c > longest ? c : longest;
    }
    const int W = (int)longest + 1;
    r->width = W;
    r->batch = RS_ROWS_STEPS / W < 1 ? 1 : RS_ROWS_STEPS / W;
    r->batch = r->batch < RS_ROWS_BATCH ? r->batch : RS_ROWS_BATCH;
    r->n = d->n;
    r->ids = calloc((size_t)d->n * W, sizeof *r->ids);
    r->len = calloc((size_t)d->n, sizeof *r->len);
    r->label = calloc((size_t)d->n, sizeof *r->label);
    r->order = calloc((size_t)d->n, sizeof *r->order);
    if (!r->ids || !r->len || !r->label || !r->order) {
        snprintf(err, errlen, "out of memory");
        return RS_ENOMEM;
    }
    const rs_config *cfg = rs_model_config(m);
    for (int i = 0; i < d->n; i++) {
        const rs_item *it = &d->items[i];
        char unknown[256];
        int n = rs_model_encode(m, it->text, strlen(it->text), r->ids + (size_t)i * W, W - 1,
                                unknown, sizeof unknown);
        if (n == RS_EUNKNOWN) {
            snprintf(err, errlen, "%s:%d: characters the model cannot read: %s",
                     rs_dataset_item_path(d, i), it->line, unknown);
            return RS_EINVAL;
        }
        if (n <= 0) {
            snprintf(err, errlen, "%s:%d: cannot encode the text", rs_dataset_item_path(d, i),
                     it->line);
            return RS_EINVAL;
        }
        r->len[i] = n;
        r->label[i] = -1;
        if (use_labels && it->label >= 0) { /* a classifier's transfer items have none */
            const char *name = d->labels[it->label];
            int id = -1;
            if (cfg->task == RS_TASK_CLASSIFIER) {
                for (int k = 0; k < rs_model_label_count(m) && id < 0; k++)
                    if (strcmp(rs_model_label(m, k), name) == 0)
                        id = k;
            } else {
                id = rs_model_category_id(m, name);
            }
            if (id < 0) {
                snprintf(err, errlen, "%s:%d: %s \"%s\" is not one the model knows",
                         rs_dataset_item_path(d, i), it->line,
                         cfg->task == RS_TASK_CLASSIFIER ? "label" : "category", name);
                return RS_EINVAL;
            }
            r->label[i] = id;
        }
    }
    /* counting sort by length, longest first, stable */
    int first[RS_DATA_MAX_CHARS + 2] = {0};
    for (int i = 0; i < d->n; i++)
        first[RS_DATA_MAX_CHARS - r->len[i] + 1]++;
    for (int l = 1; l <= RS_DATA_MAX_CHARS + 1; l++)
        first[l] += first[l - 1];
    for (int i = 0; i < d->n; i++)
        r->order[first[RS_DATA_MAX_CHARS - r->len[i]]++] = i;
    return 0;
}

void rs_model_rows_free(rs_model_rows *r)
{
    free(r->ids);
    free(r->len);
    free(r->label);
    free(r->order);
    memset(r, 0, sizeof *r);
}

int rs_rows_batch_init(rs_rows_batch *bb, const rs_model_rows *r)
{
    memset(bb, 0, sizeof *bb);
    bb->tokens = calloc((size_t)r->batch * r->width, sizeof *bb->tokens);
    bb->targets = calloc((size_t)r->batch * r->width, sizeof *bb->targets);
    return bb->tokens && bb->targets ? 0 : RS_ENOMEM;
}

void rs_rows_batch_free(rs_rows_batch *bb)
{
    free(bb->tokens);
    free(bb->targets);
    bb->tokens = bb->targets = NULL;
}

void rs_rows_batch_fill(rs_rows_batch *bb, const rs_model *m, const rs_model_rows *r, int start)
{
    const rs_config *cfg = rs_model_config(m);
    const int W = r->width;
    int generator = cfg->task == RS_TASK_GENERATOR, shift = generator ? 1 : 0;
    int bos = rs_model_bos_id(m), eos = rs_model_eos_id(m);
    int B = r->n - start < r->batch ? r->n - start : r->batch;
    int T = r->len[r->order[start]] + shift; /* the first row is the longest */
    bb->steps = 0;
    for (int b = 0; b < B; b++) {
        int row = bb->row[b] = r->order[start + b];
        const int32_t *ids = r->ids + (size_t)row * W;
        int L = r->len[row];
        int32_t *tok = bb->tokens + (size_t)b * T, *tgt = bb->targets + (size_t)b * T;
        bb->lengths[b] = L + shift;
        bb->categories[b] = r->label[row];
        if (generator) { /* <bos> c1 … cL → c1 … cL <eos> */
            for (int t = 0; t < T; t++) {
                tok[t] = t == 0 ? bos : (t <= L ? ids[t - 1] : 0);
                tgt[t] = t < L ? ids[t] : (t == L ? eos : 0);
            }
            bb->steps += L + 1;
        } else {
            for (int t = 0; t < T; t++)
                tok[t] = t < L ? ids[t] : 0;
            /* a row without a label (a transfer text) gets label 0: a loss
             * that no caller of such rows reads, instead of an index -1 */
            bb->targets[b] = r->label[row] >= 0 ? r->label[row] : 0;
            bb->steps++;
        }
    }
    bb->batch = (rs_batch){.B = B,
                           .T = T,
                           .tokens = bb->tokens,
                           .lengths = bb->lengths,
                           .categories = generator && cfg->n_categories ? bb->categories : NULL,
                           .targets = bb->targets};
}
