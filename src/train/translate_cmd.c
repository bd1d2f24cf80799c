/*
 * translate_cmd.c — a translator model at the command line:
 *
 *   rnntrain translate --model M [--beam-size K] [--n-best N] ...
 *       one sentence a line on stdin, its translation a line on stdout
 *       (with --n-best N > 1: N lines "log_prob<TAB>text" and an empty
 *       line); a line that cannot be translated is an empty line, and a
 *       message on stderr naming its line number.
 *   rnntrain eval --model M --data PAIRS.tsv [--beam-size K] [--json]
 *       nll_per_token: the mean −ln p of the reference tokens, <eos>
 *       included, teacher-forced (words outside the vocabulary as <unk>);
 *       bleu: corpus BLEU-4 (bleu.h) of one translation per distinct
 *       source sentence against every translation the file gives it.
 */
#include "translate_cmd.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bleu.h"
#include "flags.h"
#include "pairs.h"
#include "rnnserve/status.h"
#include "rnnserve/strtab.h"
#include "rnnserve/translate.h"

#define CHUNK 64 /* sentences encoded together */

typedef struct decode_flags {
    int beam_size, n_best, max_length, replace_unknown, max_src, full_vocabulary;
    double length_penalty;
} decode_flags;

static int add_decode_flags(decode_flags *d, flag *table, int n)
{
    const flag f[] = {
        {"beam-size", NULL, FLAG_INT, &d->beam_size, 1, RS_BEAM_MAX, NULL, "beam width, 1 = greedy",
         0, NULL},
        {"max-length", NULL, FLAG_INT, &d->max_length, 1, 1000, NULL,
         "longest translation in tokens, <eos> included", 0, NULL},
        {"length-penalty", NULL, FLAG_DOUBLE, &d->length_penalty, 0, 10, NULL,
         "alpha: hypotheses ranked by log_prob / length^alpha", 0, NULL},
        {"replace-unknown", NULL, FLAG_BOOL, &d->replace_unknown, 0, 0, NULL,
         "an <unk> in a translation becomes the shortlist's translation of the source word it "
         "attends to most, or that word",
         0, NULL},
        {"max-source", NULL, FLAG_INT, &d->max_src, 1, 100000, NULL,
         "longest source sentence in words", 0, NULL},
        {"full-vocabulary", NULL, FLAG_BOOL, &d->full_vocabulary, 0, 0, NULL,
         "search every target word, not the model's shortlist", 0, NULL},
    };
    memcpy(table + n, f, sizeof f);
    return n + (int)(sizeof f / sizeof f[0]);
}

static rs_beam_opts beam_opts(const decode_flags *d, int attention)
{
    return (rs_beam_opts){.beam_size = d->beam_size,
                          .n_best = d->n_best < d->beam_size ? d->n_best : d->beam_size,
                          .max_length = d->max_length,
                          .length_penalty = d->length_penalty,
                          .attention = attention || d->replace_unknown};
}

static const char *sentence_error(int status)
{
    switch (status) {
    case RS_EUTF8:
        return "invalid UTF-8";
    case RS_ETOOLONG:
        return "more words than --max-source";
    case RS_EINVAL:
        return "no word to translate";
    default:
        return "cannot be translated";
    }
}

/* ---- rnntrain translate ------------------------------------------------- */

static int flush_chunk(const rs_translator *t, char **lines, size_t *lens, int n, long first_line,
                       const decode_flags *d)
{
    rs_translation tr[CHUNK];
    rs_beam_opts o = beam_opts(d, 0);
    if (rs_translate(t, (const char *const *)lines, lens, n, d->max_src, &o, !d->full_vocabulary,
                     tr) != 0) {
        fprintf(stderr, "rnntrain translate: out of memory\n");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (tr[i].status != 0) {
            fprintf(stderr, "rnntrain translate: line %ld: %s\n", first_line + i,
                    sentence_error(tr[i].status));
            putchar('\n');
            if (o.n_best > 1)
                putchar('\n');
            continue;
        }
        for (int h = 0; h < tr[i].n_hyp; h++) {
            const char **tok = rs_translation_tokens(t, &tr[i], &tr[i].hyp[h], d->replace_unknown);
            char *text = tok ? rs_translation_text(t, tok, tr[i].hyp[h].n) : NULL;
            if (o.n_best > 1)
                printf("%.4f\t%s\n", tr[i].hyp[h].log_prob, text ? text : "");
            else
                printf("%s\n", text ? text : "");
            free(text);
            free(tok);
        }
        if (o.n_best > 1)
            putchar('\n');
        rs_translation_free(&tr[i]);
    }
    fflush(stdout);
    return 0;
}

