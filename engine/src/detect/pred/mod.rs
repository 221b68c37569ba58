//! Transaction predicates at run time: the non-buffer DNS/TLS keywords and
//! `app-layer-event` ([`TxPred`]) evaluated on the decoded values of the transaction being
//! inspected.
//!
//! A transaction source ([`crate::vm::BufferSource`]) shows its decoded state through
//! [`TxView`]; each protocol family evaluates its predicates in its own file ([`dns`],
//! [`tls`]). A predicate of another protocol than the transaction's, or on a source that
//! is not a transaction (the packet pass), is false: the rule needs that transaction.

pub mod dce;
pub mod dns;
pub mod event;
pub mod file;
pub mod line;
pub mod msg;
pub mod tls;

use crate::app::dcerpc::DceTx;
use crate::app::dns::DnsMessage;
use crate::app::ftp::FtpTx;
use crate::app::http::Tx;
use crate::app::krb5::Krb5Msg;
use crate::app::snmp::SnmpMsg;
use crate::app::ssh::SshConn;
use crate::app::tls::TlsConn;
use verdict_compiler::ir::TxPred;

/// What a transaction source decoded, for predicates.
#[derive(Debug, Clone, Copy)]
pub enum TxView<'a> {
    /// Not a transaction (the packet pass).
    None,
    /// One HTTP transaction (only `app-layer-event` reads it).
    Http {
        /// The transaction.
        tx: &'a Tx,
    },
    /// One DNS message (each message is its own transaction).
    Dns {
        /// The message.
        msg: &'a DnsMessage,
        /// The message goes to the server (the packet's direction).
        to_server: bool,
    },
    /// The TLS session, seen from the packet's direction.
    Tls {
        /// The connection's handshake state.
        conn: &'a TlsConn,
        /// The packet goes to the server: its side is the client's.
        to_server: bool,
    },
    /// The SSH connection, seen from the packet's direction.
    Ssh {
        /// The connection's banners and HASSH.
        conn: &'a SshConn,
        /// The packet goes to the server: its side is the client's.
        to_server: bool,
    },
    /// One SIP message.
    Sip {
        /// The message.
        msg: &'a crate::app::sip::SipMessage,
    },
    /// One DCE/RPC request.
    Dcerpc {
        /// The request.
        tx: &'a DceTx,
    },
    /// One FTP command and its replies.
    Ftp {
        /// The transaction.
        tx: &'a FtpTx,
        /// The control connection's client address, when IPv4 (`ftpbounce`).
        client_v4: Option<[u8; 4]>,
    },
    /// One SNMP message (each message is its own transaction).
    Snmp {
        /// The message.
        msg: &'a SnmpMsg,
    },
    /// One Kerberos message (each message is its own transaction).
    Krb5 {
        /// The message.
        msg: &'a Krb5Msg,
    },
}

/// A predicate parsed from keyword text, for the families' tests.
#[cfg(test)]
pub(crate) fn pred(kw: &str, v: Option<&str>) -> TxPred {
    (verdict_compiler::keywords::txpred::lookup(kw)
        .unwrap()
        .parse)(v)
    .unwrap()
}

/// Whether every predicate holds on `view`; `now` is the packet's time (unix seconds).
pub fn all_hold(preds: &[TxPred], view: TxView<'_>, now: i64) -> bool {
    preds.iter().all(|p| holds(p, view, now))
}

/// Whether one predicate holds on `view` at time `now` (unix seconds).
pub fn holds(p: &TxPred, view: TxView<'_>, now: i64) -> bool {
    if let TxPred::AppEvent(e) = p {
        return event::raised(*e, view);
    }
    match view {
        TxView::None | TxView::Http { .. } => false,
        TxView::Dns { msg, .. } => dns::holds(p, msg),
        TxView::Tls { conn, to_server } => tls::holds(p, conn, to_server, now),
        TxView::Ssh { .. } | TxView::Ftp { .. } | TxView::Sip { .. } => line::holds(p, view),
        TxView::Snmp { .. } | TxView::Krb5 { .. } => msg::holds(p, view),
        TxView::Dcerpc { tx } => dce::holds(p, tx),
    }
}
