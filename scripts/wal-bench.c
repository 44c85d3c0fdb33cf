// make bench-wal: the WAL-buffering VFS (Shared/CSQLiteWAL) against SQLite's default VFS, on commits shaped
// like the services' group commits (6 transactions as savepoints, each a row with an index entry and an
// event row), synchronous=FULL, in a fresh database per run. Prints per commit the write system calls and the
// CPU microseconds (user and system, getrusage), each VFS in turn for several rounds, then the medians.
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "sqlite_wal_buffer.h"

static long long write_calls(void) {
    FILE *file = fopen("/proc/self/io", "r");
    if (file == NULL) return 0;
    char name[64];
    long long value, calls = 0;
    while (fscanf(file, "%63[^:]: %lld\n", name, &value) == 2)
        if (strcmp(name, "syscw") == 0) calls = value;
    fclose(file);
    return calls;
}

static double micros(struct timeval t) { return t.tv_sec * 1e6 + t.tv_usec; }

static void check(int rc, sqlite3 *db, const char *what) {
    if (rc == SQLITE_OK) return;
    fprintf(stderr, "%s: %s\n", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    exit(1);
}

/// One run: `commits` commits through `vfs` (NULL: the default) in a new database under `folder`.
static void run(const char *folder, const char *vfs, int commits, double *calls, double *user, double *system) {
    char path[4096];
    snprintf(path, sizeof path, "%s/bench.db", folder);
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (int index = 0; index < 3; index++) {
        char file[4200];
        snprintf(file, sizeof file, "%s%s", path, suffixes[index]);
        unlink(file);
    }
    sqlite3 *db = NULL;
    check(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs), db, "open");
    check(sqlite3_exec(db,
              "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
              "CREATE TABLE items (id TEXT PRIMARY KEY, customer TEXT NOT NULL, body TEXT NOT NULL);"
              "CREATE INDEX items_customer ON items (customer);"
              "CREATE TABLE outbox (seq INTEGER PRIMARY KEY, body TEXT NOT NULL);",
              NULL, NULL, NULL),
        db, "schema");
    const char *job = "SAVEPOINT job;"
                      "INSERT INTO items VALUES (hex(randomblob(16)), hex(randomblob(8)), printf('%.*c', 300, 'x'));"
                      "INSERT INTO outbox (body) VALUES (printf('%.*c', 200, 'y'));"
                      "RELEASE job;";
    long long calls_before = write_calls();
    struct rusage before, after;
    getrusage(RUSAGE_SELF, &before);
    for (int commit = 0; commit < commits; commit++) {
        check(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), db, "begin");
        for (int transaction = 0; transaction < 6; transaction++) check(sqlite3_exec(db, job, NULL, NULL, NULL), db, "job");
        check(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), db, "commit");
    }
    getrusage(RUSAGE_SELF, &after);
    *calls = (double)(write_calls() - calls_before) / commits;
    *user = (micros(after.ru_utime) - micros(before.ru_utime)) / commits;
    *system = (micros(after.ru_stime) - micros(before.ru_stime)) / commits;
    sqlite3_close(db);
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *values, int count) {
    qsort(values, count, sizeof *values, compare);
    return count % 2 ? values[count / 2] : (values[count / 2 - 1] + values[count / 2]) / 2;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: wal-bench FOLDER COMMITS ROUNDS\n");
        return 2;
    }
    int commits = atoi(argv[2]), rounds = atoi(argv[3]);
    if (commits < 1 || rounds < 1 || rounds > 50) {
        fprintf(stderr, "COMMITS must be positive and ROUNDS 1 to 50\n");
        return 2;
    }
    check(sagamart_sqlite_wal_buffer_register(), NULL, "register the VFS");
    const char *names[2] = {"default VFS", "WAL buffer"};
    const char *vfs[2] = {NULL, SAGAMART_WAL_BUFFER_VFS};
    double calls[2][50], user[2][50], system[2][50];
    for (int round = 0; round < rounds; round++) {
        for (int which = 0; which < 2; which++) {
            run(argv[1], vfs[which], commits, &calls[which][round], &user[which][round], &system[which][round]);
            printf("round %d  %-11s  %5.1f write calls   %6.1f us user   %6.1f us system   per commit\n", round + 1,
                names[which], calls[which][round], user[which][round], system[which][round]);
            fflush(stdout);
        }
    }
    for (int which = 0; which < 2; which++)
        printf("median of %d rounds  %-11s  %5.1f write calls   %6.1f us user   %6.1f us system   per commit of %d\n", rounds,
            names[which], median(calls[which], rounds), median(user[which], rounds), median(system[which], rounds), commits);
    return 0;
}
