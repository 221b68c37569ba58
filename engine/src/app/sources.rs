//! The SSH, FTP, SMTP, SIP, SNMP, Kerberos and DCE/RPC parsers as detection sees them: a
//! [`BufferSource`] per transaction, and the EVE object an alert on it carries (Suricata's
//! `ssh`, `ftp`, `smtp`, `sip`, `snmp`, `krb5` and `dcerpc` fields, those the parsers know).

use crate::app::dcerpc::DceTx;
use crate::app::ftp::FtpTx;
use crate::app::sip::{SipMessage, StartLine};
use crate::app::smtp::SmtpConn;
use crate::app::ssh::SshConn;
use crate::detect::pred::TxView;
use crate::vm::BufferSource;
use serde_json::{json, Map, Value};
use verdict_compiler::ir::Buffer;

fn text(b: Option<&[u8]>) -> Value {
    b.map_or(Value::Null, |v| {
        Value::String(String::from_utf8_lossy(v).into_owned())
    })
}

/// The SSH connection seen from one direction: `ssh.proto`/`ssh.software` read the banner
/// of the packet's side (or, in a `=>` rule, the side named); the HASSH buffers their own.
pub struct SshBuffers<'a> {
    /// The connection.
    pub conn: &'a SshConn,
    /// The packet goes to the server.
    pub to_server: bool,
}

impl BufferSource for SshBuffers<'_> {
    fn buffer_n(&self, b: Buffer, i: usize) -> Option<&[u8]> {
        self.buffer_side_n(b, i, self.to_server)
    }
    fn buffer_side_n(&self, b: Buffer, i: usize, to_server: bool) -> Option<&[u8]> {
        match b {
            Buffer::App(a) => self.conn.buffer_n(a, to_server, i),
            _ => None,
        }
    }
    fn view(&self) -> TxView<'_> {
        TxView::Ssh {
            conn: self.conn,
            to_server: self.to_server,
        }
    }
}

/// Suricata's EVE `ssh` object: `client`/`server` with `proto_version`,
/// `software_version` and `hassh`.
pub fn ssh_eve(c: &SshConn) -> Value {
    use verdict_compiler::ir::AppBuffer as A;
    let side = |to_server: bool, hash: A, string: A| {
        let mut m = Map::new();
        m.insert("proto_version".into(), text(c.proto(to_server)));
        m.insert("software_version".into(), text(c.software(to_server)));
        if let Some(h) = c.buffer_n(hash, to_server, 0) {
            m.insert(
                "hassh".into(),
                json!({"hash": text(Some(h)), "string": text(c.buffer_n(string, to_server, 0))}),
            );
        }
        Value::Object(m)
    };
    json!({
        "client": side(true, A::SshHassh, A::SshHasshString),
        "server": side(false, A::SshHasshServer, A::SshHasshServerString),
    })
}

/// One FTP transaction; `client_v4` is the control connection's client address (IPv4),
/// which `ftpbounce` compares PORT's address with.
pub struct FtpBuffers<'a> {
    /// The transaction.
    pub tx: &'a FtpTx,
    /// The client's IPv4 address (`None` on IPv6).
    pub client_v4: Option<[u8; 4]>,
}

impl BufferSource for FtpBuffers<'_> {
    fn buffer_n(&self, b: Buffer, i: usize) -> Option<&[u8]> {
        match b {
            Buffer::App(a) => self.tx.buffer_n(a, i),
            _ => None,
        }
    }
    fn view(&self) -> TxView<'_> {
        TxView::Ftp {
            tx: self.tx,
            client_v4: self.client_v4,
        }
    }
}

/// Suricata's EVE `ftp` object: `command`, `command_data`, `reply`, `completion_code`,
/// `dynamic_port`, `reply_received`.
pub fn ftp_eve(tx: &FtpTx) -> Value {
    use verdict_compiler::ir::AppBuffer as A;
    let all = |b: A| {
        (0..)
            .map_while(|i| tx.buffer_n(b, i))
            .map(|v| text(Some(v)))
            .collect::<Vec<_>>()
    };
    let mut m = Map::new();
    if !tx.command().is_empty() {
        m.insert("command".into(), text(Some(tx.command())));
        m.insert(
            "command_data".into(),
            text(tx.buffer_n(A::FtpCommandData, 0)),
        );
    }
    m.insert("reply".into(), Value::Array(all(A::FtpReply)));
    m.insert(
        "completion_code".into(),
        Value::Array(all(A::FtpCompletionCode)),
    );
    if let Some(p) = tx.dynamic_port() {
        m.insert("dynamic_port".into(), p.into());
    }
    let received = if tx.reply_complete() { "yes" } else { "no" };
    m.insert("reply_received".into(), received.into());
    Value::Object(m)
}

/// One SMTP transaction of a connection.
pub struct SmtpBuffers<'a> {
    /// The connection (`smtp.helo` is the session's).
    pub conn: &'a SmtpConn,
    /// The transaction.
    pub id: u64,
}

impl BufferSource for SmtpBuffers<'_> {
    fn buffer_n(&self, b: Buffer, i: usize) -> Option<&[u8]> {
        match b {
            Buffer::App(a) => self.conn.buffer_n(self.id, a, i),
            Buffer::FileData => self.conn.file(self.id, i),
            _ => None,
        }
    }
}

