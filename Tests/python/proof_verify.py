"""An independent verifier of light-client proofs (docs/proofs.md), written from the spec.

Usage: proof_verify.py TRUSTED_HEIGHT TRUSTED_CONSENSUS_HASH MAGIC_HEX [OPTIONS] PROOF.json...
Options (what the client knows; each unchecked unless given):
  --bip34-height N      the network's BIP34 height: from it a coinbase binds its block's height
  --height-field I      the record field (0-based) holding the block's height
  --vtxindex-field J    the record field holding the transaction's index
  --machine M --network N --first-block F --machine-version V
Prints one JSON object: {"verified": [{"height", "height_proven", "record", "txid"}...],
"refused": [{"file", "step", "why"}]}. Exit 0 when every proof verified, 1 otherwise.
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


def script_num_push(n):
    """The push of n in a script, as BIP34 wants it at the start of the coinbase."""
    if n == 0:
        return bytes([0x00])
    if 1 <= n <= 16:
        return bytes([0x50 + n])
    out = bytearray()
    while n:
        out.append(n & 0xFF)
        n >>= 8
    if out[-1] & 0x80:
        out.append(0)
    return bytes([len(out)]) + bytes(out)


def fold(node, branch, index):
    for sibling in branch:
        s = bytes.fromhex(sibling)
        if len(s) != 32:
            raise Refused(5, "branch entry")
        node = dsha(s + node) if index & 1 else dsha(node + s)
        index >>= 1
    if index:
        raise Refused(5, "index beyond the branch")
    return node


def coinbase_script(tx):
    """The first input's script of a coinbase (one input spending the null outpoint)."""
    n_in, i = read_compact(tx, 4)
    if n_in != 1 or tx[i:i + 32] != bytes(32) or tx[i + 32:i + 36] != b"\xff\xff\xff\xff":
        raise Refused(5, "not a coinbase")
    length, j = read_compact(tx, i + 36)
    return tx[j:j + length]


def fields(record):
    """The field values of a serialized record, or None."""
    if len(record) < 2 or record[1] != ":":
        return None
    out, i, b = [], 2, record.encode()
    while i < len(b):
        colon = b.index(b":", i) if b":" in b[i:] else -1
        if colon < 0 or not b[i:colon].isdigit():
            return None
        n = int(b[i:colon])
        out.append(b[colon + 1:colon + 1 + n].decode())
        i = colon + 1 + n
        if i < len(b):
            if b[i:i + 1] != b",":
                return None
            i += 1
    return out


def verify(proof, k, ch, magic, known):
    if proof.get("format") != "virtualchain-proof/1":
        raise Refused(1, "unknown format")
    if proof["trusted"]["height"] != k or proof["trusted"]["consensus_hash"].lower() != ch.lower():
        raise Refused(1, "not the trusted hash")
    for key in ("machine", "network", "first_block"):
        if known.get(key) is not None and proof[key] != known[key]:
            raise Refused(1, "another " + key)
    if known.get("machine_version") is not None and proof["machine_version"] > known["machine_version"]:
        raise Refused(1, "a newer version")
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
            if height in trusted and trusted[height] != value.lower():
                raise Refused(2, "a height revealed twice with two values")
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
    bound = False
    if not btc and proof.get("txid") is not None:
        raise Refused(5, "a txid without the Bitcoin part")
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
        if btc.get("coinbase") is not None:
            coinbase = bytes.fromhex(btc["coinbase"])
            if fold(dsha(coinbase), btc.get("coinbase_branch") or [], 0) != header[36:68]:
                raise Refused(5, "coinbase branch")
            script = coinbase_script(coinbase)
            bip34 = known.get("bip34_height")
            if bip34 is not None and block["height"] >= bip34:
                if not script.startswith(script_num_push(block["height"])):
                    raise Refused(5, "the coinbase's height is not the block's")
                bound = True
    values = fields(record)
    if known.get("height_field") is not None and values is not None and len(values) > known["height_field"]:
        if values[known["height_field"]] != str(block["height"]):
            raise Refused(6, "the record's height is not the block's")
        bound = True
    if btc and known.get("vtxindex_field") is not None and values is not None and len(values) > known["vtxindex_field"]:
        if values[known["vtxindex_field"]] != str(btc["tx_index"]):
            raise Refused(6, "the record's vtxindex is not the transaction's")
    return {"height": block["height"], "height_proven": bound, "record": record, "txid": proof.get("txid") if btc else None}


def main():
    k, ch, magic = int(sys.argv[1]), sys.argv[2], bytes.fromhex(sys.argv[3])
    args, known, paths = sys.argv[4:], {}, []
    options = {"--bip34-height": ("bip34_height", int), "--height-field": ("height_field", int),
               "--vtxindex-field": ("vtxindex_field", int), "--machine": ("machine", str), "--network": ("network", str),
               "--first-block": ("first_block", int), "--machine-version": ("machine_version", int)}
    while args:
        if args[0] in options:
            key, kind = options[args[0]]
            known[key] = kind(args[1])
            args = args[2:]
        else:
            paths.append(args[0])
            args = args[1:]
    verified, refused = [], []
    for path in paths:
        try:
            with open(path) as f:
                verified.append(verify(json.load(f), k, ch, magic, known))
        except Refused as e:
            refused.append({"file": path, "step": e.step, "why": str(e)})
        except (KeyError, ValueError, TypeError, IndexError) as e:
            refused.append({"file": path, "step": 0, "why": repr(e)})
    print(json.dumps({"verified": verified, "refused": refused}))
    sys.exit(1 if refused else 0)


if __name__ == "__main__":
    main()
