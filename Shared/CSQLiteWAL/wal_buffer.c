// A VFS shim over SQLite's default VFS: see include/sqlite_wal_buffer.h. The pattern is SQLite's own
// (https://www.sqlite.org/vfs.html, ext/misc/vfstrace.c): each sqlite3_file of this VFS holds the default
// VFS's file right behind it, and every method not about buffering is forwarded to that file.
#include "sqlite_wal_buffer.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

// The default VFS writes at most 0x1ffff bytes per call (os_unix.c's seekAndWrite masks the count to 17
// bits: SQLite itself never writes more than a 64 KiB page), so the buffer goes out in pieces of that size.
enum { BUFFER_CAPACITY = 256 * 1024, LARGEST_WRITE = 0x1ffff };

typedef struct BufferedFile {
    sqlite3_file base;  // pMethods: &buffered_methods
    sqlite3_file *real; // the default VFS's file, right after this struct
    int is_wal;
    unsigned char *buffer; // BUFFER_CAPACITY bytes, allocated at the first buffered write
    int length;            // bytes waiting, for the file from `start` on
    sqlite3_int64 start;
    long long flushes; // this file's writes to the file underneath, and the writes SQLite asked of it
    long long writes;
} BufferedFile;

static sqlite3_vfs buffered_vfs;
static sqlite3_vfs *real_vfs;

#define REAL(file) (((BufferedFile *)(file))->real)

/// Writes what is waiting; the bytes are dropped on failure as well (SQLite abandons the transaction).
static int flush_buffer(BufferedFile *file) {
    if (file->length == 0) return SQLITE_OK;
    int length = file->length;
    file->length = 0;
    for (int done = 0; done < length;) {
        int piece = length - done < LARGEST_WRITE ? length - done : LARGEST_WRITE;
        file->flushes += 1;
        int rc = file->real->pMethods->xWrite(file->real, file->buffer + done, piece, file->start + done);
        if (rc != SQLITE_OK) return rc;
        done += piece;
    }
    return SQLITE_OK;
}

static int buffered_close(sqlite3_file *handle) {
    BufferedFile *file = (BufferedFile *)handle;
    int rc = flush_buffer(file);
    int closed = file->real->pMethods->xClose(file->real);
    free(file->buffer);
    file->buffer = NULL;
    return rc != SQLITE_OK ? rc : closed;
}

static int buffered_read(sqlite3_file *handle, void *data, int amount, sqlite3_int64 offset) {
    int rc = flush_buffer((BufferedFile *)handle);
    if (rc != SQLITE_OK) return rc;
    return REAL(handle)->pMethods->xRead(REAL(handle), data, amount, offset);
}

static int buffered_write(sqlite3_file *handle, const void *data, int amount, sqlite3_int64 offset) {
    BufferedFile *file = (BufferedFile *)handle;
    if (!file->is_wal) return file->real->pMethods->xWrite(file->real, data, amount, offset);
    file->writes += 1;
    // What waits goes out first unless this write continues it and fits: the file sees the writes in order.
    int follows = file->length > 0 && offset == file->start + file->length;
    if (!follows || file->length + amount > BUFFER_CAPACITY || amount > LARGEST_WRITE) {
        int rc = flush_buffer(file);
        if (rc != SQLITE_OK) return rc;
    }
    if (amount > LARGEST_WRITE) {
        // Larger than SQLite writes (a page is at most 64 KiB): passed on as it is.
        file->flushes += 1;
        return file->real->pMethods->xWrite(file->real, data, amount, offset);
    }
    if (file->buffer == NULL) {
        file->buffer = malloc(BUFFER_CAPACITY);
        if (file->buffer == NULL) return SQLITE_NOMEM;
    }
    if (file->length == 0) file->start = offset;
    memcpy(file->buffer + file->length, data, (size_t)amount);
    file->length += amount;
    return SQLITE_OK;
}

static int buffered_truncate(sqlite3_file *handle, sqlite3_int64 size) {
    int rc = flush_buffer((BufferedFile *)handle);
    if (rc != SQLITE_OK) return rc;
    return REAL(handle)->pMethods->xTruncate(REAL(handle), size);
}

