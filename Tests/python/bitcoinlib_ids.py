"""Independent oracle: block hashes, merkle roots, txids and wtxids computed by python-bitcoinlib.

Usage: bitcoinlib_ids.py FILE...   (each FILE a blk*.dat-style record file or a raw serialized block)
Prints one JSON object per block: {"hash", "merkle_root", "txids", "wtxids"} (display hex).
"""
import json
import struct
import sys

from bitcoin.core import CBlock, b2lx
from bitcoin.core.serialize import Hash

MAGICS = {bytes.fromhex(m) for m in ("f9beb4d9", "0b110907", "1c163f28", "0a03cf40", "fabfb5da")}


def blocks_in(path):
    data = open(path, "rb").read()
    if data[:4] not in MAGICS:
        yield data
        return
    pos = 0
    while pos + 8 <= len(data):
        if data[pos:pos + 4] == b"\0\0\0\0":
            pos += 1
            continue
        (size,) = struct.unpack_from("<I", data, pos + 4)
        yield data[pos + 8:pos + 8 + size]
        pos += 8 + size


for path in sys.argv[1:]:
    for raw in blocks_in(path):
        block = CBlock.deserialize(raw)
        print(json.dumps({
            "hash": b2lx(block.GetHash()),
            "merkle_root": b2lx(block.hashMerkleRoot),
            "computed_merkle_root": b2lx(block.calc_merkle_root()),
            "txids": [b2lx(tx.GetTxid()) for tx in block.vtx],
            "wtxids": [b2lx(Hash(tx.serialize())) for tx in block.vtx],
        }))
