import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.verify import merkle


def _mth(leaves: list[bytes]) -> bytes:
    """Reference RFC 6962 tree hash, straight from the definition."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return merkle.leaf_hash(leaves[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return merkle.node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*_path(m, leaves[:k]), _mth(leaves[k:])]
    return [*_path(m - k, leaves[k:]), _mth(leaves[:k])]


def _subproof(m: int, leaves: list[bytes], b: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if b else [_mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*_subproof(m, leaves[:k], b), _mth(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), _mth(leaves[:k])]


@settings(max_examples=60)
@given(st.integers(min_value=1, max_value=70), st.data())
def test_inclusion_proofs_for_every_shape(n, data):
    leaves = [bytes([i]) * 3 for i in range(n)]
    m = data.draw(st.integers(min_value=0, max_value=n - 1))
    proof = _path(m, leaves)
    root = _mth(leaves)
    assert merkle.root_from_inclusion_proof(m, n, merkle.leaf_hash(leaves[m]), proof) == root
    if proof:
        bad = list(proof)
        bad[0] = bytes([bad[0][0] ^ 1]) + bad[0][1:]
        assert merkle.root_from_inclusion_proof(m, n, merkle.leaf_hash(leaves[m]), bad) != root
        with pytest.raises(merkle.ProofError):
            merkle.root_from_inclusion_proof(m, n, merkle.leaf_hash(leaves[m]), proof[:-1])
    with pytest.raises(merkle.ProofError):
        merkle.root_from_inclusion_proof(m, n, merkle.leaf_hash(leaves[m]), [*proof, b"\0" * 32])


@settings(max_examples=60)
@given(st.integers(min_value=1, max_value=70), st.data())
def test_consistency_proofs(n, data):
    leaves = [bytes([i]) for i in range(n)]
    m = data.draw(st.integers(min_value=1, max_value=n))
    proof = _subproof(m, leaves, True) if m < n else []
    assert merkle.verify_consistency(m, n, _mth(leaves[:m]), _mth(leaves), proof)
    assert not merkle.verify_consistency(m, n, _mth(leaves[:m]), _mth([*leaves[:-1], b"x"]), proof)
    if m < n:
        assert not merkle.verify_consistency(m, n, _mth(leaves[:m]), _mth(leaves), proof[:-1])


def test_index_outside_tree():
    with pytest.raises(merkle.ProofError):
        merkle.root_from_inclusion_proof(5, 5, b"\0" * 32, [])
