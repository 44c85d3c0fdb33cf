#ifndef SAGAMART_SQLITE_WAL_BUFFER_H
#define SAGAMART_SQLITE_WAL_BUFFER_H

#include <sqlite3.h>

/// The name of the VFS `sagamart_sqlite_wal_buffer_register` adds.
#define SAGAMART_WAL_BUFFER_VFS "sagamart-wal-buffer"

/// Registers, once, a VFS over SQLite's default one (`unix`) that gathers the writes of a WAL file into
/// one write: SQLite writes each frame of a commit as two writes (its 24-byte header, then the page), about
/// 40 write system calls for a commit of 20 pages. Contiguous writes wait in memory (up to 256 KiB) and go
/// to the file as one write (two past 128 KiB, the most the default VFS writes at once) before anything
/// that needs them there: a sync (so a commit is on disk exactly
/// when it was before: SQLite syncs the WAL before the commit becomes visible, with synchronous=FULL), a
/// read, a truncation, a size query, a file control, the file's close, or a write elsewhere in the file.
/// Every other file (the database, the wal-index) is passed through untouched. Returns SQLITE_OK or
/// SQLite's error code. Safe to call from several threads.
int sagamart_sqlite_wal_buffer_register(void);

/// For `db`'s WAL file: the writes it made to the file underneath (each one system call) and the writes
/// SQLite asked of it, since it was opened. SQLITE_NOTFOUND when the WAL is not open (no write yet) or not
/// through this VFS. The connection's thread only.
int sagamart_sqlite_wal_buffer_counts(sqlite3 *db, long long *flushes, long long *writes);

#endif
