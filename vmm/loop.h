/* The I/O event loop (epoll): owns host fds, eventfds and timers; runs on the main thread. */
#ifndef VMM_LOOP_H
#define VMM_LOOP_H

#include <stdbool.h>
#include <stdint.h>

typedef void (*loop_fn)(void *ctx, uint32_t events);

#define LOOP_MAX_WATCHES 64
#define LOOP_MAX_POLLERS 16
#define LOOP_POLL_NS 50000            /* busy-poll this long before sleeping while work is in flight */

/* A poller checks for completed work without a system call: >0 made progress, 0 nothing yet but
 * work is in flight (worth polling), <0 idle. */
typedef int (*loop_poll_fn)(void *ctx);

struct loop_watch {
    int fd;
    loop_fn fn;
    void *ctx;
    bool active;
};

struct event_loop {
    int epfd;
    bool quit;
    struct loop_watch watches[LOOP_MAX_WATCHES];
    struct { loop_poll_fn fn; void *ctx; } pollers[LOOP_MAX_POLLERS];
    int npollers;
};

int loop_init(struct event_loop *l);
void loop_destroy(struct event_loop *l);
/* Watch `fd` for `events` (EPOLLIN...); the callback runs on the loop thread. */
int loop_add(struct event_loop *l, int fd, uint32_t events, loop_fn fn, void *ctx);
int loop_remove(struct event_loop *l, int fd);
/* Adaptive polling (as QEMU's aio poll): while a poller reports work in flight, the loop spins on
 * the pollers for up to LOOP_POLL_NS before it sleeps in epoll_wait. */
int loop_add_poller(struct event_loop *l, loop_poll_fn fn, void *ctx);
void loop_remove_poller(struct event_loop *l, loop_poll_fn fn, void *ctx);
/* Runs callbacks until loop_quit; `timeout_ms` < 0 waits forever per round. */
int loop_run(struct event_loop *l);
void loop_quit(struct event_loop *l);
/* One round: waits up to `timeout_ms` (-1 forever) and runs the callbacks; returns how many ran. */
int loop_poll(struct event_loop *l, int timeout_ms);

/* A one-shot or periodic timer (timerfd) delivered through the loop. Returns the fd. */
int loop_add_timer(struct event_loop *l, uint64_t first_ms, uint64_t period_ms, loop_fn fn, void *ctx);

#endif
