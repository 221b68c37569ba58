//! `verdict explain ALERT` (or `--line N` of an EVE file, or `--flow-id ID`: every alert of one
//! flow): why a rule fired, from what the engine wrote. The EVE alert names
//! the rule (sid), the matched payload ranges (`verdict_matches`) and its packet's number in
//! the evidence pcap (`verdict_evidence`); this prints the rule text, the packet as a hexdump
//! with the matched bytes marked, and each rule option in order with its result.

use anyhow::{bail, Context};
use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use verdict_compiler::check::Source;
use verdict_compiler::keywords::{buffers, content};
use verdict_compiler::parse::parse_rule;

/// Arguments of `verdict explain`.
#[derive(clap::Args)]
pub struct Args {
    /// One EVE alert line (JSON); `-` or absent: the first alert line on stdin.
    #[arg(conflicts_with_all = ["line", "flow_id"])]
    pub alert: Option<String>,
    /// Explain the alert on this line (1-based) of the EVE file.
    #[arg(long, value_name = "N")]
    pub line: Option<usize>,
    /// Explain every alert of this flow (EVE `flow_id`) in the EVE file, and list the
    /// flow's packets in the evidence pcap.
    #[arg(long, value_name = "ID", conflicts_with = "line")]
    pub flow_id: Option<u64>,
    /// The EVE file for --line and --flow-id (default: LOG_DIR/eve.json).
    #[arg(long, value_name = "FILE")]
    pub eve: Option<PathBuf>,
    /// Rule files or directories the alerting engine ran.
    #[arg(long = "rules", short = 'r', num_args = 1.., required = true)]
    pub rules: Vec<PathBuf>,
    /// The output directory holding the alert's evidence.pcap.
    #[arg(long, default_value = super::run::DEFAULT_LOG_DIR)]
    pub log_dir: PathBuf,
    /// Colour the matched bytes: auto (when stdout is a terminal), always, never.
    #[arg(long, default_value = "auto")]
    pub color: String,
}

/// What `explain` needs of one EVE alert.
struct Alert {
    sid: u64,
    src: String,
    dst: String,
    matches: Vec<(usize, usize)>,
    packet: Option<u64>,
}

impl Alert {
    fn parse(line: &str) -> anyhow::Result<Alert> {
        let v: serde_json::Value =
            serde_json::from_str(line.trim()).context("the alert is not a JSON EVE line")?;
        Alert::from_value(&v)
    }

