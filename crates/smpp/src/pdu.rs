//! PDUs: framing, decoding (rusmpp's borrowed decoder, then a view of what vouch reads) and
//! encoding of the PDUs vouch sends.

use rusmpp_core::command::borrowed::Command;
use rusmpp_core::decode::borrowed::DecodeWithLength;
use rusmpp_core::encode::{Encode, Length};
use rusmpp_core::pdus::borrowed::{
    BindReceiver, BindReceiverResp, BindTransceiver, BindTransceiverResp, BindTransmitter, BindTransmitterResp,
    DataSmResp, DeliverSm, DeliverSmResp, Pdu as RPdu, SubmitSm, SubmitSmResp,
};
use rusmpp_core::tlvs::borrowed::{MessageDeliveryRequestTlvValue, MessageSubmissionRequestTlvValue, Tlv, TlvValue};
use rusmpp_core::types::borrowed::{COctetString, EmptyOrFullCOctetString, OctetString};
use rusmpp_core::values::{InterfaceVersion, MessageState, Npi, Ton};

use crate::{CommandStatus, SmppError};

/// Most TLVs a PDU may carry (more is a decoding error).
pub const MAX_TLVS: usize = 32;

/// The length of the PDU header.
pub const HEADER_LEN: usize = 16;

/// The longest PDU vouch reads: a 64 KiB `message_payload` plus the header and fields fits.
pub const MAX_PDU_LEN: usize = 66_560;

type RCommand<'a> = Command<'a, MAX_TLVS>;

/// SMPP command ids vouch names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CommandId(pub u32);

impl CommandId {
    /// generic_nack.
    pub const GENERIC_NACK: CommandId = CommandId(0x8000_0000);
    /// bind_receiver.
    pub const BIND_RECEIVER: CommandId = CommandId(0x0000_0001);
    /// bind_transmitter.
    pub const BIND_TRANSMITTER: CommandId = CommandId(0x0000_0002);
    /// submit_sm.
    pub const SUBMIT_SM: CommandId = CommandId(0x0000_0004);
    /// deliver_sm.
    pub const DELIVER_SM: CommandId = CommandId(0x0000_0005);
    /// unbind.
    pub const UNBIND: CommandId = CommandId(0x0000_0006);
    /// bind_transceiver.
    pub const BIND_TRANSCEIVER: CommandId = CommandId(0x0000_0009);
    /// enquire_link.
    pub const ENQUIRE_LINK: CommandId = CommandId(0x0000_0015);
    /// data_sm.
    pub const DATA_SM: CommandId = CommandId(0x0000_0103);
    /// query_sm.
    pub const QUERY_SM: CommandId = CommandId(0x0000_0003);
    /// replace_sm.
    pub const REPLACE_SM: CommandId = CommandId(0x0000_0007);
    /// cancel_sm.
    pub const CANCEL_SM: CommandId = CommandId(0x0000_0008);
    /// submit_multi.
    pub const SUBMIT_MULTI: CommandId = CommandId(0x0000_0021);

    /// Whether this is a response (the high bit).
    pub fn is_response(self) -> bool {
        self.0 & 0x8000_0000 != 0
    }

    /// The response id of a request.
    pub fn response(self) -> CommandId {
        CommandId(self.0 | 0x8000_0000)
    }
}

/// The 16-byte header every PDU starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// `command_length`, header included.
    pub length: usize,
    /// `command_id`.
    pub command_id: CommandId,
    /// `command_status`.
    pub status: CommandStatus,
    /// `sequence_number`.
    pub sequence: u32,
}

/// Reads the header of the PDU at the start of `buf`: `Ok(None)` until 16 bytes are there; an
/// error when the length lies (shorter than a header, or longer than [`MAX_PDU_LEN`]), after
/// which the stream cannot be resynchronised and the connection must close.
pub fn frame(buf: &[u8]) -> Result<Option<Header>, SmppError> {
    let Some(h) = buf.get(..HEADER_LEN) else { return Ok(None) };
    let word = |i: usize| u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    let length = word(0) as usize;
    if length < HEADER_LEN {
        return Err(SmppError::LengthTooShort(length));
    }
    if length > MAX_PDU_LEN {
        return Err(SmppError::LengthTooLong(length));
    }
    Ok(Some(Header { length, command_id: CommandId(word(4)), status: CommandStatus(word(8)), sequence: word(12) }))
}

