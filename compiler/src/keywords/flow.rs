//! `flow` and `flowbits`. The kernel form of `flow` (conntrack state and direction, where it
//! agrees with the stream engine) is [`crate::kernel::lower_flow`], next to the kernel forms of
//! every other keyword, so one function answers "can nft do it?" for a whole rule.

use super::{split_args, KwError};
use crate::diag::Code;
use crate::ir::{BitsOp, FlowOpts, FlowbitCmd, Flowbits};

/// `flow:established|not_established|stateless,to_server|from_client|to_client|from_server,
/// only_stream|no_stream,only_frag|no_frag`
pub fn parse_flow(value: &str) -> Result<FlowOpts, KwError> {
    let mut f = FlowOpts::default();
    for (at, a) in split_args(value) {
        let conflict = |what: &str| {
            KwError::code(
                Code::Conflict,
                format!("`{a}` contradicts an earlier {what} in this flow option"),
            )
            .at(at, at + a.len())
        };
        let set_opt = |slot: &mut Option<bool>, v: bool, what: &str| -> Result<(), KwError> {
            if slot.is_some_and(|x| x != v) {
                return Err(conflict(what));
            }
            *slot = Some(v);
            Ok(())
        };
        match a.to_ascii_lowercase().as_str() {
            "established" => set_opt(&mut f.established, true, "state")?,
            "not_established" => set_opt(&mut f.established, false, "state")?,
            "stateless" => f.stateless = true,
            "to_server" | "from_client" => set_opt(&mut f.to_server, true, "direction")?,
            "to_client" | "from_server" => set_opt(&mut f.to_server, false, "direction")?,
            "only_stream" => set_opt(&mut f.stream, true, "stream setting")?,
            "no_stream" => set_opt(&mut f.stream, false, "stream setting")?,
            "only_frag" => set_opt(&mut f.frag, true, "fragment setting")?,
            "no_frag" => set_opt(&mut f.frag, false, "fragment setting")?,
            _ => {
                return Err(KwError::value(format!("`{a}` is not a flow option"))
                    .at(at, at + a.len())
                    .help("flow options: established, not_established, stateless, to_server, to_client, from_server, from_client, only_stream, no_stream, only_frag, no_frag"))
            }
        }
    }
    if f.stateless && f.established.is_some() {
        return Err(KwError::code(
            Code::Conflict,
            "flow cannot be both stateless and (not_)established",
        ));
    }
    Ok(f)
}

