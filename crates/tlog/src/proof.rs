//! Tree heads, inclusion proofs and consistency proofs (RFC 9162 §2.1).
//!
//! Generation reads complete subtree hashes from a [`NodeSource`]; the hashes of incomplete
//! subtrees on a tree's right edge are computed from them. Verification takes the proof as
//! bytes, the way it arrives from a server, and checks every length.

use crate::{EMPTY_ROOT, Hash, TlogError, node_hash};

/// A complete subtree: the node at `level` (0: a leaf) covering leaves
/// `index * 2^level .. (index + 1) * 2^level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// Height above the leaves.
    pub level: u8,
    /// Position among the nodes of that level, from 0.
    pub index: u64,
}

/// Whatever holds the hashes of complete subtrees (tiles in memory, a test's vector of leaves).
pub trait NodeSource {
    /// The hash of a complete subtree, or `None` if this source does not hold it (yet).
    fn node(&self, id: NodeId) -> Option<Hash>;
}

/// The largest power of two strictly below `n` (n >= 2).
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// The hash of leaves `start..end` (non-empty; `start` aligned as in RFC 9162's recursion).
pub fn subtree_hash(src: &impl NodeSource, start: u64, end: u64) -> Result<Hash, TlogError> {
    let n = end - start;
    if n.is_power_of_two() {
        let level = n.trailing_zeros() as u8;
        let id = NodeId { level, index: start >> level };
        return src.node(id).ok_or(TlogError::MissingNode(id));
    }
    let k = split(n);
    Ok(node_hash(&subtree_hash(src, start, start + k)?, &subtree_hash(src, start + k, end)?))
}