/// The sequence number in the header at the start of `buf`, when 16 bytes are there (also for
/// a header whose length lies, to address the generic_nack that answers it).
pub fn sequence(buf: &[u8]) -> Option<u32> {
    buf.get(12..16).map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Replaces the sequence number of an encoded PDU (forwarding a PDU as it came, under the
/// next session's numbering).
pub fn set_sequence(pdu: &mut [u8], sequence: u32) {
    if let Some(s) = pdu.get_mut(12..16) {
        s.copy_from_slice(&sequence.to_be_bytes());
    }
}

/// The vendor-specific TLV (SMPP 3.4 section 5.3.2: tags 0x1400-0x3FFF, which an SMSC that
/// does not know them ignores) vouch adds to a message it forwards under the `flag` policy:
/// its value is the command_status (4 octets, big-endian) the failed check would have
/// answered, so the carrier sees why it was flagged.
pub const TLV_VOUCH_FLAG: u16 = 0x1430;

/// Appends a TLV to a whole PDU (`pdu`, header included) and makes its command_length say
/// so. Only for PDUs whose body ends with their TLVs (submit_sm, data_sm, deliver_sm).
pub fn append_tlv(pdu: &mut Vec<u8>, tag: u16, value: &[u8]) {
    let Ok(len) = u16::try_from(value.len()) else { return };
    pdu.extend_from_slice(&tag.to_be_bytes());
    pdu.extend_from_slice(&len.to_be_bytes());
    pdu.extend_from_slice(value);
    let total = u32::try_from(pdu.len()).unwrap_or(u32::MAX);
    if let Some(l) = pdu.get_mut(0..4) {
        l.copy_from_slice(&total.to_be_bytes());
    }
}

/// How an ESME binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BindMode {
    /// bind_transmitter: submits only.
    Transmitter,
    /// bind_receiver: receives deliver_sm only.
    Receiver,
    /// bind_transceiver: both.
    Transceiver,
}

impl BindMode {
    /// May submit messages.
    pub fn transmits(self) -> bool {
        matches!(self, Self::Transmitter | Self::Transceiver)
    }
    /// May receive deliver_sm.
    pub fn receives(self) -> bool {
        matches!(self, Self::Receiver | Self::Transceiver)
    }
    /// The bind request's command id.
    pub fn command_id(self) -> CommandId {
        match self {
            Self::Transmitter => CommandId::BIND_TRANSMITTER,
            Self::Receiver => CommandId::BIND_RECEIVER,
            Self::Transceiver => CommandId::BIND_TRANSCEIVER,
        }
    }
    /// `tx`, `rx` or `trx`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transmitter => "tx",
            Self::Receiver => "rx",
            Self::Transceiver => "trx",
        }
    }
}

/// A bind request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind<'a> {
    /// How.
    pub mode: BindMode,
    /// `system_id`.
    pub system_id: &'a str,
    /// `password`.
    pub password: &'a str,
    /// `interface_version` (0x34 for SMPP 3.4).
    pub interface_version: u8,
}

/// A source or destination address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address<'a> {
    /// Type of number (1 international, 2 national…).
    pub ton: u8,
    /// Numbering plan (1 E.164).
    pub npi: u8,
    /// The digits as sent.
    pub addr: &'a str,
}

/// SAR TLVs of one part of a concatenated message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sar {
    /// `sar_msg_ref_num`.
    pub reference: u16,
    /// `sar_total_segments`.
    pub total: u8,
    /// `sar_segment_seqnum` (from 1).
    pub seqnum: u8,
}

/// A submit_sm, data_sm or deliver_sm: what vouch reads of a short message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShortMessage<'a> {
    /// `source_addr`.
    pub source: Address<'a>,
    /// `destination_addr`.
    pub dest: Address<'a>,
    /// `esm_class` (0x40: the message starts with a UDH; 0x04: a delivery receipt).
    pub esm_class: u8,
    /// `data_coding`.
    pub data_coding: u8,
    /// `registered_delivery`.
    pub registered_delivery: u8,
    /// `short_message` (empty in data_sm).
    pub short_message: &'a [u8],
    /// `message_payload` TLV.
    pub payload: Option<&'a [u8]>,
    /// SAR TLVs.
    pub sar: Option<Sar>,
    /// `receipted_message_id` TLV (delivery receipts).
    pub receipted_message_id: Option<&'a str>,
    /// `message_state` TLV (delivery receipts).
    pub message_state: Option<u8>,
}

