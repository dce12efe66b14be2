//! The C2SP `tlog-tiles` layout: hash tiles, entry bundles and their paths.
//!
//! A tile at level L, index N holds the hashes of level 8·L of the tree (level 0: the leaf
//! hashes) for positions 256·N .. 256·N + W; W is 256 for a full tile and 1..255 for the
//! rightmost, partial one. Entry bundles hold the entries (leaf data) of 256 leaves, each
//! behind a big-endian 16-bit length.

use std::collections::HashMap;
use std::sync::Arc;

use crate::proof::{NodeId, NodeSource};
use crate::{Hash, TlogError};

/// Levels of the tree per tile.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes (or entries) in a full tile.
pub const TILE_WIDTH: usize = 256;

/// A hash tile: its level in tiles and its index at that level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    /// The tile level (0: leaf hashes).
    pub level: u8,
    /// The tile's index at its level.
    pub index: u64,
}

/// A path under the log's prefix, as a client asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TilePath {
    /// `tile/<L>/<N>[.p/<W>]`.
    Hashes {
        /// Which tile.
        id: TileId,
        /// 1..=256; below 256 the path named a partial tile.
        width: u16,
    },
    /// `tile/entries/<N>[.p/<W>]`.
    Entries {
        /// The bundle's index.
        index: u64,
        /// 1..=256, as for hash tiles.
        width: u16,
    },
}

impl TilePath {
    /// Parses a path relative to the log's prefix (`tile/0/x001/234.p/7`).
    pub fn parse(path: &str) -> Result<Self, TlogError> {
        let rest = path.strip_prefix("tile/").ok_or(TlogError::BadTilePath("not under tile/"))?;
        let (kind, rest) = rest.split_once('/').ok_or(TlogError::BadTilePath("no tile index"))?;
        let (index_part, width) = match rest.split_once(".p/") {
            Some((n, w)) => (n, parse_width(w)?),
            None => (rest, TILE_WIDTH as u16),
        };
        let index = parse_index(index_part)?;
        if kind == "entries" {
            return Ok(Self::Entries { index, width });
        }
        let level: u8 = match kind.as_bytes() {
            [d] if d.is_ascii_digit() => d - b'0',
            [a, b] if *a != b'0' && a.is_ascii_digit() && b.is_ascii_digit() => (a - b'0') * 10 + (b - b'0'),
            _ => return Err(TlogError::BadTilePath("the level is not a number from 0 to 63")),
        };
        if level > 63 {
            return Err(TlogError::BadTilePath("the level is not a number from 0 to 63"));
        }
        Ok(Self::Hashes { id: TileId { level, index }, width })
    }

    /// The path relative to the log's prefix.
    pub fn format(&self) -> String {
        let (kind, index, width) = match self {
            Self::Hashes { id, width } => (id.level.to_string(), id.index, *width),
            Self::Entries { index, width } => ("entries".to_string(), *index, *width),
        };
        let mut s = format!("tile/{kind}/{}", format_index(index));
        if usize::from(width) < TILE_WIDTH {
            s.push_str(&format!(".p/{width}"));
        }
        s
    }
}

fn parse_width(w: &str) -> Result<u16, TlogError> {
    // Digits only (no sign, no leading zero), 1 to 255.
    match w.parse::<u16>() {
        Ok(n @ 1..=255) if w.bytes().all(|b| b.is_ascii_digit()) && !w.starts_with('0') => Ok(n),
        _ => Err(TlogError::BadTilePath("a partial width is a number from 1 to 255")),
    }
}

/// `x001/x234/067` → 1234067: 3-digit groups, all but the last prefixed with `x`, no leading
/// zero group.
fn parse_index(s: &str) -> Result<u64, TlogError> {
    const BAD: TlogError = TlogError::BadTilePath("the index is not in x001/x234/067 form");
    let parts: Vec<&str> = s.split('/').collect();
    if parts.len() > 7 {
        return Err(BAD);
    }
    let mut n: u64 = 0;
    for (i, p) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let digits = if last { *p } else { p.strip_prefix('x').ok_or(BAD)? };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BAD);
        }
        if i == 0 && !last && digits == "000" {
            return Err(BAD);
        }
        let d: u64 = digits.parse().map_err(|_| BAD)?;
        n = n.checked_mul(1000).and_then(|n| n.checked_add(d)).ok_or(BAD)?;
    }
    Ok(n)
}

fn format_index(n: u64) -> String {
    let mut groups = vec![n % 1000];
    let mut rest = n / 1000;
    while rest > 0 {
        groups.push(rest % 1000);
        rest /= 1000;
    }
    let mut s = String::new();
    for (i, g) in groups.iter().rev().enumerate() {
        if i > 0 {
            s.push('/');
        }
        if i + 1 < groups.len() {
            s.push('x');
        }
        s.push_str(&format!("{g:03}"));
    }
    s
}

