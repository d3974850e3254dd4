"""Bitcoin Core's own validation (libbitcoinkernel via py-bitcoinkernel) against a generated datadir.

Usage: kernel_check.py GENERATED_DIR WORK_DIR [--compare-files] [--dump-chain FILE] [--height-order] [--dump-spent FILE]

--dump-spent writes, per active-chain block, the outputs each transaction spent as Core itself
reports them (block_spent_outputs): {"hash", "spent": [[[value, script hex], ...] per tx]}.

--height-order submits every block (side branches too) sorted by height instead of in storage
order; Core then connects side branches differently, so only our main-chain undo records are
required among Core's (each byte-identical).

Headers are submitted first in height order (as headers-first sync does), then every block in the
order the generator stored it, so Core stores and connects them as it would have. Checks:
  * Core accepts every block and its active chain ends at the generator's tip and height;
  * the undo records Core wrote equal ours byte for byte (same set; with --compare-files, the same
    files byte for byte after removing each side's xor obfuscation).
Prints one JSON line with what it compared; exits non-zero on any difference.
"""
import json
import os
import sys

import pbk

import blockdir

REGTEST_MAGIC = bytes.fromhex("fabfb5da")


def main():
    generated, work = sys.argv[1], sys.argv[2]
    compare_files = "--compare-files" in sys.argv[3:]
    height_order = "--height-order" in sys.argv[3:]
    dump_chain = sys.argv[sys.argv.index("--dump-chain") + 1] if "--dump-chain" in sys.argv else None
    dump_spent = sys.argv[sys.argv.index("--dump-spent") + 1] if "--dump-spent" in sys.argv else None
    manifest = json.load(open(os.path.join(generated, "testchain.json")))
    assert manifest["network"] == "regtest", "Core validation runs on regtest chains"
    ours = os.path.join(generated, "blocks")

    stored = list(blockdir.block_records(ours, REGTEST_MAGIC))
    by_hash = {blockdir.block_hash(raw): raw for _, _, raw in stored}
    genesis = bytes.fromhex(manifest["genesis"])[::-1]
    heights = {genesis: 0}
    pending = [h for h in by_hash if h != genesis]
    while pending:
        rest = []
        for h in pending:
            prev = by_hash[h][4:36]
            if prev in heights:
                heights[h] = heights[prev] + 1
            else:
                rest.append(h)
        assert len(rest) < len(pending), "blocks whose parent is missing"
        pending = rest

    os.makedirs(work, exist_ok=True)
    chainman = pbk.load_chainman(work, pbk.ChainType.REGTEST)
    for h in sorted(by_hash, key=lambda h: heights[h]):
        if h != genesis:
            chainman.process_block_header(pbk.BlockHeader(by_hash[h][:80]))
    submission = sorted(stored, key=lambda r: heights[blockdir.block_hash(r[2])]) if height_order else stored
    for _, _, raw in submission:
        if blockdir.block_hash(raw) == genesis:
            continue
        chainman.process_block(pbk.Block(raw))

    chain = chainman.get_active_chain()
    core_height = chain.height
    core_tip = str(chain._get_by_height(core_height).block_hash)
    if dump_spent:
        with open(dump_spent, "w") as f:
            for height in range(1, core_height + 1):
                entry = chain._get_by_height(height)
                spent = chainman.block_spent_outputs[entry]
                txs = []
                for tx_spent in spent.transactions:
                    txs.append([[coin.output.amount, bytes(coin.output.script_pubkey).hex()] for coin in tx_spent.coins])
                f.write(json.dumps({"hash": str(entry.block_hash), "spent": txs}) + "\n")
    if dump_chain:
        with open(dump_chain, "w") as f:
            for height in range(core_height + 1):
                f.write(str(chain._get_by_height(height).block_hash) + "\n")
    del chain
    del chainman  # shuts the chainstate down and flushes Core's files

    problems = []
    if core_height != manifest["tip"]["height"] or core_tip != manifest["tip"]["hash"]:
        problems.append(f"Core's tip {core_tip} at {core_height}, generator's {manifest['tip']['hash']} at {manifest['tip']['height']}")

    core_blocks = os.path.join(work, "blocks")
    core_undo = sorted(rec[2] + rec[3] for rec in blockdir.undo_records(core_blocks, REGTEST_MAGIC))
    our_undo = sorted(rec[2] + rec[3] for rec in blockdir.undo_records(ours, REGTEST_MAGIC))
    if height_order:
        # Our records of main-chain blocks: those whose checksum commits to a main-chain parent.
        main = []
        tip = bytes.fromhex(manifest["tip"]["hash"])[::-1]
        while tip != genesis:
            main.append(tip)
            tip = by_hash[tip][4:36]
        core_set = set(core_undo)
        ours_all = [(r[2], r[3]) for r in blockdir.undo_records(ours, REGTEST_MAGIC)]
        missing = [h for h in main
                   if not any(blockdir.dsha(by_hash[h][4:36] + u) == c and u + c in core_set for u, c in ours_all)]
        if missing:
            problems.append(f"{len(missing)} of {len(main)} main-chain blocks have no undo record of ours "
                            f"identical to Core's, e.g. {missing[0][::-1].hex()}")
    elif core_undo != our_undo:
        problems.append(f"undo records differ: Core wrote {len(core_undo)}, we wrote {len(our_undo)}, "
                        f"{len(set(core_undo) & set(our_undo))} identical")
    compared_files = []
    if compare_files:
        for name in sorted(set(os.listdir(ours)) | set(os.listdir(core_blocks))):
            if not (name.startswith("blk") or name.startswith("rev")):
                continue
            trailer = 32 if name.startswith("rev") else 0
            a = blockdir.read_file(ours, name, REGTEST_MAGIC, trailer) if os.path.exists(os.path.join(ours, name)) else None
            b = blockdir.read_file(core_blocks, name, REGTEST_MAGIC, trailer) if os.path.exists(os.path.join(core_blocks, name)) else None
            compared_files.append(name)
            if a != b:
                detail = "missing on one side" if a is None or b is None else \
                    f"sizes {len(a)} vs {len(b)}, first difference at {next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))}"
                problems.append(f"{name} differs from Core's: {detail}")
    print(json.dumps({"core_height": core_height, "core_tip": core_tip, "blocks": len(stored),
                      "undo_records": len(core_undo), "compared_files": compared_files, "problems": problems}))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
