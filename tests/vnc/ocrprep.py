#!/usr/bin/env python3
"""Prepares a screenshot for OCR: PNG (any filter, 8-bit RGB/RGBA/grey) -> grey, inverted to dark text
on a light ground, scaled up 2x, written as PGM. Boot loader fonts are 8x16 pixels, light on dark,
often inside boxes: tesseract reads them far better this way.  Usage: ocrprep.py IN.png OUT.pgm"""
import struct
import sys
import zlib


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def read_png(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", chunk[:10])
        elif kind == b"IDAT":
            idat += chunk
    if depth != 8 or ctype not in (0, 2, 6):
        raise ValueError("unsupported PNG")
    bpp = {0: 1, 2: 3, 6: 4}[ctype]
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(height):
        ftype, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if ftype == 1:
                line[x] = (line[x] + a) & 0xff
            elif ftype == 2:
                line[x] = (line[x] + b) & 0xff
            elif ftype == 3:
                line[x] = (line[x] + ((a + b) >> 1)) & 0xff
            elif ftype == 4:
                line[x] = (line[x] + paeth(a, b, c)) & 0xff
        rows.append(line)
        prev = line
    return width, height, bpp, rows


def main():
    width, height, bpp, rows = read_png(sys.argv[1])
    out = bytearray()
    for line in rows:
        grey = bytearray(255 - max(line[x * bpp:x * bpp + min(bpp, 3)]) for x in range(width))
        wide = bytearray(v for v in grey for _ in (0, 1))
        out += wide + wide
    with open(sys.argv[2], "wb") as f:
        f.write(b"P5\n%d %d\n255\n" % (width * 2, height * 2))
        f.write(out)


if __name__ == "__main__":
    main()
