/* Port-I/O and MMIO address spaces: devices register address ranges, exits are dispatched here.
 * Readers take no lock: a change publishes a new sorted snapshot; old ones live until bus_destroy,
 * so a vCPU still dispatching through one is never left with freed memory. */
#include "bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void bus_init(struct bus *b, const char *name)
{
    memset(b, 0, sizeof(*b));
    b->name = name;
    pthread_mutex_init(&b->writer, NULL);
}

void bus_destroy(struct bus *b)
{
    struct bus_map *m = b->map;
    while (m) {
        struct bus_map *older = m->older;
        free(m);
        m = older;
    }
    b->map = NULL;
    pthread_mutex_destroy(&b->writer);
}

/* Index of the first range whose base is greater than addr. */
static int upper_bound(const struct bus_map *m, uint64_t addr)
{
    int lo = 0, hi = m ? m->nr : 0;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (m->ranges[mid].base <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool overlaps(const struct bus_range *r, uint64_t base, uint64_t len)
{
    return base < r->base + r->len && r->base < base + len;
}

/* Publishes old ranges with `skip` left out and/or `add` inserted at `at`. */
static int publish(struct bus *b, int skip, int at, const struct bus_range *add)
{
    struct bus_map *old = b->map;
    int n = old ? old->nr : 0;
    int nr = n - (skip >= 0) + (add != NULL);
    struct bus_map *m = malloc(sizeof(*m) + (size_t)nr * sizeof(m->ranges[0]));
    if (!m)
        return -ENOMEM;
    int k = 0;
    for (int i = 0; i <= n; i++) {
        if (add && i == at)
            m->ranges[k++] = *add;
        if (i < n && i != skip)
            m->ranges[k++] = old->ranges[i];
    }
    m->nr = nr;
    m->older = old;
    __atomic_store_n(&b->map, m, __ATOMIC_RELEASE);
    return 0;
}

int bus_register(struct bus *b, uint64_t base, uint64_t len, bus_access_fn fn, void *opaque, const char *name)
{
    if (len == 0 || base + len < base)
        return -EINVAL;
    pthread_mutex_lock(&b->writer);
    const struct bus_map *m = b->map;
    int i = upper_bound(m, base);
    int rc;
    if ((i > 0 && overlaps(&m->ranges[i - 1], base, len)) || (m && i < m->nr && overlaps(&m->ranges[i], base, len))) {
        rc = -EEXIST;
    } else {
        struct bus_range r = { base, len, fn, opaque, name };
        rc = publish(b, -1, i, &r);
    }
    pthread_mutex_unlock(&b->writer);
    return rc;
}

int bus_unregister(struct bus *b, uint64_t base)
{
    pthread_mutex_lock(&b->writer);
    int i = upper_bound(b->map, base) - 1;
    int rc = -ENOENT;
    if (i >= 0 && b->map->ranges[i].base == base)
        rc = publish(b, i, -1, NULL);
    pthread_mutex_unlock(&b->writer);
    return rc;
}

bool bus_dispatch(struct bus *b, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
    const struct bus_map *m = __atomic_load_n(&b->map, __ATOMIC_ACQUIRE);
    int i = upper_bound(m, addr) - 1;
    if (i >= 0) {
        const struct bus_range *r = &m->ranges[i];
        uint64_t off = addr - r->base;
        /* The whole access must fall inside the range; a straddling access is not claimed. */
        if (off < r->len && len <= r->len - off) {
            r->fn(r->opaque, off, data, len, is_write);
            return true;
        }
    }
    if (!is_write)
        memset(data, 0xff, len);
    return false;
}