impl ShortMessage<'_> {
    /// The user data: `message_payload` if present, else `short_message`.
    pub fn user_data(&self) -> &[u8] {
        self.payload.unwrap_or(self.short_message)
    }

    /// Whether the message carries user data twice: a non-empty `short_message` and a
    /// `message_payload` TLV, which SMPP 3.4 section 5.3.2.32 forbids (`sm_length` must then be
    /// 0). A gateway checking one and forwarding both would let the other through unchecked.
    pub fn has_two_bodies(&self) -> bool {
        self.payload.is_some() && !self.short_message.is_empty()
    }

    /// Whether the user data starts with a UDH.
    pub fn has_udh(&self) -> bool {
        self.esm_class & 0x40 != 0
    }

    /// Whether this is a delivery receipt (SMSC delivery receipt or intermediate notification).
    pub fn is_receipt(&self) -> bool {
        matches!(self.esm_class & 0x3c, 0x04 | 0x08 | 0x10 | 0x20)
    }
}

/// What a PDU says, as far as vouch reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body<'a> {
    /// bind_transmitter, bind_receiver or bind_transceiver.
    Bind(Bind<'a>),
    /// A bind response (its `system_id`).
    BindResp(&'a str),
    /// submit_sm, data_sm or deliver_sm (the header's command id says which).
    Message(ShortMessage<'a>),
    /// submit_sm_resp, data_sm_resp or deliver_sm_resp, with its `message_id`.
    MessageResp(&'a str),
    /// enquire_link.
    EnquireLink,
    /// enquire_link_resp.
    EnquireLinkResp,
    /// unbind.
    Unbind,
    /// unbind_resp.
    UnbindResp,
    /// generic_nack.
    GenericNack,
    /// A well-formed PDU that vouch does not handle (query_sm, submit_multi, outbind…).
    Unsupported,
}

/// A decoded PDU: the header and rusmpp's command, read through [`Pdu::body`].
#[derive(Debug, Clone)]
pub struct Pdu<'a> {
    /// Its header.
    pub header: Header,
    command: RCommand<'a>,
}

fn c_str<'s, const MIN: usize, const MAX: usize>(s: &'s COctetString<'_, MIN, MAX>) -> &'s str {
    // rusmpp checked the string is ASCII; the terminating NUL is not part of the value.
    let b = s.bytes();
    std::str::from_utf8(b.strip_suffix(&[0]).unwrap_or(b)).unwrap_or("")
}

/// Decodes one whole PDU (`pdu.len()` must be its `command_length`).
pub fn decode(pdu: &[u8]) -> Result<Pdu<'_>, SmppError> {
    let header = frame(pdu)?.ok_or(SmppError::LengthTooShort(pdu.len()))?;
    if header.length != pdu.len() {
        return Err(SmppError::LengthMismatch { declared: header.length, actual: pdu.len() });
    }
    let (command, used) = RCommand::decode(&pdu[4..], pdu.len() - 4).map_err(|e| SmppError::Malformed {
        command_id: header.command_id.0,
        detail: e.to_string(),
        status: fault_status(&e),
    })?;
    // A header alone is a whole enquire_link, unbind or (error) response, but not a request
    // that has mandatory fields: that is a command length that lies.
    let needs_body = matches!(
        header.command_id,
        CommandId::SUBMIT_SM
            | CommandId::DATA_SM
            | CommandId::DELIVER_SM
            | CommandId::BIND_RECEIVER
            | CommandId::BIND_TRANSMITTER
            | CommandId::BIND_TRANSCEIVER
    );
    if needs_body && command.pdu().is_none() {
        return Err(SmppError::Malformed {
            command_id: header.command_id.0,
            detail: "no body".into(),
            status: CommandStatus::ESME_RINVCMDLEN,
        });
    }
    if used != pdu.len() - 4 {
        return Err(SmppError::Malformed {
            command_id: header.command_id.0,
            status: CommandStatus::ESME_RINVCMDLEN,
            detail: format!("{} bytes after the last field", pdu.len() - 4 - used),
        });
    }
    Ok(Pdu { header, command })
}

/// The command_status naming the field a decoding error is in (SMPP 3.4 section 5.1.3).
fn fault_status(e: &rusmpp_core::decode::DecodeError) -> CommandStatus {
    use rusmpp_core::fields::SmppField as F;
    let blames = [
        (F::source_addr, CommandStatus::ESME_RINVSRCADR),
        (F::destination_addr, CommandStatus::ESME_RINVDSTADR),
        (F::system_id, CommandStatus::ESME_RINVSYSID),
        (F::password, CommandStatus::ESME_RINVPASWD),
        (F::short_message, CommandStatus::ESME_RINVMSGLEN),
        (F::sm_length, CommandStatus::ESME_RINVMSGLEN),
        (F::tlvs, CommandStatus::ESME_RINVOPTPARSTREAM),
    ];
    if let Some((_, status)) = blames.iter().find(|(f, _)| e.field_exists(*f)) {
        return *status;
    }
    match e.kind() {
        rusmpp_core::decode::DecodeErrorKind::TooManyElements { .. } => CommandStatus::ESME_RINVOPTPARSTREAM,
        _ => CommandStatus::ESME_RINVCMDLEN,
    }
}

fn tlv_facts<'s>(tlvs: &'s [Tlv<'_>], m: &mut ShortMessage<'s>) {
    let mut sar = (None, None, None);
    for t in tlvs {
        match t.value() {
            Some(TlvValue::MessagePayload(p)) => m.payload = Some(p.value.bytes()),
            Some(TlvValue::SarMsgRefNum(r)) => sar.0 = Some(*r),
            Some(TlvValue::SarTotalSegments(n)) => sar.1 = Some(*n),
            Some(TlvValue::SarSegmentSeqnum(n)) => sar.2 = Some(*n),
            Some(TlvValue::ReceiptedMessageId(id)) => m.receipted_message_id = Some(c_str(id)),
            Some(TlvValue::MessageState(s)) => m.message_state = Some(u8::from(*s)),
            _ => {}
        }
    }
    if let (Some(reference), Some(total), Some(seqnum)) = sar {
        m.sar = Some(Sar { reference, total, seqnum });
    }
}

fn address<'s>(ton: Ton, npi: Npi, addr: &'s COctetString<'_, 1, 21>) -> Address<'s> {
    Address { ton: u8::from(ton), npi: u8::from(npi), addr: c_str(addr) }
}

/// The [`Body::Message`] of a submit_sm, deliver_sm or data_sm (rusmpp's three types share
/// these field names) with `short_message` as given.
macro_rules! message {
    ($s:expr, $short:expr) => {{
        let s = $s;
        let mut m = ShortMessage {
            source: address(s.source_addr_ton, s.source_addr_npi, &s.source_addr),
            dest: address(s.dest_addr_ton, s.dest_addr_npi, &s.destination_addr),
            esm_class: u8::from(s.esm_class),
            data_coding: u8::from(s.data_coding),
            registered_delivery: u8::from(s.registered_delivery),
            short_message: $short,
            payload: None,
            sar: None,
            receipted_message_id: None,
            message_state: None,
        };
        tlv_facts(s.tlvs(), &mut m);
        Body::Message(m)
    }};
}

impl Pdu<'_> {
    /// What the PDU says.
    pub fn body(&self) -> Body<'_> {
        let bind = |mode, system_id, password, version: InterfaceVersion| {
            Body::Bind(Bind { mode, system_id, password, interface_version: u8::from(version) })
        };
        let Some(p) = self.command.pdu() else {
            // A response of a header alone (an error response omits its body, and some peers
            // answer deliver_sm with no message_id at all).
            return match self.header.command_id {
                id if id == CommandId::SUBMIT_SM.response()
                    || id == CommandId::DATA_SM.response()
                    || id == CommandId::DELIVER_SM.response() =>
                {
                    Body::MessageResp("")
                }
                CommandId::ENQUIRE_LINK => Body::EnquireLink,
                CommandId::UNBIND => Body::Unbind,
                id if id == CommandId::ENQUIRE_LINK.response() => Body::EnquireLinkResp,
                id if id == CommandId::UNBIND.response() => Body::UnbindResp,
                CommandId::GENERIC_NACK => Body::GenericNack,
                _ => Body::Unsupported,
            };
        };
        match p {
            RPdu::BindTransmitter(b) => {
                bind(BindMode::Transmitter, c_str(&b.system_id), c_str(&b.password), b.interface_version)
            }
            RPdu::BindReceiver(b) => {
                bind(BindMode::Receiver, c_str(&b.system_id), c_str(&b.password), b.interface_version)
            }
            RPdu::BindTransceiver(b) => {
                bind(BindMode::Transceiver, c_str(&b.system_id), c_str(&b.password), b.interface_version)
            }
            RPdu::BindTransmitterResp(r) => Body::BindResp(c_str(&r.system_id)),
            RPdu::BindReceiverResp(r) => Body::BindResp(c_str(&r.system_id)),
            RPdu::BindTransceiverResp(r) => Body::BindResp(c_str(&r.system_id)),
            RPdu::SubmitSm(s) => message!(s, s.short_message().bytes()),
            RPdu::DeliverSm(s) => message!(s, s.short_message().bytes()),
            RPdu::DataSm(s) => message!(s, &[]),
            RPdu::SubmitSmResp(r) => Body::MessageResp(c_str(r.message_id())),
            RPdu::DataSmResp(r) => Body::MessageResp(c_str(r.message_id())),
            RPdu::DeliverSmResp(r) => Body::MessageResp(c_str(r.message_id())),
            RPdu::EnquireLink => Body::EnquireLink,
            RPdu::EnquireLinkResp => Body::EnquireLinkResp,
            RPdu::Unbind => Body::Unbind,
            RPdu::UnbindResp => Body::UnbindResp,
            RPdu::GenericNack => Body::GenericNack,
            _ => Body::Unsupported,
        }
    }
}