/// Canonical `flow` value, or `None` when there is nothing to say.
pub fn flow_text(f: &FlowOpts) -> Option<String> {
    let mut parts = Vec::new();
    match f.established {
        Some(true) => parts.push("established"),
        Some(false) => parts.push("not_established"),
        None => {}
    }
    if f.stateless {
        parts.push("stateless");
    }
    match f.to_server {
        Some(true) => parts.push("to_server"),
        Some(false) => parts.push("to_client"),
        None => {}
    }
    match f.stream {
        Some(true) => parts.push("only_stream"),
        Some(false) => parts.push("no_stream"),
        None => {}
    }
    match f.frag {
        Some(true) => parts.push("only_frag"),
        Some(false) => parts.push("no_frag"),
        None => {}
    }
    (!parts.is_empty()).then(|| parts.join(","))
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// `flowbits:cmd[,name[&name…|name|…]][,group]`
pub fn parse_flowbits(value: &str) -> Result<Flowbits, KwError> {
    let args = split_args(value);
    let Some(&(cat, cmd_text)) = args.first() else {
        return Err(KwError::value("flowbits needs a command"));
    };
    let cmd = match cmd_text {
        "set" => FlowbitCmd::Set,
        "unset" => FlowbitCmd::Unset,
        "toggle" => FlowbitCmd::Toggle,
        "isset" => FlowbitCmd::IsSet,
        "isnotset" => FlowbitCmd::IsNotSet,
        "noalert" => FlowbitCmd::NoAlert,
        "reset" => FlowbitCmd::Reset,
        _ => {
            return Err(
                KwError::value(format!("unknown flowbits command `{cmd_text}`"))
                    .at(cat, cat + cmd_text.len())
                    .help("commands: set, unset, toggle, isset, isnotset, noalert, reset"),
            )
        }
    };
    let mut fb = Flowbits {
        cmd: cmd.clone(),
        names: Vec::new(),
        op: BitsOp::All,
        group: None,
    };
    match cmd {
        FlowbitCmd::NoAlert => {
            if let Some(&(at, a)) = args.get(1) {
                return Err(KwError::value("flowbits:noalert takes no name").at(at, at + a.len()));
            }
            return Ok(fb);
        }
        FlowbitCmd::Reset => {
            if let Some(&(at, g)) = args.get(1) {
                if !valid_name(g) {
                    return Err(KwError::value(format!("`{g}` is not a valid group name"))
                        .at(at, at + g.len()));
                }
                fb.group = Some(g.to_string());
            }
            if let Some(&(at, a)) = args.get(2) {
                return Err(
                    KwError::value("flowbits:reset takes at most a group").at(at, at + a.len())
                );
            }
            return Ok(fb);
        }
        _ => {}
    }
    let Some(&(nat, names)) = args.get(1) else {
        return Err(
            KwError::value(format!("flowbits:{cmd_text} needs a flowbit name"))
                .help(format!("e.g. flowbits:{cmd_text},my.bit;")),
        );
    };
    let (has_and, has_or) = (names.contains('&'), names.contains('|'));
    if has_and && has_or {
        return Err(
            KwError::code(Code::Conflict, "flowbit names cannot mix `&` and `|`")
                .at(nat, nat + names.len()),
        );
    }
    if has_or {
        fb.op = BitsOp::Any;
    }
    if (has_and || has_or)
        && !matches!(
            cmd,
            FlowbitCmd::IsSet
                | FlowbitCmd::IsNotSet
                | FlowbitCmd::Set
                | FlowbitCmd::Unset
                | FlowbitCmd::Toggle
        )
    {
        return Err(KwError::value(
            "several flowbit names are only allowed here with isset/isnotset/set/unset/toggle",
        )
        .at(nat, nat + names.len()));
    }
    if has_or && !matches!(cmd, FlowbitCmd::IsSet | FlowbitCmd::IsNotSet) {
        return Err(
            KwError::value("`|` (any of) only makes sense with isset/isnotset")
                .at(nat, nat + names.len()),
        );
    }
    for n in names.split(['&', '|']) {
        let n = n.trim();
        if !valid_name(n) {
            return Err(KwError::value(format!("`{n}` is not a valid flowbit name"))
                .at(nat, nat + names.len()));
        }
        fb.names.push(n.to_string());
    }
    if let Some(&(at, g)) = args.get(2) {
        if !valid_name(g) {
            return Err(
                KwError::value(format!("`{g}` is not a valid group name")).at(at, at + g.len())
            );
        }
        fb.group = Some(g.to_string());
    }
    if let Some(&(at, a)) = args.get(3) {
        return Err(KwError::value("unexpected extra flowbits argument").at(at, at + a.len()));
    }
    Ok(fb)
}

/// Canonical `flowbits` value.
pub fn flowbits_text(f: &Flowbits) -> String {
    let cmd = match f.cmd {
        FlowbitCmd::Set => "set",
        FlowbitCmd::Unset => "unset",
        FlowbitCmd::Toggle => "toggle",
        FlowbitCmd::IsSet => "isset",
        FlowbitCmd::IsNotSet => "isnotset",
        FlowbitCmd::NoAlert => "noalert",
        FlowbitCmd::Reset => "reset",
    };
    let mut s = cmd.to_string();
    if !f.names.is_empty() {
        s.push(',');
        s.push_str(&f.names.join(if f.op == BitsOp::Any { "|" } else { "&" }));
    }
    if let Some(g) = &f.group {
        s.push(',');
        s.push_str(g);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_and_flowbits() {
        let f = parse_flow("to_server, established").unwrap();
        assert_eq!((f.to_server, f.established), (Some(true), Some(true)));
        assert_eq!(parse_flow(&flow_text(&f).unwrap()).unwrap(), f);
        assert!(parse_flow("to_server,to_client").is_err());
        assert!(parse_flow("sideways").is_err());
        let b = parse_flowbits("isset,a|b").unwrap();
        assert_eq!((b.op, b.names.len()), (BitsOp::Any, 2));
        let g = parse_flowbits("set,x,grp").unwrap();
        assert_eq!(g.group.as_deref(), Some("grp"));
        assert_eq!(parse_flowbits(&flowbits_text(&g)).unwrap(), g);
        for bad in [
            "",
            "jump,x",
            "set",
            "isset,a&b|c",
            "set,a|b",
            "noalert,x",
            "set,a b",
        ] {
            assert!(parse_flowbits(bad).is_err(), "{bad}");
        }
    }
}
