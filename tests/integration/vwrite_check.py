#!/usr/bin/env python3
"""Checks a disk image after the vwrite guest (tests/guest/vwrite.c) was killed: replays the
guest's writes and accepts, per sector, the content of the last write the guest saw flushed, or
of any later write to that sector; sectors no write touched must be as before the run.

usage: vwrite_check.py --seed N --log SERIAL-LOG --image RAW [--base RAW-BEFORE]
Prints one summary line; exit 0 when the image is consistent, 1 (with the reasons) when not."""
import argparse
import re
import sys

SECTOR = 512
MAX_RUN = 16
MASK64 = (1 << 64) - 1
# Writes the guest may have issued after the last flush line it printed: 8 until the next flush,
# and more if the log lags the guest. Later content from a write beyond this is never accepted.
UNFLUSHED_SLACK = 1024
FLUSHED_LINE = re.compile(rb"^vwrite: flushed up to seq (\d+)\r?\n\Z")
SECTORS_LINE = re.compile(rb"^vwrite: disk at pci .*, sectors (\d+),")


class Generator:
    """The guest's xorshift64 (shifts 13, 7, 17) and range choice, step for step."""

    def __init__(self, seed):
        self.state = ((seed + 1) * 0x9E3779B97F4A7C15) & MASK64 or 1

    def next(self):
        x = self.state
        x ^= (x << 13) & MASK64
        x ^= x >> 7
        x ^= (x << 17) & MASK64
        self.state = x
        return x

    def pick(self, capacity):
        count = 1 + self.next() % min(MAX_RUN, capacity)
        first = self.next() % (capacity - count + 1)
        return first, count


def sector_pattern(seq, sector):
    """"vwrite seq=%08u sector=%010u " as many whole times as fit in 511 bytes, '.', then '\\n'."""
    line = b"vwrite seq=%08u sector=%010u " % (seq % 10**8, sector % 10**10)
    body = line * ((SECTOR - 1) // len(line))
    return body + b"." * (SECTOR - 1 - len(body)) + b"\n"


def describe(data):
    if data == bytes(SECTOR):
        return "zeros"
    m = re.match(rb"vwrite seq=(\d{8}) sector=(\d{10}) ", data)
    if m:
        return "a pattern of seq %d sector %d" % (int(m.group(1)), int(m.group(2)))
    return "other bytes %r..." % data[:24]


def read_log(path):
    """(last complete 'flushed up to seq N' line's N or 0, sectors the guest saw or None, FAIL lines)."""
    flushed, sectors, failures = 0, None, []
    with open(path, "rb") as f:
        for line in f:
            m = FLUSHED_LINE.match(line)
            if m:
                flushed = max(flushed, int(m.group(1)))
            m = SECTORS_LINE.match(line)
            if m:
                sectors = int(m.group(1))
            if line.startswith(b"vwrite: FAIL"):
                failures.append(line.decode("ascii", "replace").strip())
    return flushed, sectors, failures


def writers_by_sector(seed, capacity, upto):
    gen = Generator(seed)
    writers = {}
    for seq in range(1, upto + 1):
        first, count = gen.pick(capacity)
        for sector in range(first, first + count):
            writers.setdefault(sector, []).append(seq)
    return writers


def check(seed, image, base, flushed, capacity):
    """Returns (problems, counts) for every sector of image."""
    writers = writers_by_sector(seed, capacity, flushed + UNFLUSHED_SLACK)
    problems = []
    counts = {"flushed": 0, "later": 0, "unchanged": 0}
    for sector in range(capacity):
        at = sector * SECTOR
        actual, before = image[at:at + SECTOR], base[at:at + SECTOR]
        seqs = writers.get(sector)
        if not seqs:
            if actual != before:
                problems.append("sector %d: no write touched it but it holds %s (before: %s)"
                                % (sector, describe(actual), describe(before)))
            else:
                counts["unchanged"] += 1
            continue
        done = [s for s in seqs if s <= flushed]
        later = [s for s in seqs if s > flushed]
        if done and actual == sector_pattern(done[-1], sector):
            counts["flushed"] += 1
        elif any(actual == sector_pattern(s, sector) for s in later):
            counts["later"] += 1
        elif not done and actual == before:
            counts["unchanged"] += 1
        else:
            want = ("seq %d (flushed)" % done[-1]) if done else "its content before the run"
            problems.append("sector %d: holds %s, expected %s or a later write (seqs %s)"
                            % (sector, describe(actual), want, later[:4] or "none"))
    return problems, counts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--base")
    args = ap.parse_args()

    with open(args.image, "rb") as f:
        image = f.read()
    if len(image) % SECTOR:
        print("image size %d is not a whole number of sectors" % len(image))
        return 1
    capacity = len(image) // SECTOR
    base = bytes(len(image))
    if args.base:
        with open(args.base, "rb") as f:
            base = f.read()
        if len(base) != len(image):
            print("image size %d differs from the previous round's %d" % (len(image), len(base)))
            return 1
    flushed, sectors, failures = read_log(args.log)
    if failures:
        print("the guest reported: " + "; ".join(failures[:3]))
        return 1
    if sectors != capacity:
        print("the guest saw %s sectors, the image has %d" % (sectors, capacity))
        return 1
    problems, counts = check(args.seed, image, base, flushed, capacity)
    if problems:
        print("%d bad sectors (flushed up to seq %d): %s" % (len(problems), flushed, "; ".join(problems[:3])))
        return 1
    print("flushed up to seq %d; sectors with the flushed write %d, with a later write %d, unchanged %d"
          % (flushed, counts["flushed"], counts["later"], counts["unchanged"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
