//! `command_status` values: the SMPP 3.4 ones vouch answers with, and vouch's own registry
//! reasons in the vendor range 0x400-0x4FF (documented in docs/SMPP-GATEWAY.md).

/// An SMPP `command_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandStatus(pub u32);

macro_rules! statuses {
    ($($(#[$doc:meta])* $name:ident = $value:literal, $label:literal;)*) => {
        impl CommandStatus {
            $($(#[$doc])* pub const $name: CommandStatus = CommandStatus($value);)*

            /// Every status vouch knows by name, in table order.
            pub const KNOWN: &'static [CommandStatus] = &[$(Self::$name),*];

            /// The standard's (or vouch's) short name, e.g. `ESME_RTHROTTLED`.
            pub fn name(self) -> &'static str {
                match self.0 {
                    $($value => stringify!($name),)*
                    0x400..=0x4ff => "VOUCH_VENDOR",
                    _ => "UNKNOWN",
                }
            }

            /// What the status means, in a sentence (for logs, records and the docs table).
            pub fn description(self) -> &'static str {
                match self.0 {
                    $($value => $label,)*
                    _ => "unknown status",
                }
            }
        }
    };
}

statuses! {
    /// No error.
    ESME_ROK = 0x0000_0000, "no error";
    /// Message length is invalid.
    ESME_RINVMSGLEN = 0x0000_0001, "message length is invalid";
    /// Command length is invalid.
    ESME_RINVCMDLEN = 0x0000_0002, "command length is invalid";
    /// Invalid command id.
    ESME_RINVCMDID = 0x0000_0003, "invalid or unsupported command id";
    /// Incorrect bind status for the given command.
    ESME_RINVBNDSTS = 0x0000_0004, "incorrect bind status for this command";
    /// Already in a bound state.
    ESME_RALYBND = 0x0000_0005, "already bound";
    /// System error.
    ESME_RSYSERR = 0x0000_0008, "system error";
    /// Invalid source address.
    ESME_RINVSRCADR = 0x0000_000A, "invalid source address";
    /// Invalid destination address.
    ESME_RINVDSTADR = 0x0000_000B, "invalid destination address";
    /// Invalid password.
    ESME_RINVPASWD = 0x0000_000E, "invalid password";
    /// Invalid system id.
    ESME_RINVSYSID = 0x0000_000F, "invalid system id";
    /// Bind failed.
    ESME_RBINDFAIL = 0x0000_000D, "bind failed";
    /// cancel_sm failed (vouch keeps no message to cancel).
    ESME_RCANCELFAIL = 0x0000_0011, "cancel_sm failed: messages cannot be cancelled through this gateway";
    /// replace_sm failed (vouch keeps no message to replace).
    ESME_RREPLACEFAIL = 0x0000_0013, "replace_sm failed: messages cannot be replaced through this gateway";
    /// Invalid esm_class (a UDH that does not parse).
    ESME_RINVESMCLASS = 0x0000_0043, "invalid esm_class: the user data header does not parse";
    /// submit_sm or submit_multi failed.
    ESME_RSUBMITFAIL = 0x0000_0045, "submit failed";
    /// query_sm failed (vouch keeps no message state to query).
    ESME_RQUERYFAIL = 0x0000_0067, "query_sm failed: message state is not kept by this gateway";
    /// Error in the optional part of the PDU body (a TLV whose length lies, too many TLVs).
    ESME_RINVOPTPARSTREAM = 0x0000_00C0, "error in the optional parameters (TLVs) of the PDU";
    /// An optional parameter not allowed here (message_payload with a short_message).
    ESME_ROPTPARNOTALLWD = 0x0000_00C1, "optional parameter not allowed: message_payload with a non-empty short_message";
    /// Throttling error: the ESME exceeded its allowed message limits.
    ESME_RTHROTTLED = 0x0000_0058, "throttled: the message rate or the window is exceeded, retry later";
    /// Delivery failure (deliver_sm_resp), temporary: the ESME cannot take it now, retry.
    ESME_RX_T_APPN = 0x0000_0064, "temporary failure at the ESME, the message centre should retry";
    /// Unknown error.
    ESME_RUNKNOWNERR = 0x0000_00FF, "unknown error";
    /// vouch: the source number is not assigned to any campaign.
    VOUCH_SOURCE_UNREGISTERED = 0x0000_0400, "the source number is not assigned to any campaign in the registry";
    /// vouch: the source number's campaign is suspended.
    VOUCH_CAMPAIGN_SUSPENDED = 0x0000_0401, "the source number's campaign is suspended";
    /// vouch: the source number's campaign is expired.
    VOUCH_CAMPAIGN_EXPIRED = 0x0000_0402, "the source number's campaign is expired";
    /// vouch: the campaign is not shared to and accepted by this gateway's DCA.
    VOUCH_CAMPAIGN_NOT_ACCEPTED = 0x0000_0403, "the campaign is not shared to and accepted by this gateway's DCA";
    /// vouch: the campaign belongs to another CSP than the bound account's.
    VOUCH_WRONG_CSP = 0x0000_0404, "the campaign belongs to another CSP than the bound account's";
    /// vouch: the brand's daily cap (resetting at midnight US Pacific) is reached.
    VOUCH_BRAND_DAILY_CAP = 0x0000_0405, "the brand's daily message cap is reached until midnight US Pacific";
    /// vouch: the subscriber opted out of this campaign.
    VOUCH_OPTED_OUT = 0x0000_0406, "the subscriber opted out of this campaign (STOP) and has not opted back in";
    /// vouch: the content has a link and the campaign declared none.
    VOUCH_UNDECLARED_LINK = 0x0000_0407, "the content has a link but the campaign declared embeddedLink false";
    /// vouch: the content has a phone number and the campaign declared none.
    VOUCH_UNDECLARED_PHONE = 0x0000_0408, "the content has a phone number but the campaign declared embeddedPhone false";
    /// vouch: the content uses a public URL shortener.
    VOUCH_URL_SHORTENER = 0x0000_0409, "the content uses a public URL shortener";
    /// vouch: the content classifier refused the content.
    VOUCH_CONTENT_REFUSED = 0x0000_040A, "the content classifier refused the content";
    /// vouch: a concatenated message's other parts did not arrive in time, or its parts disagree.
    VOUCH_INCOMPLETE_CONCATENATION = 0x0000_040B, "the other parts of the concatenated message did not arrive in time, or disagree";
    /// vouch: the source number itself is suspended (its campaign may be active).
    VOUCH_NUMBER_SUSPENDED = 0x0000_040C, "the source number is suspended";
}

impl CommandStatus {
    /// Whether this is `ESME_ROK`.
    pub fn is_ok(self) -> bool {
        self.0 == 0
    }
}

impl std::fmt::Display for CommandStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "0x{:08X} {}", self.0, self.name())
    }
}