/// The tree head (Merkle tree hash) of the first `size` leaves.
pub fn tree_root(src: &impl NodeSource, size: u64) -> Result<Hash, TlogError> {
    if size == 0 { Ok(EMPTY_ROOT) } else { subtree_hash(src, 0, size) }
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves, leaf side first.
pub fn inclusion_proof(src: &impl NodeSource, index: u64, size: u64) -> Result<Vec<Hash>, TlogError> {
    if index >= size {
        return Err(TlogError::OutOfRange(format!("leaf {index} is not in a tree of size {size}")));
    }
    let mut out = Vec::with_capacity(64);
    path(src, index, 0, size, &mut out)?;
    Ok(out)
}

/// PATH(m, D[start..start+n]), pushing the inner-most hash first.
fn path(src: &impl NodeSource, m: u64, start: u64, n: u64, out: &mut Vec<Hash>) -> Result<(), TlogError> {
    if n <= 1 {
        return Ok(());
    }
    let k = split(n);
    if m < k {
        path(src, m, start, k, out)?;
        out.push(subtree_hash(src, start + k, start + n)?);
    } else {
        path(src, m - k, start + k, n - k, out)?;
        out.push(subtree_hash(src, start, start + k)?);
    }
    Ok(())
}

/// The consistency proof between the trees of `old` and `new` leaves (0 < old <= new).
pub fn consistency_proof(src: &impl NodeSource, old: u64, new: u64) -> Result<Vec<Hash>, TlogError> {
    if old == 0 || old > new {
        return Err(TlogError::OutOfRange(format!("no consistency proof from size {old} to size {new}")));
    }
    let mut out = Vec::with_capacity(64);
    subproof(src, old, 0, new, true, &mut out)?;
    Ok(out)
}

/// SUBPROOF(m, D[start..start+n], b).
fn subproof(
    src: &impl NodeSource,
    m: u64,
    start: u64,
    n: u64,
    complete: bool,
    out: &mut Vec<Hash>,
) -> Result<(), TlogError> {
    if m == n {
        if !complete {
            out.push(subtree_hash(src, start, start + n)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(src, m, start, k, complete, out)?;
        out.push(subtree_hash(src, start + k, start + n)?);
    } else {
        subproof(src, m - k, start + k, n - k, false, out)?;
        out.push(subtree_hash(src, start, start + k)?);
    }
    Ok(())
}

/// RFC 9162's "right-shift fn and sn equally until LSB(fn) is set or fn is 0": the levels
/// where the node is a left child on the tree's right edge, which take no proof hash.
fn skip_left_edges(f: &mut u64, s: &mut u64) {
    while *f & 1 == 0 && *f != 0 {
        *f >>= 1;
        *s >>= 1;
    }
}

fn element(bytes: &[u8]) -> Result<Hash, TlogError> {
    Hash::from_slice(bytes).ok_or(TlogError::ProofInvalid("a proof hash is not 32 bytes"))
}

/// Checks that `leaf` (a leaf hash) is leaf `index` of the tree of `size` leaves whose head is
/// `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion<P: AsRef<[u8]>>(
    leaf: &[u8],
    index: u64,
    size: u64,
    proof: &[P],
    root: &[u8],
) -> Result<(), TlogError> {
    let computed = root_from_inclusion(leaf, index, size, proof)?;
    if computed.0.as_slice() != root {
        return Err(TlogError::ProofInvalid("the computed root differs from the tree head"));
    }
    Ok(())
}

/// The tree head that an inclusion proof leads to.
pub fn root_from_inclusion<P: AsRef<[u8]>>(leaf: &[u8], index: u64, size: u64, proof: &[P]) -> Result<Hash, TlogError> {
    if index >= size {
        return Err(TlogError::ProofInvalid("the leaf index is not below the tree size"));
    }
    let mut r = Hash::from_slice(leaf).ok_or(TlogError::ProofInvalid("the leaf hash is not 32 bytes"))?;
    let (mut f, mut s) = (index, size - 1);
    for p in proof {
        let p = element(p.as_ref())?;
        if s == 0 {
            return Err(TlogError::ProofInvalid("the proof is too long"));
        }
        if f & 1 == 1 || f == s {
            r = node_hash(&p, &r);
            skip_left_edges(&mut f, &mut s);
        } else {
            r = node_hash(&r, &p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(TlogError::ProofInvalid("the proof is too short"));
    }
    Ok(r)
}

/// Checks that the tree of `size2` leaves with head `root2` extends the tree of `size1` leaves
/// with head `root1` (RFC 9162 §2.1.4.2). A proof from the empty tree proves nothing and is
/// refused.
pub fn verify_consistency<P: AsRef<[u8]>>(
    size1: u64,
    size2: u64,
    proof: &[P],
    root1: &[u8],
    root2: &[u8],
) -> Result<(), TlogError> {
    if size2 < size1 {
        return Err(TlogError::ProofInvalid("the second tree is smaller than the first"));
    }
    if size1 == 0 {
        return Err(TlogError::ProofInvalid("consistency with the empty tree proves nothing"));
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(TlogError::ProofInvalid("equal sizes need an empty proof"));
        }
        if root1 != root2 {
            return Err(TlogError::ProofInvalid("equal sizes but different tree heads"));
        }
        return Ok(());
    }
    let Some((first, rest)) = proof.split_first() else {
        return Err(TlogError::ProofInvalid("the proof is empty"));
    };
    // When the old tree is a complete subtree, its head is the proof's implicit first element.
    let (seed, rest): (Hash, &[P]) =
        if size1.is_power_of_two() { (element(root1)?, proof) } else { (element(first.as_ref())?, rest) };
    let (mut f, mut s) = (size1 - 1, size2 - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (seed, seed);
    for c in rest {
        let c = element(c.as_ref())?;
        if s == 0 {
            return Err(TlogError::ProofInvalid("the proof is too long"));
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(&c, &fr);
            sr = node_hash(&c, &sr);
            skip_left_edges(&mut f, &mut s);
        } else {
            sr = node_hash(&sr, &c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(TlogError::ProofInvalid("the proof is too short"));
    }
    if fr.0.as_slice() != root1 {
        return Err(TlogError::ProofInvalid("the proof does not lead to the old tree head"));
    }
    if sr.0.as_slice() != root2 {
        return Err(TlogError::ProofInvalid("the proof does not lead to the new tree head"));
    }
    Ok(())
}

/// A [`NodeSource`] over a list of leaf hashes, computing every node (for tests and small
/// trees; O(2^level) per node).
#[derive(Debug, Clone, Default)]
pub struct Leaves(pub Vec<Hash>);

impl NodeSource for Leaves {
    fn node(&self, id: NodeId) -> Option<Hash> {
        let width = 1u64.checked_shl(u32::from(id.level))?;
        let start = id.index.checked_mul(width)?;
        let end = start.checked_add(width)?;
        if end > self.0.len() as u64 {
            return None;
        }
        fn rec(l: &[Hash]) -> Hash {
            if l.len() == 1 {
                return l[0];
            }
            let (a, b) = l.split_at(l.len() / 2);
            node_hash(&rec(a), &rec(b))
        }
        Some(rec(&self.0[start as usize..end as usize]))
    }
}
