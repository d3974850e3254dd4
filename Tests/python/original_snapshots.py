"""The original virtualchain's bookkeeping of consensus hashes, transcribed from its indexer.py
(StateEngine.db_setup, snapshot, make_snapshot, get_valid_consensus_hashes), to check the engine's
handling of a machine's initial snapshots (get_initial_snapshots) against it.

Usage: original_snapshots.py INPUT.json
INPUT: {"first_block": F, "initial": {"HEIGHT": "CH", ...}, "blocks": [[serialized record, ...], ...],
        "window": W}
Prints {"consensus": {"HEIGHT": "CH", ...}, "valid": {"HEIGHT": ["CH", ...]}}: every stored
snapshot (initial ones included) and, per processed block, the hashes get_valid_consensus_hashes
accepts for a window of W blocks.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from consensus_rehash import consensus_hash, ops_hash  # noqa: E402


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    first_block_id = spec["first_block"]
    window = spec["window"]
    # db_setup: the snapshots table starts with the initial snapshots, in height order.
    snapshots = {}
    for block_id in sorted(int(h) for h in spec["initial"]):
        snapshots[block_id] = spec["initial"][str(block_id)]
    # build: processing starts after the last stored snapshot... but never below the first block
    # for a machine without initial snapshots (lastblock = first - 1).
    lastblock = max(snapshots) if snapshots else first_block_id - 1
    valid = {}
    for offset, records in enumerate(spec["blocks"]):
        block_id = lastblock + 1 + offset
        # get_valid_consensus_hashes(block_id) while the block is processed (its own not yet stored)
        valid[str(block_id)] = [snapshots[h] for h in sorted(snapshots) if block_id - window <= h <= block_id]
        # snapshot(): the skip list stops at get_first_block_id()
        previous_consensus_hashes = []
        k, i = block_id, 1
        while k - (2 ** i - 1) >= first_block_id:
            prev_ch = snapshots.get(k - (2 ** i - 1))
            assert prev_ch is not None, "BUG: None consensus for %s" % (k - (2 ** i - 1))
            previous_consensus_hashes.append(prev_ch)
            i += 1
        snapshots[block_id] = consensus_hash(ops_hash(records), previous_consensus_hashes)
    print(json.dumps({"consensus": {str(h): c for h, c in snapshots.items()}, "valid": valid}))


if __name__ == "__main__":
    main()