fn put_header(out: &mut Vec<u8>, length: usize, id: CommandId, status: CommandStatus, sequence: u32) {
    out.extend_from_slice(&(length as u32).to_be_bytes());
    out.extend_from_slice(&id.0.to_be_bytes());
    out.extend_from_slice(&status.0.to_be_bytes());
    out.extend_from_slice(&sequence.to_be_bytes());
}

fn put_command(out: &mut Vec<u8>, command: &RCommand<'_>) {
    let length = 4 + command.length();
    let start = out.len();
    out.extend_from_slice(&(length as u32).to_be_bytes());
    out.resize(start + length, 0);
    command.encode(&mut out[start + 4..]);
}

fn cstring<'a, const MIN: usize, const MAX: usize>(
    buf: &'a mut Vec<u8>,
    value: &str,
) -> Result<COctetString<'a, MIN, MAX>, SmppError> {
    buf.clear();
    buf.extend(value.bytes().filter(|b| *b != 0));
    buf.push(0);
    COctetString::new(buf).map_err(|e| SmppError::Encode(format!("{value:?}: {e}")))
}

/// Appends a PDU with a header and no body: enquire_link, unbind and their responses,
/// generic_nack, and every response whose status is an error (the standard omits their body).
pub fn encode_header_only(out: &mut Vec<u8>, id: CommandId, status: CommandStatus, sequence: u32) {
    put_header(out, HEADER_LEN, id, status, sequence);
}