    fn from_value(v: &serde_json::Value) -> anyhow::Result<Alert> {
        if v["event_type"] != "alert" {
            bail!("not an alert record (event_type {})", v["event_type"]);
        }
        let sid = v["alert"]["signature_id"]
            .as_u64()
            .context("the alert has no alert.signature_id")?;
        let matches = v["alert"]["verdict_matches"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|m| {
                        let o = usize::try_from(m["offset"].as_u64()?).ok()?;
                        let l = usize::try_from(m["length"].as_u64()?).ok()?;
                        Some((o, o.checked_add(l)?))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Alert {
            sid,
            src: v["src_ip"].as_str().unwrap_or_default().to_string(),
            dst: v["dest_ip"].as_str().unwrap_or_default().to_string(),
            matches,
            packet: v["verdict_evidence"]["packet"].as_u64(),
        })
    }
}

/// Runs `verdict explain`.
pub fn run(args: Args) -> anyhow::Result<i32> {
    let color = match args.color.as_str() {
        "always" => true,
        "never" => false,
        _ => std::io::stdout().is_terminal(),
    };
    let eve = args
        .eve
        .clone()
        .unwrap_or_else(|| args.log_dir.join("eve.json"));
    let mut o = String::new();
    match (args.line, args.flow_id) {
        (Some(n), _) => {
            let line = eve_lines(&eve)?
                .into_iter()
                .nth(n.checked_sub(1).context("--line counts from 1")?)
                .with_context(|| format!("{} has fewer than {n} lines", eve.display()))?;
            explain_one(&mut o, &args, &Alert::parse(&line)?, color)?;
        }
        (None, Some(id)) => {
            let records: Vec<serde_json::Value> = eve_lines(&eve)?
                .iter()
                .filter_map(|l| serde_json::from_str(l).ok())
                .filter(|v: &serde_json::Value| v["flow_id"].as_u64() == Some(id))
                .collect();
            let alerts: Vec<&serde_json::Value> = records
                .iter()
                .filter(|v| v["event_type"] == "alert")
                .collect();
            if alerts.is_empty() {
                bail!("no alert of flow {id} in {}", eve.display());
            }
            let evidence: std::collections::BTreeSet<u64> = records
                .iter()
                .filter_map(|v| v["verdict_evidence"]["packet"].as_u64())
                .collect();
            let list: Vec<String> = evidence.iter().map(u64::to_string).collect();
            let _ = writeln!(
                o,
                "flow {id}: {} alert(s); its packets in {}: {}\n",
                alerts.len(),
                args.log_dir.join("evidence.pcap").display(),
                if list.is_empty() {
                    "none".into()
                } else {
                    list.join(", ")
                }
            );
            for (i, a) in alerts.iter().enumerate() {
                let _ = writeln!(o, "alert {} of {}:", i + 1, alerts.len());
                explain_one(&mut o, &args, &Alert::from_value(a)?, color)?;
                o.push('\n');
            }
        }
        (None, None) => {
            let line = match args.alert.as_deref() {
                Some(l) if l != "-" => l.to_string(),
                _ => std::io::stdin()
                    .lines()
                    .map_while(Result::ok)
                    .find(|l| l.contains("\"event_type\":\"alert\""))
                    .context("no EVE alert line on stdin")?,
            };
            explain_one(&mut o, &args, &Alert::parse(&line)?, color)?;
        }
    }
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), o.as_bytes());
    Ok(0)
}

/// The lines of an EVE file.
fn eve_lines(path: &Path) -> anyhow::Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(text.lines().map(str::to_string).collect())
}

/// The rule, the evidence packet with the matched bytes and each option's result of one
/// alert, appended to `o`.
fn explain_one(o: &mut String, args: &Args, alert: &Alert, color: bool) -> anyhow::Result<()> {
    let (origin, text) = find_rule(&args.rules, alert.sid)?;
    let _ = writeln!(o, "rule ({origin}):\n  {text}\n");
    let payload = match evidence(&args.log_dir, alert) {
        Ok((file, n, pkt)) => {
            let _ = writeln!(o, "evidence: {} packet {n}:", file.display());
            let start = payload_start(&pkt);
            hexdump(o, &pkt, start, &alert.matches, color);
            start.map(|s| pkt.get(s..).unwrap_or_default().to_vec())
        }
        Err(e) => {
            let _ = writeln!(o, "evidence: not found ({e:#})");
            None
        }
    };
    let _ = writeln!(o, "\noptions:");
    options(o, &text, &alert.matches, payload.as_deref());
    Ok(())
}

/// The rule with `sid` in the rule files, as `file:line` and its text (continuation lines
/// joined).
pub(super) fn find_rule(paths: &[PathBuf], sid: u64) -> anyhow::Result<(String, String)> {
    let needle = format!("sid:{sid};");
    for p in paths {
        for src in Source::read(p).with_context(|| format!("cannot read {}", p.display()))? {
            let mut logical = String::new();
            let mut first_line = 0;
            for (i, l) in src.text.lines().enumerate() {
                if logical.is_empty() {
                    first_line = i + 1;
                }
                match l.trim_end().strip_suffix('\\') {
                    Some(part) => {
                        logical.push_str(part);
                        continue;
                    }
                    None => logical.push_str(l),
                }
                let rule = std::mem::take(&mut logical);
                let t = rule.trim();
                if !t.starts_with('#') && t.replace(' ', "").contains(&needle) {
                    return Ok((format!("{}:{first_line}", src.name), t.to_string()));
                }
            }
        }
    }
    bail!("no rule with sid {sid} in the given rule files")
}

