"""RFC 9162 / RFC 6962 Merkle functions against the published Certificate Transparency vectors.

The vectors (leaves, roots of sizes 1..8, inclusion and consistency proofs) are those of the
reference implementation's tests (transparency-dev/merkle, proof/verify_test.go, from the C++
certificate-transparency tree); proofs there number leaves from 1, here from 0.
"""

from __future__ import annotations

import hashlib
import random

import pytest

from envtrust.record.merkle import (
    EMPTY_ROOT,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_hash,
    tree_levels,
    verify_consistency,
    verify_inclusion,
)

LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                     "606162636465666768696a6b6c6d6e6f")]
ROOTS = [bytes.fromhex(h) for h in (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]
# (leaf index from 0, tree size, proof)
INCLUSION = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (0, 1, []),
]
CONSISTENCY = [
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (1, 1, []),
]


def _levels(size: int):
    return tree_levels([leaf_hash(x) for x in LEAVES[:size]])


def test_empty_tree_root_is_sha256_of_nothing():
    assert root_hash(tree_levels([])) == EMPTY_ROOT == bytes.fromhex(
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


def test_leaf_and_node_hashes_carry_the_domain_prefixes():
    assert leaf_hash(b"") == ROOTS[0] == hashlib.sha256(b"\x00").digest()
    assert node_hash(leaf_hash(b""), leaf_hash(b"\x00")) == ROOTS[1]


@pytest.mark.parametrize("size", range(1, 9))
def test_root_of_every_published_size(size):
    assert root_hash(_levels(size)) == ROOTS[size - 1]


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_inclusion_proofs_match_and_verify(index, size, proof):
    expected = [bytes.fromhex(h) for h in proof]
    assert inclusion_proof(index, _levels(size)) == expected
    verify_inclusion(index, size, leaf_hash(LEAVES[index]), expected, ROOTS[size - 1])


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_consistency_proofs_match_and_verify(old, new, proof):
    expected = [bytes.fromhex(h) for h in proof]
    assert consistency_proof(old, _levels(new)) == expected
    verify_consistency(old, new, ROOTS[old - 1], ROOTS[new - 1], expected)


def _flip(proof: list[bytes], i: int) -> list[bytes]:
    out = list(proof)
    out[i] = bytes([out[i][0] ^ 8]) + out[i][1:]
    return out


@pytest.mark.parametrize(("index", "size", "proof"), [v for v in INCLUSION if v[2]])
def test_corrupted_inclusion_proofs_are_refused(index, size, proof):
    """The reference implementation's mutations: wrong index, size, leaf, root, garbage, bit flips."""
    good = [bytes.fromhex(h) for h in proof]
    leaf, root = leaf_hash(LEAVES[index]), ROOTS[size - 1]
    bad = [
        (index + 1, size, leaf, good, root), (index ^ 2, size, leaf, good, root),
        (index, size * 2, leaf, good, root), (index, max(size // 2, 1), leaf, good, root),
        (index, size, leaf_hash(b"WrongLeaf"), good, root), (index, size, leaf, good, EMPTY_ROOT),
        (index, size, leaf, [*good, root], root), (index, size, leaf, [root, *good], root),
        (index, size, leaf, good[:-1], root),
        *[(index, size, leaf, _flip(good, i), root) for i in range(len(good))],
    ]
    if index:
        bad.append((index - 1, size, leaf, good, root))
    for args in bad:
        if args[0] >= args[1]:
            continue
        with pytest.raises(ProofError):
            verify_inclusion(*args)


@pytest.mark.parametrize(("old", "new", "proof"), [v for v in CONSISTENCY if v[2]])
def test_corrupted_consistency_proofs_are_refused(old, new, proof):
    good = [bytes.fromhex(h) for h in proof]
    r1, r2 = ROOTS[old - 1], ROOTS[new - 1]
    bad = [
        (old + 1, new, r1, r2, good), (old, new * 2, r1, r2, good), (old, new, r2, r1, good),
        (old, new, EMPTY_ROOT, r2, good), (old, new, r1, EMPTY_ROOT, good), (old, new, r1, r2, []),
        (old, new, r1, r2, [*good, r1]), (old, new, r1, r2, [r2, *good]), (old, new, r1, r2, good[:-1]),
        *[(old, new, r1, r2, _flip(good, i)) for i in range(len(good))],
    ]
    if old > 1:
        bad.append((old - 1, new, r1, r2, good))
    for args in bad:
        with pytest.raises(ProofError):
            verify_consistency(*args)


def test_every_proof_of_random_trees_verifies():
    """Beyond the vectors: every leaf and every prefix of trees of sizes 1..70 prove and verify."""
    rng = random.Random(7)
    for size in range(1, 71):
        leaves = [leaf_hash(rng.randbytes(rng.randint(0, 40))) for _ in range(size)]
        levels = tree_levels(leaves)
        root = root_hash(levels)
        for i in range(size):
            verify_inclusion(i, size, leaves[i], inclusion_proof(i, levels), root)
        for old in range(1, size + 1):
            old_root = root_hash(tree_levels(leaves[:old]))
            verify_consistency(old, size, old_root, root, consistency_proof(old, levels))
