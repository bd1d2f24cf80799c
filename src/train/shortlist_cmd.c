/*
 * shortlist_cmd.c — `rnntrain shortlist --model M --data PAIRS.tsv`:
 * fits IBM Model 1 (lexicon.h) on the pairs, read with the model's own
 * vocabularies (words outside them as <unk>), and writes the model again
 * with its shortlist (rnnserve/shortlist.h): the --common most frequent
 * target words, and each source word's --per-word most probable
 * translations.  The weights and every other metadata key are copied
 * unchanged; the file is replaced atomically (or --out is written).
 *
 * With --self-translate, Model 1 also reads each distinct
 * source sentence paired with the model's own greedy translation of it
 * (over the whole vocabulary): the table then also holds the words the
 * model itself produces for a source word (a verb's inflected forms, "aide-
 * moi" for "help me"), which references alone attribute too thinly.
 *
 * Give it the pairs the model was trained on, never the held-out ones.
 */
#include "shortlist_cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flags.h"
#include "lexicon.h"
#include "pairs.h"
#include "rnnserve/translate.h"
#include "rnnserve/translator.h"

#define CHUNK 64 /* sentences translated together */

/* Model ids of one side of every pair: words outside the vocabulary as
 * <unk>.  ids (all tokens of the side), off (n + 1). */
static int side_ids(const rs_translator *t, int side, const rs_token_table *table,
                    const int *tok_off, const int *tok, int n, int32_t **ids, int **off)
{
    int total = tok_off[n];
    *ids = malloc((size_t)(total ? total : 1) * sizeof **ids);
    *off = malloc(((size_t)n + 1) * sizeof **off);
    int32_t *map = malloc((size_t)(table->n ? table->n : 1) * sizeof *map);
    if (!*ids || !*off || !map) {
        free(map);
        return -1;
    }
    for (int i = 0; i < table->n; i++)
        map[i] = rs_translator_word_id(t, side, table->token[i], strlen(table->token[i]));
    for (int i = 0; i <= n; i++)
        (*off)[i] = tok_off[i];
    for (int k = 0; k < total; k++)
        (*ids)[k] = map[tok[k]];
    free(map);
    return 0;
}

/* Appends to the id pairs (*src, *src_off; *tgt, *tgt_off; *n of them) one
 * pair per distinct source sentence of p: its ids and the model's greedy
 * translation.  0, or -1 when memory runs out. */
static int add_self_translations(const rs_translator *t, const rs_pairs *p, int32_t **src,
                                 int **src_off, int32_t **tgt, int **tgt_off, int *n)
{
    int *all = malloc((size_t)p->n * sizeof *all), *order = malloc((size_t)p->n * sizeof *order);
    int *group = malloc(((size_t)p->n + 1) * sizeof *group), n_groups = 0, status = -1;
    if (!all || !order || !group)
        goto done;
    for (int i = 0; i < p->n; i++)
        all[i] = i;
    if (rs_pairs_group_by_source(p, all, p->n, order, group, &n_groups) != 0)
        goto done;
    /* room: every group's source again, and up to 50 target ids each */
    size_t ns = (size_t)(*src_off)[*n], nt = (size_t)(*tgt_off)[*n], add_s = 0;
    for (int g = 0; g < n_groups; g++) {
        int i = order[group[g]];
        add_s += (size_t)(p->src_off[i + 1] - p->src_off[i]);
    }
    int32_t *s2 = realloc(*src, (ns + add_s + 1) * sizeof *s2);
    if (s2)
        *src = s2;
    int32_t *t2 = realloc(*tgt, (nt + (size_t)n_groups * 50 + 1) * sizeof *t2);
    if (t2)
        *tgt = t2;
    int *so = realloc(*src_off, ((size_t)*n + n_groups + 1) * sizeof *so);
    if (so)
        *src_off = so;
    int *to = realloc(*tgt_off, ((size_t)*n + n_groups + 1) * sizeof *to);
    if (to)
        *tgt_off = to;
    if (!s2 || !t2 || !so || !to)
        goto done;
    rs_beam_opts o = {.beam_size = 1, .n_best = 1, .max_length = 50, .length_penalty = 1.0};
    for (int g0 = 0; g0 < n_groups; g0 += CHUNK) {
        int m = n_groups - g0 < CHUNK ? n_groups - g0 : CHUNK;
        const char *texts[CHUNK];
        size_t lens[CHUNK];
        for (int x = 0; x < m; x++) {
            texts[x] = p->text[order[group[g0 + x]]];
            lens[x] = strcspn(texts[x], "\t");
        }
        rs_translation tr[CHUNK];
        if (rs_translate(t, texts, lens, m, 1000, &o, 0, tr) != 0)
            goto done;
        for (int x = 0; x < m; x++) {
            int i = order[group[g0 + x]];
            if (tr[x].status == 0 && tr[x].n_hyp > 0) {
                /* the pair's source ids as the reference pairs have them */
                for (int k = p->src_off[i]; k < p->src_off[i + 1]; k++)
                    (*src)[ns++] = (*src)[k];
                const rs_hypothesis *h = &tr[x].hyp[0];
                for (int k = 0; k < h->n && k < 50; k++)
                    (*tgt)[nt++] = h->ids[k];
                (*n)++;
                (*src_off)[*n] = (int)ns;
                (*tgt_off)[*n] = (int)nt;
            }
            rs_translation_free(&tr[x]);
        }
    }
    status = 0;
done:
    free(all);
    free(order);
    free(group);
    return status;
}

