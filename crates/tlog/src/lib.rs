//! vouch's transparency log, with no I/O.
//!
//! - [`Hash`], [`leaf_hash`], [`node_hash`]: RFC 6962 (RFC 9162 §2.1) hashing with SHA-256.
//! - [`proof`]: tree heads of any size, inclusion and consistency proofs, generated from a
//!   [`NodeSource`] (whatever holds the complete subtree hashes) and verified from bytes.
//! - [`TreeEdge`]: the right edge of a growing tree; appending leaf hashes yields the tiles that
//!   changed and the new root.
//! - [`tile`]: the C2SP `tlog-tiles` layout (hash tiles, entry bundles, their paths).
//! - [`note`] and [`Checkpoint`]: C2SP `signed-note` (Ed25519) and `tlog-checkpoint`.
//!
//! Everything here takes bytes and values and returns values and bytes; storage, HTTP and the
//! clock belong to the callers.

mod checkpoint;
mod hash;
pub mod note;
pub mod proof;
pub mod tile;
mod tree;

pub use checkpoint::Checkpoint;
pub use hash::{EMPTY_ROOT, Hash, leaf_hash, node_hash};
pub use note::{NoteSigner, NoteVerifier, SignedNote};
pub use proof::{NodeId, NodeSource};
pub use tile::{TILE_HEIGHT, TILE_WIDTH, TileId, TilePath};
pub use tree::{TileUpdate, TreeEdge, expand_tile};

/// Everything that can go wrong in the log's formats and proofs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlogError {
    /// A proof does not prove what it claims (wrong root, wrong length, bad element).
    #[error("proof does not verify: {0}")]
    ProofInvalid(&'static str),
    /// A proof was asked for sizes or indexes that the tree does not have.
    #[error("out of range: {0}")]
    OutOfRange(String),
    /// A hash the proof needs is not available from the node source.
    #[error("node {0:?} is not available")]
    MissingNode(NodeId),
    /// A tile or entry path does not follow the C2SP tlog-tiles layout.
    #[error("not a tile path: {0}")]
    BadTilePath(&'static str),
    /// A tile or entry bundle's bytes are malformed.
    #[error("malformed tile: {0}")]
    BadTile(&'static str),
    /// A checkpoint's text is malformed.
    #[error("malformed checkpoint: {0}")]
    BadCheckpoint(&'static str),
    /// A signed note is malformed.
    #[error("malformed note: {0}")]
    BadNote(&'static str),
    /// A note verifier or signer key is malformed.
    #[error("malformed key: {0}")]
    BadKey(&'static str),
    /// No signature on the note verifies with the expected key (or one by that key fails).
    #[error("note signature: {0}")]
    BadSignature(&'static str),
}
