/*
 * calibrate.h — a classifier's probabilities calibrated by temperature
 * scaling (Guo et al. 2017): one scalar T, fitted on validation after
 * training, so that softmax(logits / T) states how often the top label is
 * right; the ranking, hence accuracy, is unchanged (calibrate.c).
 *
 * ECE (expected calibration error): the top probabilities cut into 15
 * equal-width bins over [0, 1]; Σ_bins (n_bin / N)·|accuracy − mean
 * confidence| of the bin.
 */
#ifndef RNNTRAIN_CALIBRATE_H
#define RNNTRAIN_CALIBRATE_H

#include "rnnserve/model.h"

#define RS_ECE_BINS 15

/* Mean −ln softmax(logits / T)[target] over n rows of K logits. */
double rs_nll_at(const float *logits, const int *targets, int n, int K, double T);
/* The T in [0.05, 20] that minimises rs_nll_at (golden-section search on
 * ln T; the NLL is convex in 1/T). */
double rs_fit_temperature(const float *logits, const int *targets, int n, int K);
/* ECE of softmax(logits / T) over RS_ECE_BINS bins. */
double rs_ece(const float *logits, const int *targets, int n, int K, double T);

/* `rnntrain calibrate --model M --data VALID.tsv [--out M2]`. */
int rs_calibrate_main(int argc, char **argv);

#endif
