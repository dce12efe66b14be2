//! What an ESME may send in which state (SMPP 3.4 §2.3), and its window of outstanding
//! requests. The socket adapter asks [`ServerSession::admit`] about every PDU before acting on
//! it, and tells the session when a bind succeeded and when an answer went out.

use crate::{BindMode, CommandId, CommandStatus, Header};

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Connected, not bound.
    Open,
    /// Bound.
    Bound(BindMode),
    /// Unbound by the ESME, its unbind not yet answered: the answers to its earlier submits
    /// are still to go out, and its answers to deliver_sm are still taken; no new request is.
    Unbinding(BindMode),
    /// Unbound by vouch (the account was disabled), its unbind not yet answered: the answers
    /// to earlier submits are still to go out and the ESME's unbind_resp (and its answers to
    /// deliver_sm) are taken; no new request is.
    Withdrawn(BindMode),
    /// Unbound or failed; the connection closes.
    Closed,
}

/// What to do with a PDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Act on it (a bind: authenticate it and call [`ServerSession::bound`] or
    /// [`ServerSession::bind_failed`]).
    Accept,
    /// Answer with its response carrying this error status.
    Refuse(CommandStatus),
    /// Answer with generic_nack carrying this status.
    Nack(CommandStatus),
    /// A response vouch did not ask for, or one it can ignore: nothing to send.
    Ignore,
}

/// Failed binds allowed on one connection before it closes.
pub const MAX_BIND_ATTEMPTS: u32 = 3;

/// One ESME connection's state.
#[derive(Debug, Clone)]
pub struct ServerSession {
    state: SessionState,
    window: usize,
    outstanding: usize,
    failed_binds: u32,
}

impl ServerSession {
    /// A new connection allowing `window` outstanding submits (at least 1).
    pub fn new(window: usize) -> Self {
        Self { state: SessionState::Open, window: window.max(1), outstanding: 0, failed_binds: 0 }
    }

    /// Where it stands.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// Submits accepted and not yet answered.
    pub fn outstanding(&self) -> usize {
        self.outstanding
    }

    /// Decides about an incoming PDU by its header.
    pub fn admit(&mut self, h: &Header) -> Admission {
        let id = h.command_id;
        match (id, self.state) {
            (_, SessionState::Closed) => Admission::Ignore,
            (CommandId::ENQUIRE_LINK, _) => Admission::Accept,
            (CommandId::BIND_RECEIVER | CommandId::BIND_TRANSMITTER | CommandId::BIND_TRANSCEIVER, s) => match s {
                SessionState::Open => Admission::Accept,
                _ => Admission::Refuse(CommandStatus::ESME_RALYBND),
            },
            (CommandId::UNBIND, SessionState::Bound(mode) | SessionState::Withdrawn(mode)) => {
                self.state = SessionState::Unbinding(mode);
                Admission::Accept
            }
            (CommandId::UNBIND, _) => Admission::Refuse(CommandStatus::ESME_RINVBNDSTS),
            (CommandId::SUBMIT_SM | CommandId::DATA_SM, SessionState::Bound(mode)) if mode.transmits() => {
                if self.outstanding >= self.window {
                    return Admission::Refuse(CommandStatus::ESME_RTHROTTLED);
                }
                self.outstanding += 1;
                Admission::Accept
            }
            (CommandId::SUBMIT_SM | CommandId::DATA_SM | CommandId::DELIVER_SM, _) => {
                Admission::Refuse(CommandStatus::ESME_RINVBNDSTS)
            }
            // Operations on messages already sent, and submit_multi: SMPP 3.4 commands a
            // gateway that keeps no message store does not offer, answered with their own
            // response (generic_nack is for command ids that do not exist, section 4.3).
            (CommandId::QUERY_SM | CommandId::REPLACE_SM | CommandId::CANCEL_SM | CommandId::SUBMIT_MULTI, s) => {
                match s {
                    SessionState::Bound(mode) if mode.transmits() => Admission::Refuse(match id {
                        CommandId::QUERY_SM => CommandStatus::ESME_RQUERYFAIL,
                        CommandId::REPLACE_SM => CommandStatus::ESME_RREPLACEFAIL,
                        CommandId::CANCEL_SM => CommandStatus::ESME_RCANCELFAIL,
                        _ => CommandStatus::ESME_RINVCMDID,
                    }),
                    _ => Admission::Refuse(CommandStatus::ESME_RINVBNDSTS),
                }
            }
            // Responses: deliver_sm_resp and enquire_link_resp answer vouch's own requests.
            (r, SessionState::Bound(mode) | SessionState::Unbinding(mode) | SessionState::Withdrawn(mode))
                if r == CommandId::DELIVER_SM.response() && mode.receives() =>
            {
                Admission::Accept
            }
            (r, SessionState::Withdrawn(_)) if r == CommandId::UNBIND.response() => Admission::Accept,
            (r, SessionState::Bound(_)) if r == CommandId::ENQUIRE_LINK.response() => Admission::Accept,
            (r, SessionState::Unbinding(_) | SessionState::Withdrawn(_)) if r.is_response() => Admission::Ignore,
            (_, SessionState::Unbinding(_) | SessionState::Withdrawn(_)) => {
                Admission::Refuse(CommandStatus::ESME_RINVBNDSTS)
            }
            (r, _) if r.is_response() => Admission::Ignore,
            _ => Admission::Nack(CommandStatus::ESME_RINVCMDID),
        }
    }

