#!/usr/bin/env python3
"""A small RFB 3.8 client for the tests (RFC 6143): ServerInit, Raw screenshots as PNG, key events.

Usage: vncclient.py [--timeout S] ADDRESS ACTION...
  ADDRESS  HOST:N (display N, port 5900+N), HOST::PORT, or :N (127.0.0.1)
Actions run in order on one connection:
  info                 print "vnc: WIDTHxHEIGHT name NAME"
  capture FILE.png     full framebuffer update (Raw encoding) written as PNG; after the first,
                       also prints how many pixels differ from the previous capture
  key NAME...          press and release keys: X keysym names (Down Up Left Right Return Escape
                       Tab Home End BackSpace space F1..F12) or single characters
  sleep SECONDS        wait, reading (and discarding) server messages
  security             print the offered security types ("vnc: security types 2") and stop
Exit status 0 on success; 1 with one "vnc: ..." line on stderr on any error.
Standard library only; no VNC authentication (type 2) support.
"""

import socket
import struct
import sys
import time
import zlib

KEYSYMS = {  # X11 keysymdef.h
    "BackSpace": 0xFF08, "Tab": 0xFF09, "Return": 0xFF0D, "Escape": 0xFF1B, "Home": 0xFF50,
    "Left": 0xFF51, "Up": 0xFF52, "Right": 0xFF53, "Down": 0xFF54, "Page_Up": 0xFF55,
    "Page_Down": 0xFF56, "End": 0xFF57, "Delete": 0xFFFF, "space": 0x20,
}
KEYSYMS.update({"F%d" % n: 0xFFBD + n for n in range(1, 13)})

SEC_NONE = 1
MSG_FRAMEBUFFER_UPDATE, MSG_COLOUR_MAP, MSG_BELL, MSG_CUT_TEXT = 0, 1, 2, 3
ENCODING_RAW = 0


class VncError(Exception):
    pass


def parse_address(text):
    """HOST:N -> (HOST, 5900+N); HOST::PORT -> (HOST, PORT); an empty host is 127.0.0.1."""
    if "::" in text:
        host, port = text.rsplit("::", 1)
        port = int(port)
    else:
        host, display = text.rsplit(":", 1)
        port = 5900 + int(display)
    return (host or "127.0.0.1", port)


def keysym(name):
    if name in KEYSYMS:
        return KEYSYMS[name]
    if len(name) == 1 and 0x20 <= ord(name) < 0x7F:
        return ord(name)
    raise VncError("unknown key name %r" % name)


def png_bytes(width, height, rgb_rows):
    """PNG (ISO/IEC 15948): 8-bit RGB, every row with filter type 0."""
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + row for row in rgb_rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6))
            + chunk(b"IEND", b""))


