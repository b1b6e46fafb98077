/* The I/O event loop (epoll): owns host fds, eventfds and timers; runs on the main thread. */
#include "loop.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

int loop_init(struct event_loop *l)
{
    memset(l, 0, sizeof(*l));
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    return l->epfd < 0 ? -errno : 0;
}

void loop_destroy(struct event_loop *l)
{
    if (l->epfd >= 0)
        close(l->epfd);
    l->epfd = -1;
}

int loop_add(struct event_loop *l, int fd, uint32_t events, loop_fn fn, void *ctx)
{
    int slot = -1;
    for (int i = 0; i < LOOP_MAX_WATCHES; i++)
        if (!l->watches[i].active) {
            slot = i;
            break;
        }
    if (slot < 0)
        return -ENOSPC;
    struct epoll_event ev = { .events = events, .data.u32 = (uint32_t)slot };
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -errno;
    l->watches[slot] = (struct loop_watch){ fd, fn, ctx, true };
    return 0;
}

int loop_remove(struct event_loop *l, int fd)
{
    for (int i = 0; i < LOOP_MAX_WATCHES; i++)
        if (l->watches[i].active && l->watches[i].fd == fd) {
            epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
            l->watches[i].active = false;
            return 0;
        }
    return -ENOENT;
}

int loop_add_poller(struct event_loop *l, loop_poll_fn fn, void *ctx)
{
    if (l->npollers == LOOP_MAX_POLLERS)
        return -ENOSPC;
    l->pollers[l->npollers].fn = fn;
    l->pollers[l->npollers].ctx = ctx;
    l->npollers++;
    return 0;
}

void loop_remove_poller(struct event_loop *l, loop_poll_fn fn, void *ctx)
{
    for (int i = 0; i < l->npollers; i++)
        if (l->pollers[i].fn == fn && l->pollers[i].ctx == ctx) {
            l->pollers[i] = l->pollers[--l->npollers];
            return;
        }
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Spins on the pollers while any has work in flight; returns how many made progress. */
static int busy_poll(struct event_loop *l)
{
    uint64_t deadline = 0;
    for (;;) {
        int progress = 0, busy = 0;
        for (int i = 0; i < l->npollers; i++) {
            int r = l->pollers[i].fn(l->pollers[i].ctx);
            progress += r > 0;
            busy += r >= 0;
        }
        if (progress || !busy)
            return progress;
        if (!deadline)
            deadline = now_ns() + LOOP_POLL_NS;
        else if (now_ns() >= deadline)
            return 0;
    }
}

int loop_poll(struct event_loop *l, int timeout_ms)
{
    struct epoll_event evs[16];
    if (l->npollers && busy_poll(l) > 0)
        timeout_ms = 0;  /* made progress: just collect whatever else is ready */
    int n = epoll_wait(l->epfd, evs, 16, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n && !l->quit; i++) {
        struct loop_watch *w = &l->watches[evs[i].data.u32];
        if (w->active)
            w->fn(w->ctx, evs[i].events);
    }
    return n;
}

int loop_run(struct event_loop *l)
{
    while (!l->quit) {
        int rc = loop_poll(l, -1);
        if (rc < 0)
            return rc;
    }
    return 0;
}

void loop_quit(struct event_loop *l)
{
    l->quit = true;
}

int loop_add_timer(struct event_loop *l, uint64_t first_ms, uint64_t period_ms, loop_fn fn, void *ctx)
{
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (fd < 0)
        return -errno;
    struct itimerspec its = {
        .it_value = { (time_t)(first_ms / 1000), (long)(first_ms % 1000) * 1000000 },
        .it_interval = { (time_t)(period_ms / 1000), (long)(period_ms % 1000) * 1000000 },
    };
    if (first_ms == 0)
        its.it_value.tv_nsec = 1;
    int rc = timerfd_settime(fd, 0, &its, NULL);
    if (rc == 0)
        rc = loop_add(l, fd, EPOLLIN, fn, ctx);
    if (rc) {
        close(fd);
        return rc < 0 ? rc : -errno;
    }
    return fd;
}
