"""An independent implementation of docs/virtualchain.md, section 4, to re-hash an export.

Usage: consensus_rehash.py EXPORT.jsonl FIRST_BLOCK
Recomputes every block's ops hash and consensus hash from its records alone and prints one JSON
object: {"blocks": N, "mismatches": [...]} (exit 1 if any).
"""
import hashlib
import json
import sys

try:
    from bitcoin.core.contrib.ripemd160 import ripemd160 as _ripemd160  # pure Python, always there
except ImportError:  # pragma: no cover
    _ripemd160 = None


def dsha(b):
    return hashlib.sha256(hashlib.sha256(b).digest()).digest()


def hash160(b):
    inner = hashlib.sha256(b).digest()
    if _ripemd160 is not None:
        return _ripemd160(inner)
    return hashlib.new("ripemd160", inner).digest()


def merkle_root(leaves):
    row = [bytes.fromhex(h)[::-1] for h in leaves]
    while len(row) > 1:
        if len(row) % 2:
            row.append(row[-1])
        row = [dsha(row[2 * j] + row[2 * j + 1]) for j in range(len(row) // 2)]
    return row[0][::-1].hex()


def ops_hash(records):
    if not records:
        return merkle_root([dsha(b"").hex()])
    return merkle_root(sorted(dsha(r.encode("utf-8", "surrogateescape")).hex() for r in records))


def skip_list(height, first):
    """Heights whose consensus hashes enter CH(height): height-1, height-3, height-7, ... >= first."""
    out, i = [], 1
    while height - (2 ** i - 1) >= first:
        out.append(height - (2 ** i - 1))
        i += 1
    return out


def consensus_hash(ops, previous):
    return hash160(bytes.fromhex(merkle_root(sorted(previous + [ops]))))[:16].hex()


def main():
    path, first = sys.argv[1], int(sys.argv[2])
    hashes = {}
    mismatches = []
    count = 0
    for line in open(path):
        block = json.loads(line)
        k = block["height"]
        if block.get("block") is None:
            # A machine's initial consensus hash (below its first block): taken as given; the
            # skip list never reaches it.
            hashes[k] = block["consensus_hash"]
            continue
        oh = ops_hash(block["records"])
        ch = consensus_hash(oh, [hashes[h] for h in skip_list(k, first)])
        hashes[k] = ch
        count += 1
        if oh != block["ops_hash"] or ch != block["consensus_hash"]:
            mismatches.append({"height": k, "ops_hash": [oh, block["ops_hash"]], "consensus_hash": [ch, block["consensus_hash"]]})
    print(json.dumps({"blocks": count, "mismatches": mismatches[:5]}))
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
