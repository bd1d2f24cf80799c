/*
 * infer.h — inference for the daemon and the CLIs: a classifier over a
 * batch of names, a generator stepped one token at a time for a batch of
 * sequences, and the decoding of one sequence (prefix, sampling, <eos>).
 *
 * Three layers, each usable alone:
 *
 *   rs_infer_model  the weights prepared once per model: every matrix
 *                   packed for rs_linear (src/nn/linear.h) and layer 0's
 *                   input projection of every token and category
 *                   precomputed.  Read-only: shared by every thread.
 *   rs_stepper,     scratch for up to max_rows sequences, sized at
 *   rs_classifier   creation; no call allocates after that.  One thread
 *                   at a time.
 *   rs_decode       one sequence's progress: which token to feed next,
 *                   what it produced, its log-likelihood.  Plain data.
 *
 * Batching does not change the numbers: every output of a row is computed
 * by the same float operations whether the row runs alone or with others,
 * at any position (rs_linear's guarantee, extended here to the cells, the
 * tables and the head), so a seeded /generate gives the same text under any
 * load, and /generate and /score agree.  tests/unit/test_infer.c checks it
 * bit for bit; tests/parity checks the logits against PyTorch's.
 *
 * rs_infer is the one-sequence convenience over these for `rnntrain
 * sample`, the tests and the fuzzers.
 */
#ifndef RNNSERVE_INFER_H
#define RNNSERVE_INFER_H

#include <stddef.h>
#include <stdint.h>

#include "rnnserve/nn.h"
#include "rnnserve/rng.h"

/* ---- prepared weights -------------------------------------------------- */

typedef struct rs_infer_model rs_infer_model;

/*
 * Packs the weights of p for configuration cfg.  input_tables: 1 to read
 * layer 0's input projection W_ih·[emb; cat] + b_ih from per-token and
 * per-category tables (the daemon's and `rnntrain sample`'s path), 0 to
 * compute it at every step (tests compare the two).  p (embeddings and
 * biases are read from it) must outlive the result.  NULL on allocation
 * failure.  Free with rs_infer_model_destroy.
 */
rs_infer_model *rs_infer_model_create(const rs_config *cfg, const rs_params *p, int input_tables);
void rs_infer_model_destroy(rs_infer_model *im);
const rs_config *rs_infer_model_config(const rs_infer_model *im);
/* Bytes the prepared copy holds (packed weights and tables). */
size_t rs_infer_model_bytes(const rs_infer_model *im);

/* ---- generators: a batch of sequences, one step at a time --------------- */

typedef struct rs_stepper rs_stepper;

/* Scratch and states for max_rows sequences.  NULL on allocation failure. */
rs_stepper *rs_stepper_create(const rs_infer_model *im, int max_rows);

/*
 * A team: a helper thread that shares the products of a step with the
 * caller, each computing half of every matrix's output columns, so that a
 * step of a few sequences, bound by reading the weights, reads them with
 * two cores.  The numbers are those of one thread, bit for bit.  One caller
 * at a time (the engine thread).  NULL when the thread cannot start.
 */
typedef struct rs_team rs_team;
rs_team *rs_team_create(void);
void rs_team_destroy(rs_team *t);
/* st's steps of at most max_rows rows use t (NULL: never). */
void rs_stepper_set_team(rs_stepper *st, rs_team *t, int max_rows);
void rs_stepper_destroy(rs_stepper *st);
/* Row `row` starts a sequence: zero state, the category every step of it
 * will see (-1 if none). */
void rs_stepper_reset(rs_stepper *st, int row, int category);
/* Moves row from's sequence (states and category) to row to, so that the
 * active rows stay 0..n-1 when one in the middle finishes. */
void rs_stepper_move(rs_stepper *st, int to, int from);
/* Feeds tokens[i] to row i for i < n (1 <= n <= max_rows), one step each.
 * Returns the next-token logits, (n, V) row-major, valid until the next
 * call. */
const float *rs_stepper_step(rs_stepper *st, const int32_t *tokens, int n);

/* ---- classifiers: a batch of names --------------------------------------- */

typedef struct rs_classifier rs_classifier;

/* Scratch for up to max_rows names of up to max_len tokens each.  NULL on
 * allocation failure, or when the model is not a classifier. */
rs_classifier *rs_classifier_create(const rs_infer_model *im, int max_rows, int max_len);
void rs_classifier_destroy(rs_classifier *c);
/* Logits (n, K) of the names tokens[i][0..lengths[i]), valid until the next
 * call; NULL when n or a length is out of range (1..max_rows, 1..max_len). */