/* 1 when stdin has input to read now (or its end): more lines for the
 * chunk.  stdio may hold lines already read from the descriptor, so a 0
 * here only answers a chunk early. */
static int input_waiting(void)
{
    struct pollfd in = {.fd = 0, .events = POLLIN};
    return poll(&in, 1, 0) > 0;
}

int rs_translate_main(int argc, char **argv)
{
    const char *model_path = NULL;
    decode_flags d = {
        .beam_size = 4, .n_best = 1, .max_length = 50, .length_penalty = 1.0, .max_src = 100};
    flag flags[16] = {
        {"model", NULL, FLAG_STRING, &model_path, 0, 0, NULL, "translator model file", 0, NULL},
        {"n-best", NULL, FLAG_INT, &d.n_best, 1, RS_BEAM_MAX, NULL,
         "hypotheses per sentence (at most --beam-size)", 0, NULL},
    };
    int n_flags = add_decode_flags(&d, flags, 2);
    int exit_status = flags_command(
        "rnntrain translate", "usage: rnntrain translate --model M [options] < sentences.txt\n\n",
        flags, n_flags, argc, argv);
    if (exit_status >= 0)
        return exit_status;
    char err[512];
    if (!model_path) {
        fprintf(stderr, "rnntrain translate: --model is required\n");
        return 2;
    }
    rs_translator *t = NULL;
    if (rs_translator_open(model_path, &t, err, sizeof err) != 0) {
        fprintf(stderr, "rnntrain translate: %s\n", err);
        return 1;
    }
    char *lines[CHUNK] = {0};
    size_t lens[CHUNK], caps[CHUNK] = {0};
    int n = 0, status = 0;
    long line_no = 0, first = 1;
    ssize_t got;
    /* A chunk at a time, for a file or a fast pipe; but whenever no more
     * input is waiting (a terminal, a script that writes a line and reads
     * its answer) the lines read so far are answered at once, or both
     * sides would wait for each other. */
    while ((got = getline(&lines[n], &caps[n], stdin)) >= 0) {
        line_no++;
        size_t len = (size_t)got;
        while (len > 0 && (lines[n][len - 1] == '\n' || lines[n][len - 1] == '\r'))
            len--;
        lens[n++] = len;
        if (n == CHUNK || !input_waiting()) {
            if (flush_chunk(t, lines, lens, n, first, &d) != 0) {
                status = 1;
                break;
            }
            first = line_no + 1;
            n = 0;
        }
    }
    if (status == 0 && n > 0 && flush_chunk(t, lines, lens, n, first, &d) != 0)
        status = 1;
    for (int i = 0; i < CHUNK; i++)
        free(lines[i]);
    rs_translator_close(t);
    return status;
}

/* ---- rnntrain eval on a translator -------------------------------------- */

/* Target ids of pair i under the model's vocabulary, <unk> for the rest. */
static int target_ids(const rs_translator *t, const rs_pairs *p, int i, int32_t *ids)
{
    int n = 0;
    for (int k = p->tgt_off[i]; k < p->tgt_off[i + 1]; k++) {
        const char *w = p->tgt.token[p->tgt_tok[k]];
        ids[n++] = rs_translator_word_id(t, 1, w, strlen(w));
    }
    return n;
}

static int source_ids(const rs_translator *t, const rs_pairs *p, int i, int32_t *ids)
{
    int n = 0;
    for (int k = p->src_off[i]; k < p->src_off[i + 1]; k++) {
        const char *w = p->src.token[p->src_tok[k]];
        ids[n++] = rs_translator_word_id(t, 0, w, strlen(w));
    }
    ids[n++] = RS_S2S_EOS;
    return n;
}

