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
#endif