static int buffered_sync(sqlite3_file *handle, int flags) {
    int rc = flush_buffer((BufferedFile *)handle);
    if (rc != SQLITE_OK) return rc;
    return REAL(handle)->pMethods->xSync(REAL(handle), flags);
}

static int buffered_file_size(sqlite3_file *handle, sqlite3_int64 *size) {
    int rc = flush_buffer((BufferedFile *)handle);
    if (rc != SQLITE_OK) return rc;
    return REAL(handle)->pMethods->xFileSize(REAL(handle), size);
}

static int buffered_lock(sqlite3_file *handle, int lock) { return REAL(handle)->pMethods->xLock(REAL(handle), lock); }

static int buffered_unlock(sqlite3_file *handle, int lock) { return REAL(handle)->pMethods->xUnlock(REAL(handle), lock); }

static int buffered_check_reserved_lock(sqlite3_file *handle, int *out) {
    return REAL(handle)->pMethods->xCheckReservedLock(REAL(handle), out);
}

static int buffered_file_control(sqlite3_file *handle, int op, void *argument) {
    int rc = flush_buffer((BufferedFile *)handle);
    if (rc != SQLITE_OK) return rc;
    return REAL(handle)->pMethods->xFileControl(REAL(handle), op, argument);
}

static int buffered_sector_size(sqlite3_file *handle) { return REAL(handle)->pMethods->xSectorSize(REAL(handle)); }

static int buffered_device_characteristics(sqlite3_file *handle) {
    return REAL(handle)->pMethods->xDeviceCharacteristics(REAL(handle));
}

static int buffered_shm_map(sqlite3_file *handle, int region, int size, int extend, void volatile **out) {
    return REAL(handle)->pMethods->xShmMap(REAL(handle), region, size, extend, out);
}

static int buffered_shm_lock(sqlite3_file *handle, int offset, int count, int flags) {
    return REAL(handle)->pMethods->xShmLock(REAL(handle), offset, count, flags);
}

static void buffered_shm_barrier(sqlite3_file *handle) { REAL(handle)->pMethods->xShmBarrier(REAL(handle)); }

static int buffered_shm_unmap(sqlite3_file *handle, int delete_flag) {
    return REAL(handle)->pMethods->xShmUnmap(REAL(handle), delete_flag);
}

static int buffered_fetch(sqlite3_file *handle, sqlite3_int64 offset, int amount, void **out) {
    int rc = flush_buffer((BufferedFile *)handle);
    if (rc != SQLITE_OK) return rc;
    return REAL(handle)->pMethods->xFetch(REAL(handle), offset, amount, out);
}

static int buffered_unfetch(sqlite3_file *handle, sqlite3_int64 offset, void *page) {
    return REAL(handle)->pMethods->xUnfetch(REAL(handle), offset, page);
}

static const sqlite3_io_methods buffered_methods = {
    3,
    buffered_close,
    buffered_read,
    buffered_write,
    buffered_truncate,
    buffered_sync,
    buffered_file_size,
    buffered_lock,
    buffered_unlock,
    buffered_check_reserved_lock,
    buffered_file_control,
    buffered_sector_size,
    buffered_device_characteristics,
    buffered_shm_map,
    buffered_shm_lock,
    buffered_shm_barrier,
    buffered_shm_unmap,
    buffered_fetch,
    buffered_unfetch,
};

static int buffered_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *handle, int flags, int *out_flags) {
    (void)vfs;
    BufferedFile *file = (BufferedFile *)handle;
    memset(file, 0, sizeof(BufferedFile));
    file->real = (sqlite3_file *)(file + 1);
    int rc = real_vfs->xOpen(real_vfs, name, file->real, flags, out_flags);
    // A file whose open failed has no methods, and SQLite does not close it.
    if (file->real->pMethods == NULL) {
        file->base.pMethods = NULL;
        return rc;
    }
    // The default VFS's files are version 3 (shared memory and memory maps); ours forwards all of it.
    if (file->real->pMethods->iVersion < 3) {
        file->real->pMethods->xClose(file->real);
        file->base.pMethods = NULL;
        return SQLITE_CANTOPEN;
    }
    file->is_wal = (flags & SQLITE_OPEN_WAL) != 0;
    file->base.pMethods = &buffered_methods;
    return rc;
}

