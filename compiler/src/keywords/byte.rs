//! `byte_test`, `byte_jump`, `byte_extract` and `isdataat`: numeric reads from the payload,
//! with byte_extract variables usable as operands of later tests.

use super::numeric::{parse_i64, parse_u64};
use super::{split_args, KwError};
use crate::ir::{
    Buffer, ByteExtract, ByteJump, ByteOp, ByteTest, Endian, Isdataat, NumBase, Operand, VarSlot,
};

/// Looks up a byte_extract variable defined earlier in the rule.
pub type VarLookup<'a> = &'a dyn Fn(&str) -> Option<VarSlot>;

fn operand(text: &str, at: usize, vars: VarLookup<'_>, what: &str) -> Result<Operand, KwError> {
    let t = text.trim();
    if t.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+') {
        return parse_i64(t)
            .map(Operand::Lit)
            .map_err(|e| e.at(at, at + text.len()));
    }
    match vars(t) {
        Some(slot) => Ok(Operand::Var(slot)),
        None => Err(KwError::code(
            crate::diag::Code::UndefinedVariable,
            format!("{what} `{t}` is neither a number nor a byte_extract variable"),
        )
        .at(at, at + text.len())
        .help("define it first with byte_extract:<count>,<offset>,<name>")),
    }
}

/// The shared trailing flags of the byte_* keywords.
#[derive(Default)]
struct Flags {
    relative: bool,
    endian: Option<Endian>,
    string: bool,
    base: Option<NumBase>,
    multiplier: Option<u32>,
    align: Option<u8>,
    from_beginning: bool,
    from_end: bool,
    post_offset: Option<i64>,
    bitmask: Option<u64>,
}

fn flags<'a>(args: &[(usize, &'a str)], allowed: &[&str], kw: &str) -> Result<Flags, KwError> {
    let mut f = Flags::default();
    for &(at, a) in args {
        let (name, val) = match a.split_once(char::is_whitespace) {
            Some((n, v)) => (n, Some(v.trim())),
            None => (a, None),
        };
        let span = |e: KwError| e.at(at, at + a.len());
        if !allowed.contains(&name) {
            return Err(KwError::value(format!("`{name}` is not a {kw} option"))
                .at(at, at + a.len())
                .help(format!("{kw} options: {}", allowed.join(", "))));
        }
        let need = |v: Option<&'a str>| {
            v.ok_or_else(|| KwError::value(format!("`{name}` needs a value")).at(at, at + a.len()))
        };
        let set_endian = |f: &mut Flags, e: Endian| -> Result<(), KwError> {
            if f.endian.is_some_and(|x| x != e) {
                return Err(KwError::code(
                    crate::diag::Code::Conflict,
                    "two different byte orders",
                )
                .at(at, at + a.len()));
            }
            f.endian = Some(e);
            Ok(())
        };
        let set_base = |f: &mut Flags, b: NumBase| -> Result<(), KwError> {
            if f.base.is_some_and(|x| x != b) {
                return Err(KwError::code(
                    crate::diag::Code::Conflict,
                    "two different number bases",
                )
                .at(at, at + a.len()));
            }
            f.base = Some(b);
            Ok(())
        };
        match name {
            "relative" => f.relative = true,
            "big" => set_endian(&mut f, Endian::Big)?,
            "little" => set_endian(&mut f, Endian::Little)?,
            "dce" => set_endian(&mut f, Endian::Dce)?,
            "string" => {
                f.string = true;
                if let Some(v) = val {
                    match v {
                        "hex" => set_base(&mut f, NumBase::Hex)?,
                        "dec" => set_base(&mut f, NumBase::Dec)?,
                        "oct" => set_base(&mut f, NumBase::Oct)?,
                        _ => {
                            return Err(KwError::value(format!("unknown number base `{v}`"))
                                .at(at, at + a.len()))
                        }
                    }
                }
            }
            "hex" => set_base(&mut f, NumBase::Hex)?,
            "dec" => set_base(&mut f, NumBase::Dec)?,
            "oct" => set_base(&mut f, NumBase::Oct)?,
            "multiplier" => {
                let v = parse_u64(need(val)?).map_err(span)?;
                f.multiplier = Some(u32::try_from(v).ok().filter(|&m| m > 0).ok_or_else(|| {
                    KwError::value("multiplier must be 1..=4294967295").at(at, at + a.len())
                })?);
            }
            "align" => match val {
                None => f.align = Some(4),
                Some(v) => match parse_u64(v).map_err(span)? {
                    2 => f.align = Some(2),
                    4 => f.align = Some(4),
                    _ => return Err(KwError::value("align must be 2 or 4").at(at, at + a.len())),
                },
            },
            "from_beginning" => f.from_beginning = true,
            "from_end" => f.from_end = true,
            "post_offset" => f.post_offset = Some(parse_i64(need(val)?).map_err(span)?),
            "bitmask" => f.bitmask = Some(parse_u64(need(val)?).map_err(span)?),
            _ => unreachable!("checked against allowed"),
        }
    }
    if f.base.is_some() {
        f.string = true;
    }
    Ok(f)
}

