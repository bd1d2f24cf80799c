/*
 * params.c — configuration helpers and the one table of parameter tensors.
 *
 * The table is the single place that knows PyTorch's tensor names and
 * shapes; the flat-buffer layout, the model-file writer and the reader all
 * walk it, so they cannot disagree.
 */
#include "rnnserve/nn.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int rs_cell_gates(rs_cell cell)
{
    switch (cell) {
    case RS_CELL_LSTM:
        return 4;
    case RS_CELL_GRU:
        return 3;
    case RS_CELL_RNN:
    default:
        return 1;
    }
}

const char *rs_cell_name(rs_cell cell)
{
    switch (cell) {
    case RS_CELL_LSTM:
        return "lstm";
    case RS_CELL_GRU:
        return "gru";
    case RS_CELL_RNN:
    default:
        return "rnn";
    }
}

const char *rs_task_name(rs_task task)
{
    switch (task) {
    case RS_TASK_CLASSIFIER:
        return "classifier";
    case RS_TASK_GENERATOR:
        return "generator";
    case RS_TASK_TEXTLM:
        return "textlm";
    }
    return "generator";
}

int rs_cell_from_name(const char *name, rs_cell *out)
{
    if (strcmp(name, "rnn") == 0)
        *out = RS_CELL_RNN;
    else if (strcmp(name, "lstm") == 0)
        *out = RS_CELL_LSTM;
    else if (strcmp(name, "gru") == 0)
        *out = RS_CELL_GRU;
    else
        return -1;
    return 0;
}

int rs_config_directions(const rs_config *cfg) { return cfg->bidirectional ? 2 : 1; }

int rs_config_layer_input(const rs_config *cfg, int layer)
{
    if (layer == 0)
        return cfg->embedding_dim + cfg->category_dim;
    return cfg->hidden_size * rs_config_directions(cfg);
}

int rs_config_check(const rs_config *cfg, char *err, size_t errlen)
{
    const char *fault = NULL;
    if (cfg->num_layers < 1 || cfg->num_layers > RS_MAX_LAYERS)
        fault = "num_layers must be between 1 and 8";
    else if (cfg->hidden_size < 1 || cfg->hidden_size > RS_MAX_HIDDEN)
        fault = "hidden_size must be between 1 and 4096";
    else if (cfg->embedding_dim < 1 || cfg->embedding_dim > RS_MAX_HIDDEN)
        fault = "embedding_dim must be between 1 and 4096";
    else if (cfg->category_dim < 0 || cfg->category_dim > RS_MAX_HIDDEN)
        fault = "category_dim must be between 0 and 4096";
    else if ((cfg->category_dim > 0) != (cfg->n_categories > 0))
        fault = "category_dim and the category list must both be set or both be empty";
    else if (cfg->vocab_size < 1 || cfg->vocab_size > 1000000)
        fault = "vocabulary size must be between 1 and 1000000";
    else if (cfg->n_outputs < 1 || cfg->n_outputs > 1000000)
        fault = "number of outputs must be between 1 and 1000000";
    else if (cfg->task != RS_TASK_CLASSIFIER && cfg->bidirectional)
        fault = "a generator cannot be bidirectional";
    else if (cfg->task != RS_TASK_CLASSIFIER && cfg->n_outputs != cfg->vocab_size)
        fault = "a generator's head must have one output per vocabulary entry";
    else if (cfg->task == RS_TASK_TEXTLM && (cfg->n_categories > 0 || cfg->category_dim > 0))
        fault = "a textlm has no categories";
    else if (cfg->task == RS_TASK_CLASSIFIER && cfg->n_categories > 0)
        fault = "a classifier has no categories";
    if (fault) {
        snprintf(err, errlen, "%s", fault);
        return -1;
    }
    return 0;
}

/* Tensor i decoded into (kind, layer, direction, which). */
enum { T_EMB, T_CAT, T_RNN, T_HEAD_W, T_HEAD_B };

static int has_categories(const rs_config *cfg) { return cfg->n_categories > 0; }

int rs_tensor_count(const rs_config *cfg)
{
    return 1 + has_categories(cfg) + 4 * cfg->num_layers * rs_config_directions(cfg) + 2;
}

static void decode(const rs_config *cfg, int i, int *kind, int *layer, int *dir, int *which)
{
    *layer = *dir = *which = 0;
    if (i == 0) {
        *kind = T_EMB;
        return;
    }
    i -= 1;
    if (has_categories(cfg)) {
        if (i == 0) {
            *kind = T_CAT;
            return;
        }
        i -= 1;
    }
    int D = rs_config_directions(cfg);
    int n_rnn = 4 * cfg->num_layers * D;
    if (i < n_rnn) {
        *kind = T_RNN;
        *layer = i / (4 * D);
        *dir = (i / 4) % D;
        *which = i % 4;
        return;
    }
    *kind = (i == n_rnn) ? T_HEAD_W : T_HEAD_B;
}

