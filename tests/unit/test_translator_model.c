/*
 * test_translator_model.c — translator model files (src/model/translator.c):
 * a written file reads back to the same weights and vocabularies; the
 * PyTorch-made golden files open; a file with a fault is refused with a
 * message naming it (truncated, a tensor missing or of the wrong shape, a
 * NaN, vocabularies without the specials); sentences encode with <eos> and
 * <unk> counted, and detokenise as French writes them; an <unk> replaced
 * becomes its source word's lexical entry, or the word; a batch of more
 * sentences than rs_translate encodes together (with an empty and a too
 * long one among them) answers as its sentences one by one.
 * Usage: test_translator_model [golden-dir]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../test.h"
#include "rnnserve/safetensors.h"
#include "rnnserve/status.h"
#include "rnnserve/translate.h"
#include "rnnserve/translator.h"

static const char *golden_dir = "tests/parity/golden";
static const char *const src_vocab[] = {"<pad>", "<bos>", "<eos>", "<unk>", "i",
                                        "am",    "cold",  ".",     "you",   "'re"};
static const char *const tgt_vocab[] = {"<pad>", "<bos>", "<eos>", "<unk>", "j'",
                                        "ai",    "froid", ".",     "tu",    "as"};

static rs_s2s_config small_config(void)
{
    return (rs_s2s_config){.cell = RS_CELL_GRU,
                           .num_layers = 2,
                           .hidden_size = 5,
                           .embedding_dim = 3,
                           .bidirectional = 1,
                           .src_vocab = 10,
                           .tgt_vocab = 10};
}

static char *temp_path(const char *name)
{
    static char path[128];
    snprintf(path, sizeof path, "/tmp/test_translator_%d_%s", (int)getpid(), name);
    return path;
}

static void write_small(const char *path, float *theta, rs_s2s_params *p)
{
    rs_s2s_config cfg = small_config();
    rs_s2s_params_bind(&cfg, theta, p);
    rs_rng rng;
    rs_rng_seed(&rng, 3);
    rs_s2s_params_init(&cfg, p, &rng);
    rs_translator_spec spec = {.cfg = cfg,
                               .src_vocab = src_vocab,
                               .tgt_vocab = tgt_vocab,
                               .tgt_elision = 1,
                               .training_json = "{\"seed\":3}"};
    char err[256];
    ASSERT_EQ(0, rs_translator_write(path, &spec, p, err, sizeof err));
}

static void test_round_trip(void)
{
    rs_s2s_config cfg = small_config();
    size_t n = rs_s2s_param_count(&cfg);
    float *theta = malloc(n * sizeof *theta);
    rs_s2s_params p;
    const char *path = temp_path("rt.safetensors");
    write_small(path, theta, &p);
    rs_translator *t = NULL;
    char err[256];
    ASSERT_EQ(0, rs_translator_open(path, &t, err, sizeof err));
    const rs_s2s_config *c = rs_translator_config(t);
    ASSERT_EQ(2, c->num_layers);
    ASSERT_EQ(1, c->bidirectional);
    ASSERT_EQ(10, c->tgt_vocab);
    rs_s2s_params q = *rs_translator_params(t);
    ASSERT_TRUE(memcmp(q.enc_embedding, theta, n * sizeof *theta) == 0); /* one flat block */
    ASSERT_STREQ("froid", rs_translator_token(t, 1, 6));
    ASSERT_EQ(9, rs_translator_token_id(t, 0, "'re", 3));
    /* a word of a text: its id, or <unk> when absent or spelt like a special */
    ASSERT_EQ(9, rs_translator_word_id(t, 0, "'re", 3));
    ASSERT_EQ(RS_S2S_UNK, rs_translator_word_id(t, 0, "hot", 3));
    ASSERT_EQ(RS_S2S_UNK, rs_translator_word_id(t, 1, "<eos>", 5));
    ASSERT_EQ(-1, rs_translator_token_id(t, 0, "hot", 3));
    ASSERT_STREQ("{\"seed\":3}", rs_translator_metadata(t, "training"));
    /* encoding: lower-cased, <eos> appended, unknown words counted */
    int32_t ids[8];
    int unknown = -1;
    ASSERT_EQ(5, rs_translator_encode(t, "I am COLD.", 10, ids, 8, &unknown));
    ASSERT_EQ(0, unknown);
    ASSERT_EQ(4, ids[0]);
    ASSERT_EQ(RS_S2S_EOS, ids[4]);
    ASSERT_EQ(4, rs_translator_encode(t, "I am hot", 8, ids, 8, &unknown));
    ASSERT_EQ(1, unknown);
    ASSERT_EQ(RS_S2S_UNK, ids[2]);
    ASSERT_EQ(RS_ETOOLONG, rs_translator_encode(t, "i am cold . i am", 16, ids, 4, NULL));
    ASSERT_EQ(0, rs_translator_encode(t, "   ", 3, ids, 8, NULL));
    ASSERT_EQ(RS_EUTF8, rs_translator_encode(t, "\xc3", 1, ids, 8, NULL));
    /* "<eos>" typed by a user is text ("<" "eos" ">"), not the special */
    ASSERT_EQ(4, rs_translator_encode(t, "<eos>", 5, ids, 8, &unknown));
    ASSERT_EQ(3, unknown);
    /* detokenising: j' joins its word, punctuation attaches */
    int32_t out[] = {4, 5, 6, 7};
    char *text = rs_translator_detokenize(t, out, 4);
    ASSERT_STREQ("j'ai froid.", text);
    free(text);
    rs_translator_close(t);
    free(theta);
    unlink(path);
}