/// The most bytes a keyword may read, as Suricata bounds them: 8 binary; as a string, the
/// longest digit run that can still fit 64 bits (23: octal with a leading zero), which
/// byte_extract bounds per base (`per_base`: 23 octal, 20 decimal, 14 hex).
fn max_count(string: bool, base: NumBase, per_base: bool) -> u64 {
    match (string, per_base, base) {
        (false, _, _) => 8,
        (true, false, _) | (true, true, NumBase::Oct) => 23,
        (true, true, NumBase::Hex) => 14,
        (true, true, _) => 20,
    }
}

fn count(text: &str, at: usize, string: bool, max: u64, kw: &str) -> Result<u8, KwError> {
    let n = parse_u64(text).map_err(|e| e.at(at, at + text.len()))?;
    if n == 0 || n > max {
        return Err(KwError::value(format!(
            "{kw} reads {n} bytes; it must be 1..={max}{}",
            if string { "" } else { " for a binary number" }
        ))
        .at(at, at + text.len()));
    }
    u8::try_from(n).map_err(|_| KwError::value("byte count out of range").at(at, at + text.len()))
}

/// A byte count: a literal within [`count`]'s bounds, or a byte_extract variable (Suricata 7
/// accepts one for byte_test and byte_jump; the VM checks its value with [`count_ok`]).
fn count_operand(
    text: &str,
    at: usize,
    string: bool,
    vars: VarLookup<'_>,
    kw: &str,
) -> Result<Operand, KwError> {
    if text.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return operand(text, at, vars, "count");
    }
    let max = max_count(string, NumBase::Dec, false);
    count(text, at, string, max, kw).map(|n| Operand::Lit(i64::from(n)))
}

/// The byte count a variable holds, if a literal could have said it (byte_test, byte_jump):
/// 1..=23 bytes as a string, 1..=8 binary. Anything else fails the test rather than read a
/// different width.
pub fn count_ok(n: i64, string: bool) -> Option<u8> {
    let max = max_count(string, NumBase::Dec, false);
    u8::try_from(n)
        .ok()
        .filter(|&c| c >= 1 && u64::from(c) <= max)
}

fn base(f: &Flags) -> NumBase {
    if f.string {
        f.base.unwrap_or(NumBase::Dec)
    } else {
        NumBase::Binary
    }
}

/// `byte_test:count,[!]op,value,offset[,flags]`
pub fn parse_byte_test(
    value: &str,
    buffer: Buffer,
    vars: VarLookup<'_>,
) -> Result<ByteTest, KwError> {
    let args = split_args(value);
    if args.len() < 4 {
        return Err(
            KwError::value("byte_test needs count, operator, value and offset")
                .help("e.g. byte_test:2,>,512,0,relative;"),
        );
    }
    let f = flags(
        &args[4..],
        &[
            "relative", "big", "little", "dce", "string", "hex", "dec", "oct", "bitmask",
        ],
        "byte_test",
    )?;
    let (oat, op_text) = args[1];
    let (negated, op_body) = match op_text.strip_prefix('!') {
        Some(r) => (true, r.trim()),
        None => (false, op_text),
    };
    let op = match op_body {
        "<" => ByteOp::Lt,
        ">" => ByteOp::Gt,
        "<=" => ByteOp::Le,
        ">=" => ByteOp::Ge,
        "=" | "" if !op_body.is_empty() || negated => ByteOp::Eq,
        "&" => ByteOp::And,
        "^" => ByteOp::Xor,
        _ => {
            return Err(
                KwError::value(format!("unknown byte_test operator `{op_text}`"))
                    .at(oat, oat + op_text.len())
                    .help("operators: < > <= >= = & ^, optionally prefixed with !"),
            )
        }
    };
    Ok(ByteTest {
        count: count_operand(args[0].1, args[0].0, f.string, vars, "byte_test")?,
        op,
        negated,
        value: operand(args[2].1, args[2].0, vars, "value")?,
        offset: operand(args[3].1, args[3].0, vars, "offset")?,
        relative: f.relative,
        endian: f.endian.unwrap_or(Endian::Big),
        base: base(&f),
        bitmask: f.bitmask,
        buffer,
    })
}

