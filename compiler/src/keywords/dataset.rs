//! `dataset`: membership of the current buffer in a named set of strings, hashes or
//! addresses, loaded from a file by the engine and optionally grown at run time (`set`).
//! The compiler only records the name, the type and the file; Suricata options verdict does
//! not honour (writing sets back with `save`/`state`, JSON formats, subdomain matching) are
//! rejected with a reason.

use super::numeric::parse_u64;
use super::{split_args, KwError};
use crate::diag::Code;
use crate::ir::{Buffer, Dataset, DatasetCmd, DatasetType};

/// Parses a memcap with an optional `kb`/`mb`/`gb` suffix (Suricata's size form).
fn size(t: &str) -> Option<u64> {
    let l = t.to_ascii_lowercase();
    let (num, mul) = [("kb", 1u64 << 10), ("mb", 1 << 20), ("gb", 1 << 30)]
        .iter()
        .find_map(|(s, m)| l.strip_suffix(s).map(|n| (n.trim().to_string(), *m)))
        .unwrap_or((l.clone(), 1));
    parse_u64(&num).ok()?.checked_mul(mul)
}

/// `dataset:set|isset|isnotset,name,type string|md5|sha256|ipv4|ip|ipv6[,load F][,memcap N][,hashsize N]`
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
    for &(at, a) in args.iter().skip(2) {
        let span = |e: KwError| e.at(at, at + a.len());
        let (k, v) = a
            .split_once(char::is_whitespace)
            .map_or((a, ""), |(k, v)| (k, v.trim()));
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
            "type" | "load" | "memcap" | "hashsize" => {
                return Err(span(KwError::code(
                    Code::Conflict,
                    format!("`{k}` given twice"),
                )))
            }
            "save" | "state" => return Err(span(
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
            "format" | "value_key" | "context_key" | "array_key" | "enrichment_key" | "match"
            | "remove_key" => {
                return Err(span(KwError::code(
                    Code::UnsupportedKeyword,
                    format!(
                    "dataset `{k}` is not supported: only plain line files and exact matches are"
                ),
                )))
            }
            _ => {
                return Err(span(
                    KwError::value(format!("`{a}` is not a dataset option"))
                        .help("options: type, load, memcap, hashsize"),
                ))
            }
        }
    }
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
        memcap,
        hashsize,
        buffer,
    })
}

/// Canonical `dataset` value.
pub fn dataset_text(d: &Dataset) -> String {
    let cmd = match d.cmd {
        DatasetCmd::Set => "set",
        DatasetCmd::IsSet => "isset",
        DatasetCmd::IsNotSet => "isnotset",
    };
    let kind = match d.kind {
        DatasetType::String => "string",
        DatasetType::Md5 => "md5",
        DatasetType::Sha256 => "sha256",
        DatasetType::Ipv4 => "ipv4",
        DatasetType::Ip => "ip",
    };
    let mut s = format!("{cmd},{},type {kind}", d.name);
    if let Some(l) = &d.load {
        s.push_str(&format!(",load {l}"));
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
            "isset,x,type string,state x.lst",
            "isset,x,type string,match subdomain",
            "isset,x,type string,memcap lots",
            "isset,x,type string,type md5",
            "isset,x,type string,load",
        ] {
            assert!(parse_dataset(bad, Buffer::Payload).is_err(), "{bad}");
        }
    }
}