/* A shortlist round-trips, is described, and a file whose shortlist is
 * inconsistent is refused with a message that names the fault. */
static void write_with_shortlist(const char *path, const int32_t *lexical, int common,
                                 int check_meta)
{
    rs_s2s_config cfg = small_config();
    float *theta = malloc(rs_s2s_param_count(&cfg) * sizeof *theta);
    rs_s2s_params p;
    write_small(path, theta, &p);
    rs_shortlist sl = {.common = common, .per_word = 2, .src_vocab = 10, .lexical = lexical};
    rs_translator_spec spec = {
        .cfg = cfg, .src_vocab = src_vocab, .tgt_vocab = tgt_vocab, .shortlist = &sl};
    char err[256];
    ASSERT_EQ(0, rs_translator_write(path, &spec, &p, err, sizeof err));
    free(theta);
    if (check_meta) { /* the metadata key is written with the tensor */
        rs_st_file *f = NULL;
        ASSERT_EQ(0, rs_st_open(path, &f, err, sizeof err));
        ASSERT_TRUE(rs_st_metadata(f, "shortlist_common") != NULL);
        rs_st_close(f);
    }
}

/* A table of 2 entries per source word (10): entry i is -1 when i % 3 ==
 * 0, else target id 4 + i % 6. */
static void fill_lexical(int32_t lexical[20])
{
    for (int i = 0; i < 20; i++)
        lexical[i] = i % 3 == 0 ? -1 : 4 + i % 6;
}

/* path rewritten as the small model without a shortlist */
static void write_plain(const char *path)
{
    rs_s2s_config cfg = small_config();
    float *theta = malloc(rs_s2s_param_count(&cfg) * sizeof *theta);
    rs_s2s_params p;
    write_small(path, theta, &p);
    free(theta);
}

/* path written with the table lexical (common words first) and opened */
static rs_translator *open_with_table(const char *path, const int32_t *lexical, int common,
                                      int check_metadata)
{
    write_with_shortlist(path, lexical, common, check_metadata);
    rs_translator *t = NULL;
    char err[256];
    ASSERT_EQ(0, rs_translator_open(path, &t, err, sizeof err));
    return t;
}