const float *rs_classifier_run(rs_classifier *c, const int32_t *const *tokens, const int *lengths,
                               int n);

/* ---- choosing tokens ---------------------------------------------------- */

/* How to pick the next token. */
typedef struct rs_sampler {
    float temperature; /* 0 = greedy (argmax), else logits / temperature */
    int top_k;         /* keep the k most likely, 0 = all */
    float top_p;       /* nucleus: smallest set with mass >= top_p, 1 = all */
} rs_sampler;

/* ln softmax(logits)[id], computed stably. */
double rs_log_softmax_at(const float *logits, int V, int id);
/* probs (K) = softmax(logits (K)), in double, the maximum subtracted. */
void rs_softmax(const float *logits, int K, double *probs);
/* out[k] = logits[k] − logsumexp(logits) (out may be logits). */
void rs_log_softmax(const float *logits, int V, float *out);
/* order[0..k) = the indices of the k largest probs, largest first, the
 * lower index first on ties (stable output).  order must hold K ints. */
void rs_top_k(const double *probs, int K, int k, int *order);

/* Special token ids a generation needs. */
typedef struct rs_special_ids {
    int pad, bos, eos, unk; /* -1 when absent */
} rs_special_ids;

/* ---- one sequence's decoding ------------------------------------------- */

/*
 * Generation: from <bos>, the forced tokens (a prefix) are fed and their
 * log-likelihood counted, then tokens are sampled until <eos> or
 * max_length tokens in all.  Scoring: the forced tokens (the text), then
 * log p(<eos>), nothing sampled.  log_prob is the model's untempered
 * log-likelihood of every predicted token, <eos> included when it ended
 * there, so a /score of a generated text gives its log_prob.
 *
 *   rs_decode_init(&d, …);                  d.next is <bos>
 *   while (!d.done) {
 *       logits = <feed d.next, from the state this sequence left>;
 *       rs_decode_advance(&d, logits, …);   sets d.next or d.done
 *   }
 *
 * The generator's randomness is consumed only here, in this order, so the
 * same seed gives the same tokens whether the sequence is stepped alone or
 * in a batch.
 *
 * Options set after init:
 *   text mode (a textlm, DESIGN.md): there is no <bos>; the first forced
 *   token is fed first and only the tokens after it are predicted; a
 *   generation counts the log-likelihood of the sampled tokens only (the
 *   prompt's is /score's business), never samples <eos>, and stops at
 *   max_length tokens or a stop sequence; a score counts every token after
 *   the first and has no <eos>.
 *   stop sequences: generation ends when the sampled tokens end with one
 *   of them, which is then taken out of out (finish RS_FINISH_STOP).
 *   repetition penalty (llama.cpp's): before sampling, the logit z of each
 *   token among the last RS_PENALTY_WINDOW of out becomes z / p if z > 0,
 *   else z · p.  log_prob stays the model's own.
 *   acrostic (藏头诗, item generators): the given tokens are forced in turn,
 *   the first at the start of the item and each next one after a line
 *   break (one of the break tokens: ，。！？；); their log-likelihood is
 *   counted as a prefix's is.  <eos> is never sampled: the item ends, as
 *   if <eos> had come, at the first break after the last one's line (or
 *   at max_length).
 */
#define RS_DECODE_MAX_STOPS 4
#define RS_PENALTY_WINDOW   64

typedef enum { RS_FINISH_LENGTH = 0, RS_FINISH_EOS = 1, RS_FINISH_STOP = 2 } rs_finish;

typedef struct rs_decode {
    /* set by rs_decode_init */
    rs_special_ids ids;
    const int32_t *forced; /* (n_forced) tokens fed before any is sampled */
    int n_forced;
    int max_length; /* tokens in out at most (generation) */
    int score;      /* 1: score forced + <eos>; 0: generate */
    rs_sampler sampler;
    rs_rng *rng;   /* generation only; the caller's */
    int32_t *out;  /* (max_length) the caller's: forced and sampled tokens */
    int banned[4]; /* never sampled: <pad>, <bos>, <unk>; <eos> in text mode */
    int n_banned;
    int text;                                  /* text mode (see above) */
    const int32_t *stops[RS_DECODE_MAX_STOPS]; /* stop sequences */
    int stop_len[RS_DECODE_MAX_STOPS];         /* (>= 1 each) */
    int n_stops;
    float penalty;           /* repetition penalty, 1 = off */
    float *work;             /* (V) penalised logits, the caller's (when penalty != 1) */
    const int32_t *acrostic; /* (n_acrostic) tokens that start the lines */
    int n_acrostic, acrostic_used;
    const int32_t *breaks; /* (n_breaks) tokens that end a line */
    int n_breaks;
    /* progress */
    int n_out;        /* tokens in out */
    int32_t next;     /* token to feed next, while !done */
    double log_prob;  /* of every predicted token so far */
    int finished;     /* 1 when it ended with <eos> (always, for a score) */
    rs_finish finish; /* why it ended, once done */
    int n_safe;       /* out[0..n_safe) can be shown: no stop sequence can end in them */
    int done;
    int32_t sampled; /* the token the last advance produced, or -1 (for streaming) */
} rs_decode;

