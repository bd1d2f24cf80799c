/*
 * transfer.h — a transfer set for knowledge distillation: extra texts that
 * only the teachers label.
 *
 * Distilling on the training names alone shows the student the teachers'
 * function at some 15,000 points; what the teachers know between those
 * points does not reach it.  A transfer set (Hinton et al., 2015; Bucilă et
 * al., 2006) adds inputs: texts with no label of their own, such as names
 * sampled from a generator, on which the student learns to predict what the
 * teachers predict.
 *
 * Transfer texts are training items only, never validation items: a text
 * that is also a validation text is dropped, so that validation stays a
 * measure of names the student has not been shown.  A classifier's transfer
 * item gets its label from the teachers (their likeliest label, as its hard
 * target, and their distribution, as its soft one); a generator's has its
 * own next characters, and a conditional generator's takes the category of
 * its TSV line.
 */
#ifndef RNNTRAIN_TRANSFER_H
#define RNNTRAIN_TRANSFER_H

#include <stddef.h>

#include "dataset.h"

typedef struct rs_transfer_stats {
    int read;          /* items in the file */
    int added;         /* appended to the training items */
    int in_validation; /* dropped: the text is a validation text */
} rs_transfer_stats;

/*
 * Reads path with the student's normalisation and appends its items to d
 * (label -1, or for a conditional student the index in d->labels of the
 * line's category), and their indices to *train_idx (realloc'd; *n_train
 * grows).  valid_idx[0..n_valid) are d's validation items.  0, or < 0 with
 * a message (unreadable or malformed file with file:line, a category d does
 * not have, a conditional student given a plain-text file, an empty file).
 */
int rs_transfer_append(rs_dataset *d, const char *path, rs_normalize normalize, int conditional,
                       const int *valid_idx, int n_valid, int **train_idx, int *n_train,
                       rs_transfer_stats *stats, char *err, size_t errlen);

#endif
