#ifndef SAGAMART_CSQLITE_SHIM_H
#define SAGAMART_CSQLITE_SHIM_H
// SQLite's C interface: https://www.sqlite.org/c3ref/intro.html
#include <sqlite3.h>

// SQLITE_TRANSIENT is a macro casting -1 to a function pointer, which Swift cannot import:
// https://www.sqlite.org/c3ref/c_static.html
static inline sqlite3_destructor_type sagamart_sqlite_transient(void) {
    return (sqlite3_destructor_type)-1;
}

// sqlite3_config is variadic, which Swift cannot call. Memory statistics off: with them on (the default),
// every sqlite3_malloc and sqlite3_free takes a global mutex to count bytes nobody here reads
// (https://www.sqlite.org/compile.html#default_memstatus). Must run before the first connection opens.
static inline int sagamart_sqlite_disable_memory_statistics(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
#endif
