"""Plain-Python reading of a Bitcoin Core blocks directory (blk/rev records, xor.dat).

Written independently of the Swift code on purpose: the tests use it as a second opinion.
"""
import hashlib
import os
import struct


def dsha(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def xor_key(blocks_dir: str) -> bytes:
    path = os.path.join(blocks_dir, "xor.dat")
    if not os.path.exists(path):
        return bytes(8)
    with open(path, "rb") as f:
        key = f.read()
    assert len(key) == 8, f"{path}: xor.dat must be 8 bytes, found {len(key)}"
    return key


def deobfuscate(data: bytes, key: bytes, offset: int = 0) -> bytes:
    if key == bytes(8):
        return data
    k = (key * ((len(data) + 16) // 8 + 2))[offset % 8: offset % 8 + len(data)]
    return bytes(a ^ b for a, b in zip(data, k)) if len(data) < 4096 else \
        (int.from_bytes(data, "little") ^ int.from_bytes(k, "little")).to_bytes(len(data), "little")


def read_raw(blocks_dir: str, name: str) -> bytes:
    with open(os.path.join(blocks_dir, name), "rb") as f:
        return f.read()


def _records(raw: bytes, key: bytes, magic: bytes, trailer: int):
    """Records of one file. Padding is recognised on the raw bytes: Core pre-allocates with zeros
    and never obfuscates them, so a record start whose raw bytes are zero (and do not decode to the
    magic) is padding."""
    pos = 0
    while pos + 8 <= len(raw):
        head = deobfuscate(raw[pos:pos + 8], key, pos)
        if head[:4] != magic and raw[pos:pos + 4] == b"\0\0\0\0":
            pos += 1
            continue
        assert head[:4] == magic, f"bad magic at offset {pos}: {head[:4].hex()}"
        (size,) = struct.unpack_from("<I", head, 4)
        body = deobfuscate(raw[pos + 8: pos + 8 + size + trailer], key, pos + 8)
        yield pos, body[:size], body[size:]
        pos += 8 + size + trailer


def read_file(blocks_dir: str, name: str, magic: bytes, trailer: int = 0) -> bytes:
    """The file with obfuscation removed from its records; padding stays zero."""
    raw = read_raw(blocks_dir, name)
    key = xor_key(blocks_dir)
    out = bytearray(raw)
    for pos, payload, tail in _records(raw, key, magic, trailer):
        (size,) = struct.unpack_from("<I", raw, pos + 4)
        out[pos:pos + 8 + len(payload) + len(tail)] = magic + struct.pack("<I", len(payload)) + payload + tail
    return bytes(out)


def numbered(blocks_dir: str, prefix: str):
    return sorted(n for n in os.listdir(blocks_dir) if n.startswith(prefix) and n.endswith(".dat"))


def block_records(blocks_dir: str, magic: bytes):
    """Every block record in storage order: (file name, offset, raw block)."""
    key = xor_key(blocks_dir)
    for name in numbered(blocks_dir, "blk"):
        for offset, payload, _ in _records(read_raw(blocks_dir, name), key, magic, 0):
            yield name, offset, payload


def undo_records(blocks_dir: str, magic: bytes):
    """Every undo record: (file name, offset, undo bytes, checksum)."""
    key = xor_key(blocks_dir)
    for name in numbered(blocks_dir, "rev"):
        for offset, payload, checksum in _records(read_raw(blocks_dir, name), key, magic, 32):
            yield name, offset, payload, checksum


def block_hash(raw_block: bytes) -> bytes:
    return dsha(raw_block[:80])
