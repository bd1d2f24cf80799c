/*
 * status.h — return codes shared by the library: 0 is success, every error
 * is negative (libuv's convention).  Messages travel in caller buffers, never
 * in global state.
 */
#ifndef RNNSERVE_STATUS_H
#define RNNSERVE_STATUS_H

enum {
    RS_OK = 0,
    RS_EINVAL = -1,   /* invalid argument or data */
    RS_ENOMEM = -2,   /* allocation failed */
    RS_EIO = -3,      /* file system error */
    RS_EFORMAT = -4,  /* malformed file */
    RS_EUTF8 = -5,    /* invalid UTF-8 */
    RS_EUNKNOWN = -6, /* character outside the vocabulary */
    RS_ETOOLONG = -7, /* input longer than allowed */
};

#endif
