//! JSON data set files (`format json` and `format ndjson`, Suricata 8's datajson): each
//! entry is an object whose `value_key` (a dotted path) holds the value, as plain text
//! (strings are not base64 here; hashes are hex, addresses text). The object, without the
//! value when `remove_key` is given, is the entry's context: an alert of a rule whose
//! `dataset` names a `context_key` carries it as `alert.context.<context_key>`.
//!
//! `format json` reads one array of objects (the file itself, or the array at `array_key`);
//! `format ndjson` one object per line. The first entry of a value wins, as in Suricata;
//! entries without the value are skipped.

use super::datasets::{add, has, parse_value, Inner, Meta};
use serde_json::Value;
use std::sync::Arc;
use verdict_compiler::ir::{DatasetJson, DatasetType};

/// The value at a dotted path.
fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

/// Removes the value at a dotted path (its parent objects stay, possibly empty).
fn remove(v: &mut Value, path: &str) {
    let (parent, last) = match path.rsplit_once('.') {
        Some((p, l)) => (p.split('.').try_fold(&mut *v, |v, k| v.get_mut(k)), l),
        None => (Some(v), path),
    };
    if let Some(Value::Object(o)) = parent {
        o.remove(last);
    }
}

/// Loads the entries of a JSON (`lines == false`) or NDJSON file into `g`.
pub(super) fn load(
    g: &mut Inner,
    kind: DatasetType,
    memcap: u64,
    text: &str,
    path: &str,
    j: &DatasetJson,
    lines: bool,
) -> Result<(), String> {
    let mut objects: Vec<(usize, Value)> = Vec::new();
    if lines {
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let v = serde_json::from_str(line)
                .map_err(|e| format!("{path}:{}: not a JSON object: {e}", n + 1))?;
            objects.push((n + 1, v));
        }
    } else {
        let doc: Value =
            serde_json::from_str(text).map_err(|e| format!("{path}: not JSON: {e}"))?;
        let arr = match &j.array_key {
            Some(k) => at(&doc, k).cloned(),
            None => Some(doc),
        };
        let Some(Value::Array(items)) = arr else {
            return Err(format!(
                "{path}: expected an array of objects{}",
                j.array_key
                    .as_ref()
                    .map(|k| format!(" at `{k}`"))
                    .unwrap_or_default()
            ));
        };
        objects.extend(items.into_iter().enumerate().map(|(i, v)| (i + 1, v)));
    }
    for (n, mut obj) in objects {
        let Some(Value::String(text)) = at(&obj, &j.value_key).cloned() else {
            continue;
        };
        let value = match kind {
            DatasetType::String => text.into_bytes(),
            _ => parse_value(kind, &text).map_err(|e| format!("{path}: entry {n}: {e}"))?,
        };
        if j.remove_key {
            remove(&mut obj, &j.value_key);
        }
        let meta = Meta {
            rep: None,
            context: Some(Arc::from(obj.to_string())),
        };
        if !add(g, memcap, &value, meta) && !has(g, &value) {
            return Err(format!(
                "{path}: entry {n}: the set is over its memcap of {memcap} bytes"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(value_key: &str, array_key: Option<&str>, remove_key: bool) -> DatasetJson {
        DatasetJson {
            value_key: value_key.into(),
            context_key: Some("ctx".into()),
            array_key: array_key.map(Into::into),
            remove_key,
        }
    }

    fn get(g: &Inner, k: &[u8]) -> Option<Value> {
        g.values_for_test(k)
            .and_then(|m| m.context)
            .map(|c| serde_json::from_str(&c).unwrap())
    }

    #[test]
    fn json_array_first_entry_wins() {
        let mut g = Inner::default();
        let text = r#"[{"host":"a.example","year":2005},{"host":"a.example","year":2006},{"x":1}]"#;
        load(
            &mut g,
            DatasetType::String,
            1 << 20,
            text,
            "f",
            &j("host", None, false),
            false,
        )
        .unwrap();
        let c = get(&g, b"a.example").unwrap();
        assert_eq!(
            (c["year"].as_i64(), c["host"].as_str()),
            (Some(2005), Some("a.example"))
        );
    }

    #[test]
    fn ndjson_nested_key_removed_and_array_key() {
        let mut g = Inner::default();
        let text = "{\"ioc\":{\"host\":\"b.example\"},\"year\":1}\n\n{\"ioc\":{}}\n";
        load(
            &mut g,
            DatasetType::String,
            1 << 20,
            text,
            "f",
            &j("ioc.host", None, true),
            true,
        )
        .unwrap();
        let c = get(&g, b"b.example").unwrap();
        assert!(c["ioc"].get("host").is_none() && c["year"] == 1);
        let mut g = Inner::default();
        let text = r#"{"list":{"ips":[{"ip":"10.0.0.1","t":"ok"}]}}"#;
        load(
            &mut g,
            DatasetType::Ip,
            1 << 20,
            text,
            "f",
            &j("ip", Some("list.ips"), false),
            false,
        )
        .unwrap();
        let v4 = std::net::Ipv4Addr::new(10, 0, 0, 1)
            .to_ipv6_mapped()
            .octets();
        assert_eq!(get(&g, &v4).unwrap()["t"], "ok");
        assert!(load(
            &mut g,
            DatasetType::Md5,
            1 << 20,
            r#"[{"h":"zz"}]"#,
            "f",
            &j("h", None, false),
            false
        )
        .is_err());
        assert!(load(
            &mut g,
            DatasetType::String,
            1 << 20,
            "{",
            "f",
            &j("h", None, false),
            true
        )
        .is_err());
    }
}