/* Mean −ln p of every reference token (<eos> included), teacher-forced. */
static double teacher_forced_nll(const rs_translator *t, const rs_pairs *p, long *tokens)
{
    const rs_s2s_config *cfg = rs_translator_config(t);
    int S = 1, T = 1;
    for (int i = 0; i < p->n; i++) {
        int s = p->src_off[i + 1] - p->src_off[i] + 1, m = p->tgt_off[i + 1] - p->tgt_off[i] + 1;
        S = s > S ? s : S;
        T = m > T ? m : T;
    }
    int32_t *src = malloc((size_t)CHUNK * S * sizeof *src), *len = malloc(CHUNK * sizeof *len);
    int32_t *tin = malloc((size_t)CHUNK * T * sizeof *tin);
    int32_t *tout = malloc((size_t)CHUNK * T * sizeof *tout), *ids = malloc((size_t)(S + T) * 4);
    rs_s2s_workspace *ws = rs_s2s_workspace_create(cfg, CHUNK, S, T);
    double total = NAN;
    *tokens = 0;
    if (src && len && tin && tout && ids && ws) {
        total = 0;
        for (int at = 0; at < p->n; at += CHUNK) {
            int B = p->n - at < CHUNK ? p->n - at : CHUNK, bs = 1, bt = 1;
            for (int b = 0; b < B; b++) {
                int s = source_ids(t, p, at + b, ids);
                bs = s > bs ? s : bs;
                int m = p->tgt_off[at + b + 1] - p->tgt_off[at + b] + 1;
                bt = m > bt ? m : bt;
            }
            for (int b = 0; b < B; b++) {
                int s = source_ids(t, p, at + b, ids);
                len[b] = s;
                for (int k = 0; k < bs; k++)
                    src[(size_t)b * bs + k] = k < s ? ids[k] : RS_S2S_PAD;
                int m = target_ids(t, p, at + b, ids);
                for (int k = 0; k < bt; k++) {
                    tin[(size_t)b * bt + k] = k == 0 ? RS_S2S_BOS : k <= m ? ids[k - 1] : 0;
                    tout[(size_t)b * bt + k] = k < m ? ids[k] : k == m ? RS_S2S_EOS : -1;
                }
            }
            rs_pair_batch batch = {.B = B,
                                   .S = bs,
                                   .T = bt,
                                   .src = src,
                                   .src_len = len,
                                   .tgt_in = tin,
                                   .tgt_out = tout};
            double loss = rs_s2s_forward(ws, rs_translator_params(t), &batch, NULL);
            long c = rs_s2s_target_count(ws);
            total += loss * (double)c;
            *tokens += c;
        }
        total /= (double)(*tokens ? *tokens : 1);
    }
    free(src);
    free(len);
    free(tin);
    free(tout);
    free(ids);
    rs_s2s_workspace_destroy(ws);
    return total;
}

