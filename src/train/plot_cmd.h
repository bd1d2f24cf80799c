/*
 * plot_cmd.h — `rnntrain plot` (plot_cmd.c).
 */
#ifndef RNNTRAIN_PLOT_CMD_H
#define RNNTRAIN_PLOT_CMD_H

int rs_plot_main(int argc, char **argv);

#endif
