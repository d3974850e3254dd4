"""An independent verifier of light-client proofs (shared/spec/proofs.md), written from the spec.

Usage: proof_verify.py TRUSTED_HEIGHT TRUSTED_CONSENSUS_HASH MAGIC_HEX PROOF.json...
Prints one JSON object: {"verified": [...proven records...], "refused": [{"file", "step", "why"}]}.
Exit 0 when every proof verified, 1 otherwise.
"""
import json
import os
import sys

# The section-4 hashing is the re-hasher's (also written from the spec, not from our Swift).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from consensus_rehash import consensus_hash, dsha, ops_hash, skip_list  # noqa: E402


class Refused(Exception):
    def __init__(self, step, why):
        super().__init__(why)
        self.step = step


def read_compact(b, i):
    n = b[i]
    if n < 0xFD:
        return n, i + 1
    width = {0xFD: 2, 0xFE: 4, 0xFF: 8}[n]
    return int.from_bytes(b[i + 1:i + 1 + width], "little"), i + 1 + width


def sole_push_after_op_return(script):
    """The original virtualchain's rule for an OP_RETURN-led script: the data when exactly one
    data push follows OP_RETURN (read leniently: a push, or a push's length, cut short by the
    script's end takes the bytes that are there), None for anything else."""
    if len(script) < 2:
        return None
    op = script[1]
    if 1 <= op <= 75:
        start, length = 2, op
    elif op in (0x4C, 0x4D, 0x4E):
        width = {0x4C: 1, 0x4D: 2, 0x4E: 4}[op]
        start, length = 2 + width, int.from_bytes(script[2:2 + width], "little")
    else:
        return None
    if start + length < len(script):
        return None  # more follows the push
    return script[start:]


def last_nulldata(tx):
    """The data the transaction carries: every output starting with OP_RETURN decides anew, a
    malformed one too (the original virtualchain's rule), of a non-witness transaction."""
    i = 4
    n_in, i = read_compact(tx, i)
    for _ in range(n_in):
        length, i = read_compact(tx, i + 36)
        i += length + 4
    n_out, i = read_compact(tx, i)
    found = None
    for _ in range(n_out):
        length, i = read_compact(tx, i + 8)
        script = tx[i:i + length]
        i += length
        if len(script) >= 1 and script[0] == 0x6A:
            found = sole_push_after_op_return(script)
    if i + 4 != len(tx):
        raise Refused(5, "the transaction does not parse")
    return found


def verify(proof, k, ch, magic):
    if proof.get("format") != "virtualchain-proof/1":
        raise Refused(1, "unknown format")
    if proof["trusted"]["height"] != k or proof["trusted"]["consensus_hash"].lower() != ch.lower():
        raise Refused(1, "not the trusted hash")
    trusted = {k: ch.lower()}
    first = proof["first_block"]
    for hop in proof["hops"]:
        h = hop["height"]
        if h not in trusted:
            raise Refused(2, "hop at an unrevealed height")
        heights = skip_list(h, first)
        if len(hop["previous"]) != len(heights):
            raise Refused(2, "wrong skip list length")
        if consensus_hash(hop["ops_hash"].lower(), [p.lower() for p in hop["previous"]]) != trusted[h]:
            raise Refused(2, "hop does not hash to its trusted value")
        for height, value in zip(heights, hop["previous"]):
            trusted[height] = value.lower()
    block = proof["block"]
    if proof["hops"][-1]["height"] != block["height"]:
        raise Refused(3, "last hop is not the block")
    if ops_hash(block["records"]) != proof["hops"][-1]["ops_hash"].lower():
        raise Refused(3, "records do not hash to the ops hash")
    index = proof["record_index"]
    if not 0 <= index < len(block["records"]):
        raise Refused(4, "no such record")
    record = block["records"][index]
    btc = proof.get("bitcoin")
    if btc:
        tx = bytes.fromhex(btc["tx"])
        if dsha(tx)[::-1].hex() != (proof.get("txid") or "").lower():
            raise Refused(5, "txid")
        node, position = dsha(tx), btc["tx_index"]
        for sibling in btc["merkle_branch"]:
            s = bytes.fromhex(sibling)
            node = dsha(s + node) if position & 1 else dsha(node + s)
            position >>= 1
        header = bytes.fromhex(btc["block_header"])
        if len(header) != 80 or node != header[36:68]:
            raise Refused(5, "merkle branch")
        bits = int.from_bytes(header[72:76], "little")
        target = (bits & 0xFFFFFF) << (8 * ((bits >> 24) - 3))
        if int.from_bytes(dsha(header)[::-1], "big") > target:
            raise Refused(5, "proof of work")
        data = last_nulldata(tx)
        if data is None or not data.startswith(magic) or len(data) <= len(magic) or data[len(magic)] != ord(record[0]):
            raise Refused(5, "operation not carried")
    return {"height": block["height"], "record": record, "txid": proof.get("txid")}


def main():
    k, ch, magic = int(sys.argv[1]), sys.argv[2], bytes.fromhex(sys.argv[3])
    verified, refused = [], []
    for path in sys.argv[4:]:
        try:
            with open(path) as f:
                verified.append(verify(json.load(f), k, ch, magic))
        except Refused as e:
            refused.append({"file": path, "step": e.step, "why": str(e)})
        except (KeyError, ValueError, TypeError, IndexError) as e:
            refused.append({"file": path, "step": 0, "why": repr(e)})
    print(json.dumps({"verified": verified, "refused": refused}))
    sys.exit(1 if refused else 0)


if __name__ == "__main__":
    main()
