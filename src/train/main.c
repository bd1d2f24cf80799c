/*
 * main.c — rnntrain: train, evaluate, sample and inspect character-level
 * RNN models.  Dispatches to one subcommand per file.
 */
#include <stdio.h>
#include <string.h>

#include "calibrate.h"
#include "plot_cmd.h"
#include "shortlist_cmd.h"
#include "textlm.h"
#include "train.h"
#include "translate_cmd.h"
#include "translator_cmd.h"

static void usage(FILE *fp)
{
    fprintf(fp, "usage: rnntrain COMMAND [options]   (rnntrain COMMAND --help for its options)\n\n"
                "commands:\n"
                "  classifier  train a text classifier from a TSV (text<TAB>label)\n"
                "  generator   train a generator from a TSV or a one-item-per-line file\n"
                "  textlm      train a language model on one running text (.txt)\n"
                "  translator  train an encoder-decoder with attention on sentence pairs (.tsv)\n"
                "  eval        a model's figures on a dataset (--json for one JSON object)\n"
                "  sample      generate texts from a generator\n"
                "  translate   translate stdin's sentences with a translator\n"
                "  shortlist   give a translator a shortlist of target words per source word\n"
                "  info        what a model file holds, after full validation\n"
                "  plot        draw a finished run's --log CSV as an SVG of its curves\n"
                "  calibrate   fit a classifier's temperature on validation rows\n"
                "  split       cut a dataset into train and held-out test files\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    int sub_argc = argc - 2;
    char **sub_argv = argv + 2;
    if (strcmp(cmd, "classifier") == 0)
        return rs_train_main(RS_TASK_CLASSIFIER, sub_argc, sub_argv);
    if (strcmp(cmd, "generator") == 0)
        return rs_train_main(RS_TASK_GENERATOR, sub_argc, sub_argv);
    if (strcmp(cmd, "textlm") == 0)
        return rs_textlm_main(sub_argc, sub_argv);
    if (strcmp(cmd, "translator") == 0)
        return rs_translator_main(sub_argc, sub_argv);
    if (strcmp(cmd, "eval") == 0)
        return rs_eval_main(sub_argc, sub_argv);
    if (strcmp(cmd, "translate") == 0)
        return rs_translate_main(sub_argc, sub_argv);
    if (strcmp(cmd, "shortlist") == 0)
        return rs_shortlist_main(sub_argc, sub_argv);
    if (strcmp(cmd, "sample") == 0)
        return rs_sample_main(sub_argc, sub_argv);
    if (strcmp(cmd, "calibrate") == 0)
        return rs_calibrate_main(sub_argc, sub_argv);
    if (strcmp(cmd, "plot") == 0)
        return rs_plot_main(sub_argc, sub_argv);
    if (strcmp(cmd, "info") == 0)
        return rs_info_main(sub_argc, sub_argv);
    if (strcmp(cmd, "split") == 0)
        return rs_split_main(sub_argc, sub_argv);
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "rnntrain: unknown command \"%s\"\n", cmd);
    usage(stderr);
    return 2;
}
