//! The Suricata settings verdict honours, read from a `suricata.yaml`: `action-order`, the
//! exception policies (`exception-policy`, `stream.midstream-policy`, `stream.memcap-policy`,
//! `stream.reassembly.memcap-policy`, `defrag.memcap-policy`, `flow.memcap-policy`,
//! `app-layer.error-policy`), `stream.midstream`, the tunnel decoders (`decoder.teredo`,
//! `decoder.vxlan`, `decoder.geneve`: `enabled` and `ports`), and the address and port groups
//! under `vars` (for the rules and for `$VAR`s in threshold.config).
//!
//! Only block-style mappings and scalar lists are read (what these settings use); list items
//! that are mappings (`outputs: - eve-log: …`) are skipped whole, so the rest of a full
//! suricata.yaml never stands in the way. Settings verdict does not know are ignored: the
//! file is Suricata's, not ours.

use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::path::Path;
use verdict_engine::detect::order::ActionOrder;
use verdict_engine::exception::{ExceptionConfig, ExceptionPolicy};
use verdict_engine::wire::tunnel::TunnelConfig;

/// One value: a scalar or a list of scalars.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Scalar(String, usize),
    List(Vec<String>, usize),
}

/// A suricata.yaml flattened to dotted key paths (`stream.midstream-policy`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Yaml {
    entries: BTreeMap<String, Node>,
}

/// Removes a trailing `# comment` that is outside quotes.
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    let mut prev_space = true;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if prev_space => return &line[..i],
            _ => {}
        }
        prev_space = c.is_whitespace();
    }
    line
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner.to_string();
        }
    }
    v.to_string()
}

/// `key: value` (value may be empty); None when the text is not a mapping entry.
fn split_key(text: &str) -> Option<(&str, &str)> {
    let (k, v) = text.split_once(':')?;
    if !(v.is_empty() || v.starts_with(' ')) || k.trim().is_empty() || k.starts_with(['"', '\'']) {
        return None;
    }
    Some((k.trim(), v.trim()))
}

impl Yaml {
    /// Parses the subset described in the module documentation; errors carry the line.
    pub fn parse(text: &str) -> anyhow::Result<Yaml> {
        // (indent, key) of the open mappings; a key of "-" marks a list item that is a
        // mapping, whose contents are skipped.
        let mut stack: Vec<(usize, String, usize)> = Vec::new();
        let mut y = Yaml::default();
        for (n, raw) in text.lines().enumerate() {
            let line = n + 1;
            let body = strip_comment(raw).trim_end();
            let trimmed = body.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('%') || trimmed == "---" {
                continue;
            }
            if raw.starts_with('\t') {
                bail!("line {line}: tabs are not allowed for indentation in YAML");
            }
            let indent = body.len() - trimmed.len();
            if let Some(item) = trimmed
                .strip_prefix('-')
                .filter(|r| r.is_empty() || r.starts_with(' '))
            {
                // A list item belongs to the innermost key indented no deeper than it.
                while stack.last().is_some_and(|(i, _, _)| *i > indent) {
                    stack.pop();
                }
                let item = item.trim();
                if split_key(item).is_some() || item.is_empty() {
                    stack.push((indent + 1, "-".into(), line));
                    continue;
                }
                if stack.iter().any(|(_, k, _)| k == "-") {
                    continue;
                }
                let path = Self::path(&stack, None);
                // Errors about the list name the line of its key.
                let key_line = stack.last().map_or(line, |(_, _, l)| *l);
                match y
                    .entries
                    .entry(path)
                    .or_insert(Node::List(Vec::new(), key_line))
                {
                    Node::List(v, _) => v.push(unquote(item)),
                    Node::Scalar(..) => bail!("line {line}: a list item after a scalar value"),
                }
                continue;
            }
            let Some((key, value)) = split_key(trimmed) else {
                bail!("line {line}: expected `key: value` or `- item`, found `{trimmed}`");
            };
            while stack.last().is_some_and(|(i, _, _)| *i >= indent) {
                stack.pop();
            }
            if value.is_empty() {
                stack.push((indent, key.to_string(), line));
                continue;
            }
            if stack.iter().any(|(_, k, _)| k == "-") {
                continue;
            }
            let path = Self::path(&stack, Some(key));
            let node = match value.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                // A flow sequence (`[drop, pass]`) of plain words is a list.
                Some(inner) if !inner.contains(['.', ':', '/', '$', '!']) => Node::List(
                    inner
                        .split(',')
                        .map(unquote)
                        .filter(|s| !s.is_empty())
                        .collect(),
                    line,
                ),
                _ => Node::Scalar(unquote(value), line),
            };
            y.entries.insert(path, node);
        }
        Ok(y)
    }

    fn path(stack: &[(usize, String, usize)], key: Option<&str>) -> String {
        let mut parts: Vec<&str> = stack.iter().map(|(_, k, _)| k.as_str()).collect();
        parts.extend(key);
        parts.join(".")
    }

    /// A scalar setting and its line.
    fn scalar(&self, key: &str) -> Option<(&str, usize)> {
        match self.entries.get(key)? {
            Node::Scalar(s, l) => Some((s, *l)),
            Node::List(..) => None,
        }
    }

    /// Scalars under a mapping (`vars.address-groups`): (name, value).
    fn children(&self, prefix: &str) -> impl Iterator<Item = (&str, &str)> {
        let p = format!("{prefix}.");
        self.entries.iter().filter_map(move |(k, v)| match v {
            Node::Scalar(s, _) => k
                .strip_prefix(&p)
                .filter(|n| !n.contains('.'))
                .map(|n| (n, s.as_str())),
            Node::List(..) => None,
        })
    }
}

