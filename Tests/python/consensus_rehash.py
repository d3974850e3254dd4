"""An independent implementation of spec section 4, to re-hash an export.

Usage: consensus_rehash.py EXPORT.jsonl FIRST_BLOCK
Recomputes every block's ops hash and consensus hash from its records alone and prints one JSON
object: {"blocks": N, "mismatches": [...]} (exit 1 if any).
"""
import hashlib
import json
import sys


def dsha(b):
    return hashlib.sha256(hashlib.sha256(b).digest()).digest()


def hash160(b):
    return hashlib.new("ripemd160", hashlib.sha256(b).digest()).digest()


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


def main():
    path, first = sys.argv[1], int(sys.argv[2])
    hashes = {}
    mismatches = []
    count = 0
    for line in open(path):
        block = json.loads(line)
        k = block["height"]
        oh = ops_hash(block["records"])
        prev, i = [], 1
        while k - (2 ** i - 1) >= first:
            prev.append(hashes[k - (2 ** i - 1)])
            i += 1
        ch = hash160(bytes.fromhex(merkle_root(sorted(prev + [oh]))))[:16].hex()
        hashes[k] = ch
        count += 1
        if oh != block["ops_hash"] or ch != block["consensus_hash"]:
            mismatches.append({"height": k, "ops_hash": [oh, block["ops_hash"]], "consensus_hash": [ch, block["consensus_hash"]]})
    print(json.dumps({"blocks": count, "mismatches": mismatches[:5]}))
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