class Client:
    def __init__(self, address, timeout):
        self.sock = socket.create_connection(address, timeout=timeout)
        self.timeout = timeout
        self.width = self.height = 0
        self.name = ""
        self.pixels = None  # bytearray, 4 bytes per pixel: B G R x (the format set below)
        self.previous = None

    def recv_exact(self, n):
        data = bytearray()
        while len(data) < n:
            part = self.sock.recv(n - len(data))
            if not part:
                raise VncError("server closed the connection")
            data += part
        return bytes(data)

    def handshake(self, security_only=False):
        """§7.1.1 ProtocolVersion, §7.1.2 Security, §7.1.3 SecurityResult. Returns the types."""
        version = self.recv_exact(12)
        if not version.startswith(b"RFB "):
            raise VncError("not an RFB server: %r" % version)
        self.sock.sendall(b"RFB 003.008\n")
        count = self.recv_exact(1)[0]
        if count == 0:
            length = struct.unpack(">I", self.recv_exact(4))[0]
            raise VncError("server refused: %s" % self.recv_exact(length).decode(errors="replace"))
        types = list(self.recv_exact(count))
        if security_only:
            return types
        if SEC_NONE not in types:
            raise VncError("no None security type offered (types %s)" % " ".join(map(str, types)))
        self.sock.sendall(bytes([SEC_NONE]))
        result = struct.unpack(">I", self.recv_exact(4))[0]
        if result != 0:
            length = struct.unpack(">I", self.recv_exact(4))[0]
            raise VncError("security failed: %s" % self.recv_exact(length).decode(errors="replace"))
        return types

    def init(self):
        """§7.3.1 ClientInit (shared), §7.3.2 ServerInit; then 32-bit true colour, Raw only."""
        self.sock.sendall(b"\x01")
        self.width, self.height = struct.unpack(">HH", self.recv_exact(4))
        self.recv_exact(16)  # the server's pixel format: replaced below
        length = struct.unpack(">I", self.recv_exact(4))[0]
        self.name = self.recv_exact(length).decode(errors="replace")
        # §7.5.1 SetPixelFormat: 32 bpp, depth 24, little-endian, true colour, shifts 16/8/0.
        fmt = struct.pack(">BBBBHHHBBB3x", 32, 24, 0, 1, 255, 255, 255, 16, 8, 0)
        self.sock.sendall(b"\x00\x00\x00\x00" + fmt)
        # §7.5.2 SetEncodings: Raw only.
        self.sock.sendall(struct.pack(">BxHi", 2, 1, ENCODING_RAW))
        self.pixels = bytearray(self.width * self.height * 4)

    def read_message(self):
        """Reads one server message (§7.6); returns its type."""
        kind = self.recv_exact(1)[0]
        if kind == MSG_FRAMEBUFFER_UPDATE:
            self.read_update()
        elif kind == MSG_COLOUR_MAP:
            _, count = struct.unpack(">xHH", self.recv_exact(5))
            self.recv_exact(6 * count)
        elif kind == MSG_BELL:
            pass
        elif kind == MSG_CUT_TEXT:
            length = struct.unpack(">3xI", self.recv_exact(7))[0]
            self.recv_exact(length)
        else:
            raise VncError("unknown server message type %d" % kind)
        return kind

    def read_update(self):
        """§7.6.1 FramebufferUpdate with Raw rectangles (§7.7.1) clipped to the framebuffer."""
        count = struct.unpack(">xH", self.recv_exact(3))[0]
        for _ in range(count):
            x, y, w, h, encoding = struct.unpack(">HHHHi", self.recv_exact(12))
            if encoding != ENCODING_RAW:
                raise VncError("server sent encoding %d, asked for Raw only" % encoding)
            data = self.recv_exact(w * h * 4)
            if x + w > self.width or y + h > self.height:
                raise VncError("rectangle %dx%d+%d+%d outside %dx%d" % (w, h, x, y, self.width, self.height))
            for row in range(h):
                start = ((y + row) * self.width + x) * 4
                self.pixels[start:start + w * 4] = data[row * w * 4:(row + 1) * w * 4]

    def full_update(self):
        """§7.5.3 FramebufferUpdateRequest, not incremental: the whole screen."""
        self.sock.sendall(struct.pack(">BBHHHH", 3, 0, 0, 0, self.width, self.height))
        while self.read_message() != MSG_FRAMEBUFFER_UPDATE:
            pass

    def rgb_rows(self):
        rows = []
        for y in range(self.height):
            line = self.pixels[y * self.width * 4:(y + 1) * self.width * 4]
            row = bytearray(self.width * 3)
            row[0::3] = line[2::4]
            row[1::3] = line[1::4]
            row[2::3] = line[0::4]
            rows.append(bytes(row))
        return rows

    def capture(self, path):
        self.full_update()
        with open(path, "wb") as f:
            f.write(png_bytes(self.width, self.height, self.rgb_rows()))
        current = bytes(self.pixels)
        if self.previous is not None and len(self.previous) == len(current):
            self.report_difference(path, self.previous, current)
        self.previous = current

    def report_difference(self, path, before, after):
        differ, rows = 0, []
        stride = self.width * 4
        for y in range(self.height):
            a, b = before[y * stride:(y + 1) * stride], after[y * stride:(y + 1) * stride]
            if a != b:
                rows.append(y)
                differ += sum(1 for i in range(0, stride, 4) if a[i:i + 3] != b[i:i + 3])
        where = " (rows %d-%d)" % (rows[0], rows[-1]) if rows else ""
        print("vnc: capture %s: %d pixels differ from the previous capture%s" % (path, differ, where))

    def key(self, name):
        """§7.5.4 KeyEvent: press, then release."""
        sym = keysym(name)
        self.sock.sendall(struct.pack(">BBxxI", 4, 1, sym))
        self.sock.sendall(struct.pack(">BBxxI", 4, 0, sym))

    def idle(self, seconds):
        """Waits, consuming whatever the server sends meanwhile."""
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            self.sock.settimeout(left)
            try:
                self.read_message()
            except socket.timeout:
                return
            finally:
                self.sock.settimeout(self.timeout)


def run(argv):
    timeout = 30.0
    if len(argv) >= 2 and argv[0] == "--timeout":
        timeout = float(argv[1])
        argv = argv[2:]
    if len(argv) < 2:
        raise VncError("usage: vncclient.py [--timeout S] ADDRESS ACTION... (see the file's top)")
    try:
        address = parse_address(argv[0])
    except ValueError:
        raise VncError("bad address %r (HOST:N or HOST::PORT)" % argv[0])
    actions = argv[1:]
    client = Client(address, timeout)
    if actions[0] == "security":
        types = client.handshake(security_only=True)
        print("vnc: security types %s" % " ".join(map(str, types)))
        return
    client.handshake()
    client.init()
    i = 0
    while i < len(actions):
        action = actions[i]
        i += 1
        if action == "info":
            print("vnc: %dx%d name %s" % (client.width, client.height, client.name))
        elif action == "capture" and i < len(actions):
            client.capture(actions[i])
            i += 1
        elif action == "sleep" and i < len(actions):
            client.idle(float(actions[i]))
            i += 1
        elif action == "key":
            while i < len(actions) and actions[i] not in ("info", "capture", "sleep", "key", "security"):
                client.key(actions[i])
                i += 1
        else:
            raise VncError("unknown or incomplete action %r" % action)
    sys.stdout.flush()


def main():
    try:
        run(sys.argv[1:])
    except (VncError, OSError) as e:
        print("vnc: %s" % e, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