static int vfs_delete(sqlite3_vfs *vfs, const char *name, int sync_dir) {
    (void)vfs;
    return real_vfs->xDelete(real_vfs, name, sync_dir);
}

static int vfs_access(sqlite3_vfs *vfs, const char *name, int flags, int *out) {
    (void)vfs;
    return real_vfs->xAccess(real_vfs, name, flags, out);
}

static int vfs_full_pathname(sqlite3_vfs *vfs, const char *name, int size, char *out) {
    (void)vfs;
    return real_vfs->xFullPathname(real_vfs, name, size, out);
}

static void *vfs_dl_open(sqlite3_vfs *vfs, const char *name) {
    (void)vfs;
    return real_vfs->xDlOpen(real_vfs, name);
}

static void vfs_dl_error(sqlite3_vfs *vfs, int size, char *out) {
    (void)vfs;
    real_vfs->xDlError(real_vfs, size, out);
}

static void (*vfs_dl_sym(sqlite3_vfs *vfs, void *library, const char *symbol))(void) {
    (void)vfs;
    return real_vfs->xDlSym(real_vfs, library, symbol);
}

static void vfs_dl_close(sqlite3_vfs *vfs, void *library) {
    (void)vfs;
    real_vfs->xDlClose(real_vfs, library);
}

static int vfs_randomness(sqlite3_vfs *vfs, int size, char *out) {
    (void)vfs;
    return real_vfs->xRandomness(real_vfs, size, out);
}

static int vfs_sleep(sqlite3_vfs *vfs, int microseconds) {
    (void)vfs;
    return real_vfs->xSleep(real_vfs, microseconds);
}

static int vfs_current_time(sqlite3_vfs *vfs, double *out) {
    (void)vfs;
    return real_vfs->xCurrentTime(real_vfs, out);
}

static int vfs_get_last_error(sqlite3_vfs *vfs, int size, char *out) {
    (void)vfs;
    return real_vfs->xGetLastError ? real_vfs->xGetLastError(real_vfs, size, out) : 0;
}

static int vfs_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out) {
    (void)vfs;
    return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

static int register_result = SQLITE_ERROR;
static pthread_once_t register_once = PTHREAD_ONCE_INIT;

static void register_vfs(void) {
    register_result = sqlite3_initialize();
    if (register_result != SQLITE_OK) return;
    real_vfs = sqlite3_vfs_find(NULL);
    if (real_vfs == NULL || real_vfs->iVersion < 2) {
        register_result = SQLITE_ERROR;
        return;
    }
    buffered_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(BufferedFile) + real_vfs->szOsFile,
        .mxPathname = real_vfs->mxPathname,
        .zName = SAGAMART_WAL_BUFFER_VFS,
        .xOpen = buffered_open,
        .xDelete = vfs_delete,
        .xAccess = vfs_access,
        .xFullPathname = vfs_full_pathname,
        .xDlOpen = vfs_dl_open,
        .xDlError = vfs_dl_error,
        .xDlSym = vfs_dl_sym,
        .xDlClose = vfs_dl_close,
        .xRandomness = vfs_randomness,
        .xSleep = vfs_sleep,
        .xCurrentTime = vfs_current_time,
        .xGetLastError = vfs_get_last_error,
        .xCurrentTimeInt64 = vfs_current_time_int64,
    };
    register_result = sqlite3_vfs_register(&buffered_vfs, 0);
}

int sagamart_sqlite_wal_buffer_register(void) {
    pthread_once(&register_once, register_vfs);
    return register_result;
}

int sagamart_sqlite_wal_buffer_counts(sqlite3 *db, long long *flushes, long long *writes) {
    sqlite3_file *file = NULL;
    int rc = sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &file);
    if (rc != SQLITE_OK) return rc;
    if (file == NULL || file->pMethods != &buffered_methods) return SQLITE_NOTFOUND;
    *flushes = ((BufferedFile *)file)->flushes;
    *writes = ((BufferedFile *)file)->writes;
    return SQLITE_OK;
}
