#ifndef SAGAMART_CLIBPQ_SHIM_H
#define SAGAMART_CLIBPQ_SHIM_H
// libpq, the PostgreSQL C client library: https://www.postgresql.org/docs/15/libpq.html
#include <libpq-fe.h>
#endif