/// Packet `alert.packet` of evidence.pcap (or of the rotated evidence.pcap.1), checked against
/// the alert's addresses.
fn evidence(dir: &Path, alert: &Alert) -> anyhow::Result<(PathBuf, u64, Vec<u8>)> {
    let n = alert.packet.context(
        "the alert has no verdict_evidence (written with evidence off, or by an older verdict)",
    )?;
    for name in ["evidence.pcap", "evidence.pcap.1"] {
        let path = dir.join(name);
        let Ok(file) = std::fs::File::open(&path) else {
            continue;
        };
        let mut r = pcap_file::pcap::PcapReader::new(std::io::BufReader::new(file))
            .with_context(|| format!("{} is not a pcap", path.display()))?;
        let mut i = 0u64;
        while let Some(pkt) = r.next_packet() {
            let pkt = pkt.with_context(|| format!("reading {}", path.display()))?;
            i += 1;
            if i == n {
                let data = pkt.data.into_owned();
                if addresses_match(&data, alert) {
                    return Ok((path, n, data));
                }
                break;
            }
        }
    }
    bail!(
        "packet {n} of {} is not this alert's (rotated away?)",
        dir.join("evidence.pcap").display()
    )
}

fn addresses_match(pkt: &[u8], alert: &Alert) -> bool {
    use etherparse::NetSlice;
    match etherparse::SlicedPacket::from_ip(pkt)
        .ok()
        .and_then(|s| s.net)
    {
        Some(NetSlice::Ipv4(ip)) => {
            let h = ip.header();
            h.source_addr().to_string() == alert.src
                && h.destination_addr().to_string() == alert.dst
        }
        Some(NetSlice::Ipv6(ip)) => {
            let h = ip.header();
            h.source_addr().to_string() == alert.src
                && h.destination_addr().to_string() == alert.dst
        }
        _ => false,
    }
}

/// Offset of the transport payload in the L3 packet (what `verdict_matches` count from).
fn payload_start(pkt: &[u8]) -> Option<usize> {
    use etherparse::TransportSlice;
    let s = etherparse::SlicedPacket::from_ip(pkt).ok()?;
    let payload = match s.transport? {
        TransportSlice::Tcp(t) => t.payload(),
        TransportSlice::Udp(u) => u.payload(),
        _ => return None,
    };
    (payload.as_ptr() as usize).checked_sub(pkt.as_ptr() as usize)
}

/// 16 bytes a line: offset, hex, ASCII; under each line with matched bytes, a line of `^`
/// under them (and, in colour, the bytes themselves in inverse video).
fn hexdump(
    o: &mut String,
    pkt: &[u8],
    start: Option<usize>,
    matches: &[(usize, usize)],
    color: bool,
) {
    let hit = |i: usize| {
        start.is_some_and(|s| {
            i.checked_sub(s)
                .is_some_and(|p| matches.iter().any(|&(a, b)| (a..b).contains(&p)))
        })
    };
    for (row, chunk) in pkt.chunks(16).enumerate() {
        let base = row * 16;
        let (mut hex, mut marks, mut ascii) = (String::new(), String::new(), String::new());
        for (j, b) in chunk.iter().enumerate() {
            let h = hit(base + j);
            let cell = format!("{b:02x}");
            if h && color {
                let _ = write!(hex, "\x1b[7m{cell}\x1b[0m ");
            } else {
                let _ = write!(hex, "{cell} ");
            }
            marks.push_str(if h { "^^ " } else { "   " });
            let c = if b.is_ascii_graphic() || *b == b' ' {
                *b as char
            } else {
                '.'
            };
            if h && color {
                let _ = write!(ascii, "\x1b[7m{c}\x1b[0m");
            } else {
                ascii.push(c);
            }
        }
        let pad = "   ".repeat(16 - chunk.len());
        let _ = writeln!(o, "  {base:04x}  {hex}{pad} {ascii}");
        if marks.contains('^') {
            let _ = writeln!(o, "        {}", marks.trim_end());
        }
    }
    if let Some(s) = start {
        let _ = writeln!(
            o,
            "  (payload starts at 0x{s:04x}; match offsets below count from there)"
        );
    }
}

