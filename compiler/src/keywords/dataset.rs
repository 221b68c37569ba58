//! `dataset` and `datarep`: membership of the current buffer in a named set of strings,
//! hashes or addresses, loaded from a file by the engine and optionally grown at run time
//! (`set`); `datarep` compares the reputation the file gives the value. The compiler records
//! the name, type, file and its layout (CSV, or JSON/NDJSON with `value_key`, `context_key`,
//! `array_key`, `remove_key`) and the `match` mode; `save` (writing a set back) is refused,
//! and `state` is read like `load` but never written.

use super::numeric::{cmp_text, parse_u64};
use super::{split_args, KwError};
use crate::diag::Code;
use crate::ir::{
    Buffer, Dataset, DatasetCmd, DatasetFormat, DatasetJson, DatasetMatch, DatasetType, NumCmp,
};

/// Parses a memcap with an optional `kb`/`mb`/`gb` suffix (Suricata's size form).
fn size(t: &str) -> Option<u64> {
    let l = t.to_ascii_lowercase();
    let (num, mul) = [("kb", 1u64 << 10), ("mb", 1 << 20), ("gb", 1 << 30)]
        .iter()
        .find_map(|(s, m)| l.strip_suffix(s).map(|n| (n.trim().to_string(), *m)))
        .unwrap_or((l.clone(), 1));
    parse_u64(&num).ok()?.checked_mul(mul)
}

/// `datarep:name,OP,VALUE,type T,load F[,memcap N][,hashsize N]` with OP one of `>`, `<`,
/// `>=`, `<=`, `=`/`==`: the buffer is in the set with a reputation that compares true.
pub fn parse_datarep(value: &str, buffer: Buffer) -> Result<Dataset, KwError> {
    let args = split_args(value);
    let (Some(&(nat, name)), Some(&(oat, op)), Some(&(vat, v))) =
        (args.first(), args.get(1), args.get(2))
    else {
        return Err(
            KwError::value("datarep needs a set name, an operator and a value")
                .help("e.g. datarep:bad-dns,>,200,type string,load bad-dns.rep;"),
        );
    };
    let n = parse_u64(v).map_err(|e| e.at(vat, vat + v.len()))?;
    let cmp = match op {
        ">" => NumCmp::Gt(n),
        "<" => NumCmp::Lt(n),
        ">=" => NumCmp::Ge(n),
        "<=" => NumCmp::Le(n),
        "=" | "==" => NumCmp::Eq(n),
        _ => {
            return Err(KwError::value(format!("`{op}` is not a datarep operator"))
                .at(oat, oat + op.len())
                .help("operators: >, <, >=, <=, ="))
        }
    };
    let mut d = options(name, nat, &args[3..], DatasetCmd::Rep(cmp), buffer)?;
    if d.load.is_none() && d.state.is_none() {
        return Err(KwError::value(
            "datarep needs `load`: reputations come from its file",
        ));
    }
    d.cmd = DatasetCmd::Rep(cmp);
    Ok(d)
}

/// `dataset:set|isset|isnotset,name,type string|md5|sha256|ipv4|ip|ipv6[,load F][,state F]
/// [,memcap N][,hashsize N][,match exact|subdomain][,format csv|json|ndjson,value_key K
/// [,context_key K][,array_key K][,remove_key]]`
pub fn parse_dataset(value: &str, buffer: Buffer) -> Result<Dataset, KwError> {
    let args = split_args(value);
    let (Some(&(cat, cmd)), Some(&(nat, name))) = (args.first(), args.get(1)) else {
        return Err(KwError::value("dataset needs a command and a set name")
            .help("e.g. dataset:isset,bad-ua,type string,load bad-ua.lst;"));
    };
    let cmd = match cmd {
        "set" => DatasetCmd::Set,
        "isset" => DatasetCmd::IsSet,
        "isnotset" => DatasetCmd::IsNotSet,
        "unset" => {
            return Err(KwError::code(
                Code::UnsupportedKeyword,
                "dataset:unset is not supported: sets only grow at run time",
            )
            .at(cat, cat + cmd.len()))
        }
        _ => {
            return Err(KwError::value(format!("unknown dataset command `{cmd}`"))
                .at(cat, cat + cmd.len())
                .help("commands: set, isset, isnotset"))
        }
    };
    options(name, nat, &args[2..], cmd, buffer)
}

