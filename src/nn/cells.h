/*
 * cells.h — one row's gate arithmetic of the three cells, forward and
 * backward, shared by the training network (network.c) and the translator
 * (seq2seq.c).  Private to src/nn.
 *
 * Equations (PyTorch, torch.nn.RNN / LSTM / GRU), a = W_i* x + b_i*,
 * rh = W_h* h (without its bias, added here):
 *   rnn:  h' = tanh(a + rh + b_hh)
 *   lstm: i,f,o = σ(·), g = tanh(·) of a + rh + b_hh; c' = f⊙c + i⊙g;
 *         h' = o⊙tanh(c')
 *   gru:  r,z = σ(a_r,z + rh_r,z + b_hr,z); n = tanh(a_n + r⊙(rh_n + b_hn));
 *         h' = (1−z)⊙n + z⊙h
 * The forward functions overwrite a with the activated gates, which the
 * backward functions read.  The pointers never overlap, which restrict
 * tells the compiler so that the loops vectorise.
 */
#ifndef RNNSERVE_NN_CELLS_H
#define RNNSERVE_NN_CELLS_H

#include <math.h>

#include "rnnserve/nn.h"
#ifndef RS_REAL_IS_DOUBLE
#include "fastmath.h"
#define RS_CELL_EXP  rs_exp_inline
#define RS_CELL_TANH rs_tanh_inline
#else
#define RS_CELL_EXP  exp
#define RS_CELL_TANH tanh
#endif

static inline rs_real rs_sigmoid(rs_real x) { return (rs_real)1 / ((rs_real)1 + RS_CELL_EXP(-x)); }

static inline void rs_rnn_gates(int H, rs_real *restrict a, const rs_real *restrict rh,
                                const rs_real *restrict bias_hh, rs_real *restrict h)
{
    for (int j = 0; j < H; j++) {
        a[j] = RS_CELL_TANH(a[j] + rh[j] + bias_hh[j]);
        h[j] = a[j];
    }
}

/* cp: c_{t−1}; c, h: the new cell and hidden state. */
static inline void rs_lstm_gates(int H, rs_real *restrict a, const rs_real *restrict rh,
                                 const rs_real *restrict bias_hh, const rs_real *restrict cp,
                                 rs_real *restrict c, rs_real *restrict h)
{
    for (int j = 0; j < 4 * H; j++)
        a[j] += rh[j] + bias_hh[j];
    for (int j = 0; j < H; j++) {
        rs_real gi = rs_sigmoid(a[j]), gf = rs_sigmoid(a[H + j]);
        rs_real gg = RS_CELL_TANH(a[2 * H + j]), go = rs_sigmoid(a[3 * H + j]);
        a[j] = gi, a[H + j] = gf, a[2 * H + j] = gg, a[3 * H + j] = go;
        c[j] = gf * cp[j] + gi * gg;
        h[j] = go * RS_CELL_TANH(c[j]);
    }
}

/* hp: h_{t−1}; hn (H) keeps W_hn h + b_hn for the backward pass. */
static inline void rs_gru_gates(int H, rs_real *restrict a, const rs_real *restrict rh,
                                const rs_real *restrict bias_hh, const rs_real *restrict hp,
                                rs_real *restrict hn, rs_real *restrict h)
{
    for (int j = 0; j < H; j++) {
        rs_real r = rs_sigmoid(a[j] + rh[j] + bias_hh[j]);
        rs_real z = rs_sigmoid(a[H + j] + rh[H + j] + bias_hh[H + j]);
        hn[j] = rh[2 * H + j] + bias_hh[2 * H + j];
        rs_real n = RS_CELL_TANH(a[2 * H + j] + r * hn[j]);
        a[j] = r, a[H + j] = z, a[2 * H + j] = n;
        h[j] = ((rs_real)1 - z) * n + z * hp[j];
    }
}

/* One step of a cell for B rows, in place on the pre-activations a (B, G)
 * = W_ih x + b_ih: adds the recurrent products rh (B, G) and applies the
 * gates; hp, cp (B, H) the state before, h, c (B, H) after, hn (B, H) GRU's
 * W_hn h + b_hn (c, cp: LSTM only; hn: GRU only). */
