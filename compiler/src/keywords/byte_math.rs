//! `byte_math`: reads a number like byte_extract, combines it with a value or an earlier
//! variable and stores the result in a new variable (Suricata 7/8 syntax: named, unordered
//! arguments).

use super::numeric::{parse_i64, parse_u64};
use super::{split_args, KwError};
use crate::diag::Code;
use crate::ir::{Buffer, ByteMath, Endian, MathOp, NumBase, Operand, VarSlot};

/// Looks up a byte_extract/byte_math variable defined earlier in the rule.
pub type VarLookup<'a> = &'a dyn Fn(&str) -> Option<VarSlot>;

/// `byte_math:bytes N,offset N,oper OP,rvalue V,result NAME[,relative][,endian E][,string B][,dce][,bitmask M]`;
/// the result variable goes into `slot`.
pub fn parse_byte_math(
    value: &str,
    buffer: Buffer,
    slot: VarSlot,
    vars: VarLookup<'_>,
) -> Result<ByteMath, KwError> {
    let mut count = None;
    let mut offset = None;
    let mut oper = None;
    let mut rvalue = None;
    let mut name: Option<String> = None;
    let mut relative = false;
    let mut endian = None;
    let mut base = None;
    let mut bitmask = None;
    for (at, a) in split_args(value) {
        let span = |e: KwError| e.at(at, at + a.len());
        let (k, v) = a
            .split_once(char::is_whitespace)
            .map_or((a, ""), |(k, v)| (k, v.trim()));
        let twice =
            || KwError::code(Code::Conflict, format!("`{k}` given twice")).at(at, at + a.len());
        let need = || {
            if v.is_empty() {
                Err(KwError::value(format!("`{k}` needs a value")).at(at, at + a.len()))
            } else {
                Ok(v)
            }
        };
        match k {
            "bytes" if count.is_none() => {
                let t = need()?;
                count = Some(if t.starts_with(|c: char| c.is_ascii_digit()) {
                    let n = parse_u64(t).map_err(span)?;
                    if !(1..=10).contains(&n) {
                        return Err(span(KwError::value("bytes must be 1..=10")));
                    }
                    Operand::Lit(n as i64)
                } else {
                    Operand::Var(vars(t).ok_or_else(|| {
                        span(
                            KwError::code(
                                Code::UndefinedVariable,
                                format!("bytes `{t}` is neither a number nor an earlier variable"),
                            )
                            .help("define it first with byte_extract or byte_math"),
                        )
                    })?)
                });
            }
            "offset" if offset.is_none() => {
                let n = parse_i64(need()?).map_err(span)?;
                if !(-65535..=65535).contains(&n) {
                    return Err(span(KwError::value("offset must be -65535..=65535")));
                }
                offset = Some(n);
            }
            "oper" if oper.is_none() => {
                oper = Some(match need()? {
                    "+" => MathOp::Add,
                    "-" => MathOp::Sub,
                    "*" => MathOp::Mul,
                    "/" => MathOp::Div,
                    "<<" => MathOp::Shl,
                    ">>" => MathOp::Shr,
                    o => {
                        return Err(span(
                            KwError::value(format!("`{o}` is not a byte_math operator"))
                                .help("operators: + - * / << >>"),
                        ))
                    }
                })
            }
            "rvalue" if rvalue.is_none() => {
                let t = need()?;
                rvalue = Some(if t.starts_with(|c: char| c.is_ascii_digit()) {
                    let n = parse_u64(t).map_err(span)?;
                    if n > u64::from(u32::MAX) {
                        return Err(span(KwError::value("rvalue must fit 32 bits")));
                    }
                    Operand::Lit(n as i64)
                } else {
                    Operand::Var(vars(t).ok_or_else(|| {
                        span(
                            KwError::code(
                                Code::UndefinedVariable,
                                format!("rvalue `{t}` is neither a number nor an earlier variable"),
                            )
                            .help("define it first with byte_extract or byte_math"),
                        )
                    })?)
                });
            }
            "result" if name.is_none() => {
                let t = need()?;
                if !t.starts_with(|c: char| c.is_ascii_alphabetic())
                    || !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    return Err(span(KwError::value(format!(
                        "`{t}` is not a variable name"
                    ))));
                }
                name = Some(t.to_string());
            }
            "relative" if !relative && v.is_empty() => relative = true,
            "endian" | "dce" if endian.is_some() => return Err(twice()),
            "endian" => {
                endian = Some(match need()? {
                    "big" => Endian::Big,
                    "little" => Endian::Little,
                    e => return Err(span(KwError::value(format!("`{e}` is not big or little")))),
                })
            }
            "dce" if v.is_empty() => endian = Some(Endian::Dce),
            "string" if base.is_none() => {
                base = Some(match need()? {
                    "hex" => NumBase::Hex,
                    "dec" => NumBase::Dec,
                    "oct" => NumBase::Oct,
                    b => return Err(span(KwError::value(format!("`{b}` is not hex, dec or oct")))),
                })
            }
            "bitmask" if bitmask.is_none() => {
                // Suricata reads the mask as hex with or without `0x`.
                let t = need()?;
                let h = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")).unwrap_or(t);
                bitmask = Some(u32::from_str_radix(h, 16).map_err(|_| {
                    span(KwError::value(format!("`{t}` is not a 32-bit hex mask")))
                })?);
            }
            "bytes" | "offset" | "oper" | "rvalue" | "result" | "relative" | "string"
            | "bitmask" | "dce" => return Err(twice()),
            _ => {
                return Err(span(
                    KwError::value(format!("`{a}` is not a byte_math option")).help(
                        "options: bytes, offset, oper, rvalue, result, relative, endian, string, dce, bitmask",
                    ),
                ))
            }
        }
    }
    let missing = |what: &str| {
        KwError::value(format!("byte_math needs `{what}`"))
            .help("e.g. byte_math:bytes 2,offset 0,oper +,rvalue 8,result len;")
    };
    let count = count.ok_or_else(|| missing("bytes"))?;
    let oper = oper.ok_or_else(|| missing("oper"))?;
    let endian = endian.unwrap_or(Endian::Big);
    let base = base.unwrap_or(NumBase::Binary);
    if let Operand::Lit(n) = count {
        count_ok(n, oper, endian, base).map_err(KwError::value)?;
    }
    Ok(ByteMath {
        count,
        offset: offset.ok_or_else(|| missing("offset"))?,
        oper,
        rvalue: rvalue.ok_or_else(|| missing("rvalue"))?,
        slot,
        name: name.ok_or_else(|| missing("result"))?,
        relative,
        endian,
        base,
        bitmask,
        buffer,
    })
}