int rs_shortlist_main(int argc, char **argv)
{
    const char *model_path = NULL, *data = NULL, *out_path = NULL;
    rs_lexicon_opts o = {.iterations = 5, .common = 500, .per_word = 20, .min_prob = 0.01};
    int self_translate = 0;
    flag flags[] = {
        {"model", NULL, FLAG_STRING, &model_path, 0, 0, NULL, "translator model file", 0, NULL},
        {"data", NULL, FLAG_STRING, &data, 0, 0, NULL,
         "the sentence pairs the model was trained on (source<TAB>target)", 0, NULL},
        {"out", NULL, FLAG_STRING, &out_path, 0, 0, NULL,
         "the model file to write (default: --model, replaced atomically)", 0, NULL},
        {"common", NULL, FLAG_INT, &o.common, 4, 1000000, NULL,
         "the most frequent target words, always candidates (specials included)", 0, NULL},
        {"per-word", NULL, FLAG_INT, &o.per_word, 1, 1024, NULL,
         "most probable translations kept per source word", 0, NULL},
        {"min-prob", NULL, FLAG_DOUBLE, &o.min_prob, 0, 1, NULL,
         "translations with a lower p(target | source) are not kept", 0, NULL},
        {"iterations", NULL, FLAG_INT, &o.iterations, 1, 100, NULL, "EM iterations of IBM Model 1",
         0, NULL},
        {"self-translate", NULL, FLAG_BOOL, &self_translate, 0, 0, NULL,
         "also fit on the model's own greedy translations of the sources", 0, NULL},
    };
    int n_flags = (int)(sizeof flags / sizeof flags[0]);
    int exit_status = flags_command(
        "rnntrain shortlist",
        "usage: rnntrain shortlist --model M --data PAIRS.tsv [--out M2] [options]\n\n", flags,
        n_flags, argc, argv);
    if (exit_status >= 0)
        return exit_status;
    char err[512];
    if (!model_path || !data) {
        fprintf(stderr, "rnntrain shortlist: --model and --data are required\n");
        return 2;
    }
    if (!out_path)
        out_path = model_path;
    rs_translator *t = NULL;
    rs_pairs pairs = {0};
    int32_t *src = NULL, *tgt = NULL, *lexical = NULL;
    int *src_off = NULL, *tgt_off = NULL, status = 1;
    if (rs_translator_open(model_path, &t, err, sizeof err) != 0 ||
        rs_pairs_load(data, &pairs, err, sizeof err) != 0) {
        fprintf(stderr, "rnntrain shortlist: %s\n", err);
        goto done;
    }
    const rs_s2s_config *cfg = rs_translator_config(t);
    if (o.common > cfg->tgt_vocab)
        o.common = cfg->tgt_vocab;
    lexical = malloc((size_t)cfg->src_vocab * (size_t)o.per_word * sizeof *lexical);
    if (!lexical ||
        side_ids(t, 0, &pairs.src, pairs.src_off, pairs.src_tok, pairs.n, &src, &src_off) != 0 ||
        side_ids(t, 1, &pairs.tgt, pairs.tgt_off, pairs.tgt_tok, pairs.n, &tgt, &tgt_off) != 0) {
        fprintf(stderr, "rnntrain shortlist: out of memory\n");
        goto done;
    }
    int n_pairs = pairs.n;
    if (self_translate &&
        add_self_translations(t, &pairs, &src, &src_off, &tgt, &tgt_off, &n_pairs) != 0) {
        fprintf(stderr, "rnntrain shortlist: out of memory\n");
        goto done;
    }
    rs_id_pairs ip = {.n = n_pairs,
                      .src_off = src_off,
                      .tgt_off = tgt_off,
                      .src = src,
                      .tgt = tgt,
                      .src_vocab = cfg->src_vocab,
                      .tgt_vocab = cfg->tgt_vocab};
    if (rs_lexicon_fit(&ip, &o, lexical) != 0) {
        fprintf(stderr, "rnntrain shortlist: out of memory\n");
        goto done;
    }
    long entries = 0;
    for (size_t i = 0; i < (size_t)cfg->src_vocab * (size_t)o.per_word; i++)
        entries += lexical[i] >= 0;
    rs_shortlist sl = {.common = o.common,
                       .per_word = o.per_word,
                       .src_vocab = cfg->src_vocab,
                       .lexical = lexical};
    if (rs_translator_write_as(t, out_path, &sl, err, sizeof err) != 0) {
        fprintf(stderr, "rnntrain shortlist: %s\n", err);
        goto done;
    }
    fprintf(stderr,
            "rnntrain shortlist: %d pairs (%d of them the model's own translations); %d common "
            "target words, %ld entries over %d source words (at most %d each); wrote %s\n",
            n_pairs, n_pairs - pairs.n, o.common, entries, cfg->src_vocab, o.per_word, out_path);
    status = 0;
done:
    free(src);
    free(tgt);
    free(src_off);
    free(tgt_off);
    free(lexical);
    rs_pairs_free(&pairs);
    rs_translator_close(t);
    return status;
}
