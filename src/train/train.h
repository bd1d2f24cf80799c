/*
 * train.h — rnntrain's subcommands.  Each takes the arguments after its
 * name and returns the process exit code: 0 success, 1 failure of the
 * work (bad data, I/O), 2 bad usage.  Messages go to stderr, results to
 * stdout.
 */
#ifndef RNNTRAIN_TRAIN_H
#define RNNTRAIN_TRAIN_H

#include "rnnserve/nn.h"

int rs_train_main(rs_task task, int argc, char **argv);
int rs_eval_main(int argc, char **argv);
int rs_sample_main(int argc, char **argv);
int rs_info_main(int argc, char **argv);
int rs_split_main(int argc, char **argv);

#endif
