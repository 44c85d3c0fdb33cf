#ifndef SAGAMART_CSQLITE_SHIM_H
#define SAGAMART_CSQLITE_SHIM_H
// SQLite's C interface: https://www.sqlite.org/c3ref/intro.html
#include <sqlite3.h>

// SQLITE_TRANSIENT is a macro casting -1 to a function pointer, which Swift cannot import:
// https://www.sqlite.org/c3ref/c_static.html
static inline sqlite3_destructor_type sagamart_sqlite_transient(void) {
    return (sqlite3_destructor_type)-1;
}
#endif
