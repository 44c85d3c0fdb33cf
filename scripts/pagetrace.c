// Where an executable's code runs, and in what order: an LD_PRELOAD library for scripts/startup-order.sh.
// At load it takes all permissions away from the main executable's code segment and gives them back a page
// at a time: a jump, call or return into a page that is not open faults, and the handler notes the address
// (the instruction the program went to), opens that page and closes the page opened `WINDOW` faults ago.
// So each transfer of control between pages is seen with its exact address; one within the open pages is
// not, which a second pass over a build laid out by the first mostly finds. Once a second it writes
// `PAGE_TRACE_DIR/<pid>.pages`: the executable's path, then per address first seen its file offset (hex) and
// nanoseconds from start. Only executables under `PAGE_TRACE_BIN` are traced. The Swift runtime's
// backtracer installs its own SIGSEGV handler: run with SWIFT_BACKTRACE=enable=no.
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define WINDOW 2
#define MAX_SEEN (1 << 22)

static uintptr_t text_start, text_end, text_offset;
static uint8_t *seen_bits;  // one bit per byte of code: an address already noted
static struct { uintptr_t address; int64_t at; } *seen;
static volatile size_t seen_count;
static uintptr_t open_pages[WINDOW];
static size_t next_slot;
static struct timespec started;
static char exe_path[4096];

static int64_t since_start(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - started.tv_sec) * 1000000000LL + (now.tv_nsec - started.tv_nsec) + 1;
}

static void handler(int signal, siginfo_t *info, void *context) {
    uintptr_t address = (uintptr_t)info->si_addr;
    if (address >= text_start && address < text_end) {
        uintptr_t page = address & ~(uintptr_t)4095;
        size_t bit = address - text_start;
        if (!(__atomic_fetch_or(&seen_bits[bit >> 3], (uint8_t)(1 << (bit & 7)), __ATOMIC_RELAXED) & (1 << (bit & 7)))) {
            size_t index = __atomic_fetch_add(&seen_count, 1, __ATOMIC_RELAXED);
            if (index < MAX_SEEN) {
                seen[index].at = since_start();
                seen[index].address = address;
            }
        }
        size_t slot = __atomic_fetch_add(&next_slot, 1, __ATOMIC_RELAXED) % WINDOW;
        uintptr_t closing = __atomic_exchange_n(&open_pages[slot], page, __ATOMIC_RELAXED);
        mprotect((void *)page, 4096, PROT_READ | PROT_EXEC);
        if (closing && closing != page) {
            int still_open = 0;
            for (int other = 0; other < WINDOW; other++) still_open |= open_pages[other] == closing;
            if (!still_open) mprotect((void *)closing, 4096, PROT_NONE);
        }
        return;
    }
    // A fault of the program's own: the default action, at once (returning re-runs the faulting instruction).
    struct sigaction fallback;
    memset(&fallback, 0, sizeof fallback);
    fallback.sa_handler = SIG_DFL;
    sigaction(SIGSEGV, &fallback, 0);
}

static void write_pages(const char *directory) {
    char path[4200], partial[4300];
    snprintf(path, sizeof path, "%s/%d.pages", directory, (int)getpid());
    snprintf(partial, sizeof partial, "%s.partial", path);
    FILE *file = fopen(partial, "w");
    if (!file) return;
    fprintf(file, "exe %s\n", exe_path);
    size_t count = seen_count < MAX_SEEN ? seen_count : MAX_SEEN;
    for (size_t index = 0; index < count; index++) {
        if (seen[index].address) {
            fprintf(file, "%lx %lld\n", (unsigned long)(text_offset + seen[index].address - text_start), (long long)seen[index].at);
        }
    }
    fclose(file);
    rename(partial, path);
}

static void *writer(void *directory) {
    for (;;) {
        sleep(1);
        write_pages(directory);
    }
    return 0;
}

__attribute__((constructor)) static void start_tracing(void) {
    clock_gettime(CLOCK_MONOTONIC, &started);
    const char *only = getenv("PAGE_TRACE_BIN");
    const char *directory = getenv("PAGE_TRACE_DIR");
    ssize_t length = readlink("/proc/self/exe", exe_path, sizeof exe_path - 1);
    if (!only || !directory || length <= 0) return;
    exe_path[length] = 0;
    if (strncmp(exe_path, only, strlen(only)) != 0) return;
    FILE *maps = fopen("/proc/self/maps", "r");
    if (!maps) return;
    char line[8192];
    while (fgets(line, sizeof line, maps)) {
        unsigned long start, end, offset;
        char permissions[8], path[4096] = "";
        if (sscanf(line, "%lx-%lx %7s %lx %*s %*s %4095s", &start, &end, permissions, &offset, path) == 5
            && strcmp(path, exe_path) == 0 && permissions[2] == 'x') {
            text_start = start;
            text_end = end;
            text_offset = offset;
            break;
        }
    }
    fclose(maps);
    if (!text_start) return;
    seen_bits = mmap(0, (text_end - text_start) / 8 + 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    seen = mmap(0, MAX_SEEN * sizeof *seen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (seen_bits == MAP_FAILED || seen == MAP_FAILED) return;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = handler;
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSEGV, &action, 0);
    pthread_t thread;
    pthread_create(&thread, 0, writer, (void *)directory);
    mprotect((void *)text_start, text_end - text_start, PROT_NONE);
}
