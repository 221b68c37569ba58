//! `stream_size`, `xbits` and `flowint`: tests and effects on state kept outside the packet
//! (TCP stream progress, bits per host or host pair, integers per flow), with Suricata 7/8
//! syntax and meaning.

use super::numeric::parse_u64;
use super::{split_args, KwError};
use crate::diag::Code;
use crate::ir::{
    FlowbitCmd, Flowint, FlowintOp, FlowintValue, NumCmp, StreamSide, StreamSize, XbitTrack, Xbits,
};

/// Suricata's default lifetime of a set xbit, in seconds.
pub const XBITS_EXPIRE_DEFAULT: u32 = 30;

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn name_at(at: usize, n: &str, what: &str) -> Result<String, KwError> {
    if valid_name(n) {
        Ok(n.to_string())
    } else {
        Err(KwError::value(format!("`{n}` is not a valid {what} name"))
            .at(at, at + n.len())
            .help("names use letters, digits, `_`, `.` and `-`"))
    }
}

/// `stream_size:client|server|both|either,<|<=|=|!=|>=|>,N` (N fits 32 bits, as the
/// sequence space does).
pub fn parse_stream_size(value: &str) -> Result<StreamSize, KwError> {
    let args = split_args(value);
    let [(sat, side), (oat, op), (nat, n)] = args[..] else {
        return Err(
            KwError::value("stream_size needs a side, an operator and a number")
                .help("e.g. stream_size:server,<,6;"),
        );
    };
    let side = match side {
        "client" => StreamSide::Client,
        "server" => StreamSide::Server,
        "both" => StreamSide::Both,
        "either" => StreamSide::Either,
        _ => {
            return Err(KwError::value(format!("`{side}` is not a stream side"))
                .at(sat, sat + side.len())
                .help("sides: client, server, both, either"))
        }
    };
    let v = parse_u64(n).map_err(|e| e.at(nat, nat + n.len()))?;
    if v > u64::from(u32::MAX) {
        return Err(
            KwError::value(format!("stream_size {v} is larger than the sequence space"))
                .at(nat, nat + n.len()),
        );
    }
    let cmp = match op {
        "<" => NumCmp::Lt(v),
        "<=" => NumCmp::Le(v),
        "=" | "==" => NumCmp::Eq(v),
        "!=" => NumCmp::Ne(v),
        ">=" => NumCmp::Ge(v),
        ">" => NumCmp::Gt(v),
        _ => {
            return Err(
                KwError::value(format!("`{op}` is not a stream_size operator"))
                    .at(oat, oat + op.len())
                    .help("operators: <, <=, =, !=, >=, >"),
            )
        }
    };
    Ok(StreamSize { side, cmp })
}

/// Canonical `stream_size` value.
pub fn stream_size_text(s: &StreamSize) -> String {
    let side = match s.side {
        StreamSide::Client => "client",
        StreamSide::Server => "server",
        StreamSide::Both => "both",
        StreamSide::Either => "either",
    };
    let (op, v) = match s.cmp {
        NumCmp::Lt(v) => ("<", v),
        NumCmp::Le(v) => ("<=", v),
        NumCmp::Eq(v) => ("=", v),
        NumCmp::Ne(v) => ("!=", v),
        NumCmp::Ge(v) => (">=", v),
        NumCmp::Gt(v) => (">", v),
        // The parser builds no ranges.
        NumCmp::RangeExclusive(a, _) | NumCmp::RangeInclusive(a, _) => ("=", a),
    };
    format!("{side},{op},{v}")
}

