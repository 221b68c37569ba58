//! EVE records to the local syslog socket (`/dev/log`), where operators already collect logs
//! and forward them (rsyslog, syslog-ng, journald): one record per message in RFC 3164
//! framing without a host name, as local programs send it (`<PRI>Mmm dd hh:mm:ss
//! IDENT[PID]: {json}`, the time in UTC), at severity `info` and Suricata's default facility
//! for EVE, `local5`.

use super::Flush;
use std::io;
use std::path::PathBuf;
use std::time::Duration;
use syslog::{Facility, Formatter3164, Logger, LoggerBackend};

/// How long one message may wait on a full syslog socket: the writer serves the files too,
/// so a stalled syslog daemon costs its own records (counted lost), not the others.
const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// Where and how EVE records are sent to syslog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogTarget {
    /// The syslog socket (datagram, or stream as some daemons listen).
    pub socket: PathBuf,
    /// Facility name (`local5`, `daemon`, `user`, …).
    pub facility: String,
    /// The tag before each message.
    pub identity: String,
}

impl Default for SyslogTarget {
    fn default() -> Self {
        SyslogTarget {
            socket: PathBuf::from("/dev/log"),
            facility: "local5".into(),
            identity: "verdict".into(),
        }
    }
}

impl SyslogTarget {
    /// The facility, or why the name is not one (checked when the config is read).
    pub fn facility(&self) -> Result<Facility, String> {
        self.facility.parse().map_err(|()| {
            format!(
                "`{}` is not a syslog facility (kern, user, mail, daemon, auth, syslog, lpr, \
                 news, uucp, cron, authpriv, ftp, local0 … local7)",
                self.facility
            )
        })
    }
}

/// A connection to the syslog socket.
pub(super) struct SyslogOut {
    logger: Logger<LoggerBackend, Formatter3164>,
}

impl SyslogOut {
    /// Connects to the socket (the writer reconnects the same way after an error).
    pub(super) fn open(t: &SyslogTarget) -> io::Result<SyslogOut> {
        let facility = t
            .facility()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let formatter = Formatter3164 {
            facility,
            hostname: None,
            process: t.identity.clone(),
            pid: std::process::id(),
        };
        let logger = syslog::unix_custom(formatter, &t.socket).map_err(|e| {
            io::Error::new(
                io::ErrorKind::NotConnected,
                format!("cannot connect to {}: {e}", t.socket.display()),
            )
        })?;
        match &logger.backend {
            LoggerBackend::Unix(s) => s.set_write_timeout(Some(SEND_TIMEOUT))?,
            LoggerBackend::UnixStream(s) => s.get_ref().set_write_timeout(Some(SEND_TIMEOUT))?,
            _ => {}
        }
        Ok(SyslogOut { logger })
    }

    /// Sends one record as one message.
    pub(super) fn send(&mut self, record: &str) -> io::Result<()> {
        self.logger.info(record).map_err(|e| match e {
            syslog::Error::Write(e) | syslog::Error::Io(e) => e,
            other => io::Error::other(other.to_string()),
        })
    }
}

impl Flush for SyslogOut {
    fn flush_out(&mut self) -> io::Result<()> {
        // Each message is sent whole by `send`: nothing waits in a buffer.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_arrive_as_one_rfc3164_message_each() {
        let dir = std::env::temp_dir().join(format!("verdict-syslog-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        let _ = std::fs::remove_file(&path);
        let server = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        let t = SyslogTarget {
            socket: path.clone(),
            facility: "local5".into(),
            identity: "verdict-test".into(),
        };
        let mut out = SyslogOut::open(&t).unwrap();
        out.send("{\"event_type\":\"alert\"}").unwrap();
        let mut buf = [0u8; 512];
        let n = server.recv(&mut buf).unwrap();
        let msg = std::str::from_utf8(&buf[..n]).unwrap();
        // local5 (21) * 8 + info (6) = 174.
        assert!(msg.starts_with("<174>"), "{msg}");
        let pid = format!(
            " verdict-test[{}]: {{\"event_type\":\"alert\"}}",
            std::process::id()
        );
        assert!(msg.ends_with(&pid), "{msg}");
        let bad = SyslogTarget {
            facility: "local9".into(),
            ..t
        };
        assert!(bad.facility().unwrap_err().contains("local9"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
