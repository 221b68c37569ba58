//! EVE records to a Redis list or channel, where many gateways feed one place (Logstash,
//! Vector and Filebeat read Redis lists and channels), with Suricata's `redis` EVE output
//! settings: `mode` `list`/`lpush` (LPUSH, the default), `rpush` (RPUSH) or
//! `channel`/`publish` (PUBLISH), and `key`.
//!
//! The writer thread owns the connection. Records are buffered and sent as one pipeline per
//! flush (one LPUSH/RPUSH with every buffered record, or one PUBLISH each), so a round trip
//! costs one flush, not one record. A server that is down, refuses or stalls (past the
//! timeouts below) costs the records of that flush, counted lost by the writer's sink, which
//! reconnects with a growing pause; workers never wait on it.

use super::Flush;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// How long a connection attempt may take: a server that is unreachable costs the writer
/// this much per attempt (the attempts themselves back off).
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// How long one pipeline may wait on the socket, sending or for the replies.
const IO_TIMEOUT: Duration = Duration::from_secs(1);

/// Which command carries each record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisMode {
    /// LPUSH onto a list (Suricata's `list` and `lpush`): newest record first.
    Lpush,
    /// RPUSH onto a list: records in the order they were written.
    Rpush,
    /// PUBLISH on a channel (Suricata's `channel` and `publish`): subscribers get each
    /// record, nothing is kept.
    Publish,
}

impl std::str::FromStr for RedisMode {
    type Err = String;

    fn from_str(s: &str) -> Result<RedisMode, String> {
        match s {
            "list" | "lpush" => Ok(RedisMode::Lpush),
            "rpush" => Ok(RedisMode::Rpush),
            "channel" | "publish" => Ok(RedisMode::Publish),
            other => Err(format!(
                "`{other}` is not a Redis EVE mode (list, lpush, rpush, channel, publish)"
            )),
        }
    }
}

/// Where the server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisServer {
    /// Host name or address, and port.
    Tcp(String, u16),
    /// A unix socket (redis.conf `unixsocket`).
    Unix(PathBuf),
}

impl std::fmt::Display for RedisServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RedisServer::Tcp(h, p) if h.contains(':') => write!(f, "[{h}]:{p}"),
            RedisServer::Tcp(h, p) => write!(f, "{h}:{p}"),
            RedisServer::Unix(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Where and how EVE records are sent to Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisTarget {
    /// The server.
    pub server: RedisServer,
    /// The command per record.
    pub mode: RedisMode,
    /// The list or channel name.
    pub key: String,
}

impl Default for RedisTarget {
    fn default() -> Self {
        RedisTarget {
            server: RedisServer::Tcp("127.0.0.1".into(), 6379),
            mode: RedisMode::Lpush,
            key: "verdict".into(),
        }
    }
}

/// A connection to the server and the records waiting for the next flush.
pub(super) struct RedisOut {
    con: ::redis::Connection,
    mode: RedisMode,
    key: String,
    pending: Vec<String>,
}

fn io_error(e: ::redis::RedisError) -> io::Error {
    io::Error::other(e.to_string())
}

impl RedisOut {
    /// Connects (bounded by [`CONNECT_TIMEOUT`]); the writer reconnects the same way after an
    /// error.
    pub(super) fn open(t: &RedisTarget) -> io::Result<RedisOut> {
        let addr = match &t.server {
            RedisServer::Tcp(h, p) => ::redis::ConnectionAddr::Tcp(h.clone(), *p),
            RedisServer::Unix(p) => ::redis::ConnectionAddr::Unix(p.clone()),
        };
        let con = ::redis::Client::open(addr)
            .and_then(|c| c.get_connection_with_timeout(CONNECT_TIMEOUT))
            .map_err(|e| {
                io::Error::new(
                    io::ErrorKind::NotConnected,
                    format!("cannot connect to {}: {e}", t.server),
                )
            })?;
        con.set_write_timeout(Some(IO_TIMEOUT)).map_err(io_error)?;
        con.set_read_timeout(Some(IO_TIMEOUT)).map_err(io_error)?;
        Ok(RedisOut {
            con,
            mode: t.mode,
            key: t.key.clone(),
            pending: Vec::new(),
        })
    }

    /// Queues one record for the next flush (the writer's sink flushes every few records).
    pub(super) fn send(&mut self, record: &str) -> io::Result<()> {
        self.pending.push(record.to_owned());
        Ok(())
    }
}

impl Flush for RedisOut {
    /// Sends the queued records in one pipeline and waits for the replies: an error reply
    /// (e.g. the key holds a string) fails the flush as a broken connection does.
    fn flush_out(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let records = std::mem::take(&mut self.pending);
        let mut p = ::redis::pipe();
        match self.mode {
            RedisMode::Lpush => {
                p.cmd("LPUSH").arg(&self.key).arg(&records);
            }
            RedisMode::Rpush => {
                p.cmd("RPUSH").arg(&self.key).arg(&records);
            }
            RedisMode::Publish => {
                for r in &records {
                    p.cmd("PUBLISH").arg(&self.key).arg(r);
                }
            }
        }
        p.exec(&mut self.con).map_err(io_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_suricatas_names() {
        assert_eq!("list".parse(), Ok(RedisMode::Lpush));
        assert_eq!("lpush".parse(), Ok(RedisMode::Lpush));
        assert_eq!("rpush".parse(), Ok(RedisMode::Rpush));
        assert_eq!("channel".parse(), Ok(RedisMode::Publish));
        assert_eq!("publish".parse(), Ok(RedisMode::Publish));
        let e = "stream".parse::<RedisMode>().unwrap_err();
        assert!(e.contains("`stream`"), "{e}");
        assert_eq!(
            RedisServer::Tcp("::1".into(), 6379).to_string(),
            "[::1]:6379"
        );
    }

    #[test]
    fn a_server_that_is_not_there_is_an_error_naming_it() {
        let dir = std::env::temp_dir().join(format!("verdict-redis-unit-{}", std::process::id()));
        let t = RedisTarget {
            server: RedisServer::Unix(dir.join("none.sock")),
            ..RedisTarget::default()
        };
        let e = RedisOut::open(&t).err().expect("no server listens there");
        assert!(e.to_string().contains("none.sock"), "{e}");
    }
}