/// Appends the response to a bind: `system_id` on success, no body on failure.
pub fn encode_bind_resp(out: &mut Vec<u8>, mode: BindMode, status: CommandStatus, sequence: u32, system_id: &str) {
    if !status.is_ok() {
        return encode_header_only(out, mode.command_id().response(), status, sequence);
    }
    let mut b = Vec::new();
    let Ok(id) = cstring::<1, 16>(&mut b, &system_id[..system_id.len().min(15)]) else {
        return encode_header_only(out, mode.command_id().response(), CommandStatus::ESME_RSYSERR, sequence);
    };
    let version = Some(InterfaceVersion::Smpp3_4);
    let pdu: RPdu<'_, MAX_TLVS> = match mode {
        BindMode::Transmitter => BindTransmitterResp::new(id, version).into(),
        BindMode::Receiver => BindReceiverResp::new(id, version).into(),
        BindMode::Transceiver => BindTransceiverResp::new(id, version).into(),
    };
    put_command(out, &RCommand::new(rusmpp_core::CommandStatus::EsmeRok, sequence, pdu));
}

/// Appends a bind request (vouch binding to an upstream SMSC), SMPP 3.4.
pub fn encode_bind(
    out: &mut Vec<u8>,
    mode: BindMode,
    sequence: u32,
    system_id: &str,
    password: &str,
) -> Result<(), SmppError> {
    let (mut a, mut b, mut c, mut d) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let system_id = cstring::<1, 16>(&mut a, system_id)?;
    let password = cstring::<1, 9>(&mut b, password)?;
    let system_type = cstring::<1, 13>(&mut c, "")?;
    let range = cstring::<1, 41>(&mut d, "")?;
    let v = InterfaceVersion::Smpp3_4;
    let pdu: RPdu<'_, MAX_TLVS> = match mode {
        BindMode::Transmitter => {
            BindTransmitter::new(system_id, password, system_type, v, Ton::Unknown, Npi::Unknown, range).into()
        }
        BindMode::Receiver => {
            BindReceiver::new(system_id, password, system_type, v, Ton::Unknown, Npi::Unknown, range).into()
        }
        BindMode::Transceiver => {
            BindTransceiver::new(system_id, password, system_type, v, Ton::Unknown, Npi::Unknown, range).into()
        }
    };
    put_command(out, &RCommand::new(rusmpp_core::CommandStatus::EsmeRok, sequence, pdu));
    Ok(())
}

