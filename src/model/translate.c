/*
 * translate.c — sentences through a translator model (translate.h).
 *
 * The valid sentences of a call are encoded GROUP at a time (one padded
 * batch, one encoder pass each); each is then decoded by beam search
 * alone.  The encoder's workspace and the beam's scratch are kept per
 * thread between calls (grown when a call needs more): allocating and
 * zeroing them for every request of a daemon was a sixth of a short
 * sentence's time, most of it page faults.  The group bounds that
 * workspace, which keeps every activation of the batch (the training
 * pass's): 64 sentences of 100 words took some 95 MB a thread, 16 take a
 * quarter of it.
 */
#include "rnnserve/translate.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "rnnserve/sentence.h"
#include "rnnserve/status.h"
#include "rnnserve/words.h"

#define GROUP 16 /* sentences encoded together */

typedef struct words_ctx {
    char **words;
    int n, cap, failed;
} words_ctx;

static void on_word(const char *token, size_t len, void *arg)
{
    words_ctx *c = arg;
    if (c->failed)
        return;
    if (c->n == c->cap) {
        int cap = c->cap ? c->cap * 2 : 16;
        char **w = realloc(c->words, (size_t)cap * sizeof *w);
        if (!w) {
            c->failed = 1;
            return;
        }
        c->words = w;
        c->cap = cap;
    }
    if (!(c->words[c->n] = strndup(token, len)))
        c->failed = 1;
    else
        c->n++;
}

/* ---- per-thread scratch ------------------------------------------------- */

typedef struct scratch {
    rs_s2s_config cfg; /* what ws and bs were made for */
    int B, S, K, T;
    rs_s2s_workspace *ws;
    rs_beam *bs;
} scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static int scratch_key_ok;

static void scratch_free(void *p)
{
    scratch *c = p;
    if (!c)
        return;
    rs_s2s_workspace_destroy(c->ws);
    rs_beam_destroy(c->bs);
    free(c);
}

static void scratch_key_create(void)
{
    scratch_key_ok = pthread_key_create(&scratch_key, scratch_free) == 0;
}

/* This thread's workspace and beam scratch for at least B sentences of S
 * tokens, beam K and T target tokens under cfg; NULL when memory runs out. */
static scratch *scratch_get(const rs_s2s_config *cfg, int B, int S, int K, int T)
{
    pthread_once(&scratch_once, scratch_key_create);
    scratch *c = scratch_key_ok ? pthread_getspecific(scratch_key) : NULL;
    if (c && memcmp(&c->cfg, cfg, sizeof *cfg) == 0 && c->B >= B && c->S >= S && c->K >= K &&
        c->T >= T)
        return c;
    if (c) { /* another model, or larger sizes: make it anew, as large as both */
        if (memcmp(&c->cfg, cfg, sizeof *cfg) == 0) {
            B = B > c->B ? B : c->B;
            S = S > c->S ? S : c->S;
            K = K > c->K ? K : c->K;
            T = T > c->T ? T : c->T;
        }
        scratch_free(c);
        if (scratch_key_ok)
            pthread_setspecific(scratch_key, NULL);
    }
    c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->cfg = *cfg;
    c->B = B;
    c->S = S;
    c->K = K;
    c->T = T;
    c->ws = rs_s2s_workspace_create(cfg, B, S, 0);
    c->bs = rs_beam_create(cfg, K, S, T);
    if (!c->ws || !c->bs) {
        scratch_free(c);
        return NULL;
    }
    if (scratch_key_ok)
        pthread_setspecific(scratch_key, c);
    return c;
}

/* Gives back scratch that was not kept for the thread (no key). */
static void scratch_put(scratch *c)
{
    if (!scratch_key_ok)
        scratch_free(c);
}

void rs_translation_free(rs_translation *tr)
{
    for (int i = 0; i < tr->n_src; i++)
        free(tr->src_tokens[i]);
    free(tr->src_tokens);
    for (int i = 0; i < tr->n_hyp; i++)
        rs_hypothesis_free(&tr->hyp[i]);
    memset(tr, 0, sizeof *tr);
}

