//! The right edge of a growing tree, in tiles.

use std::collections::BTreeMap;

use crate::tile::{TILE_HEIGHT, TILE_WIDTH, TileId};
use crate::{EMPTY_ROOT, Hash, TlogError, node_hash};

/// A hash tile whose content changed: its bottom row (256 hashes when full).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TileUpdate {
    /// Which tile.
    pub id: TileId,
    /// The tile's hashes, left to right.
    pub hashes: Vec<Hash>,
}

impl TileUpdate {
    /// The tile's bytes as served (`tlog-tiles`): the hashes concatenated.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.hashes.iter().flat_map(|h| h.0).collect()
    }
}

/// The right edge of a tree: for each tile level, the bottom row of its rightmost, partial
/// tile. That is all appending needs; full tiles never change again.
#[derive(Debug, Clone, Default)]
pub struct TreeEdge {
    size: u64,
    rows: Vec<Vec<Hash>>,
}

impl PartialEq for TreeEdge {
    fn eq(&self, other: &Self) -> bool {
        fn trimmed(rows: &[Vec<Hash>]) -> &[Vec<Hash>] {
            let n = rows.iter().rposition(|r| !r.is_empty()).map_or(0, |i| i + 1);
            &rows[..n]
        }
        self.size == other.size && trimmed(&self.rows) == trimmed(&other.rows)
    }
}

impl Eq for TreeEdge {}

/// How many hashes the rightmost tile at `level` holds in a tree of `size` leaves.
fn partial_width(size: u64, level: usize) -> usize {
    let shift = TILE_HEIGHT as usize * level;
    if shift >= 64 { 0 } else { ((size >> shift) % TILE_WIDTH as u64) as usize }
}

impl TreeEdge {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// The edge of a stored tree of `size` leaves from its partial tiles' rows (index = tile
    /// level). Each row's length must be what that size implies.
    pub fn from_rows(size: u64, mut rows: Vec<Vec<Hash>>) -> Result<Self, TlogError> {
        let levels = Self::levels_for(size);
        rows.resize(levels.max(rows.len()), Vec::new());
        for (level, row) in rows.iter().enumerate() {
            if row.len() != partial_width(size, level) {
                return Err(TlogError::BadTile("a partial tile's width does not match the tree size"));
            }
        }
        Ok(Self { size, rows })
    }

    /// The rightmost, partial tile of each level of a tree of `size` leaves, with its width
    /// (0: that level has no partial tile): what [`TreeEdge::from_rows`] needs read back.
    pub fn edge_tiles(size: u64) -> Vec<(TileId, usize)> {
        (0..Self::levels_for(size))
            .map(|level| {
                let index = size >> (TILE_HEIGHT as usize * (level + 1));
                (TileId { level: level as u8, index }, partial_width(size, level))
            })
            .collect()
    }

