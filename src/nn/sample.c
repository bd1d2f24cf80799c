/*
 * sample.c — probabilities from logits (softmax, top-k labels) and
 * choosing the next token: greedy, or temperature, then top-k,
 * then top-p (nucleus, Holtzman et al. 2019), in the order llama2.c's
 * sampler and Hugging Face's generate() apply them.  Banned ids (<pad>,
 * <bos>) never come out.  Everything is on caller scratch: no allocation,
 * no shared state, so concurrent requests cannot disturb each other.
 */
#include "rnnserve/infer.h"

#include <math.h>

double rs_log_softmax_at(const float *logits, int V, int id)
{
    float mx = logits[0];
    for (int k = 1; k < V; k++)
        mx = logits[k] > mx ? logits[k] : mx;
    double sum = 0.0;
    for (int k = 0; k < V; k++)
        sum += exp((double)logits[k] - mx);
    return (double)logits[id] - mx - log(sum);
}

void rs_log_softmax(const float *logits, int V, float *out)
{
    float mx = logits[0];
    for (int k = 1; k < V; k++)
        mx = logits[k] > mx ? logits[k] : mx;
    double sum = 0.0;
    for (int k = 0; k < V; k++)
        sum += exp((double)logits[k] - mx);
    float lse = (float)(mx + log(sum));
    for (int k = 0; k < V; k++)
        out[k] = logits[k] - lse;
}

void rs_softmax(const float *logits, int K, double *probs)
{
    float mx = logits[0];
    for (int k = 1; k < K; k++)
        mx = logits[k] > mx ? logits[k] : mx;
    double sum = 0.0;
    for (int k = 0; k < K; k++)
        sum += probs[k] = exp((double)logits[k] - mx);
    for (int k = 0; k < K; k++)
        probs[k] /= sum;
}

void rs_top_k(const double *probs, int K, int k, int *order)
{
    for (int i = 0; i < K; i++)
        order[i] = i;
    /* partial selection sort: k is a handful */
    for (int i = 0; i < k && i < K; i++)
        for (int j = i + 1; j < K; j++) {
            int a = order[i], b = order[j];
            if (probs[b] > probs[a] || (probs[b] == probs[a] && b < a)) {
                order[i] = b;
                order[j] = a;
            }
        }
}

static int is_banned(int id, const int *banned, int n)
{
    for (int i = 0; i < n; i++)
        if (banned[i] == id)
            return 1;
    return 0;
}

/* order before: higher probability first, then lower id (deterministic ties) */
static int before(const float *key, int a, int b)
{
    return key[a] > key[b] || (key[a] == key[b] && a < b);
}

/* Heap sort of idx[0..n) into `before` order, O(n log n), in place: a heap
 * whose root is the element that comes last (least likely) is popped to the
 * end repeatedly. */
static void sift_down(int *idx, int root, int n, const float *key)
{
    for (;;) {
        int child = 2 * root + 1;
        if (child >= n)
            return;
        if (child + 1 < n && before(key, idx[child], idx[child + 1]))
            child++; /* the child that comes later */
        if (!before(key, idx[root], idx[child]))
            return;
        int tmp = idx[root];
        idx[root] = idx[child];
        idx[child] = tmp;
        root = child;
    }
}

static void sort_by_prob(int *idx, int n, const float *key)
{
    for (int i = n / 2 - 1; i >= 0; i--)
        sift_down(idx, i, n, key);
    for (int end = n - 1; end > 0; end--) {
        int tmp = idx[0];
        idx[0] = idx[end];
        idx[end] = tmp;
        sift_down(idx, 0, end, key);
    }
}

int rs_sample(const float *logits, int V, const rs_sampler *s, const int *banned, int n_banned,
              rs_rng *rng, float *probs, int *order)
{
    int n = 0;
    for (int k = 0; k < V; k++)
        if (!is_banned(k, banned, n_banned))
            order[n++] = k;
    if (n == 0)
        return 0;
    if (s->temperature <= 0.0f) {
        int best = order[0];
        for (int i = 1; i < n; i++)
            if (logits[order[i]] > logits[best])
                best = order[i];
        return best;
    }
    /* softmax of logits / T over the allowed ids */
    float mx = logits[order[0]];
    for (int i = 1; i < n; i++)
        mx = logits[order[i]] > mx ? logits[order[i]] : mx;
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        int k = order[i];
        probs[k] = expf((logits[k] - mx) / s->temperature);
        sum += probs[k];
    }
    for (int i = 0; i < n; i++)
        probs[order[i]] = (float)(probs[order[i]] / sum);

    int keep = n;
    if ((s->top_k > 0 && s->top_k < n) || s->top_p < 1.0f) {
        sort_by_prob(order, n, probs);
        if (s->top_k > 0 && s->top_k < keep)
            keep = s->top_k;
        if (s->top_p < 1.0f) {
            double mass = 0.0;
            for (int i = 0; i < keep; i++) {
                mass += probs[order[i]];
                if (mass >= s->top_p) {
                    keep = i + 1;
                    break;
                }
            }
        }
    }
    double total = 0.0;
    for (int i = 0; i < keep; i++)
        total += probs[order[i]];
    double u = rs_rng_uniform(rng) * total, acc = 0.0;
    for (int i = 0; i < keep; i++) {
        acc += probs[order[i]];
        if (u < acc)
            return order[i];
    }
    return order[keep - 1]; /* rounding: u landed on the total */
}