/// The name and the `key value` options both keywords share.
fn options(
    name: &str,
    nat: usize,
    args: &[(usize, &str)],
    cmd: DatasetCmd,
    buffer: Buffer,
) -> Result<Dataset, KwError> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(
            KwError::value(format!("`{name}` is not a valid set name")).at(nat, nat + name.len())
        );
    }
    let mut kind = None;
    let mut load = None;
    let mut memcap = None;
    let mut hashsize = None;
    let mut state = None;
    let mut matching = None;
    let mut format = None;
    let (mut value_key, mut context_key, mut array_key) = (None, None, None);
    let mut remove_key = false;
    let mut json_at = None;
    for &(at, a) in args {
        let span = |e: KwError| e.at(at, at + a.len());
        let (k, v) = a
            .split_once(char::is_whitespace)
            .map_or((a, ""), |(k, v)| (k, v.trim()));
        if k == "remove_key" && v.is_empty() {
            remove_key = true;
            json_at.get_or_insert((at, a.len()));
            continue;
        }
        if v.is_empty() {
            return Err(span(KwError::value(format!("`{k}` needs a value"))));
        }
        match k {
            "type" if kind.is_none() => {
                kind = Some(match v {
                    "string" => DatasetType::String,
                    "md5" => DatasetType::Md5,
                    "sha256" => DatasetType::Sha256,
                    "ipv4" => DatasetType::Ipv4,
                    "ip" | "ipv6" => DatasetType::Ip,
                    _ => {
                        return Err(span(
                            KwError::value(format!("`{v}` is not a dataset type"))
                                .help("types: string, md5, sha256, ipv4, ip, ipv6"),
                        ))
                    }
                })
            }
            "load" if load.is_none() => load = Some(v.to_string()),
            "memcap" if memcap.is_none() => {
                memcap = Some(size(v).filter(|m| *m > 0).ok_or_else(|| {
                    span(KwError::value(format!("`{v}` is not a size (e.g. 16mb)")))
                })?)
            }
            "hashsize" if hashsize.is_none() => {
                let n = parse_u64(v).map_err(span)?;
                hashsize = Some(
                    u32::try_from(n).map_err(|_| span(KwError::value("hashsize is too large")))?,
                );
            }
            "state" if state.is_none() => state = Some(v.to_string()),
            "match" if matching.is_none() => {
                matching = Some(match v {
                    "exact" => DatasetMatch::Exact,
                    "subdomain" => DatasetMatch::Subdomain,
                    _ => {
                        return Err(span(
                            KwError::value(format!("`{v}` is not a dataset match mode"))
                                .help("modes: exact, subdomain"),
                        ))
                    }
                })
            }
            "format" if format.is_none() => {
                format = Some(match v {
                    "csv" => 0,
                    "json" => 1,
                    "ndjson" => 2,
                    _ => {
                        return Err(span(
                            KwError::value(format!("`{v}` is not a dataset format"))
                                .help("formats: csv, json, ndjson"),
                        ))
                    }
                })
            }
            "value_key" | "context_key" | "array_key" | "enrichment_key" => {
                json_at.get_or_insert((at, a.len()));
                let slot = match k {
                    "value_key" => &mut value_key,
                    "array_key" => &mut array_key,
                    _ => &mut context_key,
                };
                if slot.is_some() {
                    return Err(span(KwError::code(
                        Code::Conflict,
                        format!("`{k}` given twice"),
                    )));
                }
                *slot = Some(v.to_string());
            }
            "type" | "load" | "memcap" | "hashsize" | "state" | "match" | "format" => {
                return Err(span(KwError::code(
                    Code::Conflict,
                    format!("`{k}` given twice"),
                )))
            }
            "save" => return Err(span(
                KwError::code(
                    Code::UnsupportedKeyword,
                    format!(
                        "dataset `{k}` is not supported: verdict does not write sets back to files"
                    ),
                )
                .help(
                    "load the file instead; a set grown with dataset:set lives until verdict stops",
                ),
            )),
            _ => {
                return Err(span(
                    KwError::value(format!("`{a}` is not a dataset option")).help(
                        "options: type, load, state, memcap, hashsize, match, format, value_key, \
                     context_key, array_key, remove_key",
                    ),
                ))
            }
        }
    }
    let json = |value_key: Option<String>| -> Result<DatasetJson, KwError> {
        Ok(DatasetJson {
            value_key: value_key.ok_or_else(|| {
                KwError::value("a JSON data set needs `value_key`")
                    .help("value_key names the field holding each value, e.g. value_key host")
            })?,
            context_key,
            array_key,
            remove_key,
        })
    };
    let format = match format {
        Some(1) => DatasetFormat::Json(json(value_key)?),
        Some(2) => DatasetFormat::Ndjson(json(value_key)?),
        _ => {
            if let Some((at, len)) = json_at {
                return Err(KwError::value(
                    "value_key, context_key, array_key and remove_key need `format json` or `format ndjson`",
                )
                .at(at, at + len));
            }
            DatasetFormat::Csv
        }
    };
    let Some(kind) = kind else {
        return Err(
            KwError::value("dataset needs `type`").help("types: string, md5, sha256, ipv4, ip")
        );
    };
    Ok(Dataset {
        cmd,
        name: name.to_string(),
        kind,
        load,
        state,
        matching: matching.unwrap_or(DatasetMatch::Exact),
        format,
        memcap,
        hashsize,
        buffer,
    })
}