/* Starts a generation.  -1 on bad arguments (max_length < 1, n_forced out
 * of 0..max_length, no <bos>/<eos>). */
int rs_decode_init_generate(rs_decode *d, const rs_special_ids *ids, const int32_t *forced,
                            int n_forced, int max_length, const rs_sampler *s, rs_rng *rng,
                            int32_t *out);
/* Starts scoring <bos> text[0..n) <eos>.  -1 on bad arguments. */
int rs_decode_init_score(rs_decode *d, const rs_special_ids *ids, const int32_t *text, int n);
/* Text mode (after init, before the first advance).  -1 when there is no
 * forced token to start from. */
int rs_decode_set_text(rs_decode *d);
/* Stop sequences (at most RS_DECODE_MAX_STOPS, each >= 1 token; the
 * arrays must outlive d). */
void rs_decode_set_stops(rs_decode *d, const int32_t *const *stops, const int *lens, int n);
/* Repetition penalty p > 0 (1 = off); work: V floats of scratch. */
void rs_decode_set_penalty(rs_decode *d, float penalty, float *work);
/* An acrostic of n tokens and the n_breaks tokens that end a line (both
 * arrays must outlive d); for a generation without forced tokens. */
void rs_decode_set_acrostic(rs_decode *d, const int32_t *tokens, int n, const int32_t *breaks,
                            int n_breaks);
/* Takes the logits (V) produced by feeding d->next.  probs (V) and order
 * (V) are sampling scratch. */
void rs_decode_advance(rs_decode *d, const float *logits, int V, float *probs, int *order);

/* Picks a token from logits (V) that is not one of banned[0..n_banned).
 * probs (V) and order (V) are scratch. */
int rs_sample(const float *logits, int V, const rs_sampler *s, const int *banned, int n_banned,
              rs_rng *rng, float *probs, int *order);

/* ---- one sequence at a time (CLIs, tests) ------------------------------ */

typedef struct rs_infer rs_infer;

/* A one-row rs_stepper and rs_classifier (for names of up to max_len
 * tokens) with sampling scratch.  NULL on allocation failure. */
rs_infer *rs_infer_create(const rs_infer_model *im, int max_len);
void rs_infer_destroy(rs_infer *inf);

/* Classifier: logits (K) for tokens[0..n), 1 <= n <= max_len, valid until
 * the next call; NULL when n is out of range. */
const float *rs_infer_classify(rs_infer *inf, const int32_t *tokens, int n);
/* Generator: zero state, and the category every step will see (-1 if none). */
void rs_infer_reset(rs_infer *inf, int category);
/* Generator: feed one token; returns the logits (V) of the next token. */
const float *rs_infer_step(rs_infer *inf, int32_t token);

/* Runs a decode set up by the caller (rs_decode_init_*, then its options)
 * to its end from zero state (and category, -1 for none).  0, or -1 if inf
 * is not a generator's.  The max_length of d must fit inf's max_len. */
int rs_infer_decode(rs_infer *inf, rs_decode *d, int category);

/* A whole generation (see rs_decode): out receives the tokens (prefix
 * included, <eos> not), *n_out their number, *finished 1 when <eos> was
 * produced.  Returns 0, or -1 on bad arguments. */
int rs_infer_generate(rs_infer *inf, const rs_special_ids *ids, const int32_t *prefix, int n_prefix,
                      int category, int max_length, const rs_sampler *s, rs_rng *rng, int32_t *out,
                      int *n_out, double *log_prob, int *finished);

/* Log-likelihood of <bos> tokens[0..n) <eos> under a generator: fills
 * *log_prob and returns the number of predicted tokens (n + 1), or -1. */
int rs_infer_score(rs_infer *inf, const rs_special_ids *ids, const int32_t *tokens, int n,
                   int category, double *log_prob);

#endif
