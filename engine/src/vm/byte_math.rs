//! `byte_math`: read a number, combine it with a literal or an earlier variable, mask it,
//! and store it in a variable; the cursor moves past the bytes read (Suricata's
//! `DetectByteMathDoMatch`). Arithmetic is checked: where Suricata's `uint64_t` would wrap
//! (an underflowing `-`, an overflowing `*` or `<<`) or divide by zero, the op fails instead
//! of handing a later test a number the packet never held.

use super::{operand, relative_pos, MAX_VARS};
use verdict_compiler::ir::{ByteMath, MathOp};

/// Runs a byte_math at the cursor: the variable's value and the cursor after the bytes read,
/// or None (the test fails) when the bytes are not there or the arithmetic does not hold.
pub fn byte_math(
    b: &ByteMath,
    buf: &[u8],
    cursor: usize,
    vars: &[i64; MAX_VARS],
) -> Option<(i64, usize)> {
    let pos = if b.relative {
        relative_pos(cursor, b.offset)?
    } else {
        b.offset
    };
    // A count from a variable obeys the bounds the compiler checks on a literal one.
    let count = operand(b.count, vars);
    verdict_compiler::keywords::byte_math::count_ok(count, b.oper, b.endian, b.base).ok()?;
    let count = u8::try_from(count).ok()?;
    let v = super::read_num(buf, pos, count, b.endian, b.base)?;
    let r = u64::try_from(operand(b.rvalue, vars)).ok()?;
    let mut v = match b.oper {
        MathOp::Add => v.checked_add(r)?,
        MathOp::Sub => v.checked_sub(r)?,
        MathOp::Mul => v.checked_mul(r)?,
        MathOp::Div => v.checked_div(r)?,
        // Shifted-out bits are an overflow too: the result must still hold the value.
        MathOp::Shl => {
            let s = u32::try_from(r).ok().filter(|s| *s < 64)?;
            let out = v.checked_shl(s)?;
            (out >> s == v).then_some(out)?
        }
        MathOp::Shr => u32::try_from(r)
            .ok()
            .and_then(|s| v.checked_shr(s))
            .unwrap_or(0),
    };
    if let Some(m) = b.bitmask {
        v = super::apply_mask(v, u64::from(m));
    }
    let end = pos.checked_add(i64::from(count))?;
    Some((i64::try_from(v).ok()?, usize::try_from(end).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use verdict_compiler::ir::{Buffer, Endian, NumBase, Operand, VarSlot};

    fn bm(count: u8, offset: i64, oper: MathOp, rvalue: Operand) -> ByteMath {
        ByteMath {
            count: Operand::Lit(i64::from(count)),
            offset,
            oper,
            rvalue,
            slot: VarSlot(1),
            name: "r".into(),
            relative: false,
            endian: Endian::Big,
            base: NumBase::Binary,
            bitmask: None,
            buffer: Buffer::Payload,
        }
    }

    #[test]
    fn arithmetic_is_checked_and_moves_the_cursor() {
        let buf = [0x00, 0x10, 0xff, b'4', b'2'];
        let mut vars = [0i64; MAX_VARS];
        vars[0] = 3;
        let lit = Operand::Lit;
        assert_eq!(
            byte_math(&bm(2, 0, MathOp::Add, lit(1)), &buf, 0, &vars),
            Some((17, 2))
        );
        assert_eq!(
            byte_math(
                &bm(2, 0, MathOp::Mul, Operand::Var(VarSlot(0))),
                &buf,
                0,
                &vars
            ),
            Some((48, 2))
        );
        assert_eq!(
            byte_math(&bm(2, 0, MathOp::Div, lit(4)), &buf, 0, &vars),
            Some((4, 2))
        );
        assert_eq!(
            byte_math(&bm(1, 1, MathOp::Shl, lit(4)), &buf, 0, &vars),
            Some((0x100, 2))
        );
        assert_eq!(
            byte_math(&bm(1, 2, MathOp::Shr, lit(4)), &buf, 0, &vars),
            Some((0xf, 3))
        );
        // Division by zero and underflow fail the op instead of wrapping.
        assert_eq!(
            byte_math(&bm(2, 0, MathOp::Div, lit(0)), &buf, 0, &vars),
            None
        );
        assert_eq!(
            byte_math(&bm(2, 0, MathOp::Sub, lit(17)), &buf, 0, &vars),
            None
        );
        assert_eq!(
            byte_math(&bm(2, 0, MathOp::Sub, lit(16)), &buf, 0, &vars),
            Some((0, 2))
        );
        let mut big = bm(8, 0, MathOp::Shl, lit(1));
        assert_eq!(
            byte_math(&big, &[0x80, 0, 0, 0, 0, 0, 0, 0], 0, &vars),
            None
        );
        big.oper = MathOp::Mul;
        big.rvalue = lit(2);
        assert_eq!(byte_math(&big, &[0xff; 8], 0, &vars), None);
        // Short buffer, negative absolute offset.
        assert_eq!(
            byte_math(&bm(4, 3, MathOp::Add, lit(1)), &buf, 0, &vars),
            None
        );
        assert_eq!(
            byte_math(&bm(1, -1, MathOp::Add, lit(1)), &buf, 0, &vars),
            None
        );
        // Relative with a negative offset reaches back from the cursor; string and mask.
        let mut s = bm(2, -2, MathOp::Add, lit(0));
        s.relative = true;
        s.base = NumBase::Dec;
        assert_eq!(byte_math(&s, &buf, 5, &vars), Some((42, 5)));
        // A count from a variable: read `vars[0]` = 3 bytes, or fail if it is out of bounds.
        let mut v = bm(1, 0, MathOp::Add, lit(0));
        v.count = Operand::Var(VarSlot(0));
        assert_eq!(byte_math(&v, &[0, 1, 2, 9], 0, &vars), Some((0x0102, 3)));
        vars[0] = 9;
        assert_eq!(byte_math(&v, &[0; 12], 0, &vars), None);
        vars[0] = 3;
        let mut m = bm(2, 1, MathOp::Add, lit(0));
        m.bitmask = Some(0x0ff0);
        assert_eq!(byte_math(&m, &buf, 0, &vars), Some((0x0f, 3)));
    }
}