/// `byte_jump:count,offset[,flags]`
pub fn parse_byte_jump(
    value: &str,
    buffer: Buffer,
    vars: VarLookup<'_>,
) -> Result<ByteJump, KwError> {
    let args = split_args(value);
    if args.len() < 2 {
        return Err(
            KwError::value("byte_jump needs count and offset").help("e.g. byte_jump:4,0,relative;")
        );
    }
    let f = flags(
        &args[2..],
        &[
            "relative",
            "big",
            "little",
            "dce",
            "string",
            "hex",
            "dec",
            "oct",
            "multiplier",
            "align",
            "from_beginning",
            "from_end",
            "post_offset",
            "bitmask",
        ],
        "byte_jump",
    )?;
    if f.from_beginning && f.from_end {
        return Err(KwError::code(
            crate::diag::Code::Conflict,
            "byte_jump cannot use both from_beginning and from_end",
        ));
    }
    Ok(ByteJump {
        // Suricata reads a byte_jump of 0 bytes as a jump by post_offset alone.
        count: match args[0].1.trim() {
            "0" => Operand::Lit(0),
            c => count_operand(c, args[0].0, f.string, vars, "byte_jump")?,
        },
        offset: operand(args[1].1, args[1].0, vars, "offset")?,
        relative: f.relative,
        multiplier: f.multiplier.unwrap_or(1),
        endian: f.endian.unwrap_or(Endian::Big),
        base: base(&f),
        align: f.align.is_some(),
        from_beginning: f.from_beginning,
        from_end: f.from_end,
        post_offset: f.post_offset.unwrap_or(0),
        bitmask: f.bitmask,
        buffer,
    })
}

/// `byte_extract:count,offset,name[,flags]`; `slot` is the variable's index.
pub fn parse_byte_extract(
    value: &str,
    buffer: Buffer,
    slot: VarSlot,
) -> Result<ByteExtract, KwError> {
    let args = split_args(value);
    if args.len() < 3 {
        return Err(
            KwError::value("byte_extract needs count, offset and a variable name")
                .help("e.g. byte_extract:2,0,len,relative;"),
        );
    }
    let f = flags(
        &args[3..],
        &[
            "relative",
            "big",
            "little",
            "dce",
            "string",
            "hex",
            "dec",
            "oct",
            "multiplier",
            "align",
            "bitmask",
        ],
        "byte_extract",
    )?;
    let (nat, name) = args[2];
    if !name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(
            KwError::value(format!("`{name}` is not a valid variable name"))
                .at(nat, nat + name.len()),
        );
    }
    Ok(ByteExtract {
        count: count(
            args[0].1,
            args[0].0,
            f.string,
            max_count(f.string, base(&f), true),
            "byte_extract",
        )?,
        offset: parse_i64(args[1].1).map_err(|e| e.at(args[1].0, args[1].0 + args[1].1.len()))?,
        slot,
        name: name.to_string(),
        relative: f.relative,
        multiplier: f.multiplier.unwrap_or(1),
        endian: f.endian.unwrap_or(Endian::Big),
        base: base(&f),
        align: f.align,
        bitmask: f.bitmask,
        buffer,
    })
}

/// `isdataat:[!]N[,relative][,rawbytes]`
pub fn parse_isdataat(
    value: &str,
    buffer: Buffer,
    vars: VarLookup<'_>,
) -> Result<Isdataat, KwError> {
    let args = split_args(value);
    let Some(&(at, first)) = args.first() else {
        return Err(KwError::value("isdataat needs a position"));
    };
    let (negated, n, nat) = match first.strip_prefix('!') {
        Some(r) => (
            true,
            r.trim_start(),
            at + first.len() - r.trim_start().len(),
        ),
        None => (false, first, at),
    };
    let mut d = Isdataat {
        offset: operand(n, nat, vars, "position")?,
        relative: false,
        negated,
        buffer,
    };
    for &(at, a) in &args[1..] {
        match a {
            "relative" => d.relative = true,
            "rawbytes" => d.buffer = Buffer::Raw,
            _ => {
                return Err(KwError::value(format!("`{a}` is not an isdataat option"))
                    .at(at, at + a.len())
                    .help("options: relative, rawbytes"))
            }
        }
    }
    if let Operand::Lit(v) = d.offset {
        if v < 0 {
            return Err(
                KwError::value("isdataat position must not be negative").at(nat, nat + n.len())
            );
        }
    }
    Ok(d)
}