/// Whether byte_math may read `count` bytes with these settings (checked on the literal at
/// compile time, on a variable's value when the op runs).
pub fn count_ok(count: i64, oper: MathOp, endian: Endian, base: NumBase) -> Result<(), String> {
    if !(1..=10).contains(&count) {
        return Err(format!("byte_math reads {count} bytes; it must be 1..=10"));
    }
    if base == NumBase::Binary && count > 8 {
        return Err(format!(
            "byte_math reads {count} binary bytes; a binary number is 1..=8 bytes"
        ));
    }
    if matches!(oper, MathOp::Shl | MathOp::Shr) && count > 4 {
        return Err("with << or >>, bytes must be 1..=4".into());
    }
    if endian == Endian::Dce && !matches!(count, 1 | 2 | 4) {
        return Err("with dce, bytes must be 1, 2 or 4".into());
    }
    Ok(())
}

/// Canonical `byte_math` value; `var` names the variable in a slot.
pub fn byte_math_text(b: &ByteMath, var: &dyn Fn(VarSlot) -> String) -> String {
    let oper = match b.oper {
        MathOp::Add => "+",
        MathOp::Sub => "-",
        MathOp::Mul => "*",
        MathOp::Div => "/",
        MathOp::Shl => "<<",
        MathOp::Shr => ">>",
    };
    let op = |o: Operand| match o {
        Operand::Lit(n) => n.to_string(),
        Operand::Var(s) => var(s),
    };
    let mut s = format!(
        "bytes {},offset {},oper {oper},rvalue {},result {}",
        op(b.count),
        b.offset,
        op(b.rvalue),
        b.name
    );
    if b.relative {
        s.push_str(",relative");
    }
    match b.endian {
        Endian::Big => {}
        Endian::Little => s.push_str(",endian little"),
        Endian::Dce => s.push_str(",dce"),
    }
    match b.base {
        NumBase::Binary => {}
        NumBase::Dec => s.push_str(",string dec"),
        NumBase::Hex => s.push_str(",string hex"),
        NumBase::Oct => s.push_str(",string oct"),
    }
    if let Some(m) = b.bitmask {
        s.push_str(&format!(",bitmask 0x{m:x}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<ByteMath, KwError> {
        let vars = |n: &str| (n == "len").then_some(VarSlot(0));
        parse_byte_math(t, Buffer::Payload, VarSlot(1), &vars)
    }

    #[test]
    fn byte_math_forms() {
        let b = parse("bytes 2, offset -3, oper *, rvalue len, result out, relative, endian little, bitmask 0ff0").unwrap();
        assert_eq!(
            (b.count, b.offset, b.oper, b.rvalue, b.slot, b.relative),
            (
                Operand::Lit(2),
                -3,
                MathOp::Mul,
                Operand::Var(VarSlot(0)),
                VarSlot(1),
                true
            )
        );
        assert_eq!((b.endian, b.bitmask), (Endian::Little, Some(0xff0)));
        let name = |s: VarSlot| if s.0 == 0 { "len".into() } else { "?".into() };
        assert_eq!(parse(&byte_math_text(&b, &name)).unwrap(), b);
        // Order is free; `result` often comes last but need not.
        let c = parse("result r,oper >>,bytes 4,rvalue 2,offset 0,string hex").unwrap();
        assert_eq!((c.base, c.rvalue), (NumBase::Hex, Operand::Lit(2)));
        assert_eq!(parse(&byte_math_text(&c, &name)).unwrap(), c);
        assert_eq!(
            parse("bytes 10,offset 0,oper +,rvalue 1,result r,string dec")
                .unwrap()
                .count,
            Operand::Lit(10)
        );
        // The byte count may come from an earlier variable (checked when the op runs).
        let v = parse("bytes len,offset 1,oper +,rvalue 102,result r").unwrap();
        assert_eq!(v.count, Operand::Var(VarSlot(0)));
        assert_eq!(parse(&byte_math_text(&v, &name)).unwrap(), v);
        for bad in [
            "",
            "bytes 2,offset 0,oper +,rvalue 1",
            "bytes 0,offset 0,oper +,rvalue 1,result r",
            "bytes 11,offset 0,oper +,rvalue 1,result r,string dec",
            "bytes 9,offset 0,oper +,rvalue 1,result r",
            "bytes 5,offset 0,oper <<,rvalue 1,result r",
            "bytes 3,offset 0,oper +,rvalue 1,result r,dce",
            "bytes 2,offset 70000,oper +,rvalue 1,result r",
            "bytes 2,offset 0,oper %,rvalue 1,result r",
            "bytes 2,offset 0,oper +,rvalue 4294967296,result r",
            "bytes 2,offset 0,oper +,rvalue nosuch,result r",
            "bytes 2,offset 0,oper +,rvalue 1,result 1r",
            "bytes 2,bytes 2,offset 0,oper +,rvalue 1,result r",
            "bytes 2,offset 0,oper +,rvalue 1,result r,endian middle",
            "bytes 2,offset 0,oper +,rvalue 1,result r,bitmask zz",
            "bytes 2,offset 0,oper +,rvalue 1,result r,endian big,dce",
            "bytes 2,offset 0,oper +,rvalue 1,result r,align 4",
            "bytes nosuch,offset 0,oper +,rvalue 1,result r",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
