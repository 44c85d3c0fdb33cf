#ifndef SAGAMART_CLIBPQ_SHIM_H
#define SAGAMART_CLIBPQ_SHIM_H
// libpq, the PostgreSQL C client library: https://www.postgresql.org/docs/15/libpq.html
//
// Loaded at run time (dlopen) by the first PostgreSQL connection, not linked: a service on SQLite neither
// maps libpq nor the twenty libraries behind it (OpenSSL, GnuTLS, Kerberos, LDAP: about 5 MB resident in
// every process), and runs where libpq is not installed. The header still types every function, so a
// pointer below cannot disagree with the library's own declaration.
#include <dlfcn.h>
#include <stdlib.h>
#include <postgresql/libpq-fe.h>

#define SAGAMART_LIBPQ_FUNCTIONS(F) \
    F(PQconnectdbParams) F(PQstatus) F(PQtransactionStatus) F(PQerrorMessage) F(PQfinish) \
    F(PQsetNoticeProcessor) F(PQexec) F(PQprepare) F(PQexecPrepared) F(PQresultStatus) \
    F(PQresultErrorField) F(PQclear) F(PQcmdTuples) F(PQntuples) F(PQnfields) F(PQfname) F(PQftype) \
    F(PQgetisnull) F(PQgetvalue) F(PQsocket)

/// libpq's functions, each with the type of its declaration in libpq-fe.h.
typedef struct sagamart_libpq {
#define SAGAMART_LIBPQ_FIELD(name) __typeof__(name) *_Nonnull name;
    SAGAMART_LIBPQ_FUNCTIONS(SAGAMART_LIBPQ_FIELD)
#undef SAGAMART_LIBPQ_FIELD
} sagamart_libpq;

/// Opens `library` (a file name the dynamic loader searches for, or a path) and finds every function.
/// Returns the functions, or NULL with `*error` set to the loader's message. Called once per process.
static inline const sagamart_libpq *_Nullable sagamart_libpq_load(const char *_Nonnull library, const char *_Nullable *_Nonnull error) {
    void *handle = dlopen(library, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        *error = dlerror();
        return NULL;
    }
    sagamart_libpq *functions = (sagamart_libpq *)malloc(sizeof(sagamart_libpq));
    if (functions == NULL) {
        *error = "out of memory";
        return NULL;
    }
#define SAGAMART_LIBPQ_FIND(name) \
    functions->name = (__typeof__(name) *)dlsym(handle, #name); \
    if (functions->name == NULL) { \
        *error = dlerror(); \
        free(functions); \
        return NULL; \
    }
    SAGAMART_LIBPQ_FUNCTIONS(SAGAMART_LIBPQ_FIND)
#undef SAGAMART_LIBPQ_FIND
    return functions;
}

#endif