/// What verdict takes from a suricata.yaml.
#[derive(Debug, Clone, Default)]
pub struct SuricataSettings {
    /// `action-order`.
    pub action_order: Option<ActionOrder>,
    /// The exception policies.
    pub exceptions: ExceptionConfig,
    /// `stream.midstream`.
    pub midstream: Option<bool>,
    /// `vars.address-groups` and `vars.port-groups`: (name, definition).
    pub vars: Vec<(String, String)>,
    /// The tunnel decoders as Suricata would run with this file.
    pub decoder: Option<TunnelConfig>,
}

fn boolean(v: &str) -> Option<bool> {
    match v {
        "yes" | "true" | "on" | "1" => Some(true),
        "no" | "false" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// A decoder's `ports`: a port, a `[a, b]` list, or a `$VAR` of `vars.port-groups`.
fn port_list(v: &str, vars: &[(String, String)], line: usize) -> anyhow::Result<Vec<u16>> {
    let v = v.trim();
    if let Some(name) = v.strip_prefix('$') {
        let def = vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, d)| d.as_str())
            .ok_or_else(|| anyhow::anyhow!("line {line}: port variable ${name} is not defined"))?;
        return port_list(def, &[], line);
    }
    let inner = v
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(v);
    inner
        .split(',')
        .map(|p| {
            p.trim()
                .parse::<u16>()
                .map_err(|_| anyhow::anyhow!("line {line}: `{v}` is not a port list"))
        })
        .collect()
}

/// Suricata's `decoder:` section over its defaults. A Teredo decoder without `ports` runs
/// on every UDP port, as Suricata's does.
fn decoder(y: &Yaml, vars: &[(String, String)]) -> anyhow::Result<TunnelConfig> {
    let mut t = TunnelConfig {
        teredo_ports: Vec::new(),
        ..TunnelConfig::default()
    };
    for (name, on, ports) in [
        ("teredo", &mut t.teredo, &mut t.teredo_ports),
        ("vxlan", &mut t.vxlan, &mut t.vxlan_ports),
        ("geneve", &mut t.geneve, &mut t.geneve_ports),
    ] {
        let key = format!("decoder.{name}.enabled");
        if let Some((v, line)) = y.scalar(&key) {
            *on = boolean(v).ok_or_else(|| anyhow::anyhow!("line {line}: {key}: `{v}`"))?;
        }
        if let Some((v, line)) = y.scalar(&format!("decoder.{name}.ports")) {
            *ports = port_list(v, vars, line)?;
        }
    }
    if let Some((v, line)) = y.scalar("decoder.max-layers") {
        t.max_layers = v
            .parse()
            .map_err(|_| anyhow::anyhow!("line {line}: decoder.max-layers: `{v}`"))?;
    }
    Ok(t)
}

