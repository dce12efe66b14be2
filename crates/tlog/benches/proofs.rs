//! Inclusion and consistency proof generation from in-memory expanded tiles (the lookup the
//! server's tile cache does), on one core, next to the raw SHA-256 node-hash rate measured in
//! the same run. Every proof generated is also verified once outside the timed loop.
//!
//!   cargo bench -p vouch-tlog --bench proofs [-- LEAVES]      (default 1,000,000)
#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::time::Instant;

use vouch_tlog::proof::{consistency_proof, inclusion_proof, verify_consistency, verify_inclusion};
use vouch_tlog::tile::MemoryTiles;
use vouch_tlog::{Hash, TreeEdge, leaf_hash, node_hash};

fn main() {
    let n: u64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(1_000_000);
    let t = Instant::now();
    let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    let mut edge = TreeEdge::new();
    let mut tiles = MemoryTiles::default();
    for chunk in leaves.chunks(65_536) {
        for u in edge.append(chunk.iter().copied()) {
            tiles.put(u.id, &u.hashes);
        }
    }
    let root = edge.root();
    println!("tree of {n} leaves built through tiles in {:.2} s", t.elapsed().as_secs_f64());

    // A cheap deterministic sequence of leaf indexes spread over the tree.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..1000 {
        let i = next() % n;
        let p = inclusion_proof(&tiles, i, n).unwrap();
        verify_inclusion(&leaves[i as usize].0, i, n, &p, &root.0).unwrap();
        let m = 1 + next() % n;
        let c = consistency_proof(&tiles, m, n).unwrap();
        let old = vouch_tlog::proof::tree_root(&tiles, m).unwrap();
        verify_consistency(m, n, &c, &old.0, &root.0).unwrap();
    }

    let rounds = 300_000u64;
    let t = Instant::now();
    for _ in 0..rounds {
        black_box(inclusion_proof(&tiles, next() % n, n).unwrap());
    }
    let inclusion = rounds as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for _ in 0..rounds {
        black_box(consistency_proof(&tiles, 1 + next() % n, n).unwrap());
    }
    let consistency = rounds as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut h = root;
    for _ in 0..rounds * 4 {
        h = node_hash(&h, &root);
    }
    black_box(h);
    let hashes = (rounds * 4) as f64 / t.elapsed().as_secs_f64();
    let depth = 64 - (n - 1).leading_zeros();
    println!("inclusion proofs:   {inclusion:.0}/s on one core (tree depth {depth})");
    println!("consistency proofs: {consistency:.0}/s on one core");
    println!(
        "peer: SHA-256 node hashes {hashes:.0}/s on one core ({:.0} proofs/s if each proof cost {depth} hashes)",
        hashes / f64::from(depth)
    );
}