    /// The bind was authenticated.
    pub fn bound(&mut self, mode: BindMode) {
        if self.state == SessionState::Open {
            self.state = SessionState::Bound(mode);
        }
    }

    /// The bind was refused; returns `true` when the connection should now close.
    pub fn bind_failed(&mut self) -> bool {
        self.failed_binds += 1;
        if self.failed_binds >= MAX_BIND_ATTEMPTS {
            self.state = SessionState::Closed;
        }
        self.state == SessionState::Closed
    }

    /// A submit accepted by [`ServerSession::admit`] was answered.
    pub fn answered(&mut self) {
        self.outstanding = self.outstanding.saturating_sub(1);
    }

    /// vouch unbinds a bound ESME (section 4.2: it then waits for the unbind_resp); returns
    /// `false` when the session was not bound.
    pub fn withdraw(&mut self) -> bool {
        match self.state {
            SessionState::Bound(mode) => {
                self.state = SessionState::Withdrawn(mode);
                true
            }
            _ => false,
        }
    }

    /// The connection is going away.
    pub fn close(&mut self) {
        self.state = SessionState::Closed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(id: u32) -> Header {
        Header { length: 16, command_id: CommandId(id), status: CommandStatus::ESME_ROK, sequence: 1 }
    }

    #[test]
    fn states_and_window() {
        let mut s = ServerSession::new(2);
        assert_eq!(s.admit(&h(0x4)), Admission::Refuse(CommandStatus::ESME_RINVBNDSTS), "submit before bind");
        assert_eq!(s.admit(&h(0x6)), Admission::Refuse(CommandStatus::ESME_RINVBNDSTS), "unbind before bind");
        assert_eq!(s.admit(&h(0x15)), Admission::Accept, "enquire_link in any state");
        assert_eq!(s.admit(&h(0x8000_0005)), Admission::Ignore, "a response nobody asked for");
        assert_eq!(s.admit(&h(0x3)), Admission::Refuse(CommandStatus::ESME_RINVBNDSTS), "query_sm before bind");
        assert_eq!(s.admit(&h(0x1234)), Admission::Nack(CommandStatus::ESME_RINVCMDID));
        assert_eq!(s.admit(&h(0x2)), Admission::Accept);
        s.bound(BindMode::Transmitter);
        assert_eq!(s.admit(&h(0x9)), Admission::Refuse(CommandStatus::ESME_RALYBND));
        // Not offered, but answered with their own responses, and not counted in the window.
        assert_eq!(s.admit(&h(0x3)), Admission::Refuse(CommandStatus::ESME_RQUERYFAIL));
        assert_eq!(s.admit(&h(0x7)), Admission::Refuse(CommandStatus::ESME_RREPLACEFAIL));
        assert_eq!(s.admit(&h(0x8)), Admission::Refuse(CommandStatus::ESME_RCANCELFAIL));
        assert_eq!(s.admit(&h(0x21)), Admission::Refuse(CommandStatus::ESME_RINVCMDID));
        assert_eq!(s.admit(&h(0x4)), Admission::Accept);
        assert_eq!(s.admit(&h(0x103)), Admission::Accept);
        assert_eq!(s.admit(&h(0x4)), Admission::Refuse(CommandStatus::ESME_RTHROTTLED), "window of two");
        s.answered();
        assert_eq!(s.admit(&h(0x4)), Admission::Accept);
        assert_eq!(s.outstanding(), 2);
        assert_eq!(s.admit(&h(0x8000_0005)), Admission::Ignore, "a transmitter gets no deliver_sm");
        assert_eq!(s.admit(&h(0x6)), Admission::Accept);
        assert_eq!(s.state(), SessionState::Unbinding(BindMode::Transmitter));
        // Unbinding: no new request, responses to deliver_sm only from a receiver.
        assert_eq!(s.admit(&h(0x4)), Admission::Refuse(CommandStatus::ESME_RINVBNDSTS));
        assert_eq!(s.admit(&h(0x8000_0005)), Admission::Ignore);
        assert_eq!(s.admit(&h(0x15)), Admission::Accept, "enquire_link still answered");
        s.close();
        assert_eq!(s.admit(&h(0x4)), Admission::Ignore);
    }

    #[test]
    fn receivers_cannot_submit_and_binds_are_limited() {
        let mut s = ServerSession::new(8);
        assert!(!s.bind_failed());
        assert!(!s.bind_failed());
        s.bound(BindMode::Receiver);
        assert_eq!(s.admit(&h(0x4)), Admission::Refuse(CommandStatus::ESME_RINVBNDSTS));
        assert_eq!(s.admit(&h(0x8000_0005)), Admission::Accept);
        assert_eq!(s.admit(&h(0x6)), Admission::Accept);
        assert_eq!(s.admit(&h(0x8000_0005)), Admission::Accept, "a receiver unbinding still answers deliver_sm");
        let mut t = ServerSession::new(8);
        for _ in 1..MAX_BIND_ATTEMPTS {
            assert!(!t.bind_failed());
        }
        assert!(t.bind_failed(), "the third failed bind closes the connection");
    }

    #[test]
    fn vouch_unbinds_a_disabled_account_and_waits_for_its_answer() {
        let mut s = ServerSession::new(8);
        assert!(!s.withdraw(), "nothing to unbind before a bind");
        s.bound(BindMode::Transceiver);
        assert_eq!(s.admit(&h(0x4)), Admission::Accept);
        assert!(s.withdraw());
        assert_eq!(s.state(), SessionState::Withdrawn(BindMode::Transceiver));
        assert_eq!(s.admit(&h(0x4)), Admission::Refuse(CommandStatus::ESME_RINVBNDSTS), "no new submit");
        assert_eq!(s.admit(&h(0x8000_0005)), Admission::Accept, "deliver_sm_resp still taken");
        assert_eq!(s.admit(&h(0x8000_0006)), Admission::Accept, "its unbind_resp");
        assert_eq!(s.admit(&h(0x8000_0004)), Admission::Ignore);
        assert_eq!(s.outstanding(), 1, "the earlier submit is still to be answered");
        // Both sides unbinding at once: the ESME's unbind is answered as usual.
        assert_eq!(s.admit(&h(0x6)), Admission::Accept);
        assert_eq!(s.state(), SessionState::Unbinding(BindMode::Transceiver));
    }
}