/// Canonical `dataset` value.
pub fn dataset_text(d: &Dataset) -> String {
    let cmd = match d.cmd {
        DatasetCmd::Set => "set".to_string(),
        DatasetCmd::IsSet => "isset".to_string(),
        DatasetCmd::IsNotSet => "isnotset".to_string(),
        DatasetCmd::Rep(c) => {
            let t = cmp_text(c);
            let at = t.find(|ch: char| ch.is_ascii_digit()).unwrap_or(t.len());
            let op = if at == 0 { "=" } else { &t[..at] };
            format!("{op},{}", &t[at..])
        }
    };
    let kind = match d.kind {
        DatasetType::String => "string",
        DatasetType::Md5 => "md5",
        DatasetType::Sha256 => "sha256",
        DatasetType::Ipv4 => "ipv4",
        DatasetType::Ip => "ip",
    };
    let mut s = match d.cmd {
        DatasetCmd::Rep(_) => format!("{},{cmd},type {kind}", d.name),
        _ => format!("{cmd},{},type {kind}", d.name),
    };
    if let Some(l) = &d.load {
        s.push_str(&format!(",load {l}"));
    }
    if let Some(l) = &d.state {
        s.push_str(&format!(",state {l}"));
    }
    if d.matching == DatasetMatch::Subdomain {
        s.push_str(",match subdomain");
    }
    let (fmt, j) = match &d.format {
        DatasetFormat::Csv => ("csv", None),
        DatasetFormat::Json(j) => ("json", Some(j)),
        DatasetFormat::Ndjson(j) => ("ndjson", Some(j)),
    };
    if let Some(j) = j {
        s.push_str(&format!(",format {fmt},value_key {}", j.value_key));
        for (k, v) in [("context_key", &j.context_key), ("array_key", &j.array_key)] {
            if let Some(v) = v {
                s.push_str(&format!(",{k} {v}"));
            }
        }
        if j.remove_key {
            s.push_str(",remove_key");
        }
    }
    if let Some(m) = d.memcap {
        s.push_str(&format!(",memcap {m}"));
    }
    if let Some(h) = d.hashsize {
        s.push_str(&format!(",hashsize {h}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_forms() {
        let d = parse_dataset(
            "isset,ua-seen,type string,load datasets.csv",
            Buffer::Payload,
        )
        .unwrap();
        assert_eq!(
            (d.cmd, d.kind, d.load.as_deref()),
            (DatasetCmd::IsSet, DatasetType::String, Some("datasets.csv"))
        );
        assert_eq!(
            parse_dataset(&dataset_text(&d), Buffer::Payload).unwrap(),
            d
        );
        let s = parse_dataset(
            "set,dns-seen, type string, memcap 10mb, hashsize 1024",
            Buffer::Payload,
        )
        .unwrap();
        assert_eq!(
            (s.memcap, s.hashsize, s.load.is_none()),
            (Some(10 << 20), Some(1024), true)
        );
        assert_eq!(
            parse_dataset(&dataset_text(&s), Buffer::Payload).unwrap(),
            s
        );
        assert_eq!(
            parse_dataset("isnotset,x,type ipv6", Buffer::Payload)
                .unwrap()
                .kind,
            DatasetType::Ip
        );
        for bad in [
            "",
            "isset",
            "isset,x",
            "jump,x,type string",
            "unset,x,type string",
            "isset,a b,type string",
            "isset,x,type float",
            "isset,x,type string,save x.lst",
            "isset,x,type string,match prefix",
            "isset,x,type string,format xml",
            "isset,x,type string,format json",
            "isset,x,type string,load x.json,value_key host",
            "isset,x,type string,format json,value_key a,value_key b",
            "isset,x,type string,memcap lots",
            "isset,x,type string,type md5",
            "isset,x,type string,load",
        ] {
            assert!(parse_dataset(bad, Buffer::Payload).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_formats_subdomain_and_state() {
        let d = parse_dataset(
            "isset,bad,type string,load h.lst,format ndjson,context_key bad_host,value_key ioc.host,remove_key",
            Buffer::Payload,
        )
        .unwrap();
        assert_eq!(
            d.format,
            DatasetFormat::Ndjson(DatasetJson {
                value_key: "ioc.host".into(),
                context_key: Some("bad_host".into()),
                array_key: None,
                remove_key: true,
            })
        );
        assert_eq!(
            parse_dataset(&dataset_text(&d), Buffer::Payload).unwrap(),
            d
        );
        let s = parse_dataset(
            "isset,dom,type string,match subdomain,state dom.lst,format json,value_key d,array_key list",
            Buffer::Payload,
        )
        .unwrap();
        assert_eq!(
            (s.matching, s.state.as_deref()),
            (DatasetMatch::Subdomain, Some("dom.lst"))
        );
        assert_eq!(
            parse_dataset(&dataset_text(&s), Buffer::Payload).unwrap(),
            s
        );
    }

    #[test]
    fn datarep_forms() {
        let d = parse_datarep(
            "dns_md5, >, 200, load dns_md5.rep, type md5",
            Buffer::Payload,
        )
        .unwrap();
        assert_eq!(
            (d.cmd, d.kind, d.load.as_deref()),
            (
                DatasetCmd::Rep(NumCmp::Gt(200)),
                DatasetType::Md5,
                Some("dns_md5.rep")
            )
        );
        assert_eq!(
            parse_datarep(&dataset_text(&d), Buffer::Payload).unwrap(),
            d
        );
        for (op, want) in [
            ("<", NumCmp::Lt(5)),
            ("=", NumCmp::Eq(5)),
            ("==", NumCmp::Eq(5)),
            (">=", NumCmp::Ge(5)),
            ("<=", NumCmp::Le(5)),
        ] {
            let r = parse_datarep(&format!("r,{op},5,type string,load r.rep"), Buffer::Payload)
                .unwrap();
            assert_eq!(r.cmd, DatasetCmd::Rep(want));
            assert_eq!(
                parse_datarep(&dataset_text(&r), Buffer::Payload).unwrap(),
                r
            );
        }
        for bad in [
            "",
            "r,>",
            "r,!,5,type string,load r",
            "r,>,x,type string,load r",
            "r,>,5,type string",
        ] {
            assert!(parse_datarep(bad, Buffer::Payload).is_err(), "{bad}");
        }
    }
}
