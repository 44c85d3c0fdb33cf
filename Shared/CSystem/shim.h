#ifndef SAGAMART_CSYSTEM_SHIM_H
#define SAGAMART_CSYSTEM_SHIM_H
// Linux interfaces the Glibc module does not export: epoll(7), eventfd(2) and accept4(2).
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/random.h>
#include <errno.h>

// accept4(2) is declared only under _GNU_SOURCE; declare it here so Swift can call it.
extern int accept4(int sockfd, struct sockaddr *addr, socklen_t *addrlen, int flags);

static inline int sagamart_accept4(int fd, int flags) {
    return accept4(fd, NULL, NULL, flags);
}

// accept4(2) that also reports the peer's address.
static inline int sagamart_accept4_peer(int fd, int flags, struct sockaddr_storage *peer) {
    socklen_t length = sizeof(struct sockaddr_storage);
    return accept4(fd, (struct sockaddr *)peer, &length, flags);
}

// pthread_setname_np(3) is declared only under _GNU_SOURCE as well.
#include <pthread.h>
extern int pthread_setname_np(pthread_t thread, const char *name);

static inline int sagamart_set_thread_name(const char *name) {
    return pthread_setname_np(pthread_self(), name);
}

// sched_getaffinity(2) is declared only under _GNU_SOURCE too; cpu_set_t and __sched_cpucount are not.
#include <sched.h>
extern int sched_getaffinity(__pid_t pid, size_t cpusetsize, cpu_set_t *cpuset);

// The CPUs this thread may run on (taskset, a container's cpuset), or 0 when the kernel will not say.
static inline int sagamart_affinity_cpus(void) {
    cpu_set_t set;
    __builtin_memset(&set, 0, sizeof(set));
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return 0;
    return __sched_cpucount(sizeof(set), &set);
}

// sched_setscheduler(2) for the calling thread, whose later threads inherit it (a policy without a priority:
// SCHED_OTHER, SCHED_BATCH). 0, or the errno.
static inline int sagamart_set_scheduling(int policy) {
    struct sched_param param;
    __builtin_memset(&param, 0, sizeof(param));
    return sched_setscheduler(0, policy, &param) == 0 ? 0 : errno;
}
#endif
