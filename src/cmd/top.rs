//! `verdict top`: the alert log summarised, as DShield and ourmon reports did — top sources,
//! top destination ports and top signatures over a time range of `eve.json`.
//!
//! The log is streamed line by line (it may be large); lines that are not JSON alerts are
//! skipped and counted. EVE timestamps are UTC with a fixed layout, so a range is a plain
//! string comparison against timestamps in the same layout (`--from 2026-11-30T15` works).

use crate::config::Config;
use anyhow::Context;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::BufRead;
use std::path::PathBuf;
use std::time::SystemTime;
use verdict_engine::block::parse_duration;
use verdict_engine::output::eve::eve_timestamp;

/// Arguments of `verdict top`.
#[derive(clap::Args)]
pub struct Args {
    /// Config file (for its log_dir).
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// The engine's log directory (reads `eve.json` there).
    #[arg(long)]
    pub log_dir: Option<PathBuf>,
    /// An EVE file to read instead.
    #[arg(long)]
    pub eve: Option<PathBuf>,
    /// Only alerts of the last DURATION (e.g. 1h, 30m, 7d).
    #[arg(long)]
    pub since: Option<String>,
    /// Only alerts at or after this UTC time (EVE layout, any prefix: 2026-11-30T15:00).
    #[arg(long)]
    pub from: Option<String>,
    /// Only alerts before this UTC time.
    #[arg(long)]
    pub until: Option<String>,
    /// Rows per table.
    #[arg(long, short = 'n', default_value_t = 10)]
    pub limit: usize,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// Counts over a range of alerts.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Top {
    /// Alerts counted.
    pub alerts: u64,
    /// Lines that were not JSON.
    pub unreadable: u64,
    /// Alerts by source address.
    pub sources: HashMap<String, u64>,
    /// Alerts by destination port (`proto/port`).
    pub ports: HashMap<String, u64>,
    /// Alerts by `gid:sid signature`.
    pub signatures: HashMap<String, u64>,
}

impl Top {
    /// Counts one EVE line if it is an alert within `[from, until)`.
    pub fn add_line(&mut self, line: &str, from: Option<&str>, until: Option<&str>) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            self.unreadable += 1;
            return;
        };
        if v["event_type"] != "alert" {
            return;
        }
        let ts = v["timestamp"].as_str().unwrap_or("");
        if from.is_some_and(|f| ts < f) || until.is_some_and(|u| ts >= u) {
            return;
        }
        self.alerts += 1;
        let s = |k: &str| v[k].as_str().unwrap_or("?").to_string();
        *self.sources.entry(s("src_ip")).or_default() += 1;
        let port = match v["dest_port"].as_u64() {
            Some(p) => format!("{}/{p}", s("proto").to_ascii_lowercase()),
            None => s("proto").to_ascii_lowercase(),
        };
        *self.ports.entry(port).or_default() += 1;
        let a = &v["alert"];
        let sig = format!(
            "{}:{} {}",
            a["gid"].as_u64().unwrap_or(1),
            a["signature_id"].as_u64().unwrap_or(0),
            a["signature"].as_str().unwrap_or("")
        );
        *self.signatures.entry(sig).or_default() += 1;
    }
}

/// The `n` largest counts, ties by name.
fn ranked(m: &HashMap<String, u64>, n: usize) -> Vec<(&str, u64)> {
    let mut v: Vec<(&str, u64)> = m.iter().map(|(k, c)| (k.as_str(), *c)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    v.truncate(n);
    v
}

/// The tables as text.
pub fn render(t: &Top, n: usize) -> String {
    let mut s = format!("{} alerts\n", t.alerts);
    for (title, m) in [
        ("top sources", &t.sources),
        ("top destination ports", &t.ports),
        ("top signatures", &t.signatures),
    ] {
        let _ = writeln!(s, "\n{title}:");
        for (k, c) in ranked(m, n) {
            let _ = writeln!(s, "{c:>10}  {k}");
        }
    }
    if t.unreadable > 0 {
        let _ = writeln!(
            s,
            "\n({} lines were not JSON and were skipped)",
            t.unreadable
        );
    }
    s
}

/// Runs `verdict top`.
pub fn run(a: Args) -> anyhow::Result<i32> {
    let cfg = match &a.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    let path = a.eve.clone().unwrap_or_else(|| {
        a.log_dir
            .clone()
            .or(cfg.log_dir.clone())
            .unwrap_or_else(|| PathBuf::from(super::run::DEFAULT_LOG_DIR))
            .join("eve.json")
    });
    let mut from = a.from.clone();
    if let Some(d) = &a.since {
        let d = parse_duration(d)
            .map_err(|e| anyhow::anyhow!("--since: {e}"))?
            .context("--since needs a duration, not `permanent`")?;
        let cutoff = SystemTime::now()
            .checked_sub(d)
            .map(eve_timestamp)
            .unwrap_or_default();
        from = Some(from.map_or(cutoff.clone(), |f| f.max(cutoff)));
    }
    let file = std::fs::File::open(&path)
        .with_context(|| format!("cannot read the alert log {}", path.display()))?;
    let mut top = Top::default();
    for line in std::io::BufReader::new(file).split(b'\n') {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        top.add_line(
            &String::from_utf8_lossy(&line),
            from.as_deref(),
            a.until.as_deref(),
        );
    }
    let text = if a.json {
        let table = |m: &HashMap<String, u64>| {
            ranked(m, a.limit)
                .into_iter()
                .map(|(k, c)| serde_json::json!({ "key": k, "alerts": c }))
                .collect::<Vec<_>>()
        };
        serde_json::json!({
            "alerts": top.alerts,
            "from": from,
            "until": a.until,
            "sources": table(&top.sources),
            "dest_ports": table(&top.ports),
            "signatures": table(&top.signatures),
        })
        .to_string()
            + "\n"
    } else {
        render(&top, a.limit)
    };
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(ts: &str, src: &str, port: u16, sid: u32) -> String {
        format!(
            r#"{{"timestamp":"{ts}","event_type":"alert","src_ip":"{src}","dest_port":{port},"proto":"TCP","alert":{{"gid":1,"signature_id":{sid},"signature":"s{sid}"}}}}"#
        )
    }

    #[test]
    fn counts_ranks_and_ranges() {
        let mut t = Top::default();
        let lines = [
            alert("2026-11-30T10:00:00.000000+0000", "192.0.2.2", 22, 1),
            alert("2026-11-30T11:00:00.000000+0000", "192.0.2.2", 22, 1),
            alert("2026-11-30T11:30:00.000000+0000", "192.0.2.3", 80, 2),
            alert("2026-11-30T12:00:00.000000+0000", "192.0.2.4", 80, 2),
            r#"{"event_type":"drop"}"#.to_string(),
            "not json".to_string(),
        ];
        for l in &lines {
            t.add_line(l, Some("2026-11-30T11"), Some("2026-11-30T12"));
        }
        assert_eq!((t.alerts, t.unreadable), (2, 1));
        assert_eq!(t.sources["192.0.2.2"], 1);
        assert_eq!(t.ports["tcp/80"], 1);
        let mut all = Top::default();
        for l in &lines {
            all.add_line(l, None, None);
        }
        let r = ranked(&all.sources, 1);
        assert_eq!(r, vec![("192.0.2.2", 2)]);
        let text = render(&all, 2);
        assert!(
            text.contains("4 alerts") && text.contains("1:2 s2"),
            "{text}"
        );
    }
}