/// Appends a submit_sm_resp or data_sm_resp (`id` names which) with `message_id`, or the
/// bodiless error response.
pub fn encode_message_resp(out: &mut Vec<u8>, id: CommandId, status: CommandStatus, sequence: u32, message_id: &str) {
    let id = CommandId(id.0 | 0x8000_0000);
    if !status.is_ok() {
        return encode_header_only(out, id, status, sequence);
    }
    let mut b = Vec::new();
    let Ok(mid) = cstring::<1, 65>(&mut b, message_id) else {
        return encode_header_only(out, id, CommandStatus::ESME_RSYSERR, sequence);
    };
    let pdu: RPdu<'_, MAX_TLVS> = match id {
        CommandId(0x8000_0103) => DataSmResp::new(mid, heapless::Vec::new()).into(),
        CommandId(0x8000_0005) => DeliverSmResp::new(mid, heapless::Vec::new()).into(),
        _ => SubmitSmResp::new(mid, heapless::Vec::new()).into(),
    };
    put_command(out, &RCommand::new(rusmpp_core::CommandStatus::EsmeRok, sequence, pdu));
}

/// A short message vouch originates: a deliver_sm to an ESME (a receipt or a mobile-originated
/// message relayed from upstream), or a submit_sm to an SMSC (a HELP or STOP answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMessage<'a> {
    /// `source_addr`.
    pub source: Address<'a>,
    /// `destination_addr`.
    pub dest: Address<'a>,
    /// `esm_class`.
    pub esm_class: u8,
    /// `data_coding`.
    pub data_coding: u8,
    /// `registered_delivery`.
    pub registered_delivery: u8,
    /// The user data (over 254 bytes, it goes in `message_payload`).
    pub user_data: &'a [u8],
    /// `receipted_message_id`.
    pub receipted_message_id: Option<&'a str>,
    /// `message_state`.
    pub message_state: Option<u8>,
}

