#!/usr/bin/env python3
"""Side by side: python-bitcoinlib vs `virtualchain bench` deserializing the same blocks.

Usage: .venv/bin/python3 Benchmarks/python_bitcoinlib_ratio.py [SIZE]   (default 64MiB; needs a release build)

Generates a mainnet-like regtest datadir, times python-bitcoinlib deserializing every best-chain
block and computing every txid (one thread, as `parse` does), runs `virtualchain bench --json` on
the same directory, and prints both throughputs and their ratio as one JSON object.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "Tests", "python"))
import blockdir  # noqa: E402
from bitcoin.core import CBlock  # noqa: E402

root = os.path.dirname(os.path.abspath(__file__)) + "/.."
binary = os.path.join(root, ".build", "release", "virtualchain")
size = sys.argv[1] if len(sys.argv) > 1 else "64MiB"

with tempfile.TemporaryDirectory() as work:
    out = os.path.join(work, "chain")
    subprocess.run([binary, "testchain", "--out", out, "--size", size, "--seed", "pyratio", "--quiet"], check=True)
    ours = json.loads(subprocess.run([binary, "bench", "--blocksdir", out + "/blocks", "--network", "regtest", "--json"],
                                     check=True, capture_output=True, text=True).stdout)
    blocks = [raw for _, _, raw in blockdir.block_records(out + "/blocks", bytes.fromhex("fabfb5da"))]
    total = sum(len(b) for b in blocks)
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        txs = 0
        for raw in blocks:
            block = CBlock.deserialize(raw)
            for tx in block.vtx:
                tx.GetTxid()
                txs += 1
        best = min(best, time.perf_counter() - start)
    python_mbps = total / 1e6 / best
    print(json.dumps({
        "bytes": total, "txs": txs,
        "python_bitcoinlib_mbps": round(python_mbps, 2),
        "virtualchain_parse_mbps": ours["parse"]["mbps"],
        "ratio": round(ours["parse"]["mbps"] / python_mbps, 1),
    }))