int rs_translator_eval(int argc, char **argv)
{
    const char *model_path = NULL, *data = NULL;
    int json = 0;
    decode_flags d = {
        .beam_size = 1, .n_best = 1, .max_length = 50, .length_penalty = 1.0, .max_src = 100000};
    flag flags[16] = {
        {"model", NULL, FLAG_STRING, &model_path, 0, 0, NULL, "translator model file", 0, NULL},
        {"data", NULL, FLAG_STRING, &data, 0, 0, NULL, "sentence pairs: source<TAB>target", 0,
         NULL},
        {"json", NULL, FLAG_BOOL, &json, 0, 0, NULL, "print one JSON object", 0, NULL},
    };
    int n_flags = add_decode_flags(&d, flags, 3);
    int exit_status =
        flags_command("rnntrain eval",
                      "usage: rnntrain eval --model TRANSLATOR --data PAIRS.tsv [--json] "
                      "[options]\n\nnll_per_token (teacher-forced) and corpus BLEU "
                      "against every reference of a source sentence.\n\n",
                      flags, n_flags, argc, argv);
    if (exit_status >= 0)
        return exit_status;
    char err[512];
    if (!model_path || !data) {
        fprintf(stderr, "rnntrain eval: --model and --data are required\n");
        return 2;
    }
    rs_translator *t = NULL;
    rs_pairs p = {0};
    int *all = NULL, *order = NULL, *group = NULL, n_groups = 0;
    int32_t *words_buf = NULL, *ref_n = NULL;
    const int32_t **refs = NULL;
    rs_strtab words = {0};
    int status = 1;
    if (rs_translator_open(model_path, &t, err, sizeof err) != 0 ||
        rs_pairs_load(data, &p, err, sizeof err) != 0) {
        fprintf(stderr, "rnntrain eval: %s\n", err);
        goto done;
    }
    long tokens = 0;
    double nll = teacher_forced_nll(t, &p, &tokens);
    /* one translation per distinct source sentence; every translation of it
     * in the file is a reference */
    all = malloc((size_t)p.n * sizeof *all);
    order = malloc((size_t)p.n * sizeof *order);
    group = malloc(((size_t)p.n + 1) * sizeof *group);
    /* the references of a group, as word ids: every target token once */
    words_buf = malloc(((size_t)p.tgt_off[p.n] + 1) * sizeof *words_buf);
    refs = malloc((size_t)p.n * sizeof *refs);
    ref_n = malloc((size_t)p.n * sizeof *ref_n);
    if (!all || !order || !group || !words_buf || !refs || !ref_n || isnan(nll)) {
        fprintf(stderr, "rnntrain eval: out of memory\n");
        goto done;
    }
    for (int i = 0; i < p.n; i++)
        all[i] = i;
    if (rs_pairs_group_by_source(&p, all, p.n, order, group, &n_groups) != 0) {
        fprintf(stderr, "rnntrain eval: out of memory\n");
        goto done;
    }
    rs_bleu bleu = {0};
    rs_beam_opts o = beam_opts(&d, 0);
    int sentences = 0, failed = 0;
    for (int g0 = 0; g0 < n_groups; g0 += CHUNK) {
        int g = n_groups - g0 < CHUNK ? n_groups - g0 : CHUNK;
        const char *texts[CHUNK];
        size_t lens[CHUNK];
        for (int x = 0; x < g; x++) {
            const char *line = p.text[order[group[g0 + x]]];
            texts[x] = line;
            lens[x] = strcspn(line, "\t");
        }
        rs_translation tr[CHUNK];
        if (rs_translate(t, texts, lens, g, d.max_src, &o, !d.full_vocabulary, tr) != 0) {
            fprintf(stderr, "rnntrain eval: out of memory\n");
            goto done;
        }
        for (int x = 0; x < g; x++) {
            const rs_hypothesis *h = tr[x].status == 0 && tr[x].n_hyp > 0 ? &tr[x].hyp[0] : NULL;
            int32_t *hyp = malloc((size_t)(h && h->n ? h->n : 1) * sizeof *hyp);
            const char **tok = h ? rs_translation_tokens(t, &tr[x], h, d.replace_unknown) : NULL;
            if (!hyp || (h && !tok)) {
                free(hyp);
                free(tok);
                fprintf(stderr, "rnntrain eval: out of memory\n");
                goto done;
            }
            int hn = 0;
            for (int w = 0; h && w < h->n; w++)
                hyp[hn++] = rs_strtab_intern(&words, tok[w], strlen(tok[w]));
            failed += h == NULL;
            free(tok);
            int n_refs = 0, used = 0;
            for (int r = group[g0 + x]; r < group[g0 + x + 1]; r++, n_refs++) {
                int pi = order[r];
                refs[n_refs] = words_buf + used;
                ref_n[n_refs] = p.tgt_off[pi + 1] - p.tgt_off[pi];
                for (int q = p.tgt_off[pi]; q < p.tgt_off[pi + 1]; q++) {
                    const char *w = p.tgt.token[p.tgt_tok[q]];
                    words_buf[used++] = rs_strtab_intern(&words, w, strlen(w));
                }
            }
            rs_bleu_add(&bleu, hyp, hn, refs, ref_n, n_refs);
            free(hyp);
            rs_translation_free(&tr[x]);
            sentences++;
        }
    }
    double score = rs_bleu_score(&bleu);
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "task", "translator");
        cJSON_AddNumberToObject(j, "pairs", p.n);
        cJSON_AddNumberToObject(j, "sentences", sentences);
        cJSON_AddNumberToObject(j, "tokens", (double)tokens);
        cJSON_AddNumberToObject(j, "nll_per_token", nll);
        cJSON_AddNumberToObject(j, "perplexity", exp(nll));
        cJSON_AddNumberToObject(j, "bleu", score);
        cJSON_AddNumberToObject(j, "beam_size", d.beam_size);
        cJSON_AddBoolToObject(j, "shortlist",
                              !d.full_vocabulary && rs_translator_shortlist(t) != NULL);
        cJSON_AddNumberToObject(j, "untranslatable", failed);
        char *s = cJSON_PrintUnformatted(j);
        printf("%s\n", s ? s : "{}");
        free(s);
        cJSON_Delete(j);
    } else {
        printf("pairs %d, distinct sources %d, reference tokens %ld\n", p.n, sentences, tokens);
        printf("nll_per_token %.4f (perplexity %.2f)\n", nll, exp(nll));
        printf("bleu %.2f (%s%s, corpus BLEU-4 against every reference)\n", score,
               d.beam_size == 1 ? "greedy" : "beam search",
               !d.full_vocabulary && rs_translator_shortlist(t) ? " over the shortlist" : "");
        if (failed)
            printf("%d source sentences could not be translated (scored as empty)\n", failed);
    }
    status = 0;
done:
    free(all);
    free(order);
    free(group);
    free(words_buf);
    free(refs);
    free(ref_n);
    rs_strtab_free(&words);
    rs_pairs_free(&p);
    rs_translator_close(t);
    return status;
}
