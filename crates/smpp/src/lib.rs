//! SMPP 3.4 as vouch's gateway speaks it, with no I/O: bytes in, values out, values to bytes.
//!
//! - [`frame`] and [`decode`]: a PDU's header and body (rusmpp's borrowed decoder underneath,
//!   read through [`Body`]); lengths that lie are errors that end the connection.
//! - [`encode_bind_resp`], [`encode_message_resp`], [`encode_message`]…: the PDUs vouch sends.
//! - [`session`]: what an ESME may send in which bind state, and the window of outstanding
//!   requests.
//! - [`text`]: user data to text (GSM 03.38, Latin-1, UCS-2), UDH concatenation references.
//! - [`concat`]: reassembly of concatenated messages (UDH 8/16-bit, SAR TLVs) before content
//!   checks.
//! - [`receipt`]: delivery receipt text (`id:… stat:…`), read and rewritten under another id.
//! - [`CommandStatus`]: the standard statuses and vouch's vendor range 0x400-0x4FF.

pub mod concat;
mod pdu;
pub mod receipt;
pub mod session;
mod status;
pub mod text;

pub use pdu::{
    Address, Bind, BindMode, Body, CommandId, HEADER_LEN, Header, MAX_PDU_LEN, MAX_TLVS, OutboundMessage, Pdu, Sar,
    ShortMessage, TLV_VOUCH_FLAG, append_tlv, decode, encode_bind, encode_bind_resp, encode_header_only,
    encode_message, encode_message_resp, frame, sequence, set_sequence,
};
pub use status::CommandStatus;

/// Everything reading or writing a PDU can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SmppError {
    /// `command_length` is below the 16-byte header.
    #[error("command_length {0} is shorter than the 16-byte header")]
    LengthTooShort(usize),
    /// `command_length` is above [`MAX_PDU_LEN`].
    #[error("command_length {0} is longer than the {MAX_PDU_LEN}-byte limit")]
    LengthTooLong(usize),
    /// The bytes given are not the declared length.
    #[error("command_length says {declared} bytes but the PDU has {actual}")]
    LengthMismatch {
        /// The header's `command_length`.
        declared: usize,
        /// The bytes given.
        actual: usize,
    },
    /// The body does not decode.
    #[error("command 0x{command_id:08X} does not decode: {detail}")]
    Malformed {
        /// The header's `command_id`.
        command_id: u32,
        /// What rusmpp said.
        detail: String,
        /// The command_status that names the fault (the field that failed: 0x0A for the
        /// source address, 0xC0 for the TLVs…; 0x02 when no field is to blame).
        status: CommandStatus,
    },
    /// A value does not fit its field.
    #[error("cannot encode: {0}")]
    Encode(String),
}