impl SuricataSettings {
    /// Reads the settings from a suricata.yaml file.
    pub fn load(path: &Path) -> anyhow::Result<SuricataSettings> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("{}", path.display()))
    }

    /// Reads the settings from suricata.yaml text.
    pub fn parse(text: &str) -> anyhow::Result<SuricataSettings> {
        let y = Yaml::parse(text)?;
        let mut s = SuricataSettings::default();
        match y.entries.get("action-order") {
            Some(Node::List(names, line)) => {
                s.action_order = Some(
                    ActionOrder::from_names(names)
                        .map_err(|e| anyhow::anyhow!("line {line}: action-order: {e}"))?,
                )
            }
            Some(Node::Scalar(_, line)) => {
                bail!("line {line}: action-order must be a list of pass, drop, reject and alert")
            }
            None => {}
        }
        let policy = |key: &str| -> anyhow::Result<Option<ExceptionPolicy>> {
            match y.scalar(key) {
                None => Ok(None),
                Some((v, line)) => ExceptionPolicy::parse(v).map(Some).ok_or_else(|| {
                    anyhow::anyhow!(
                        "line {line}: {key}: `{v}` is not an exception policy (drop-flow, \
                         drop-packet, pass-flow, pass-packet, bypass, reject, ignore, auto)"
                    )
                }),
            }
        };
        s.exceptions = ExceptionConfig {
            master: policy("exception-policy")?,
            midstream: policy("stream.midstream-policy")?,
            stream_memcap: policy("stream.memcap-policy")?
                .or(policy("stream.reassembly.memcap-policy")?),
            defrag_memcap: policy("defrag.memcap-policy")?,
            flow_memcap: policy("flow.memcap-policy")?,
            app_layer_error: policy("app-layer.error-policy")?,
        };
        if let Some((v, line)) = y.scalar("stream.midstream") {
            s.midstream = Some(match boolean(v) {
                Some(b) => b,
                None => bail!("line {line}: stream.midstream: `{v}` is not a boolean"),
            });
        }
        for group in ["vars.address-groups", "vars.port-groups"] {
            s.vars.extend(
                y.children(group)
                    .map(|(k, v)| (k.to_string(), v.to_string())),
            );
        }
        s.decoder = Some(decoder(&y, &s.vars)?);
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use verdict_compiler::ir::Action;

    const SAMPLE: &str = r#"%YAML 1.1
---
vars:
  address-groups:
    SUPPRESS: "[10.0.0.0/8,20.0.0.0/16]"   # a comment
    HOME_NET: '[192.168.0.0/16]'
  port-groups:
    HTTP_PORTS: "80"
outputs:
  - eve-log:
      enabled: yes
      types:
        - alert
        - drop:
            alerts: yes
action-order:
  - drop
  - alert
  - reject
  - pass
exception-policy: auto
stream:
  midstream: true
  midstream-policy: ignore
  reassembly:
    memcap-policy: drop-packet
"#;

    #[test]
    fn reads_the_settings_it_knows() {
        let s = SuricataSettings::parse(SAMPLE).unwrap();
        let o = s.action_order.unwrap();
        assert_eq!(o.rank(Action::Drop), 0);
        assert_eq!(o.rank(Action::Pass), 3);
        assert_eq!(s.exceptions.master, Some(ExceptionPolicy::Auto));
        assert_eq!(s.exceptions.midstream, Some(ExceptionPolicy::Ignore));
        assert_eq!(
            s.exceptions.stream_memcap,
            Some(ExceptionPolicy::DropPacket)
        );
        assert_eq!(s.midstream, Some(true));
        assert!(s
            .vars
            .contains(&("SUPPRESS".into(), "[10.0.0.0/8,20.0.0.0/16]".into())));
        assert!(s.vars.contains(&("HTTP_PORTS".into(), "80".into())));
        // Lists of mappings are skipped: nothing leaked from `outputs`.
        let y = Yaml::parse(SAMPLE).unwrap();
        assert!(y.entries.keys().all(|k| !k.starts_with("outputs")));
    }

    #[test]
    fn decoder_section_sets_the_tunnel_decoders() {
        let s = SuricataSettings::parse(
            "vars:\n  port-groups:\n    TEREDO_PORTS: \"3544\"\ndecoder:\n  teredo:\n    enabled: true\n    ports: $TEREDO_PORTS\n  vxlan:\n    enabled: true\n    ports: \"[4789, 8472]\"\n  geneve:\n    enabled: false\n",
        )
        .unwrap();
        let d = s.decoder.unwrap();
        assert_eq!(d.teredo_ports, vec![3544]);
        assert_eq!(d.vxlan_ports, vec![4789, 8472]);
        assert!(!d.geneve && d.vxlan && d.gre);
        // No `ports` for Teredo: every UDP port, as Suricata.
        let d = SuricataSettings::parse("stream:\n  midstream: false\n")
            .unwrap()
            .decoder
            .unwrap();
        assert!(d.teredo && d.teredo_ports.is_empty());
        assert_eq!(d.vxlan_ports, vec![4789]);
        let e = SuricataSettings::parse("decoder:\n  vxlan:\n    ports: \"[x]\"\n").unwrap_err();
        assert!(e.to_string().contains("line 3"), "{e}");
    }

    #[test]
    fn bad_values_name_their_line() {
        let e = SuricataSettings::parse("\naction-order:\n  - pass\n  - reject\n").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = SuricataSettings::parse("stream:\n  midstream-policy: drop\n").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = SuricataSettings::parse("foo bar\n").unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
    }

    #[test]
    fn flow_sequences_and_same_indent_lists() {
        let s = SuricataSettings::parse("action-order: [drop, pass, reject, alert]\n").unwrap();
        assert_eq!(s.action_order.unwrap().rank(Action::Drop), 0);
        let s =
            SuricataSettings::parse("action-order:\n- alert\n- drop\n- reject\n- pass\n").unwrap();
        assert_eq!(s.action_order.unwrap().rank(Action::Alert), 0);
    }
}