static inline void rs_cell_rows(rs_cell cell, int B, int H, rs_real *a, const rs_real *rh,
                                const rs_real *bias_hh, const rs_real *hp, const rs_real *cp,
                                rs_real *h, rs_real *c, rs_real *hn)
{
    int G = rs_cell_gates(cell) * H;
    for (int b = 0; b < B; b++) {
        size_t g = (size_t)b * G, r = (size_t)b * H;
        switch (cell) {
        case RS_CELL_RNN:
            rs_rnn_gates(H, a + g, rh + g, bias_hh, h + r);
            break;
        case RS_CELL_LSTM:
            rs_lstm_gates(H, a + g, rh + g, bias_hh, cp + r, c + r, h + r);
            break;
        case RS_CELL_GRU:
            rs_gru_gates(H, a + g, rh + g, bias_hh, hp + r, hn + r, h + r);
            break;
        }
    }
}

/* rs_cell_rows compiled for the widest vectors of the processor (beam.c):
 * for inference in float only. */
void rs_cell_rows_wide(rs_cell cell, int B, int H, rs_real *a, const rs_real *rh,
                       const rs_real *bias_hh, const rs_real *hp, const rs_real *cp, rs_real *h,
                       rs_real *c, rs_real *hn);

/*
 * Backward: dh holds dL/dh_t on entry and, on return, the part of
 * dL/dh_{t−1} that does not go through W_hh (z⊙dh for GRU, 0 otherwise);
 * the caller adds dgh · W_hh.  dgx is the gradient w.r.t. the input
 * projection a, dgh w.r.t. rh + b_hh (the same but for GRU's n gate).
 */
static inline void rs_rnn_gates_backward(int H, const rs_real *restrict h, rs_real *restrict dh,
                                         rs_real *restrict dgx)
{
    for (int j = 0; j < H; j++) {
        dgx[j] = dh[j] * ((rs_real)1 - h[j] * h[j]);
        dh[j] = 0;
    }
}

/* gates: i, f, g, o activated; c, cp: c_t and c_{t−1}; dc: dL/dc_t in,
 * dL/dc_{t−1} out. */
static inline void rs_lstm_gates_backward(int H, const rs_real *restrict gates,
                                          const rs_real *restrict c, const rs_real *restrict cp,
                                          rs_real *restrict dh, rs_real *restrict dc,
                                          rs_real *restrict dgx)
{
    for (int j = 0; j < H; j++) {
        rs_real gi = gates[j], gf = gates[H + j], gg = gates[2 * H + j], go = gates[3 * H + j];
        rs_real tc = RS_CELL_TANH(c[j]);
        rs_real dcell = dc[j] + dh[j] * go * ((rs_real)1 - tc * tc);
        dgx[j] = dcell * gg * gi * ((rs_real)1 - gi);
        dgx[H + j] = dcell * cp[j] * gf * ((rs_real)1 - gf);
        dgx[2 * H + j] = dcell * gi * ((rs_real)1 - gg * gg);
        dgx[3 * H + j] = dh[j] * tc * go * ((rs_real)1 - go);
        dc[j] = dcell * gf;
        dh[j] = 0;
    }
}

/* gates: r, z, n activated; hp: h_{t−1}; hn: W_hn h_{t−1} + b_hn. */
static inline void rs_gru_gates_backward(int H, const rs_real *restrict gates,
                                         const rs_real *restrict hp, const rs_real *restrict hn,
                                         rs_real *restrict dh, rs_real *restrict dgx,
                                         rs_real *restrict dgh)
{
    for (int j = 0; j < H; j++) {
        rs_real r = gates[j], z = gates[H + j], n = gates[2 * H + j], g = dh[j];
        rs_real dn = g * ((rs_real)1 - z) * ((rs_real)1 - n * n);
        rs_real dz = g * (hp[j] - n) * z * ((rs_real)1 - z);
        rs_real dr = dn * hn[j] * r * ((rs_real)1 - r);
        dgx[j] = dr, dgx[H + j] = dz, dgx[2 * H + j] = dn;
        dgh[j] = dr, dgh[H + j] = dz, dgh[2 * H + j] = dn * r;
        dh[j] = g * z;
    }
}

/* p[0..n) = e^(z − max z), the shifted exponentials of a softmax; returns
 * their sum (accumulated in double) and *max = max z.  The caller divides. */
static inline double rs_softmax_exp(const rs_real *restrict z, rs_real *restrict p, int n,
                                    rs_real *max)
{
    rs_real m = z[0];
    for (int i = 1; i < n; i++)
        m = z[i] > m ? z[i] : m;
    for (int i = 0; i < n; i++)
        p[i] = RS_CELL_EXP(z[i] - m);
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += (double)p[i];
    *max = m;
    return sum;
}

#endif