/// Suricata's EVE `smtp` object: `helo`, `mail_from`, `rcpt_to`.
pub fn smtp_eve(c: &SmtpConn, id: u64) -> Value {
    use verdict_compiler::ir::AppBuffer as A;
    let rcpt: Vec<Value> = (0..)
        .map_while(|i| c.buffer_n(id, A::SmtpRcptTo, i))
        .map(|v| text(Some(v)))
        .collect();
    let mut m = Map::new();
    if let Some(h) = c.helo() {
        m.insert("helo".into(), text(Some(h)));
    }
    if let Some(f) = c.buffer_n(id, A::SmtpMailFrom, 0) {
        m.insert("mail_from".into(), text(Some(f)));
    }
    if !rcpt.is_empty() {
        m.insert("rcpt_to".into(), Value::Array(rcpt));
    }
    Value::Object(m)
}

/// One SIP message (a transaction of its own).
pub struct SipBuffers<'a> {
    /// The message.
    pub msg: &'a SipMessage,
}

impl BufferSource for SipBuffers<'_> {
    fn buffer_n(&self, b: Buffer, i: usize) -> Option<&[u8]> {
        match b {
            Buffer::App(a) => self.msg.buffer_n(a, i),
            _ => None,
        }
    }
    fn view(&self) -> TxView<'_> {
        TxView::Sip { msg: self.msg }
    }
}

/// Suricata's EVE `sip` object: `method`, `uri`, `version` and `request_line` of a
/// request; `version`, `code`, `reason` and `response_line` of a response.
pub fn sip_eve(msg: &SipMessage) -> Value {
    use verdict_compiler::ir::AppBuffer as A;
    let b = |a: A| text(msg.buffer_n(a, 0));
    match msg.start() {
        StartLine::Request { .. } => json!({
            "method": b(A::SipMethod),
            "uri": b(A::SipUri),
            "version": b(A::SipProtocol),
            "request_line": b(A::SipRequestLine),
        }),
        StartLine::Response { reason, .. } => json!({
            "version": b(A::SipProtocol),
            "code": b(A::SipStatCode),
            "reason": text(Some(reason)),
            "response_line": b(A::SipResponseLine),
        }),
    }
}

/// One message that is a transaction of its own: SNMP or Kerberos.
#[derive(Clone, Copy)]
pub enum MsgBuffers<'a> {
    /// An SNMP message.
    Snmp(&'a crate::app::snmp::SnmpMsg),
    /// A Kerberos message.
    Krb5(&'a crate::app::krb5::Krb5Msg),
}

impl MsgBuffers<'_> {
    /// The protocol of the message.
    pub fn app(&self) -> verdict_compiler::ir::AppProto {
        match self {
            MsgBuffers::Snmp(_) => verdict_compiler::ir::AppProto::Snmp,
            MsgBuffers::Krb5(_) => verdict_compiler::ir::AppProto::Krb5,
        }
    }

    /// Suricata's EVE object of the message, with its key.
    pub fn eve(&self) -> (&'static str, Value) {
        match self {
            MsgBuffers::Snmp(m) => ("snmp", m.eve()),
            MsgBuffers::Krb5(m) => ("krb5", m.eve()),
        }
    }
}

impl BufferSource for MsgBuffers<'_> {
    fn buffer_n(&self, b: Buffer, i: usize) -> Option<&[u8]> {
        match (b, self) {
            (Buffer::App(a), MsgBuffers::Snmp(m)) => m.buffer_n(a, i),
            (Buffer::App(a), MsgBuffers::Krb5(m)) => m.buffer_n(a, i),
            _ => None,
        }
    }
    fn view(&self) -> TxView<'_> {
        match *self {
            MsgBuffers::Snmp(msg) => TxView::Snmp { msg },
            MsgBuffers::Krb5(msg) => TxView::Krb5 { msg },
        }
    }
}

/// One DCE/RPC request: `dce_stub_data` is its stub data, `dce` byte options read its byte
/// order, `dce_iface`/`dce_opnum` its interface and operation.
pub struct DceBuffers<'a> {
    /// The request.
    pub tx: &'a DceTx,
}

impl BufferSource for DceBuffers<'_> {
    fn buffer_n(&self, b: Buffer, i: usize) -> Option<&[u8]> {
        use verdict_compiler::ir::AppBuffer;
        match b {
            Buffer::App(AppBuffer::DceStubData) if i == 0 && !self.tx.stub().is_empty() => {
                Some(self.tx.stub())
            }
            _ => None,
        }
    }
    fn dce_big_endian(&self) -> bool {
        self.tx.big_endian()
    }
    fn view(&self) -> TxView<'_> {
        TxView::Dcerpc { tx: self.tx }
    }
}

/// Suricata's EVE `dcerpc` object: `request` (`REQUEST`), the call id, and the request's
/// `opnum`, `context_id`, `frag_cnt`, `stub_data_size` and interface `uuid`/`version`.
pub fn dcerpc_eve(tx: &DceTx) -> Value {
    let mut req = Map::new();
    req.insert("opnum".into(), tx.opnum().into());
    req.insert("context_id".into(), tx.context_id().into());
    req.insert("frag_cnt".into(), tx.frags().into());
    req.insert("stub_data_size".into(), tx.stub().len().into());
    let mut m = Map::new();
    m.insert("request".into(), "REQUEST".into());
    m.insert("call_id".into(), tx.call_id().into());
    m.insert("req".into(), Value::Object(req));
    if let Some((uuid, major)) = tx.iface() {
        m.insert(
            "interface".into(),
            json!({"uuid": verdict_compiler::keywords::dce::uuid_text(&uuid), "version": major}),
        );
    }
    Value::Object(m)
}
