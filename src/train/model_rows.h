/*
 * model_rows.h — a dataset's rows encoded for one model file, and padded
 * batches of them in the layout rs_forward takes.
 *
 * `rnntrain eval` and distillation's teachers both read a dataset through a
 * model that was not trained on this run: each text is normalised and mapped
 * to ids by the model's own vocabulary (rs_model_encode), each label or
 * category by the model's own names.  A classifier's batch reads the
 * characters and targets the label; a generator's reads <bos> c1 … cL and
 * targets c1 … cL <eos>.
 */
#ifndef RNNTRAIN_MODEL_ROWS_H
#define RNNTRAIN_MODEL_ROWS_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "rnnserve/model.h"

/* Rows per batch at most; a batch holds about RS_ROWS_STEPS steps at most
 * when the texts are long (all RS_ROWS_BATCH rows for names). */
enum { RS_ROWS_BATCH = 256, RS_ROWS_STEPS = 65536 };

typedef struct rs_model_rows {
    int width;    /* steps a row can take: the longest text + <bos> */
    int batch;    /* rows per batch: RS_ROWS_BATCH, fewer for long texts */
    int32_t *ids; /* (n, width) character ids of each row */
    int *len;     /* (n) characters of each row */
    int *label;   /* (n) label (classifier) or category (generator) id in the model, -1 if none */
    int *order;   /* (n) rows longest first (ties in file order): the order batches take */
    int n;
} rs_model_rows;

/*
 * Encodes every item of d for m; with use_labels, also maps each item's label
 * to the model's label (classifier) or category (generator) of that name
 * (an item with label -1, a classifier's transfer text, keeps -1).
 * 0, or < 0 with "file:line: fault" in err (a character or a label the model
 * does not know).  Free with rs_model_rows_free, also after a failure.
 */
int rs_model_rows_encode(const rs_model *m, const rs_dataset *d, int use_labels, rs_model_rows *r,
                         char *err, size_t errlen);
void rs_model_rows_free(rs_model_rows *r);

/* One padded batch of up to RS_ROWS_BATCH rows. */
typedef struct rs_rows_batch {
    int32_t *tokens;  /* (rows->batch, rows->width) */
    int32_t *targets; /* as tokens */
    int32_t lengths[RS_ROWS_BATCH], categories[RS_ROWS_BATCH];
    int row[RS_ROWS_BATCH]; /* the dataset row of each batch row */
    rs_batch batch;         /* what rs_forward takes, pointing into the arrays above */
    long steps; /* targets in the batch: B for a classifier, Σ (L + 1) for a generator */
} rs_rows_batch;

int rs_rows_batch_init(rs_rows_batch *bb, const rs_model_rows *r);
void rs_rows_batch_free(rs_rows_batch *bb);
/* Fills bb->batch with rows order[start, start + B) of r, B = min(r->batch,
 * n − start): longest first, so that the forward pass skips finished rows
 * instead of computing padding. */
void rs_rows_batch_fill(rs_rows_batch *bb, const rs_model *m, const rs_model_rows *r, int start);

#endif
