//! `subslice:offset[, nbytes][, truncate]` (Suricata 9, `transforms/subslice.rs`): a slice of
//! the buffer. A negative offset counts from the end; a negative nbytes ends the slice that
//! many bytes before the buffer end. Out-of-range values empty the buffer unless `truncate`
//! clamps them.

use crate::ir::Transform;
use crate::keywords::{split_args, KwError};

const FORMS: &str = "subslice:<offset>[, <nbytes>][, truncate]";

/// Parses `subslice`'s value; error spans are relative to `v`.
pub fn parse(v: &str) -> Result<Transform, KwError> {
    let args = split_args(v);
    let num = |&(at, a): &(usize, &str), what: &str| {
        a.parse::<i64>().map_err(|_| {
            KwError::value(format!("subslice {what} `{a}` is not a number"))
                .at(at, at + a.len())
                .help(FORMS)
        })
    };
    let is_truncate = |a: &str| a.eq_ignore_ascii_case("truncate");
    let nonzero = |&(at, a): &(usize, &str), n: i64| {
        if n == 0 {
            Err(KwError::value("subslice nbytes 0 would always be empty")
                .at(at, at + a.len())
                .help(FORMS))
        } else {
            Ok(n)
        }
    };
    let (offset, nbytes, truncate) = match args.as_slice() {
        [o] => (num(o, "offset")?, None, false),
        [o, t] if is_truncate(t.1) => (num(o, "offset")?, None, true),
        [o, n] => (
            num(o, "offset")?,
            Some(nonzero(n, num(n, "nbytes")?)?),
            false,
        ),
        [o, n, t] if is_truncate(t.1) => (
            num(o, "offset")?,
            Some(nonzero(n, num(n, "nbytes")?)?),
            true,
        ),
        [_, _, (at, t)] => {
            return Err(
                KwError::value(format!("subslice option `{t}`: expected truncate"))
                    .at(*at, at + t.len())
                    .help(FORMS),
            )
        }
        [] => return Err(KwError::value("subslice needs an offset").help(FORMS)),
        [_, _, _, (at, _), ..] => {
            return Err(KwError::value("subslice takes at most three values")
                .at(*at, v.len())
                .help(FORMS))
        }
    };
    Ok(Transform::Subslice {
        offset,
        nbytes,
        truncate,
    })
}

/// The rule text of a `subslice` transform.
pub fn text(offset: i64, nbytes: Option<i64>, truncate: bool) -> String {
    let mut s = format!("subslice:{offset}");
    if let Some(n) = nbytes {
        s.push_str(&format!(",{n}"));
    }
    if truncate {
        s.push_str(",truncate");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(offset: i64, nbytes: Option<i64>, truncate: bool) -> Transform {
        Transform::Subslice {
            offset,
            nbytes,
            truncate,
        }
    }

    #[test]
    fn forms() {
        assert_eq!(parse("1").unwrap(), sub(1, None, false));
        assert_eq!(parse("-10, 3").unwrap(), sub(-10, Some(3), false));
        assert_eq!(
            parse(" 0 , -30 , truncate").unwrap(),
            sub(0, Some(-30), true)
        );
        assert_eq!(parse("2, TRUNCATE").unwrap(), sub(2, None, true));
    }

    #[test]
    fn errors() {
        for bad in [
            "",
            "f, y",
            "0:-10",
            "1 1",
            "1,0",
            "1, 2, nottruncate",
            "1, 2, 3, 4",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(parse("1, 2, nope").unwrap_err().at, Some((6, 10)));
        assert_eq!(parse("1, x").unwrap_err().at, Some((3, 4)));
    }

    #[test]
    fn text_round_trips() {
        for v in ["1", "-10,3", "0,-30,truncate", "2,truncate"] {
            let Transform::Subslice {
                offset,
                nbytes,
                truncate,
            } = parse(v).unwrap()
            else {
                panic!("{v}")
            };
            assert_eq!(text(offset, nbytes, truncate), format!("subslice:{v}"));
        }
    }
}