fn endian_base(endian: Endian, b: NumBase, out: &mut String) {
    match endian {
        Endian::Big => {}
        Endian::Little => out.push_str(",little"),
        Endian::Dce => out.push_str(",dce"),
    }
    match b {
        NumBase::Binary => {}
        NumBase::Dec => out.push_str(",string,dec"),
        NumBase::Hex => out.push_str(",string,hex"),
        NumBase::Oct => out.push_str(",string,oct"),
    }
}

/// Canonical text of an operand: the literal, or the name of the rule variable it reads.
pub fn op_text(o: Operand, vars: &[String]) -> String {
    match o {
        Operand::Lit(v) => v.to_string(),
        Operand::Var(s) => vars
            .get(s.0 as usize)
            .cloned()
            .unwrap_or_else(|| format!("var{}", s.0)),
    }
}

/// The operator as written in `byte_test`.
pub fn byte_op_text(o: ByteOp) -> &'static str {
    match o {
        ByteOp::Lt => "<",
        ByteOp::Gt => ">",
        ByteOp::Le => "<=",
        ByteOp::Ge => ">=",
        ByteOp::Eq => "=",
        ByteOp::And => "&",
        ByteOp::Xor => "^",
    }
}

/// Canonical `byte_test` value.
pub fn byte_test_text(t: &ByteTest, vars: &[String]) -> String {
    let mut s = format!(
        "{},{}{},{},{}",
        op_text(t.count, vars),
        if t.negated { "!" } else { "" },
        byte_op_text(t.op),
        op_text(t.value, vars),
        op_text(t.offset, vars)
    );
    if t.relative {
        s.push_str(",relative");
    }
    endian_base(t.endian, t.base, &mut s);
    if let Some(m) = t.bitmask {
        s.push_str(&format!(",bitmask {m:#x}"));
    }
    s
}

/// Canonical `byte_jump` value.
pub fn byte_jump_text(j: &ByteJump, vars: &[String]) -> String {
    let mut s = format!("{},{}", op_text(j.count, vars), op_text(j.offset, vars));
    if j.relative {
        s.push_str(",relative");
    }
    if j.multiplier != 1 {
        s.push_str(&format!(",multiplier {}", j.multiplier));
    }
    endian_base(j.endian, j.base, &mut s);
    for (on, w) in [
        (j.align, ",align"),
        (j.from_beginning, ",from_beginning"),
        (j.from_end, ",from_end"),
    ] {
        if on {
            s.push_str(w);
        }
    }
    if j.post_offset != 0 {
        s.push_str(&format!(",post_offset {}", j.post_offset));
    }
    if let Some(m) = j.bitmask {
        s.push_str(&format!(",bitmask {m:#x}"));
    }
    s
}

/// Canonical `byte_extract` value.
pub fn byte_extract_text(e: &ByteExtract) -> String {
    let mut s = format!("{},{},{}", e.count, e.offset, e.name);
    if e.relative {
        s.push_str(",relative");
    }
    if e.multiplier != 1 {
        s.push_str(&format!(",multiplier {}", e.multiplier));
    }
    endian_base(e.endian, e.base, &mut s);
    if let Some(a) = e.align {
        s.push_str(&format!(",align {a}"));
    }
    if let Some(m) = e.bitmask {
        s.push_str(&format!(",bitmask {m:#x}"));
    }
    s
}