int rs_translate(const rs_translator *t, const char *const *texts, const size_t *lens, int n,
                 int max_src, const rs_beam_opts *o, int use_shortlist, rs_translation *out)
{
    const rs_s2s_config *cfg = rs_translator_config(t);
    int status = -1, B = 0, S = 1;
    int *row =
        calloc((size_t)n + 1, sizeof *row); /* sentence -> its place among the valid, −1 none */
    for (int i = 0; i < n; i++)
        memset(&out[i], 0, sizeof out[i]);
    if (!row)
        return -1;
    /* words and ids of each sentence */
    for (int i = 0; i < n; i++) {
        words_ctx w = {0};
        row[i] = -1;
        if (rs_sentence_tokens(texts[i], lens[i], rs_translator_elision(t, 0), on_word, &w) != 0) {
            for (int k = 0; k < w.n; k++)
                free(w.words[k]);
            free(w.words);
            out[i].status = w.failed ? RS_ENOMEM : RS_EUTF8;
            if (w.failed)
                goto done;
            continue;
        }
        if (!w.failed)
            on_word("<eos>", 5, &w);
        if (w.failed) {
            for (int k = 0; k < w.n; k++)
                free(w.words[k]);
            free(w.words);
            goto done;
        }
        out[i].src_tokens = w.words;
        out[i].n_src = w.n;
        if (w.n == 1)
            out[i].status = RS_EINVAL;
        else if (w.n - 1 > max_src)
            out[i].status = RS_ETOOLONG;
        else {
            row[i] = B++;
            S = w.n > S ? w.n : S;
        }
    }
    if (B == 0) {
        status = 0;
        goto done;
    }
    int G = B < GROUP ? B : GROUP;
    int32_t *src = calloc((size_t)G * S, sizeof *src), *len = calloc((size_t)G, sizeof *len);
    int *member = calloc((size_t)G, sizeof *member); /* group row -> sentence */
    scratch *sc = scratch_get(cfg, G, S, o->beam_size, o->max_length);
    rs_s2s_workspace *ws = sc ? sc->ws : NULL;
    rs_beam *bs = sc ? sc->bs : NULL;
    const rs_shortlist *sl = use_shortlist ? rs_translator_shortlist(t) : NULL;
    int32_t *vocab = sl ? malloc((size_t)rs_shortlist_capacity(sl, S) * sizeof *vocab) : NULL;
    int ok = src && len && member && ws && bs && (!sl || vocab);
    for (int next = 0; ok && next < n;) {
        /* the next (up to) G valid sentences, padded to their longest */
        int g = 0, Sg = 1;
        for (; next < n && g < G; next++)
            if (row[next] >= 0) {
                member[g++] = next;
                Sg = out[next].n_src > Sg ? out[next].n_src : Sg;
            }
        if (g == 0)
            break;
        memset(src, 0, (size_t)g * Sg * sizeof *src);
        for (int r = 0; r < g; r++) {
            rs_translation *tr = &out[member[r]];
            for (int k = 0; k < tr->n_src - 1; k++) {
                const char *word = tr->src_tokens[k];
                int id = rs_translator_word_id(t, 0, word, strlen(word));
                tr->n_unknown += id == RS_S2S_UNK;
                src[(size_t)r * Sg + k] = id;
            }
            src[(size_t)r * Sg + tr->n_src - 1] = RS_S2S_EOS;
            len[r] = tr->n_src;
        }
        rs_pair_batch batch = {.B = g, .S = Sg, .src = src, .src_len = len};
        rs_s2s_encoder_packed encoder;
        rs_beam_packed_encoder(rs_translator_packed(t), &encoder);
        encoder.team = o->team;
        rs_s2s_encode_packed(ws, rs_translator_params(t), &encoder, &batch);
        rs_s2s_encoded enc;
        rs_s2s_encoded_get(ws, &enc);
        for (int r = 0; ok && r < g; r++) {
            rs_translation *tr = &out[member[r]];
            rs_beam_opts oi = *o;
            oi.vocab_prefix = 0;
            oi.vocab_extra = NULL;
            oi.n_extra = 0;
            if (sl) {
                oi.vocab_prefix = sl->common;
                oi.vocab_extra = vocab;
                oi.n_extra = rs_shortlist_for(sl, src + (size_t)r * Sg, tr->n_src, vocab);
            }
            ok = rs_beam_search(bs, rs_translator_params(t), rs_translator_packed(t), &enc, r,
                                tr->n_src, &oi, tr->hyp, &tr->n_hyp) == 0;
        }
    }
    free(member);
    free(vocab);
    free(src);
    free(len);
    if (sc)
        scratch_put(sc);
    status = ok ? 0 : -1;
done:
    free(row);
    if (status != 0)
        for (int i = 0; i < n; i++)
            rs_translation_free(&out[i]);
    return status;
}

/* What an <unk> attending most to source word w becomes: with a
 * shortlist, w's most probable translation in its lexical table (IBM
 * Model 1, shortlist.h; its row lists the words outside the common ones,
 * which an <unk> stands for), as Luong et al. (2015) replace rare words
 * from a dictionary; else, or for a word outside the source vocabulary (a
 * name, a number) or without an entry, w itself. */
static const char *unknown_replacement(const rs_translator *t, const char *w)
{
    const rs_shortlist *sl = rs_translator_shortlist(t);
    int id = rs_translator_token_id(t, 0, w, strlen(w));
    if (!sl || id <= RS_S2S_UNK || id >= sl->src_vocab)
        return w;
    int32_t f = sl->lexical[(size_t)id * (size_t)sl->per_word];
    return f > RS_S2S_UNK ? rs_translator_token(t, 1, f) : w;
}

const char **rs_translation_tokens(const rs_translator *t, const rs_translation *tr,
                                   const rs_hypothesis *h, int replace_unknown)
{
    const char **tok = malloc((size_t)(h->n ? h->n : 1) * sizeof *tok);
    if (!tok)
        return NULL;
    for (int i = 0; i < h->n; i++) {
        tok[i] = rs_translator_token(t, 1, h->ids[i]);
        if (h->ids[i] == RS_S2S_UNK && replace_unknown && h->attention && tr->n_src > 1) {
            /* the source word (not <eos>) this token attended to most */
            const float *a = h->attention + (size_t)i * tr->n_src;
            int best = 0;
            for (int s = 1; s < tr->n_src - 1; s++)
                if (a[s] > a[best])
                    best = s;
            tok[i] = unknown_replacement(t, tr->src_tokens[best]);
        }
    }
    return tok;
}

char *rs_translation_text(const rs_translator *t, const char *const *tokens, int n)
{
    return rs_words_join(tokens, n, rs_translator_elision(t, 1));
}