/// `xbits:set|unset|toggle|isset|isnotset,name,track ip_src|ip_dst|ip_pair[,expire N]`
pub fn parse_xbits(value: &str) -> Result<Xbits, KwError> {
    let args = split_args(value);
    let Some(&(cat, cmd)) = args.first() else {
        return Err(KwError::value("xbits needs a command, a name and a track"));
    };
    let cmd = match cmd {
        "set" => FlowbitCmd::Set,
        "unset" => FlowbitCmd::Unset,
        "toggle" => FlowbitCmd::Toggle,
        "isset" => FlowbitCmd::IsSet,
        "isnotset" => FlowbitCmd::IsNotSet,
        _ => {
            return Err(KwError::value(format!("unknown xbits command `{cmd}`"))
                .at(cat, cat + cmd.len())
                .help("commands: set, unset, toggle, isset, isnotset"))
        }
    };
    let Some(&(nat, name)) = args.get(1) else {
        return Err(
            KwError::value("xbits needs a name").help("e.g. xbits:set,my.bit,track ip_src;")
        );
    };
    let name = name_at(nat, name, "xbit")?;
    let mut track = None;
    let mut expire = None;
    for &(at, a) in args.iter().skip(2) {
        let (k, v) = a
            .split_once(char::is_whitespace)
            .map_or((a, ""), |(k, v)| (k, v.trim()));
        match k {
            "track" if track.is_none() => {
                track = Some(match v {
                    "ip_src" => XbitTrack::IpSrc,
                    "ip_dst" => XbitTrack::IpDst,
                    "ip_pair" => XbitTrack::IpPair,
                    _ => {
                        return Err(KwError::value(format!("`{v}` is not an xbits track"))
                            .at(at, at + a.len())
                            .help("tracks: ip_src, ip_dst, ip_pair"))
                    }
                })
            }
            "expire" if expire.is_none() => {
                let n = parse_u64(v).map_err(|e| e.at(at, at + a.len()))?;
                expire = Some(u32::try_from(n).ok().filter(|&n| n > 0).ok_or_else(|| {
                    KwError::value("expire must be 1..=4294967295 seconds").at(at, at + a.len())
                })?);
            }
            "track" | "expire" => {
                return Err(KwError::code(Code::Conflict, format!("`{k}` given twice"))
                    .at(at, at + a.len()))
            }
            _ => {
                return Err(KwError::value(format!("`{a}` is not an xbits option"))
                    .at(at, at + a.len())
                    .help("options: track ip_src|ip_dst|ip_pair, expire N"))
            }
        }
    }
    let Some(track) = track else {
        return Err(KwError::value(
            "xbits needs `track ip_src`, `track ip_dst` or `track ip_pair`",
        ));
    };
    Ok(Xbits {
        cmd,
        name,
        track,
        expire: expire.unwrap_or(XBITS_EXPIRE_DEFAULT),
    })
}

/// Canonical `xbits` value.
pub fn xbits_text(x: &Xbits) -> String {
    let cmd = match x.cmd {
        FlowbitCmd::Set => "set",
        FlowbitCmd::Unset => "unset",
        FlowbitCmd::Toggle => "toggle",
        FlowbitCmd::IsSet => "isset",
        _ => "isnotset",
    };
    let track = match x.track {
        XbitTrack::IpSrc => "ip_src",
        XbitTrack::IpDst => "ip_dst",
        XbitTrack::IpPair => "ip_pair",
    };
    format!("{cmd},{},track {track},expire {}", x.name, x.expire)
}

/// `flowint:name,op[,value]` with Suricata's operators: `=`, `+`, `-` (effects), `==`, `!=`,
/// `<`, `<=`, `>`, `>=`, `isset`, `notset`/`isnotset` (tests). The value is a number or
/// another flowint.
pub fn parse_flowint(value: &str) -> Result<Flowint, KwError> {
    let args = split_args(value);
    let (Some(&(nat, name)), Some(&(oat, op))) = (args.first(), args.get(1)) else {
        return Err(
            KwError::value("flowint needs a name and an operator").help("e.g. flowint:count,+,1;")
        );
    };
    let name = name_at(nat, name, "flowint")?;
    let op = match op {
        "=" => FlowintOp::Set,
        "+" => FlowintOp::Add,
        "-" => FlowintOp::Sub,
        "==" => FlowintOp::Eq,
        "!=" => FlowintOp::Ne,
        "<" => FlowintOp::Lt,
        "<=" => FlowintOp::Le,
        ">" => FlowintOp::Gt,
        ">=" => FlowintOp::Ge,
        "isset" => FlowintOp::IsSet,
        "notset" | "isnotset" => FlowintOp::NotSet,
        _ => {
            return Err(KwError::value(format!("`{op}` is not a flowint operator"))
                .at(oat, oat + op.len())
                .help("operators: = + - == != < <= > >= isset notset isnotset"))
        }
    };
    let takes_value = !matches!(op, FlowintOp::IsSet | FlowintOp::NotSet);
    let value = match (args.get(2), takes_value) {
        (Some(&(vat, v)), true) => Some(if v.starts_with(|c: char| c.is_ascii_digit()) {
            let n = parse_u64(v).map_err(|e| e.at(vat, vat + v.len()))?;
            FlowintValue::Lit(u32::try_from(n).map_err(|_| {
                KwError::value(format!("flowint value {n} does not fit 32 bits"))
                    .at(vat, vat + v.len())
            })?)
        } else {
            FlowintValue::Var(name_at(vat, v, "flowint")?)
        }),
        (None, true) => {
            return Err(KwError::value("this flowint operator needs a value")
                .at(oat, oat + args[1].1.len()))
        }
        (Some(&(vat, v)), false) => {
            return Err(KwError::value("isset/notset take no value").at(vat, vat + v.len()))
        }
        (None, false) => None,
    };
    if let Some(&(at, a)) = args.get(3) {
        return Err(KwError::value("unexpected extra flowint argument").at(at, at + a.len()));
    }
    Ok(Flowint { name, op, value })
}

