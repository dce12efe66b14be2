//! Every vector in `tests/vectors/tlog` (transparency-dev/merkle's test data), and properties
//! of generated proofs over trees built through tiles, as the log stores them.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use serde_json::Value;
use vouch_tlog::proof::{Leaves, consistency_proof, inclusion_proof, tree_root, verify_consistency, verify_inclusion};
use vouch_tlog::tile::MemoryTiles;
use vouch_tlog::{Hash, TreeEdge, leaf_hash};

fn dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/vectors/tlog"))
}

fn files(d: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

/// Base64 as the vectors write it; a value that does not decode is garbage the verifier sees.
fn b64(v: &Value) -> Vec<u8> {
    v.as_str().map(|s| STANDARD.decode(s).unwrap_or_else(|_| b"not base64".to_vec())).unwrap_or_default()
}

fn proof(v: &Value) -> Vec<Vec<u8>> {
    v.as_array().map(|a| a.iter().map(b64).collect()).unwrap_or_default()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// The 8-leaf tree of `rfc6962-roots.json`.
fn reference_tree() -> (Vec<Vec<u8>>, Vec<Hash>, Vec<Hash>) {
    let v: Value = serde_json::from_slice(&std::fs::read(dir().join("rfc6962-roots.json")).unwrap()).unwrap();
    let inputs: Vec<Vec<u8>> = v["leaf_inputs"].as_array().unwrap().iter().map(|s| hex(s.as_str().unwrap())).collect();
    let leaf_hashes: Vec<Hash> = v["leaf_hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| Hash::from_slice(&hex(s.as_str().unwrap())).unwrap())
        .collect();
    let roots: Vec<Hash> = v["roots_by_size"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| Hash::from_slice(&hex(s.as_str().unwrap())).unwrap())
        .collect();
    (inputs, leaf_hashes, roots)
}

#[test]
fn roots_by_size() {
    let (inputs, leaf_hashes, roots) = reference_tree();
    assert_eq!(roots.len(), 9);
    for (i, input) in inputs.iter().enumerate() {
        assert_eq!(leaf_hash(input), leaf_hashes[i]);
    }
    for (n, want) in roots.iter().enumerate() {
        assert_eq!(tree_root(&Leaves(leaf_hashes[..n].to_vec()), n as u64).unwrap(), *want, "size {n}");
        let mut edge = TreeEdge::new();
        edge.append(leaf_hashes[..n].iter().copied());
        assert_eq!(edge.root(), *want, "size {n} through the tree edge");
    }
}

#[test]
fn every_inclusion_and_consistency_vector() {
    let (_, leaf_hashes, roots) = reference_tree();
    let tree = Leaves(leaf_hashes);
    let mut all = Vec::new();
    files(&dir().join("inclusion"), &mut all);
    files(&dir().join("consistency"), &mut all);
    assert!(all.len() >= 196, "vectors missing: {}", all.len());
    let (mut passed, mut refused, mut compared) = (0, 0, 0);
    for f in &all {
        let v: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        let want_err = v["wantErr"].as_bool().unwrap();
        let result = if v.get("leafIdx").is_some() {
            let (index, size) = (v["leafIdx"].as_u64().unwrap(), v["treeSize"].as_u64().unwrap());
            let (p, root) = (proof(&v["proof"]), b64(&v["root"]));
            let r = verify_inclusion(&b64(&v["leafHash"]), index, size, &p, &root);
            // A happy path over the reference tree: the generated proof is the vector's.
            if !want_err && roots.get(size as usize).is_some_and(|h| h.0.as_slice() == root) && size > 1 {
                let ours: Vec<Vec<u8>> =
                    inclusion_proof(&tree, index, size).unwrap().iter().map(|h| h.0.to_vec()).collect();
                assert_eq!(ours, p, "{}", f.display());
                compared += 1;
            }
            r
        } else {
            let (s1, s2) = (v["size1"].as_u64().unwrap(), v["size2"].as_u64().unwrap());
            let (p, r1, r2) = (proof(&v["proof"]), b64(&v["root1"]), b64(&v["root2"]));
            let r = verify_consistency(s1, s2, &p, &r1, &r2);
            if !want_err && roots.get(s2 as usize).is_some_and(|h| h.0.as_slice() == r2) && s1 > 0 && s1 < s2 {
                let ours: Vec<Vec<u8>> =
                    consistency_proof(&tree, s1, s2).unwrap().iter().map(|h| h.0.to_vec()).collect();
                assert_eq!(ours, p, "{}", f.display());
                compared += 1;
            }
            r
        };
        assert_eq!(result.is_err(), want_err, "{}: {:?}", f.display(), result);
        if want_err { refused += 1 } else { passed += 1 }
    }
    assert!(passed > 10 && refused > 100 && compared > 5, "passed {passed}, refused {refused}, compared {compared}");
}

/// A tree built through tiles, as the log stores it.
fn tiled(n: u64) -> (Vec<Hash>, MemoryTiles, TreeEdge) {
    let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect();
    let mut edge = TreeEdge::new();
    let mut tiles = MemoryTiles::default();
    // Several batches, so partial tiles are replaced as they grow.
    for chunk in leaves.chunks(97) {
        for t in edge.append(chunk.iter().copied()) {
            tiles.put(t.id, &t.hashes);
        }
    }
    (leaves, tiles, edge)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn generated_proofs_verify(n in 1u64..3000, a in any::<u64>(), b in any::<u64>()) {
        let (leaves, tiles, edge) = tiled(n);
        let root = edge.root();
        prop_assert_eq!(tree_root(&tiles, n).unwrap(), root);
        let index = a % n;
        let p = inclusion_proof(&tiles, index, n).unwrap();
        prop_assert!(verify_inclusion(&leaves[index as usize].0, index, n, &p, &root.0).is_ok());
        // The wrong leaf or index does not verify.
        let other = (index + 1) % n;
        if other != index {
            prop_assert!(verify_inclusion(&leaves[other as usize].0, index, n, &p, &root.0).is_err());
        }
        // Any old size: the old head from the same tiles, and a proof that verifies.
        let old = 1 + b % n;
        let old_root = tree_root(&tiles, old).unwrap();
        let c = consistency_proof(&tiles, old, n).unwrap();
        prop_assert!(verify_consistency(old, n, &c, &old_root.0, &root.0).is_ok());
        if old < n {
            let mut bad = old_root;
            bad.0[0] ^= 1;
            prop_assert!(verify_consistency(old, n, &c, &bad.0, &root.0).is_err());
            // The old tree's inclusion proofs keep verifying against the old head.
            let i = a % old;
            let p = inclusion_proof(&tiles, i, old).unwrap();
            prop_assert!(verify_inclusion(&leaves[i as usize].0, i, old, &p, &old_root.0).is_ok());
        }
    }
}

#[test]
fn proofs_past_the_tree_are_refused() {
    let (_, tiles, _) = tiled(10);
    assert!(inclusion_proof(&tiles, 10, 10).is_err());
    assert!(consistency_proof(&tiles, 0, 10).is_err());
    assert!(consistency_proof(&tiles, 11, 10).is_err());
    assert!(inclusion_proof(&tiles, 3, 11).is_err(), "a node past the stored tree is missing, not invented");
}
