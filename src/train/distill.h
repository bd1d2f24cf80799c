/*
 * distill.h — the soft targets of knowledge distillation: for every target
 * of a training set, the mean of the distributions that several teacher
 * models predict for it.
 *
 * An ensemble of models scores better than any one of them, but a model file
 * holds one network.  Distillation trains that one network towards the
 * ensemble's averaged predictions (Hinton et al., 2015, temperature 1), which
 * keeps part of the ensemble's gain at the serving cost of a single model.
 *
 * Teachers are model files for the same task.  They may have been trained
 * anywhere (PyTorch too): their vocabularies, labels and categories are
 * matched to the student's by name, not by position.  A teacher must know
 * every output the student predicts and every category it is conditioned
 * on, and use the same text normalisation.
 *
 * A conditional generator can also teach a classifier whose labels are its
 * categories, by Bayes' rule: p(label | name) ∝ p(label)·p(name | label),
 * with p(name | label) the generator's probability of <bos> name <eos> in
 * that category and p(label) the labels' frequencies in the training file.
 * A generative model of each nationality's names errs differently from a
 * discriminative classifier, which is what an ensemble needs.
 */
#ifndef RNNTRAIN_DISTILL_H
#define RNNTRAIN_DISTILL_H

#include <stddef.h>

#include "dataset.h"
#include "rnnserve/nn.h"

#define RS_DISTILL_MAX_TEACHERS 32

/* The student as the teachers must match it. */
typedef struct rs_distill_student {
    const rs_config *cfg;       /* task, n_outputs K, n_categories */
    const char *const *outputs; /* (K) vocabulary tokens (generator) or labels (classifier) */
    rs_normalize normalize;
} rs_distill_student;

/* What was distilled from, for the training metadata. */
typedef struct rs_teacher_info {
    char file[256];  /* base name */
    char sha256[65]; /* of the file */
    char seen[256];  /* base name of the data it does not teach, "" for none */
} rs_teacher_info;

/*
 * Splits a comma-separated list of MODEL or MODEL:DATA entries into
 * paths[0..n) and seen[0..n) (NULL without ":DATA"), pointers into list,
 * which is modified.  0, or < 0 with a message: an empty entry, more than
 * RS_DISTILL_MAX_TEACHERS.
 */
int rs_distill_split_list(char *list, const char **paths, const char **seen, int *n, char *err,
                          size_t errlen);

/*
 * Runs every teacher over the items of d (each item's text, and its label as
 * the category of a conditional generator, matched by name) and writes the
 * mean of their predicted distributions, re-expressed over the student's
 * outputs.  first_row (d->n + 1 entries, the last n_rows) gives item i the
 * rows [first_row[i], first_row[i + 1]) of soft, in the targets' layout: one
 * row per item for a classifier, one per predicted position of <bos> c1 … cL
 * (L + 1 rows) for a generator; targets (n_rows) are the hard targets.
 *
 * Out-of-fold teaching: when seen_data[j] names a dataset (the data teacher
 * j was trained on), teacher j does not teach the items whose text is in it,
 * so that an item's soft target is what models that never saw it predict,
 * not a memorised answer.  Each item gets the mean over the teachers that
 * teach it; an item no teacher teaches gets its hard target.
 *
 * soft is (n_rows, K) and is overwritten.  info[j] describes teacher j.  0,
 * or < 0 with a message naming the teacher and the fault (unreadable,
 * another task, a token, label or category it lacks, another normalisation,
 * a text it cannot read).
 */
int rs_distill_targets(const char *const *paths, const char *const *seen_data, int n_teachers,
                       const rs_distill_student *student, const rs_dataset *d, const int *first_row,
                       const int32_t *targets, size_t n_rows, rs_real *soft, rs_teacher_info *info,
                       char *err, size_t errlen);

#endif