/// Canonical `flowint` value.
pub fn flowint_text(f: &Flowint) -> String {
    let op = match f.op {
        FlowintOp::Set => "=",
        FlowintOp::Add => "+",
        FlowintOp::Sub => "-",
        FlowintOp::Eq => "==",
        FlowintOp::Ne => "!=",
        FlowintOp::Lt => "<",
        FlowintOp::Le => "<=",
        FlowintOp::Gt => ">",
        FlowintOp::Ge => ">=",
        FlowintOp::IsSet => "isset",
        FlowintOp::NotSet => "notset",
    };
    match &f.value {
        Some(FlowintValue::Lit(n)) => format!("{},{op},{n}", f.name),
        Some(FlowintValue::Var(v)) => format!("{},{op},{v}", f.name),
        None => format!("{},{op}", f.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_size_forms() {
        let s = parse_stream_size("server, <, 6").unwrap();
        assert_eq!((s.side, s.cmp), (StreamSide::Server, NumCmp::Lt(6)));
        assert_eq!(parse_stream_size(&stream_size_text(&s)).unwrap(), s);
        for (t, cmp) in [
            ("client,<=,1", NumCmp::Le(1)),
            ("both,=,1", NumCmp::Eq(1)),
            ("either,!=,0", NumCmp::Ne(0)),
            ("either,>=,4294967295", NumCmp::Ge(u64::from(u32::MAX))),
            ("client,>,1800", NumCmp::Gt(1800)),
        ] {
            let p = parse_stream_size(t).unwrap();
            assert_eq!(p.cmp, cmp, "{t}");
            assert_eq!(parse_stream_size(&stream_size_text(&p)).unwrap(), p);
        }
        for bad in [
            "",
            "server,<",
            "sideways,<,1",
            "server,~,1",
            "server,<,x",
            "server,<,4294967296",
            "server,<,1,2",
        ] {
            assert!(parse_stream_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn xbits_forms() {
        let x = parse_xbits("set, ET.PROPFIND, track ip_src, expire 360").unwrap();
        assert_eq!(
            (x.cmd.clone(), x.track, x.expire),
            (FlowbitCmd::Set, XbitTrack::IpSrc, 360)
        );
        assert_eq!(parse_xbits(&xbits_text(&x)).unwrap(), x);
        let y = parse_xbits("isset,ET.PROPFIND,track ip_dst").unwrap();
        assert_eq!(
            (y.track, y.expire),
            (XbitTrack::IpDst, XBITS_EXPIRE_DEFAULT)
        );
        assert_eq!(
            parse_xbits("toggle,a,track ip_pair").unwrap().track,
            XbitTrack::IpPair
        );
        for bad in [
            "",
            "set",
            "set,a",
            "jump,a,track ip_src",
            "set,a b,track ip_src",
            "set,a,track host",
            "set,a,track ip_src,expire 0",
            "set,a,track ip_src,track ip_dst",
            "set,a,track ip_src,color red",
        ] {
            assert!(parse_xbits(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn flowint_forms() {
        let f = parse_flowint("flowtls1, isnotset").unwrap();
        assert_eq!((f.op, f.value.clone()), (FlowintOp::NotSet, None));
        let g = parse_flowint("cnt,+,1").unwrap();
        assert_eq!(g.value, Some(FlowintValue::Lit(1)));
        assert!(g.op.is_effect() && !f.op.is_effect());
        let h = parse_flowint("cnt,>=,other").unwrap();
        assert_eq!(h.value, Some(FlowintValue::Var("other".into())));
        for t in [&f, &g, &h] {
            assert_eq!(&parse_flowint(&flowint_text(t)).unwrap(), t);
        }
        for bad in [
            "",
            "cnt",
            "cnt,add,1",
            "cnt,+",
            "cnt,isset,1",
            "cnt,=,4294967296",
            "cnt,=,1,2",
            "c nt,=,1",
        ] {
            assert!(parse_flowint(bad).is_err(), "{bad}");
        }
    }
}
