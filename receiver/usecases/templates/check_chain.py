"""Check this pack's chain entries against its anchor, with Python's standard library alone: python3 check_chain.py

For each entry of chain.json: the SHA-256 of its encoding is its rowDigest, and the
rowDigest with its audit path leads to the tree root anchor.json names (RFC 9162,
section 2.1.3.2: leaf = SHA-256(0x00 || digest), node = SHA-256(0x01 || left || right)).
That anchor.json was time-stamped is checked by openssl:
openssl ts -verify -data anchor.json -in anchor.tsr -CAfile tsa-ca.pem
"""

import hashlib
import json
import sys


def leaf(digest):
    return hashlib.sha256(b"\x00" + bytes.fromhex(digest)).digest()


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_proof(digest, index, size, proof):
    value, last = leaf(digest), size - 1
    for sibling in (bytes.fromhex(p) for p in proof):
        if last == 0:
            return None
        if index % 2 == 1 or index == last:
            value = node(sibling, value)
            while index % 2 == 0 and index != 0:
                index, last = index >> 1, last >> 1
        else:
            value = node(value, sibling)
        index, last = index >> 1, last >> 1
    return value.hex() if last == 0 else None


def main():
    with open("chain.json", encoding="utf-8") as file:
        chain = json.load(file)
    try:
        with open("anchor.json", encoding="utf-8") as file:
            anchor = json.load(file)
    except FileNotFoundError:
        print("no anchor.json: this pack's chain entries were not anchored (see evidence.html)")
        return 1
    failures = 0
    for entry in chain["entries"]:
        name = f"seq {entry['seq']}: {entry['table']} {entry['rowKey']}"
        digest = hashlib.sha256(entry["encoding"].encode("utf-8")).hexdigest()
        if digest != entry["rowDigest"]:
            print(f"FAIL {name}: the encoding's SHA-256 is not its rowDigest")
            failures += 1
        elif entry["proof"] is None or entry["seq"] > anchor["seq"]:
            print(f"FAIL {name}: sealed after the anchor, no proof")
            failures += 1
        elif root_from_proof(digest, entry["seq"] - 1, anchor["seq"], entry["proof"]) != anchor["root"]:
            print(f"FAIL {name}: its audit path does not lead to the anchored root")
            failures += 1
        else:
            print(f"ok   {name}")
    print(f"{len(chain['entries'])} entries, {failures} failed, anchor seq {anchor['seq']} root {anchor['root']}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