/// Keywords that describe the rule rather than test the packet.
pub(super) const META: &[&str] = &[
    "msg",
    "sid",
    "rev",
    "gid",
    "classtype",
    "priority",
    "metadata",
    "reference",
    "target",
];

/// Content modifiers: shown with the content they modify.
pub(super) const MODIFIERS: &[&str] = &[
    "nocase",
    "offset",
    "depth",
    "distance",
    "within",
    "fast_pattern",
    "rawbytes",
    "startswith",
    "endswith",
];

/// Each testing option in rule order with its result. Payload contents and pcres take the
/// recorded matches in order (the engine records one per non-negated content/pcre on the packet
/// payload, in program order); a content's range is checked against the packet's bytes.
fn options(o: &mut String, rule: &str, matches: &[(usize, usize)], payload: Option<&[u8]>) {
    let Ok(ast) = parse_rule(rule, 0, 0, false) else {
        let _ = writeln!(o, "  (the rule does not parse with this verdict)");
        return;
    };
    let mut next = matches.iter();
    let mut on_payload = true;
    let opts = &ast.options;
    for (k, opt) in opts.iter().enumerate() {
        let name = opt.name.text;
        let value = opt.value.map_or("", |v| v.text);
        if META.contains(&name) || MODIFIERS.contains(&name) {
            continue;
        }
        if let Some((buf, _)) = buffers::lookup(name) {
            on_payload = buf == verdict_compiler::ir::Buffer::Payload;
            let _ = writeln!(o, "  {name}: buffer selected");
            continue;
        }
        let nocase = opts
            .iter()
            .skip(k + 1)
            .take_while(|m| MODIFIERS.contains(&m.name.text))
            .any(|m| m.name.text == "nocase");
        let result = match name {
            "content" => content_result(value, nocase, on_payload, &mut next, payload),
            "pcre" if value.starts_with('!') => "absent, as required".into(),
            "pcre" if on_payload => match next.next() {
                Some((a, b)) => format!("matched at {a}..{b}{}", quote(payload, *a, *b)),
                None => "matched".into(),
            },
            "pcre" => "matched (in an app-layer buffer, not in this packet's bytes)".into(),
            _ => "ok (the rule alerted, so it held)".into(),
        };
        let _ = writeln!(o, "  {name}:{value}  =>  {result}");
    }
}

fn content_result<'a>(
    value: &str,
    nocase: bool,
    on_payload: bool,
    next: &mut impl Iterator<Item = &'a (usize, usize)>,
    payload: Option<&[u8]>,
) -> String {
    let Ok(c) = content::parse_content(value) else {
        return "matched (value not understood here)".into();
    };
    if c.negated {
        return "absent, as required".into();
    }
    if !on_payload {
        return "matched (in an app-layer buffer, not in this packet's bytes)".into();
    }
    let Some(&(a, b)) = next.next() else {
        return "matched (no range recorded)".into();
    };
    let bytes = payload.and_then(|p| p.get(a..b));
    let same = bytes.is_some_and(|got| {
        if nocase {
            got.eq_ignore_ascii_case(&c.bytes)
        } else {
            got == c.bytes.as_slice()
        }
    });
    if same || payload.is_none() {
        format!("matched at {a}..{b}")
    } else {
        format!("matched at {a}..{b} (those bytes differ: the range may belong to another option)")
    }
}

fn quote(payload: Option<&[u8]>, a: usize, b: usize) -> String {
    payload
        .and_then(|p| p.get(a..b))
        .map_or(String::new(), |s| format!(" {}", content::content_text(s)))
}