/// Where a complete node lives: the tile, the row inside the expanded tile
/// ([`crate::expand_tile`]) and the position in that row.
pub fn locate(id: NodeId) -> (TileId, usize, usize) {
    let level = id.level / TILE_HEIGHT;
    let r = u32::from(id.level % TILE_HEIGHT);
    let index = id.index >> (u32::from(TILE_HEIGHT) - r);
    let pos = (id.index & ((1u64 << (u32::from(TILE_HEIGHT) - r)) - 1)) as usize;
    (TileId { level, index }, r as usize, pos)
}

/// A tile with every complete node inside it ([`crate::expand_tile`]), shared.
pub type ExpandedTile = Arc<Vec<Vec<Hash>>>;

/// Expanded tiles in memory, as a [`NodeSource`]: a server's tile cache, a test's whole tree.
#[derive(Debug, Clone, Default)]
pub struct MemoryTiles(pub HashMap<TileId, ExpandedTile>);

impl MemoryTiles {
    /// Stores (replacing) a tile from its bottom row; returns it expanded.
    pub fn put(&mut self, id: TileId, hashes: &[Hash]) -> ExpandedTile {
        let t = Arc::new(crate::expand_tile(hashes));
        self.0.insert(id, t.clone());
        t
    }

    /// A stored tile.
    pub fn get(&self, id: TileId) -> Option<ExpandedTile> {
        self.0.get(&id).cloned()
    }
}

impl NodeSource for MemoryTiles {
    fn node(&self, id: NodeId) -> Option<Hash> {
        let (tile, row, pos) = locate(id);
        self.0.get(&tile)?.get(row)?.get(pos).copied()
    }
}

/// Parses a hash tile's bytes (a multiple of 32, at most 256 hashes).
pub fn parse_hash_tile(bytes: &[u8]) -> Result<Vec<Hash>, TlogError> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(32) || bytes.len() > 32 * TILE_WIDTH {
        return Err(TlogError::BadTile("a hash tile is 1 to 256 hashes of 32 bytes"));
    }
    Ok(bytes.chunks_exact(32).filter_map(Hash::from_slice).collect())
}

/// The longest entry an entry bundle can carry.
pub const MAX_ENTRY: usize = u16::MAX as usize;

/// Encodes an entry bundle: each entry behind its big-endian 16-bit length.
pub fn encode_bundle<E: AsRef<[u8]>>(entries: &[E]) -> Result<Vec<u8>, TlogError> {
    let mut out = Vec::with_capacity(entries.iter().map(|e| e.as_ref().len() + 2).sum());
    for e in entries {
        let e = e.as_ref();
        let len = u16::try_from(e.len()).map_err(|_| TlogError::BadTile("an entry is longer than 65,535 bytes"))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Parses an entry bundle into its entries (at most 256).
pub fn parse_bundle(bytes: &[u8]) -> Result<Vec<&[u8]>, TlogError> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let [a, b, tail @ ..] = rest else { return Err(TlogError::BadTile("a truncated entry length")) };
        let len = usize::from(u16::from_be_bytes([*a, *b]));
        if tail.len() < len {
            return Err(TlogError::BadTile("a truncated entry"));
        }
        let (e, r) = tail.split_at(len);
        out.push(e);
        rest = r;
        if out.len() > TILE_WIDTH {
            return Err(TlogError::BadTile("more than 256 entries in a bundle"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip_and_follow_the_spec_examples() {
        for (s, p) in [
            ("tile/0/000", TilePath::Hashes { id: TileId { level: 0, index: 0 }, width: 256 }),
            ("tile/0/x001/x234/067", TilePath::Hashes { id: TileId { level: 0, index: 1_234_067 }, width: 256 }),
            ("tile/1/x001/000.p/7", TilePath::Hashes { id: TileId { level: 1, index: 1000 }, width: 7 }),
            ("tile/entries/x001/x234/067.p/255", TilePath::Entries { index: 1_234_067, width: 255 }),
            ("tile/entries/999", TilePath::Entries { index: 999, width: 256 }),
        ] {
            assert_eq!(TilePath::parse(s), Ok(p), "{s}");
            assert_eq!(p.format(), s);
        }
        for bad in [
            "tile/0/1",
            "tile/0/0001",
            "tile/0/x000/001",
            "tile/0/001/002",
            "tile/0/x001",
            "tile/00/000",
            "tile/64/000",
            "tile/0/000.p/0",
            "tile/0/000.p/256",
            "tile/0/000.p/07",
            "tile/0/000.p/",
            "tile/x/000",
            "tile/entries/x999/x999/x999/x999/x999/x999/999",
            "tiles/0/000",
            "tile/0/-01",
            "tile/0/000/",
        ] {
            assert!(TilePath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bundles_round_trip() {
        let entries: Vec<&[u8]> = vec![b"", b"a", &[0u8; 300]];
        let b = encode_bundle(&entries).unwrap();
        assert_eq!(parse_bundle(&b).unwrap(), entries);
        assert!(parse_bundle(&b[..b.len() - 1]).is_err());
        assert!(parse_bundle(&[0]).is_err());
        assert!(encode_bundle(&[vec![0u8; 70_000]]).is_err());
    }
}
