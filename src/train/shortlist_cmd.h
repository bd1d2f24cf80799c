/*
 * shortlist_cmd.h — `rnntrain shortlist`: give a translator file a
 * shortlist of target words (shortlist_cmd.c).
 */
#ifndef RNNTRAIN_SHORTLIST_CMD_H
#define RNNTRAIN_SHORTLIST_CMD_H

int rs_shortlist_main(int argc, char **argv);

#endif