static void test_shortlist(void)
{
    int32_t lexical[10 * 2];
    fill_lexical(lexical);
    const char *path = temp_path("sl.safetensors");
    rs_translator *t = open_with_table(path, lexical, 6, 1);
    char err[256];
    const rs_shortlist *sl = t ? rs_translator_shortlist(t) : NULL;
    ASSERT_TRUE(sl != NULL);
    if (sl) {
        ASSERT_EQ(6, sl->common);
        ASSERT_EQ(2, sl->per_word);
        ASSERT_TRUE(memcmp(lexical, sl->lexical, sizeof lexical) == 0);
    }
    rs_translator_close(t);
    /* ids that are not target words, or <bos> */
    static const struct {
        int at, value;
        const char *needle;
    } bad[] = {{3, 10, "holds 10 at 3"}, {5, 1, "holds 1 at 5"}, {0, -2, "holds -2 at 0"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int32_t b[20];
        memcpy(b, lexical, sizeof b);
        b[bad[i].at] = bad[i].value;
        write_with_shortlist(path, b, 6, 0);
        int rc = rs_translator_open(path, &t, err, sizeof err);
        test_checks_++;
        if (rc == 0 || !strstr(err, bad[i].needle) || !strstr(err, "shortlist.lexical"))
            TEST_FAIL_("rc %d, \"%s\" lacks \"%s\"", rc, err, bad[i].needle);
        if (rc == 0)
            rs_translator_close(t);
    }
    /* common beyond the vocabulary */
    write_with_shortlist(path, lexical, 11, 0);
    ASSERT_TRUE(rs_translator_open(path, &t, err, sizeof err) != 0);
    ASSERT_TRUE(strstr(err, "shortlist_common") != NULL);
    /* a model without one has none, and says so */
    write_plain(path);
    ASSERT_EQ(0, rs_translator_open(path, &t, err, sizeof err));
    ASSERT_TRUE(t && rs_translator_shortlist(t) == NULL);
    rs_translator_close(t);
    unlink(path);
}

static void test_golden_files_open(void)
{
    static const char *const cases[] = {"gru_l1", "gru_bi2", "lstm_l2", "lstm_bi1", "rnn_bi1"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[512], err[256];
        snprintf(path, sizeof path, "%s/translator_%s.model.safetensors", golden_dir, cases[i]);
        rs_translator *t = NULL;
        int rc = rs_translator_open(path, &t, err, sizeof err);
        test_checks_++;
        if (rc != 0)
            TEST_FAIL_("%s", err);
        rs_translator_close(t);
    }
}

/* Rewrites the small model with one thing changed and expects a refusal. */
static void expect_refusal(const char *what, const char *needle, int drop_tensor,
                           const char *bad_src_vocab, int nan_at, size_t cut)
{
    rs_s2s_config cfg = small_config();
    size_t n = rs_s2s_param_count(&cfg);
    float *theta = malloc(n * sizeof *theta);
    rs_s2s_params p;
    const char *path = temp_path("bad.safetensors");
    write_small(path, theta, &p);
    if (nan_at >= 0)
        theta[nan_at] = NAN;
    int count = rs_s2s_tensor_count(&cfg);
    rs_st_out out[64];
    char names[64][48];
    int k = 0;
    for (int i = 0; i < count; i++) {
        rs_tensor_desc d;
        rs_s2s_tensor_describe(&cfg, i, &d);
        if (i == drop_tensor)
            continue;
        memcpy(names[k], d.name, sizeof names[k]);
        out[k] = (rs_st_out){.name = names[k],
                             .dtype = RS_DTYPE_F32,
                             .ndim = d.ndim,
                             .shape = {d.shape[0], d.shape[1]},
                             .data = theta + d.offset};
        k++;
    }
    const char *keys[] = {"format",        "task",        "cell",
                          "num_layers",    "hidden_size", "embedding_dim",
                          "bidirectional", "src_vocab",   "tgt_vocab"};
    const char *values[] = {"rnnserve/1",
                            "translator",
                            "gru",
                            "2",
                            "5",
                            "3",
                            "true",
                            bad_src_vocab ? bad_src_vocab
                                          : "[\"<pad>\",\"<bos>\",\"<eos>\",\"<unk>\",\"i\",\"am\","
                                            "\"cold\",\".\",\"you\",\"'re\"]",
                            "[\"<pad>\",\"<bos>\",\"<eos>\",\"<unk>\",\"j'\",\"ai\",\"froid\","
                            "\".\",\"tu\",\"as\"]"};
    char err[512];
    ASSERT_EQ(0, rs_st_write(path, out, k, keys, values, 9, err, sizeof err));
    if (cut) {
        FILE *f = fopen(path, "r+b");
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        fclose(f);
        ASSERT_EQ(0, truncate(path, size - (long)cut));
    }
    rs_translator *t = NULL;
    int rc = rs_translator_open(path, &t, err, sizeof err);
    test_checks_++;
    if (!needle) { /* the control: the same file unchanged opens */
        if (rc != 0)
            TEST_FAIL_("%s: %s", what, err);
        rs_translator_close(t);
    } else if (rc == 0 || !strstr(err, needle) || !strstr(err, path)) {
        TEST_FAIL_("%s: rc %d, message \"%s\" lacks \"%s\"", what, rc, err, needle);
        rs_translator_close(t);
    }
    free(theta);
    unlink(path);
}

static void test_refusals(void)
{
    expect_refusal("the file rewritten unchanged", NULL, -1, NULL, -1, 0);
    expect_refusal("a tensor missing", "tensors where the configuration has", 5, NULL, -1, 0);
    expect_refusal("a NaN", "holds a NaN or an infinity", -1, NULL, 7, 0);
    expect_refusal("no specials", "must start with <pad> <bos> <eos> <unk>", -1,
                   "[\"i\",\"am\",\"cold\",\".\",\"you\",\"x\",\"y\",\"z\",\"w\",\"v\"]", -1, 0);
    expect_refusal("a vocabulary of the wrong size", "encoder.embedding.weight", -1,
                   "[\"<pad>\",\"<bos>\",\"<eos>\",\"<unk>\",\"i\",\"am\"]", -1, 0);
    expect_refusal("truncated", "", -1, NULL, -1, 4);
}

/* replace_unknown (translate.h): an <unk> output token becomes the first
 * lexical entry of the source word it attends to most when the model has
 * a shortlist and the word an entry; else the source word itself. */
static const char *const *replaced(const rs_translator *t)
{
    /* "you zebra cold <eos>": "you" is source id 8, "zebra" unknown, "cold" 6 */
    static char you[] = "you", zebra[] = "zebra", cold[] = "cold", eos[] = "<eos>";
    static char *src[] = {you, zebra, cold, eos};
    /* <unk> froid <unk> <unk>, attending to you, -, zebra, cold */
    static int32_t ids[] = {RS_S2S_UNK, 6, RS_S2S_UNK, RS_S2S_UNK};
    static float att[4 * 4] = {0.7f, 0.1f, 0.1f, 0.1f, 0.25f, 0.25f, 0.25f, 0.25f,
                               0.1f, 0.6f, 0.2f, 0.1f, 0.1f,  0.2f,  0.6f,  0.1f};
    rs_translation tr = {.n_src = 4, .src_tokens = src, .n_hyp = 1};
    tr.hyp[0] = (rs_hypothesis){.ids = ids, .n = 4, .attention = att};
    static const char *out[4];
    const char **tok = rs_translation_tokens(t, &tr, &tr.hyp[0], 1);
    ASSERT_TRUE(tok != NULL);
    for (int i = 0; i < 4; i++)
        out[i] = tok ? tok[i] : "";
    free(tok);
    /* without replace_unknown the <unk> stays */
    tok = rs_translation_tokens(t, &tr, &tr.hyp[0], 0);
    if (tok)
        ASSERT_STREQ("<unk>", tok[0]);
    free(tok);
    return out;
}

static void test_unknown_replacement(void)
{
    /* row of "you" (8): entries 16, 17 -> 4 + 16 % 6 = 8 ("tu"), 9; of
     * "cold" (6): entry 12 is -1 */
    int32_t lexical[10 * 2];
    fill_lexical(lexical);
    const char *path = temp_path("unk.safetensors");
    rs_translator *t = open_with_table(path, lexical, 6, 0);
    char err[256];
    if (t) {
        const char *const *tok = replaced(t);
        ASSERT_STREQ("tu", tok[0]);    /* you's lexical entry */
        ASSERT_STREQ("froid", tok[1]); /* not an <unk>: as it was */
        ASSERT_STREQ("zebra", tok[2]); /* outside the source vocabulary: copied */
        ASSERT_STREQ("cold", tok[3]);  /* no entry: copied */
        rs_translator_close(t);
    }
    /* the same model without a shortlist copies every source word */
    write_plain(path);
    ASSERT_EQ(0, rs_translator_open(path, &t, err, sizeof err));
    if (t) {
        const char *const *tok = replaced(t);
        ASSERT_STREQ("you", tok[0]);
        ASSERT_STREQ("zebra", tok[2]);
        ASSERT_STREQ("cold", tok[3]);
        rs_translator_close(t);
    }
    unlink(path);
}

/* 40 sentences: more than one encoder group (translate.c), of mixed
 * lengths so that each group is padded differently from a sentence alone. */
static void test_batch_equals_one_by_one(void)
{
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/translator_gru_bi2.model.safetensors", golden_dir);
    rs_translator *t = NULL;
    if (rs_translator_open(path, &t, err, sizeof err) != 0) {
        TEST_FAIL_("%s", err);
        return;
    }
    static const char *const words[] = {"i", "am", "cold", "you", "are", ".", "!", ","};
    enum { N = 40, MAX_SRC = 9 };
    char texts[N][96];
    const char *ptrs[N];
    size_t lens[N];
    unsigned seed = 7;
    for (int i = 0; i < N; i++) {
        int n_words = i == 17 ? 0 : i == 23 ? MAX_SRC + 1 : 1 + (int)((seed >> 8) % MAX_SRC);
        texts[i][0] = '\0';
        for (int k = 0; k < n_words; k++) {
            seed = seed * 1103515245u + 12345u;
            strcat(texts[i], k ? " " : "");
            strcat(texts[i], words[(seed >> 16) % 8]);
        }
        seed = seed * 1103515245u + 12345u;
        ptrs[i] = texts[i];
        lens[i] = strlen(texts[i]);
    }
    rs_beam_opts o = {
        .beam_size = 3, .n_best = 2, .max_length = 10, .length_penalty = 1.0, .attention = 1};
    rs_translation all[N], one;
    ASSERT_EQ(0, rs_translate(t, ptrs, lens, N, MAX_SRC, &o, 0, all));
    ASSERT_EQ(RS_EINVAL, all[17].status);
    ASSERT_EQ(RS_ETOOLONG, all[23].status);
    for (int i = 0; i < N; i++) {
        ASSERT_EQ(0, rs_translate(t, &ptrs[i], &lens[i], 1, MAX_SRC, &o, 0, &one));
        ASSERT_EQ(one.status, all[i].status);
        ASSERT_EQ(one.n_hyp, all[i].n_hyp);
        for (int h = 0; h < one.n_hyp && h < all[i].n_hyp; h++) {
            const rs_hypothesis *a = &all[i].hyp[h], *b = &one.hyp[h];
            ASSERT_EQ(b->n, a->n);
            ASSERT_TRUE(a->n != b->n || memcmp(a->ids, b->ids, (size_t)a->n * sizeof *a->ids) == 0);
            ASSERT_TRUE(fabs(a->log_prob - b->log_prob) < 1e-5);
            for (int k = 0; a->n == b->n && k < (a->n + a->finished) * all[i].n_src; k++)
                if (fabsf(a->attention[k] - b->attention[k]) > 1e-5f) {
                    TEST_FAIL_("sentence %d, hypothesis %d: attention differs at %d", i, h, k);
                    break;
                }
        }
        rs_translation_free(&one);
        rs_translation_free(&all[i]);
    }
    rs_translator_close(t);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        golden_dir = argv[1];
    RUN_TEST(test_round_trip);
    RUN_TEST(test_golden_files_open);
    RUN_TEST(test_refusals);
    RUN_TEST(test_shortlist);
    RUN_TEST(test_unknown_replacement);
    RUN_TEST(test_batch_equals_one_by_one);
    TEST_MAIN_END();
}