/// Appends a deliver_sm (`deliver == true`) or a submit_sm carrying `m`.
pub fn encode_message(
    out: &mut Vec<u8>,
    deliver: bool,
    sequence: u32,
    m: &OutboundMessage<'_>,
) -> Result<(), SmppError> {
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    let source = cstring::<1, 21>(&mut a, m.source.addr)?;
    let dest = cstring::<1, 21>(&mut b, m.dest.addr)?;
    let rid = match m.receipted_message_id {
        Some(id) => Some(cstring::<1, 65>(&mut c, id)?),
        None => None,
    };
    let long = m.user_data.len() > 254;
    let short = if long {
        OctetString::empty()
    } else {
        OctetString::new(m.user_data).map_err(|e| SmppError::Encode(e.to_string()))?
    };
    let payload = rusmpp_core::values::borrowed::MessagePayload::new(
        rusmpp_core::types::borrowed::AnyOctetString::new(m.user_data),
    );
    // deliver_sm and submit_sm have the same fields; only their TLV types differ.
    macro_rules! pdu {
        ($pdu:ident, $tlvs:expr) => {
            $pdu::new(
                Default::default(),
                Ton::from(m.source.ton),
                Npi::from(m.source.npi),
                source,
                Ton::from(m.dest.ton),
                Npi::from(m.dest.npi),
                dest,
                m.esm_class.into(),
                0,
                Default::default(),
                EmptyOrFullCOctetString::empty(),
                EmptyOrFullCOctetString::empty(),
                m.registered_delivery.into(),
                Default::default(),
                m.data_coding.into(),
                0,
                short,
                $tlvs,
            )
            .into()
        };
    }
    let pdu: RPdu<'_, MAX_TLVS> = if deliver {
        let mut tlvs: heapless::Vec<MessageDeliveryRequestTlvValue<'_>, MAX_TLVS> = heapless::Vec::new();
        if long {
            let _ = tlvs.push(MessageDeliveryRequestTlvValue::MessagePayload(payload));
        }
        if let Some(rid) = rid {
            let _ = tlvs.push(MessageDeliveryRequestTlvValue::ReceiptedMessageId(rid));
        }
        if let Some(state) = m.message_state {
            let _ = tlvs.push(MessageDeliveryRequestTlvValue::MessageState(MessageState::from(state)));
        }
        pdu!(DeliverSm, tlvs)
    } else {
        let mut tlvs: heapless::Vec<MessageSubmissionRequestTlvValue<'_>, MAX_TLVS> = heapless::Vec::new();
        if long {
            let _ = tlvs.push(MessageSubmissionRequestTlvValue::MessagePayload(payload));
        }
        pdu!(SubmitSm, tlvs)
    };
    put_command(out, &RCommand::new(rusmpp_core::CommandStatus::EsmeRok, sequence, pdu));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(out: &[u8]) -> Pdu<'_> {
        let h = frame(out).unwrap().unwrap();
        assert_eq!(h.length, out.len(), "one whole PDU");
        decode(out).unwrap()
    }

    #[test]
    fn binds_and_responses_round_trip() {
        let mut out = Vec::new();
        encode_bind(&mut out, BindMode::Transceiver, 7, "acme", "s3cret").unwrap();
        let p = one(&out);
        assert_eq!(p.header.command_id, CommandId::BIND_TRANSCEIVER);
        assert_eq!(p.header.sequence, 7);
        assert_eq!(
            p.body(),
            Body::Bind(Bind {
                mode: BindMode::Transceiver,
                system_id: "acme",
                password: "s3cret",
                interface_version: 0x34
            })
        );
        let mut out = Vec::new();
        encode_bind_resp(&mut out, BindMode::Receiver, CommandStatus::ESME_ROK, 7, "vouch");
        assert_eq!(one(&out).body(), Body::BindResp("vouch"));
        let mut out = Vec::new();
        encode_bind_resp(&mut out, BindMode::Receiver, CommandStatus::ESME_RINVPASWD, 8, "vouch");
        assert_eq!(out.len(), HEADER_LEN, "error responses have no body");
        assert_eq!(frame(&out).unwrap().unwrap().status, CommandStatus::ESME_RINVPASWD);
        let mut out = Vec::new();
        encode_message_resp(&mut out, CommandId::SUBMIT_SM, CommandStatus::ESME_ROK, 9, "v-1");
        let p = one(&out);
        assert_eq!((p.header.command_id, p.body()), (CommandId(0x8000_0004), Body::MessageResp("v-1")));
        let mut out = Vec::new();
        encode_message_resp(&mut out, CommandId::DATA_SM, CommandStatus::ESME_ROK, 9, "v-2");
        assert_eq!(one(&out).body(), Body::MessageResp("v-2"));
        let mut out = Vec::new();
        encode_header_only(&mut out, CommandId::ENQUIRE_LINK, CommandStatus::ESME_ROK, 3);
        assert_eq!(one(&out).body(), Body::EnquireLink);
    }

    /// A plain message from +13105550100 to +12025550123 carrying `user_data`.
    fn outbound(user_data: &[u8]) -> OutboundMessage<'_> {
        OutboundMessage {
            source: Address { ton: 1, npi: 1, addr: "13105550100" },
            dest: Address { ton: 1, npi: 1, addr: "12025550123" },
            esm_class: 0,
            data_coding: 0,
            registered_delivery: 0,
            user_data,
            receipted_message_id: None,
            message_state: None,
        }
    }

    #[test]
    fn messages_round_trip_with_receipt_tlvs_and_long_payloads() {
        let m = OutboundMessage {
            esm_class: 0x04,
            receipted_message_id: Some("v-1"),
            message_state: Some(2),
            ..outbound(
                b"id:v-1 sub:001 dlvrd:001 submit date:2611231200 done date:2611231200 stat:DELIVRD err:000 text:",
            )
        };
        let mut out = Vec::new();
        encode_message(&mut out, true, 11, &m).unwrap();
        let p = one(&out);
        assert_eq!(p.header.command_id, CommandId::DELIVER_SM);
        let Body::Message(sm) = p.body() else { panic!("not a message") };
        assert!(sm.is_receipt());
        assert_eq!((sm.source, sm.dest), (m.source, m.dest));
        assert_eq!(sm.user_data(), m.user_data);
        assert_eq!((sm.receipted_message_id, sm.message_state), (Some("v-1"), Some(2)));
        let long = vec![b'a'; 1000];
        let m2 =
            OutboundMessage { user_data: &long, esm_class: 0, receipted_message_id: None, message_state: None, ..m };
        let mut out = Vec::new();
        encode_message(&mut out, false, 12, &m2).unwrap();
        let p = one(&out);
        assert_eq!(p.header.command_id, CommandId::SUBMIT_SM);
        let Body::Message(sm) = p.body() else { panic!("not a message") };
        assert_eq!((sm.short_message.len(), sm.user_data().len()), (0, 1000), "long text goes in message_payload");
        let mut fwd = out.clone();
        set_sequence(&mut fwd, 99);
        assert_eq!(decode(&fwd).unwrap().header.sequence, 99);
    }

    #[test]
    fn lengths_that_lie_are_errors() {
        assert_eq!(frame(&[0; 8]), Ok(None));
        assert_eq!(frame(&[0, 0, 0, 4, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 1]), Err(SmppError::LengthTooShort(4)));
        assert_eq!(frame(&[0, 2, 0, 0, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 1]), Err(SmppError::LengthTooLong(131_072)));
        let mut out = Vec::new();
        encode_header_only(&mut out, CommandId::ENQUIRE_LINK, CommandStatus::ESME_ROK, 1);
        out.push(0);
        assert!(matches!(decode(&out), Err(SmppError::LengthMismatch { .. })));
        // A submit_sm whose sm_length runs past the PDU.
        let mut bad = vec![0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 1];
        bad.extend_from_slice(b"\0\x01\x011\0\x01\x011\0\0\0\0\0\0\x01\0\0\0\xff");
        let n = bad.len() as u32;
        bad[..4].copy_from_slice(&n.to_be_bytes());
        assert!(matches!(decode(&bad), Err(SmppError::Malformed { command_id: 4, .. })));
    }

    #[test]
    fn decoding_errors_name_the_field_to_blame() {
        let status = |body: &[u8], id: u32| {
            let mut p = ((16 + body.len()) as u32).to_be_bytes().to_vec();
            p.extend(id.to_be_bytes());
            p.extend([0, 0, 0, 0, 0, 0, 0, 1]);
            p.extend(body);
            match decode(&p) {
                Err(SmppError::Malformed { status, .. }) => status,
                other => panic!("{other:?}"),
            }
        };
        let mut good = Vec::new();
        encode_message(&mut good, false, 1, &outbound(b"hi")).unwrap();
        let body = &good[16..];
        // source_addr without its NUL (the rest of the body is read into it).
        let at = body.iter().position(|b| *b == b'1').unwrap();
        let no_nul: Vec<u8> = body[..at].iter().chain(b"1".repeat(40).iter()).copied().collect();
        assert_eq!(status(&no_nul, 4), CommandStatus::ESME_RINVSRCADR);
        // A TLV whose length runs past the PDU.
        let mut tlv = body.to_vec();
        tlv.extend([0x04, 0x24, 0x00, 0x40, b'x']);
        assert_eq!(status(&tlv, 4), CommandStatus::ESME_RINVOPTPARSTREAM);
        // A system_id longer than its 16 octets.
        let mut bind = b"x".repeat(20);
        bind.extend(b"\0pw\0\0\x34\0\0\0");
        assert_eq!(status(&bind, 9), CommandStatus::ESME_RINVSYSID);
    }

    #[test]
    fn header_only_pdus() {
        let header = |id: CommandId, status: u32| {
            let mut out = Vec::new();
            encode_header_only(&mut out, id, CommandStatus(status), 5);
            out
        };
        // A request with mandatory fields cannot be a header alone.
        for id in [CommandId::SUBMIT_SM, CommandId::DATA_SM, CommandId::DELIVER_SM, CommandId::BIND_TRANSCEIVER] {
            assert!(matches!(decode(&header(id, 0)), Err(SmppError::Malformed { .. })), "{id:?}");
        }
        // Responses may be: an error response omits its body, and some peers answer
        // deliver_sm with no message_id at all.
        for id in [CommandId::DELIVER_SM, CommandId::SUBMIT_SM, CommandId::DATA_SM] {
            for status in [0, 0x64] {
                assert_eq!(decode(&header(id.response(), status)).unwrap().body(), Body::MessageResp(""));
            }
        }
        assert_eq!(decode(&header(CommandId::GENERIC_NACK, 3)).unwrap().body(), Body::GenericNack);
    }

    #[test]
    fn user_data_given_twice_is_seen() {
        let mut out = Vec::new();
        encode_message(&mut out, false, 1, &outbound(&[b'a'; 300])).unwrap();
        let p = one(&out);
        let Body::Message(sm) = p.body() else { panic!("not a message") };
        assert!(!sm.has_two_bodies(), "message_payload alone");
        let both = ShortMessage { short_message: b"hidden", ..sm.clone() };
        assert!(both.has_two_bodies());
        assert_eq!(both.user_data().len(), 300);
    }
}
