"""Merkle tree hashing and proofs of RFC 9162 (Certificate Transparency 2.0) section 2.1.

Pure functions over bytes; this module imports nothing of envtrust, so the verifier can be copied
and run alone by an outside party (discipline inspection, the higher-level bureau).

- ``leaf_hash(entry) = SHA-256(0x00 || entry)``, ``node_hash(l, r) = SHA-256(0x01 || l || r)``.
- The tree of n leaves splits at k, the largest power of two below n (left subtree full). Built
  level by level (pair neighbours, carry an odd last node up unchanged) it has the same root.
- Inclusion proofs (``PATH``, 2.1.3) and consistency proofs (``PROOF``, 2.1.4) hold the sibling
  hashes bottom-up, as the RFC orders them; the verifiers follow 2.1.3.2 and 2.1.4.2 step by step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH({}) = SHA-256 of the empty string

#: levels[0] are the leaf hashes, levels[-1] == [root]; see :func:`tree_levels`
Levels = list[list[bytes]]


class ProofError(ValueError):
    """A proof does not verify (wrong size, index, hash or root)."""


def leaf_hash(entry: bytes) -> bytes:
    """MTH of one entry: SHA-256(0x00 || entry) (RFC 9162 2.1.1)."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash of an interior node: SHA-256(0x01 || left || right) (RFC 9162 2.1.1)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def tree_levels(leaf_hashes: Sequence[bytes]) -> Levels:
    """Every level of the tree over ``leaf_hashes``, bottom (leaves) to top (root), in O(n).

    An odd node at the end of a level moves up unchanged, which yields RFC 9162's split at the
    largest power of two. Proofs are then O(log n) look-ups instead of O(n) recursions.
    """
    levels: Levels = [list(leaf_hashes)]
    sha256 = hashlib.sha256
    while len(levels[-1]) > 1:
        below = levels[-1]
        up = [sha256(b"\x01" + below[i] + below[i + 1]).digest() for i in range(0, len(below) - 1, 2)]
        if len(below) % 2:
            up.append(below[-1])
        levels.append(up)
    return levels


def root_hash(levels: Levels) -> bytes:
    """MTH of the whole tree (the empty tree's root is SHA-256 of nothing)."""
    return levels[-1][0] if levels[0] else EMPTY_ROOT


def _largest_power_of_two_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def subtree_hash(levels: Levels, start: int, end: int) -> bytes:
    """MTH(D[start:end]) read from ``levels``; ``start`` must be the left edge of a subtree as the
    RFC recursion produces it (aligned to the largest power of two that fits)."""
    size = end - start
    if size <= 0:
        raise ValueError(f"empty range {start}:{end}")
    if size & (size - 1) == 0 and start % size == 0:
        return levels[size.bit_length() - 1][start // size]
    k = _largest_power_of_two_below(size)
    return node_hash(subtree_hash(levels, start, start + k), subtree_hash(levels, start + k, end))


def inclusion_proof(leaf_index: int, levels: Levels) -> list[bytes]:
    """PATH(m, D[n]): the audit path of leaf ``leaf_index`` in the tree of ``levels`` (RFC 9162 2.1.3.1)."""
    size = len(levels[0])
    if not 0 <= leaf_index < size:
        raise ValueError(f"leaf index {leaf_index} outside a tree of size {size}")
    proof: list[bytes] = []
    index = leaf_index
    for level in levels[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            proof.append(level[sibling])
        index //= 2
    return proof


def consistency_proof(old_size: int, levels: Levels) -> list[bytes]:
    """PROOF(m, D[n]): proof that the first ``old_size`` leaves form a prefix of the tree of
    ``levels`` (RFC 9162 2.1.4.1, SUBPROOF with b = true)."""
    size = len(levels[0])
    if not 0 <= old_size <= size:
        raise ValueError(f"old size {old_size} outside 0..{size}")
    if old_size in (0, size):
        return []
    proof: list[bytes] = []

    def subproof(m: int, start: int, end: int, complete: bool) -> None:
        n = end - start
        if m == n:
            if not complete:
                proof.append(subtree_hash(levels, start, end))
            return
        k = _largest_power_of_two_below(n)
        if m <= k:
            subproof(m, start, start + k, complete)
            proof.append(subtree_hash(levels, start + k, end))
        else:
            subproof(m - k, start + k, end, False)
            proof.append(subtree_hash(levels, start, start + k))

    subproof(old_size, 0, size, True)
    return proof


def _check_hash(name: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{name} has {len(value)} bytes, expected {HASH_SIZE}")


def root_from_inclusion_proof(leaf_index: int, tree_size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` leads to from ``leaf`` (RFC 9162 2.1.3.2, steps 1-6)."""
    if not 0 <= leaf_index < tree_size:
        raise ProofError(f"leaf index {leaf_index} outside a tree of size {tree_size}")
    _check_hash("leaf hash", leaf)
    fn, sn = leaf_index, tree_size - 1
    r = leaf
    for p in proof:
        _check_hash("proof element", p)
        if sn == 0:
            raise ProofError("proof longer than the path")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("proof shorter than the path")
    return r


def verify_inclusion(leaf_index: int, tree_size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Raise :class:`ProofError` unless ``proof`` shows ``leaf`` at ``leaf_index`` under ``root``."""
    _check_hash("root", root)
    if root_from_inclusion_proof(leaf_index, tree_size, leaf, proof) != root:
        raise ProofError(f"inclusion proof of leaf {leaf_index} in size {tree_size} leads to another root")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> None:
    """Raise :class:`ProofError` unless ``proof`` shows the tree (old_size, old_root) is a prefix
    of (new_size, new_root) (RFC 9162 2.1.4.2)."""
    if old_size < 0 or new_size < old_size:
        raise ProofError(f"sizes go backwards: {old_size} -> {new_size}")
    if old_size == new_size:
        if proof:
            raise ProofError("equal sizes need an empty proof")
        if old_root != new_root:
            raise ProofError("equal sizes but different roots")
        return
    if old_size == 0:
        if proof:
            raise ProofError("a proof from the empty tree must be empty")
        return
    if not proof:
        raise ProofError("empty consistency proof")
    for p in proof:
        _check_hash("proof element", p)
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # step 1: old tree is a full subtree, prepend its root
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:  # step 3
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof longer than needed")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof shorter than needed")
    if fr != old_root:
        raise ProofError(f"the log of size {new_size} does not contain the log of size {old_size} that was signed")
    if sr != new_root:
        raise ProofError(f"consistency proof does not lead to the root of size {new_size}")
