#!/usr/bin/env python3
"""Adds ACCOUNTS funded accounts to a raw chain spec, so that `benchmark storage` measures reads
and writes over a state the size of a busy network's rather than the dev genesis' 42 keys.

The runtime's genesis builder runs out of wasm heap above about 200 000 accounts, so the entries
go straight into the raw storage: `System::Account` keys (`Blake2_128Concat` of a public key
derived from a counter; nobody holds its secret) with the value of a funded dev account whose
free balance is offset by the counter, so that no two values share a trie node.
"""
import hashlib
import json
import sys

ACCOUNT_PREFIX = "26aa394eea5630e07c48ae0c9558cef7b99d880ec681799c0cf30e8886371da9"  # System::Account
FREE_BALANCE = slice(16, 32)  # AccountInfo: nonce, consumers, providers, sufficients (u32), free (u128)


def main():
    spec_path, accounts = sys.argv[1], int(sys.argv[2])
    spec = json.load(open(spec_path))
    top = spec["genesis"]["raw"]["top"]
    template = bytearray.fromhex(next(v for k, v in top.items() if k.startswith("0x" + ACCOUNT_PREFIX))[2:])
    free = int.from_bytes(template[FREE_BALANCE], "little")
    for index in range(accounts):
        public = hashlib.blake2b(b"matrixai-storage-benchmark" + index.to_bytes(8, "little"), digest_size=32).digest()
        key = ACCOUNT_PREFIX + hashlib.blake2b(public, digest_size=16).hexdigest() + public.hex()
        template[FREE_BALANCE] = (free + index).to_bytes(16, "little")
        top["0x" + key] = "0x" + template.hex()
    json.dump(spec, sys.stdout)


if __name__ == "__main__":
    main()
