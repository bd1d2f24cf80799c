/*
 * dataset.h — training and evaluation data for rnntrain.
 *
 * Two formats: TSV, one `text<TAB>label` per line (label = nationality for
 * a classifier, category for a conditional generator), and plain text, one
 * item per line.  Every line is validated as it is read: valid UTF-8, no
 * control characters, no empty text, text at most max_chars characters
 * (a caller's bound, RS_DATA_MAX_CHARS at most), exactly one tab in a TSV;
 * a fault names file:line.
 */
#ifndef RNNTRAIN_DATASET_H
#define RNNTRAIN_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "rnnserve/rng.h"
#include "rnnserve/text.h"

#define RS_DATA_MAX_CHARS  4096 /* the longest item any command reads */
#define RS_DATA_NAME_CHARS 64   /* rnntrain's default --max-chars: names */

typedef struct rs_item {
    char *text; /* normalised UTF-8, owned by the dataset */
    int label;  /* index into labels, -1 for plain text */
    int line;   /* 1-based line in the file */
} rs_item;

typedef struct rs_dataset {
    char *path;
    int tsv;
    rs_item *items;
    int n;
    char **labels; /* sorted distinct labels (TSV), owned */
    int n_labels;
    char *extra_path; /* items [n_own, n) were appended from this file (transfer.h), or NULL */
    int n_own;
} rs_dataset;

/* Reads path (TSV when its name ends in .tsv) normalising each text.
 * 0, or < 0 with "file:line: fault" in err. */
int rs_dataset_load(const char *path, rs_normalize normalize, int max_chars, rs_dataset *out,
                    char *err, size_t errlen);
void rs_dataset_free(rs_dataset *d);

/* The file item i was read from, for messages that name file:line. */
const char *rs_dataset_item_path(const rs_dataset *d, int i);

/* Removes repeated (text, label) pairs, keeping the first. */
void rs_dataset_dedupe(rs_dataset *d);

/*
 * Splits item indices into two sets, grouped by text (every row of one text
 * lands on the same side) and stratified by label (each label's texts are
 * split in the same proportion), with a seeded shuffle.  *a gets about
 * (1 − fraction) of the texts, *b the rest; both arrays are malloc'd.
 */
int rs_dataset_split(const rs_dataset *d, double fraction, uint64_t seed, int **a, int *na, int **b,
                     int *nb);

/* The character vocabulary of a dataset: sorted distinct code points, those
 * seen at least min_count times; with min_count > 1 the vocabulary also has
 * <unk> for the others (and for characters new to the model later). */
typedef struct rs_charset {
    uint32_t *cps;
    int n;
    int has_unk;   /* 1: <unk> follows the characters in the vocabulary */
    long n_rare;   /* occurrences read as <unk> */
    int n_dropped; /* distinct characters read as <unk> */
} rs_charset;

int rs_charset_build(const rs_dataset *d, int min_count, rs_charset *out);
void rs_charset_free(rs_charset *c);
/* Index of cp in the set, or -1. */
int rs_charset_find(const rs_charset *c, uint32_t cp);

/* Number of code points of an item's text. */
int rs_item_length(const rs_item *it);

#endif
