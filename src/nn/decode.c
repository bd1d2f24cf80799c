/*
 * decode.c — one sequence's decoding: forced tokens, sampling, <eos>
 * (see rs_decode in infer.h).
 *
 * The state machine is the whole of generation and scoring, so that the
 * one-sequence path (`rnntrain sample`, rs_infer_generate) and the daemon's
 * batched engine run the very same code and consume a seeded generator in
 * the same order: a token is sampled only here, after the logits that
 * feeding d->next produced.
 */
#include "rnnserve/infer.h"

static void init_common(rs_decode *d, const rs_special_ids *ids)
{
    d->ids = *ids;
    d->n_banned = 0;
    if (ids->pad >= 0)
        d->banned[d->n_banned++] = ids->pad;
    d->banned[d->n_banned++] = ids->bos;
    if (ids->unk >= 0)
        d->banned[d->n_banned++] = ids->unk;
    d->n_out = 0;
    d->next = ids->bos;
    d->log_prob = 0.0;
    d->finished = 0;
    d->done = 0;
    d->sampled = -1;
}

int rs_decode_init_generate(rs_decode *d, const rs_special_ids *ids, const int32_t *forced,
                            int n_forced, int max_length, const rs_sampler *s, rs_rng *rng,
                            int32_t *out)
{
    if (max_length < 1 || n_forced < 0 || n_forced > max_length || ids->bos < 0 || ids->eos < 0)
        return -1;
    init_common(d, ids);
    d->forced = forced;
    d->n_forced = n_forced;
    d->max_length = max_length;
    d->score = 0;
    d->sampler = *s;
    d->rng = rng;
    d->out = out;
    return 0;
}

int rs_decode_init_score(rs_decode *d, const rs_special_ids *ids, const int32_t *text, int n)
{
    if (n < 0 || ids->bos < 0 || ids->eos < 0)
        return -1;
    init_common(d, ids);
    d->forced = text;
    d->n_forced = n;
    d->max_length = n;
    d->score = 1;
    d->sampler = (rs_sampler){0.0f, 0, 1.0f};
    d->rng = NULL;
    d->out = NULL;
    return 0;
}

void rs_decode_advance(rs_decode *d, const float *logits, int V, float *probs, int *order)
{
    d->sampled = -1;
    if (d->done)
        return;
    if (d->n_out < d->n_forced) {
        int32_t tok = d->forced[d->n_out];
        d->log_prob += rs_log_softmax_at(logits, V, tok);
        if (d->out)
            d->out[d->n_out] = tok;
        d->n_out++;
        d->next = tok;
        /* a generation whose prefix fills max_length is complete */
        if (!d->score && d->n_out >= d->max_length)
            d->done = 1;
        return;
    }
    if (d->score) {
        d->log_prob += rs_log_softmax_at(logits, V, d->ids.eos);
        d->finished = 1;
        d->done = 1;
        return;
    }
    int tok = rs_sample(logits, V, &d->sampler, d->banned, d->n_banned, d->rng, probs, order);
    d->log_prob += rs_log_softmax_at(logits, V, tok);
    if (tok == d->ids.eos) {
        d->finished = 1;
        d->done = 1;
        return;
    }
    d->out[d->n_out++] = tok;
    d->sampled = tok;
    d->next = tok;
    if (d->n_out >= d->max_length)
        d->done = 1;
}
