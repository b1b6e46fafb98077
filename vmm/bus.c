/* Port-I/O and MMIO address spaces: devices register address ranges, exits are dispatched here. */
#include "bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void bus_init(struct bus *b, const char *name)
{
    memset(b, 0, sizeof(*b));
    b->name = name;
    pthread_rwlock_init(&b->lock, NULL);
}

void bus_destroy(struct bus *b)
{
    free(b->ranges);
    pthread_rwlock_destroy(&b->lock);
    b->ranges = NULL;
    b->nr = b->cap = 0;
}

/* Index of the first range whose base is greater than addr. */
static int upper_bound(const struct bus *b, uint64_t addr)
{
    int lo = 0, hi = b->nr;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (b->ranges[mid].base <= addr)
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

int bus_register(struct bus *b, uint64_t base, uint64_t len, bus_access_fn fn, void *opaque, const char *name)
{
    if (len == 0 || base + len < base)
        return -EINVAL;
    pthread_rwlock_wrlock(&b->lock);
    int i = upper_bound(b, base);
    int rc = 0;
    if ((i > 0 && overlaps(&b->ranges[i - 1], base, len)) || (i < b->nr && overlaps(&b->ranges[i], base, len))) {
        rc = -EEXIST;
        goto out;
    }
    if (b->nr == b->cap) {
        int cap = b->cap ? b->cap * 2 : 32;
        struct bus_range *n = realloc(b->ranges, cap * sizeof(*n));
        if (!n) {
            rc = -ENOMEM;
            goto out;
        }
        b->ranges = n;
        b->cap = cap;
    }
    memmove(&b->ranges[i + 1], &b->ranges[i], (b->nr - i) * sizeof(*b->ranges));
    b->ranges[i] = (struct bus_range){ base, len, fn, opaque, name };
    b->nr++;
out:
    pthread_rwlock_unlock(&b->lock);
    return rc;
}

int bus_unregister(struct bus *b, uint64_t base)
{
    pthread_rwlock_wrlock(&b->lock);
    int i = upper_bound(b, base) - 1;
    int rc = -ENOENT;
    if (i >= 0 && b->ranges[i].base == base) {
        memmove(&b->ranges[i], &b->ranges[i + 1], (b->nr - i - 1) * sizeof(*b->ranges));
        b->nr--;
        rc = 0;
    }
    pthread_rwlock_unlock(&b->lock);
    return rc;
}

bool bus_dispatch(struct bus *b, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
    pthread_rwlock_rdlock(&b->lock);
    int i = upper_bound(b, addr) - 1;
    bool found = false;
    if (i >= 0) {
        const struct bus_range *r = &b->ranges[i];
        uint64_t off = addr - r->base;
        /* The whole access must fall inside the range; a straddling access is not claimed. */
        if (off < r->len && len <= r->len - off) {
            r->fn(r->opaque, off, data, len, is_write);
            found = true;
        }
    }
    pthread_rwlock_unlock(&b->lock);
    if (!found && !is_write)
        memset(data, 0xff, len);
    return found;
}