/// Canonical `isdataat` value (the buffer is written as a sticky buffer by the caller).
pub fn isdataat_text(d: &Isdataat, vars: &[String]) -> String {
    format!(
        "{}{}{}",
        if d.negated { "!" } else { "" },
        op_text(d.offset, vars),
        if d.relative { ",relative" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(n: &str) -> Option<VarSlot> {
        (n == "len").then_some(VarSlot(0))
    }

    #[test]
    fn byte_test_forms() {
        let t =
            parse_byte_test("4, !&, 0x80, -4, relative, little", Buffer::Payload, &vars).unwrap();
        assert_eq!(
            (t.count, t.op, t.negated, t.value, t.offset),
            (
                Operand::Lit(4),
                ByteOp::And,
                true,
                Operand::Lit(128),
                Operand::Lit(-4)
            )
        );
        // The count may be a variable too (Suricata 7); its text round-trips.
        let v = parse_byte_test("len,=,1,5,bitmask 0xff", Buffer::Payload, &vars).unwrap();
        assert_eq!(v.count, Operand::Var(VarSlot(0)));
        assert_eq!(
            byte_test_text(&v, &["len".into()]),
            "len,=,1,5,bitmask 0xff"
        );
        assert!(parse_byte_test("nope,=,1,5", Buffer::Payload, &vars).is_err());
        assert_eq!(count_ok(8, false), Some(8));
        assert_eq!(count_ok(9, false), None);
        assert_eq!(count_ok(23, true), Some(23));
        assert_eq!(count_ok(24, true), None);
        // Suricata's string limits: 23 for byte_test and byte_jump.
        assert!(parse_byte_test("23,=,1,0,string,oct", Buffer::Payload, &vars).is_ok());
        assert!(parse_byte_test("24,=,1,0,string,dec", Buffer::Payload, &vars).is_err());
        assert!(parse_byte_jump("20,0,string,dec", Buffer::Payload, &vars).is_ok());
        assert_eq!(count_ok(0, true), None);
        assert_eq!(count_ok(-1, false), None);
        assert!(t.relative && t.endian == Endian::Little);
        let s = parse_byte_test("3,>,len,0,string,dec", Buffer::Payload, &vars).unwrap();
        assert_eq!((s.value, s.base), (Operand::Var(VarSlot(0)), NumBase::Dec));
        assert_eq!(
            parse_byte_test(&byte_test_text(&t, &[]), Buffer::Payload, &vars).unwrap(),
            t
        );
        assert_eq!(
            parse_byte_test("1,!,0,0", Buffer::Payload, &vars)
                .unwrap()
                .op,
            ByteOp::Eq
        );
        for bad in [
            "4,>,1",
            "9,>,1,0",
            "4,~,1,0",
            "4,>,x,0",
            "4,>,1,0,sideways",
            "4,>,1,0,big,little",
        ] {
            assert!(
                parse_byte_test(bad, Buffer::Payload, &vars).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn byte_jump_of_zero_bytes_is_a_jump_by_post_offset() {
        let j = parse_byte_jump("0,0,relative,post_offset -8", Buffer::Payload, &vars).unwrap();
        assert_eq!((j.count, j.post_offset), (Operand::Lit(0), -8));
        assert_eq!(
            parse_byte_jump(&byte_jump_text(&j, &[]), Buffer::Payload, &vars).unwrap(),
            j
        );
        assert!(parse_byte_test("0,=,1,0", Buffer::Payload, &vars).is_err());
    }

    #[test]
    fn byte_jump_extract_isdataat() {
        let j = parse_byte_jump(
            "4,-4,relative,align,dce,post_offset -2,multiplier 2",
            Buffer::Payload,
            &vars,
        )
        .unwrap();
        assert!(j.align && j.endian == Endian::Dce && j.post_offset == -2 && j.multiplier == 2);
        let v = parse_byte_jump("len,0,relative", Buffer::Payload, &vars).unwrap();
        assert_eq!(v.count, Operand::Var(VarSlot(0)));
        assert_eq!(
            parse_byte_jump(&byte_jump_text(&j, &[]), Buffer::Payload, &vars).unwrap(),
            j
        );
        let e = parse_byte_extract("2,0,len,relative,little", Buffer::Payload, VarSlot(0)).unwrap();
        assert_eq!(
            parse_byte_extract(&byte_extract_text(&e), Buffer::Payload, VarSlot(0)).unwrap(),
            e
        );
        assert!(parse_byte_extract("2,0,9x", Buffer::Payload, VarSlot(0)).is_err());
        // Suricata's byte_extract limits: 8 binary, 23 octal, 20 decimal, 14 hex digits.
        let ext = |v: &str| parse_byte_extract(v, Buffer::Payload, VarSlot(0));
        assert_eq!(ext("8,0,v").unwrap().count, 8);
        assert!(ext("9,0,v").is_err());
        assert_eq!(ext("23,0,v,string,oct").unwrap().count, 23);
        assert!(ext("21,0,v,string").is_err());
        assert_eq!(ext("20,0,v,string,dec").unwrap().count, 20);
        assert!(ext("15,0,v,string,hex").is_err());
        let d = parse_isdataat("!len,relative", Buffer::Payload, &vars).unwrap();
        assert!(d.negated && d.relative && d.offset == Operand::Var(VarSlot(0)));
        assert!(parse_isdataat("5,sideways", Buffer::Payload, &vars).is_err());
    }
}