static void shape_of(const rs_config *cfg, int i, char *name, size_t namelen, int *ndim,
                     size_t shape[2])
{
    int kind, layer, dir, which;
    decode(cfg, i, &kind, &layer, &dir, &which);
    size_t H = (size_t)cfg->hidden_size;
    size_t G = (size_t)rs_cell_gates(cfg->cell) * H;
    size_t D = (size_t)rs_config_directions(cfg);
    shape[1] = 0;
    switch (kind) {
    case T_EMB:
        snprintf(name, namelen, "embedding.weight");
        *ndim = 2, shape[0] = (size_t)cfg->vocab_size, shape[1] = (size_t)cfg->embedding_dim;
        break;
    case T_CAT:
        snprintf(name, namelen, "category_embedding.weight");
        *ndim = 2, shape[0] = (size_t)cfg->n_categories, shape[1] = (size_t)cfg->category_dim;
        break;
    case T_RNN: {
        static const char *const kinds[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
        snprintf(name, namelen, "rnn.%s_l%d%s", kinds[which], layer, dir ? "_reverse" : "");
        shape[0] = G;
        if (which == 0)
            *ndim = 2, shape[1] = (size_t)rs_config_layer_input(cfg, layer);
        else if (which == 1)
            *ndim = 2, shape[1] = H;
        else
            *ndim = 1;
        break;
    }
    case T_HEAD_W:
        snprintf(name, namelen, "head.weight");
        *ndim = 2, shape[0] = (size_t)cfg->n_outputs, shape[1] = H * D;
        break;
    default:
        snprintf(name, namelen, "head.bias");
        *ndim = 1, shape[0] = (size_t)cfg->n_outputs;
        break;
    }
}

void rs_tensor_describe(const rs_config *cfg, int i, rs_tensor_desc *out)
{
    size_t offset = 0;
    for (int k = 0; k <= i; k++) {
        shape_of(cfg, k, out->name, sizeof out->name, &out->ndim, out->shape);
        out->numel = out->ndim == 1 ? out->shape[0] : out->shape[0] * out->shape[1];
        out->offset = offset;
        offset += out->numel;
    }
}

rs_real **rs_params_slot(const rs_config *cfg, rs_params *p, int i)
{
    int kind, layer, dir, which;
    decode(cfg, i, &kind, &layer, &dir, &which);
    switch (kind) {
    case T_EMB:
        return &p->embedding;
    case T_CAT:
        return &p->category_embedding;
    case T_RNN: {
        rs_rnn_weights *w = &p->rnn[layer][dir];
        rs_real **slots[4] = {&w->weight_ih, &w->weight_hh, &w->bias_ih, &w->bias_hh};
        return slots[which];
    }
    case T_HEAD_W:
        return &p->head_weight;
    default:
        return &p->head_bias;
    }
}

size_t rs_param_count(const rs_config *cfg)
{
    rs_tensor_desc d;
    rs_tensor_describe(cfg, rs_tensor_count(cfg) - 1, &d);
    return d.offset + d.numel;
}

void rs_params_bind(const rs_config *cfg, rs_real *base, rs_params *p)
{
    memset(p, 0, sizeof *p);
    int n = rs_tensor_count(cfg);
    size_t offset = 0;
    for (int i = 0; i < n; i++) {
        char name[48];
        int ndim;
        size_t shape[2];
        shape_of(cfg, i, name, sizeof name, &ndim, shape);
        *rs_params_slot(cfg, p, i) = base + offset;
        offset += ndim == 1 ? shape[0] : shape[0] * shape[1];
    }
}

void rs_params_init(const rs_config *cfg, rs_params *p, rs_rng *rng)
{
    int n = rs_tensor_count(cfg);
    double bound_rnn = 1.0 / sqrt((double)cfg->hidden_size);
    double bound_head = 1.0 / sqrt((double)cfg->hidden_size * rs_config_directions(cfg));
    for (int i = 0; i < n; i++) {
        rs_tensor_desc d;
        rs_tensor_describe(cfg, i, &d);
        rs_real *t = *rs_params_slot(cfg, p, i);
        int kind, layer, dir, which;
        decode(cfg, i, &kind, &layer, &dir, &which);
        for (size_t k = 0; k < d.numel; k++) {
            double v;
            if (kind == T_EMB || kind == T_CAT)
                v = rs_rng_normal(rng);
            else {
                double bound = kind == T_RNN ? bound_rnn : bound_head;
                v = (2.0 * rs_rng_uniform(rng) - 1.0) * bound;
            }
            t[k] = (rs_real)v;
        }
    }
}
