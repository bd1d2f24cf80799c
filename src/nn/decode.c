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

#include <string.h>

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
    d->finish = RS_FINISH_LENGTH;
    d->n_safe = 0;
    d->done = 0;
    d->sampled = -1;
    d->text = 0;
    d->n_stops = 0;
    d->penalty = 1.0f;
    d->work = NULL;
    d->acrostic = d->breaks = NULL;
    d->n_acrostic = d->acrostic_used = d->n_breaks = 0;
}

void rs_decode_set_acrostic(rs_decode *d, const int32_t *tokens, int n, const int32_t *breaks,
                            int n_breaks)
{
    d->acrostic = tokens;
    d->n_acrostic = n;
    d->acrostic_used = 0;
    d->breaks = breaks;
    d->n_breaks = n_breaks;
}

static int is_break(const rs_decode *d, int32_t tok)
{
    for (int i = 0; i < d->n_breaks; i++)
        if (d->breaks[i] == tok)
            return 1;
    return 0;
}

/* The acrostic token due at this position, or -1: the first at the
 * item's start, each next one right after a line break. */
static int32_t acrostic_due(const rs_decode *d)
{
    if (d->acrostic_used >= d->n_acrostic)
        return -1;
    if (d->n_out == 0 || is_break(d, d->out[d->n_out - 1]))
        return d->acrostic[d->acrostic_used];
    return -1;
}

int rs_decode_set_text(rs_decode *d)
{
    if (d->n_forced < 1)
        return -1;
    d->text = 1;
    if (!d->score)
        d->banned[d->n_banned++] = d->ids.eos;
    /* the first token is given, not predicted */
    d->next = d->forced[0];
    if (d->out)
        d->out[0] = d->forced[0];
    d->n_out = 1;
    d->n_safe = 1;
    if (!d->score && d->n_out >= d->max_length)
        d->done = 1;
    return 0;
}

void rs_decode_set_stops(rs_decode *d, const int32_t *const *stops, const int *lens, int n)
{
    d->n_stops = 0;
    for (int i = 0; i < n && d->n_stops < RS_DECODE_MAX_STOPS; i++)
        if (lens[i] >= 1) {
            d->stops[d->n_stops] = stops[i];
            d->stop_len[d->n_stops++] = lens[i];
        }
}

void rs_decode_set_penalty(rs_decode *d, float penalty, float *work)
{
    d->penalty = penalty;
    d->work = work;
}

/* The logits to sample from: under a repetition penalty, a copy with the
 * tokens of the last RS_PENALTY_WINDOW of out penalised once each. */
static const float *penalised(rs_decode *d, const float *logits, int V)
{
    if (d->penalty == 1.0f || !d->work)
        return logits;
    float *z = d->work;
    for (int k = 0; k < V; k++)
        z[k] = logits[k];
    int from = d->n_out > RS_PENALTY_WINDOW ? d->n_out - RS_PENALTY_WINDOW : 0;
    for (int i = from; i < d->n_out; i++) {
        int t = d->out[i];
        int seen = 0; /* once per token, as llama.cpp's token counts do */
        for (int j = from; j < i && !seen; j++)
            seen = d->out[j] == t;
        if (seen || t < 0 || t >= V)
            continue;
        z[t] = z[t] > 0 ? z[t] / d->penalty : z[t] * d->penalty;
    }
    return z;
}

/* Stop sequences after a sampled token: 1 (and the sequence taken out)
 * when out ends with one; else n_safe moves past every token that cannot
 * begin a stop sequence still being completed. */
static int check_stops(rs_decode *d)
{
    int first = d->n_forced; /* sampled tokens start here */
    int n = d->n_out - first;
    const int32_t *gen = d->out + first;
    for (int s = 0; s < d->n_stops; s++) {
        int L = d->stop_len[s];
        if (L <= n && memcmp(gen + n - L, d->stops[s], (size_t)L * sizeof *gen) == 0) {
            d->n_out -= L;
            d->n_safe = d->n_out;
            return 1;
        }
    }
    /* the longest tail of gen that is a proper prefix of a stop sequence */
    int hold = 0;
    for (int s = 0; s < d->n_stops; s++)
        for (int L = d->stop_len[s] - 1; L > hold; L--)
            if (L <= n && memcmp(gen + n - L, d->stops[s], (size_t)L * sizeof *gen) == 0) {
                hold = L;
                break;
            }
    d->n_safe = d->n_out - hold;
    return 0;
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
        if (!d->text || d->score)
            d->log_prob += rs_log_softmax_at(logits, V, tok);
        if (d->out)
            d->out[d->n_out] = tok;
        d->n_out++;
        d->n_safe = d->n_out;
        d->next = tok;
        /* a generation whose prefix fills max_length is complete */
        if (!d->score && d->n_out >= d->max_length)
            d->done = 1;
        return;
    }
    if (d->score) {
        if (!d->text)
            d->log_prob += rs_log_softmax_at(logits, V, d->ids.eos);
        d->finished = !d->text;
        d->finish = d->text ? RS_FINISH_LENGTH : RS_FINISH_EOS;
        d->done = 1;
        return;
    }
    int32_t due = acrostic_due(d);
    int tok;
    if (due >= 0) { /* forced: counted, not sampled */
        tok = due;
        d->acrostic_used++;
    } else {
        /* <eos> waits until the last acrostic line has ended (which ends the item) */
        int banned[5], n_banned = d->n_banned;
        for (int i = 0; i < n_banned; i++)
            banned[i] = d->banned[i];
        if (d->n_acrostic > 0)
            banned[n_banned++] = d->ids.eos;
        tok = rs_sample(penalised(d, logits, V), V, &d->sampler, banned, n_banned, d->rng, probs,
                        order);
    }
    d->log_prob += rs_log_softmax_at(logits, V, tok);
    if (tok == d->ids.eos) {
        d->finished = 1;
        d->finish = RS_FINISH_EOS;
        d->done = 1;
        d->n_safe = d->n_out;
        return;
    }
    d->out[d->n_out++] = tok;
    d->sampled = tok;
    d->next = tok;
    if (d->n_stops > 0 && check_stops(d)) {
        d->finish = RS_FINISH_STOP;
        d->done = 1;
        return;
    }
    if (d->n_stops == 0)
        d->n_safe = d->n_out;
    if (d->n_acrostic > 0 && d->acrostic_used == d->n_acrostic && due < 0 && is_break(d, tok)) {
        /* the last acrostic line is complete: the item is */
        d->finished = 1;
        d->finish = RS_FINISH_EOS;
        d->done = 1;
        d->n_safe = d->n_out;
        return;
    }
    if (d->n_out >= d->max_length) {
        d->done = 1;
        d->n_safe = d->n_out;
    }
}