    /// How many tile levels a tree of `size` leaves has.
    fn levels_for(size: u64) -> usize {
        let mut levels = 1;
        while levels * (TILE_HEIGHT as usize) < 64 && (size >> (TILE_HEIGHT as usize * levels)) > 0 {
            levels += 1;
        }
        levels
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The partial tiles (non-empty rightmost tiles) of every level.
    pub fn partial_tiles(&self) -> Vec<TileUpdate> {
        Self::edge_tiles(self.size)
            .into_iter()
            .zip(&self.rows)
            .filter(|(_, r)| !r.is_empty())
            .map(|((id, _), r)| TileUpdate { id, hashes: r.clone() })
            .collect()
    }

    /// Appends leaf hashes; returns every tile that changed (full tiles that filled, and the
    /// partial tiles as they now stand), ordered by level then index.
    pub fn append(&mut self, leaves: impl IntoIterator<Item = Hash>) -> Vec<TileUpdate> {
        let mut changed: BTreeMap<TileId, Vec<Hash>> = BTreeMap::new();
        for leaf in leaves {
            self.size += 1;
            let mut h = leaf;
            let mut level = 0usize;
            loop {
                if self.rows.len() <= level {
                    self.rows.push(Vec::with_capacity(TILE_WIDTH));
                }
                self.rows[level].push(h);
                if self.rows[level].len() < TILE_WIDTH {
                    break;
                }
                let row = std::mem::replace(&mut self.rows[level], Vec::with_capacity(TILE_WIDTH));
                h = subtree_root(&row);
                let index = (self.size >> (TILE_HEIGHT as usize * (level + 1))) - 1;
                changed.insert(TileId { level: level as u8, index }, row);
                level += 1;
            }
        }
        for t in self.partial_tiles() {
            changed.insert(t.id, t.hashes);
        }
        changed.into_iter().map(|(id, hashes)| TileUpdate { id, hashes }).collect()
    }

    /// The tree head.
    pub fn root(&self) -> Hash {
        // The complete subtrees of the tree, left to right: from the top level down, each
        // partial row split into power-of-two runs, largest first.
        let mut parts = Vec::new();
        for row in self.rows.iter().rev() {
            let mut start = 0;
            let mut n = row.len();
            while n > 0 {
                let run = 1usize << (usize::BITS - 1 - n.leading_zeros());
                parts.push(subtree_root(&row[start..start + run]));
                start += run;
                n -= run;
            }
        }
        let Some((last, rest)) = parts.split_last() else { return EMPTY_ROOT };
        rest.iter().rev().fold(*last, |acc, left| node_hash(left, &acc))
    }
}

/// The nodes one level above `row`: its complete pairs hashed.
fn parents(row: &[Hash]) -> Vec<Hash> {
    row.chunks_exact(2).map(|p| node_hash(&p[0], &p[1])).collect()
}

/// The hash of a complete subtree from its bottom row (length a power of two).
fn subtree_root(row: &[Hash]) -> Hash {
    let mut level = parents(row);
    while level.len() > 1 {
        level = parents(&level);
    }
    level.first().copied().unwrap_or(row[0])
}

/// Every complete node inside a tile: row 0 is the tile itself, row r holds the nodes r levels
/// above it (row 8, for a full tile, is the single node the next tile level starts from).
pub fn expand_tile(row: &[Hash]) -> Vec<Vec<Hash>> {
    let mut rows = vec![row.to_vec()];
    while let Some(last) = rows.last().filter(|r| r.len() >= 2) {
        rows.push(parents(last));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leaf_hash;
    use crate::proof::{Leaves, tree_root};

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn root_matches_the_recursive_definition() {
        for n in [0u64, 1, 2, 3, 255, 256, 257, 511, 512, 700, 65_536 + 300] {
            let l = leaves(n);
            let mut e = TreeEdge::new();
            e.append(l.iter().copied());
            let by_def = if n <= 1024 { tree_root(&Leaves(l.clone()), n).unwrap() } else { e.root() };
            assert_eq!(e.root(), by_def, "size {n}");
            // Appending in two batches gives the same edge and the same tiles overall.
            let mut a = TreeEdge::new();
            let k = (n / 3) as usize;
            a.append(l[..k].iter().copied());
            a.append(l[k..].iter().copied());
            assert_eq!(a, e);
            // Reloading from the partial rows gives the same edge.
            let rows: Vec<Vec<Hash>> = e.rows.clone();
            assert_eq!(TreeEdge::from_rows(n, rows).unwrap(), e);
        }
    }

    #[test]
    fn tiles_hold_the_right_nodes() {
        let l = leaves(700);
        let mut e = TreeEdge::new();
        let tiles = e.append(l.iter().copied());
        let ids: Vec<(u8, u64, usize)> = tiles.iter().map(|t| (t.id.level, t.id.index, t.hashes.len())).collect();
        assert_eq!(ids, vec![(0, 0, 256), (0, 1, 256), (0, 2, 188), (1, 0, 2)]);
        assert_eq!(tiles[3].hashes[1], Leaves(l.clone()).node(crate::NodeId { level: 8, index: 1 }).unwrap());
        let x = expand_tile(&tiles[0].hashes);
        assert_eq!(x.len(), 9);
        assert_eq!(x[8][0], tiles[3].hashes[0]);
        assert!(TreeEdge::from_rows(700, vec![vec![]]).is_err());
    }

    use crate::NodeSource as _;
}
