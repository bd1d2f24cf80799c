/*
 * beam.h — translating one encoded sentence by beam search (src/nn/beam.c).
 *
 * At each step every live hypothesis extends by its K most probable next
 * tokens; of those candidates the K with the highest total log-probability
 * stay alive, and a candidate ending in <eos> is set aside as finished,
 * scored log_prob / length^α (length in tokens, <eos> included; α = the
 * length penalty, 0 = none).  The search stops when K hypotheses have
 * finished or at max_length, where the live ones count as unfinished.
 * With K = 1 it is greedy decoding.  <pad> and <bos> are never produced.
 */
#ifndef RNNSERVE_BEAM_H
#define RNNSERVE_BEAM_H

#include <stdint.h>

#include "rnnserve/seq2seq.h"

#define RS_BEAM_MAX 64

typedef struct rs_beam_opts {
    int beam_size;         /* K, 1..RS_BEAM_MAX */
    int n_best;            /* hypotheses returned, 1..K */
    int max_length;        /* target tokens at most, <eos> included */
    double length_penalty; /* α */
    int attention;         /* keep each hypothesis's attention rows */
    /* A shortlist (shortlist.h): the output layer and its softmax over the
     * ids [0, vocab_prefix) and vocab_extra[0..n_extra) (ascending, each
     * >= vocab_prefix) only.  vocab_prefix 0: the whole vocabulary.
     * <pad> and <bos> are never produced either way. */
    int vocab_prefix;
    const int32_t *vocab_extra;
    int n_extra;
    /* A second core for the decoder's products (infer.h rs_team; the same
     * numbers, linear.h), owned by this search while it runs; NULL: one. */
    struct rs_team *team;
} rs_beam_opts;

typedef struct rs_hypothesis {
    int32_t *ids; /* (n) target ids, <eos> excluded */
    int n;
    double log_prob;  /* Σ ln p of its tokens (<eos> included when finished) */
    double score;     /* log_prob / length^α */
    int finished;     /* ended with <eos>; else cut at max_length */
    float *attention; /* (n + finished, S): the weights each token was made with, or NULL */
} rs_hypothesis;

typedef struct rs_beam rs_beam;

/* The translator's matrices packed once per model for the inference
 * kernel (src/nn/linear.h), shared read-only by every search; NULL on
 * allocation failure.  A search without them (NULL) uses OpenBLAS, which copies each
 * matrix on every call. */
typedef struct rs_beam_packed rs_beam_packed;
rs_beam_packed *rs_beam_pack(const rs_s2s_config *cfg, const rs_s2s_params *p);
void rs_beam_packed_free(rs_beam_packed *pk);
/* The encoder's matrices of pk, for rs_s2s_encode_packed (seq2seq.h). */
void rs_beam_packed_encoder(const rs_beam_packed *pk, rs_s2s_encoder_packed *out);

/* Scratch for hypotheses of at most max_length tokens over sources of at
 * most max_src tokens. */
rs_beam *rs_beam_create(const rs_s2s_config *cfg, int max_beam, int max_src, int max_length);
void rs_beam_destroy(rs_beam *bs);

/* Decodes sentence b (src_len tokens) of an encoded batch, with pk when
 * not NULL (the same search; products rounded as the kernel rounds them).  Writes the
 * best min(n_best, found) hypotheses to out, best first, and their count
 * to *n_out.  0, or -1 when memory runs out.  Free each with
 * rs_hypothesis_free. */
int rs_beam_search(rs_beam *bs, const rs_s2s_params *p, const rs_beam_packed *pk,
                   const rs_s2s_encoded *enc, int b, int src_len, const rs_beam_opts *o,
                   rs_hypothesis *out, int *n_out);
void rs_hypothesis_free(rs_hypothesis *h);

#endif
