//! The VM against hostile rule constants and packet bytes: fixed overflow regressions, then
//! random programs (every payload op, literal and extracted operands, relative positions)
//! over random payloads, with one `VmState` carried across the packets of a flow.
//!
//! The position arithmetic is also checked against a model in i128, where nothing overflows:
//! the VM's checked i64 arithmetic must give the model's answer, not merely not panic.
//!
//! Budget: `VERDICT_FUZZ_CASES` programs per property (default 2000, a few seconds in a debug
//! build, which is where overflow panics are enabled).

use super::*;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use verdict_compiler::ir::{NumCmp, Pcre, VarSlot};

fn prog(ops: Vec<Insn>) -> CompiledProgram {
    CompiledProgram::new(&super::test_program(ops))
        .expect("the generator builds only loadable programs")
}

fn content(p: &[u8], position: Position, negated: bool) -> Insn {
    Insn::Content {
        pattern: p.to_vec(),
        nocase: false,
        negated,
        buffer: Buffer::Payload,
        position,
        ends_with: false,
        replace: None,
    }
}

fn extract(count: u8, offset: i64, slot: u8, multiplier: u32, align: Option<u8>) -> Insn {
    Insn::ByteExtract(ByteExtract {
        count,
        offset,
        slot: VarSlot(slot),
        name: format!("v{slot}"),
        relative: false,
        multiplier,
        endian: Endian::Big,
        base: NumBase::Binary,
        align,
        bitmask: None,
        buffer: Buffer::Payload,
    })
}

fn jump(count: u8, offset: Operand, relative: bool, align: bool, post_offset: i64) -> ByteJump {
    ByteJump {
        count: Operand::Lit(i64::from(count)),
        offset,
        relative,
        multiplier: 1,
        endian: Endian::Big,
        base: NumBase::Binary,
        align,
        from_beginning: false,
        from_end: false,
        post_offset,
        bitmask: None,
        buffer: Buffer::Payload,
    }
}

fn isdataat(offset: Operand, relative: bool, negated: bool) -> Insn {
    Insn::Isdataat(Isdataat {
        offset,
        relative,
        negated,
        buffer: Buffer::Payload,
    })
}

fn run(p: &CompiledProgram, buf: &[u8]) -> bool {
    p.payload_ok(buf, &mut VmState::default())
}

const V0: Operand = Operand::Var(VarSlot(0));

// --- fixed regressions: each panicked in a debug build (and wrapped in release) before the
// --- arithmetic was checked.

#[test]
fn byte_jump_align_of_an_8_byte_value_fails_instead_of_overflowing() {
    // u64::MAX rounded up to a multiple of 4 does not fit: `div_ceil(4) * 4` overflowed.
    let p = prog(vec![Insn::ByteJump(jump(
        8,
        Operand::Lit(0),
        false,
        true,
        0,
    ))]);
    assert!(!run(&p, &[0xff; 16]));
    assert_eq!(
        byte_jump(
            &jump(8, Operand::Lit(0), false, true, 0),
            &[0xff; 16],
            0,
            &[0; MAX_VARS]
        ),
        None
    );
    // A value that does fit still aligns: 5 → 8, from the end of the 8 bytes read.
    let mut buf = [0u8; 32];
    buf[7] = 5;
    assert_eq!(
        byte_jump(
            &jump(8, Operand::Lit(0), false, true, 0),
            &buf,
            0,
            &[0; MAX_VARS]
        ),
        Some(16)
    );
}

#[test]
fn relative_offsets_past_i64_are_outside_the_buffer() {
    let vars = [i64::MAX; MAX_VARS];
    // `cursor as i64 + off` overflowed for each of these.
    let j = jump(1, V0, true, false, 0);
    assert_eq!(byte_jump(&j, b"abcdef", 3, &vars), None);
    let t = ByteTest {
        count: Operand::Lit(1),
        op: ByteOp::Ge,
        negated: false,
        value: Operand::Lit(0),
        offset: V0,
        relative: true,
        endian: Endian::Big,
        base: NumBase::Binary,
        bitmask: None,
        buffer: Buffer::Payload,
    };
    assert!(!byte_test(&t, b"abcdef", 3, &vars));
    let rel = Position::Relative {
        distance: V0,
        within: None,
    };
    assert_eq!(window(rel, false, 3, 6, 1, &vars), None);
    // The same through whole programs: a content moves the cursor first.
    let p = prog(vec![
        content(b"a", Position::StartsWith, false),
        extract(8, 1, 0, 1, None),
        content(b"b", rel, false),
    ]);
    let mut buf = b"a\x7f\xff\xff\xff\xff\xff\xff\xffb".to_vec();
    assert!(!run(&p, &buf));
    buf[1] = 0;
    buf[8] = 0; // extracted value 0xffffff00: still far past the end
    assert!(!run(&p, &buf));
}

#[test]
fn byte_extract_overflow_fails_the_test_and_never_saturates() {
    // × 2 overflows u64: it used to saturate to u64::MAX, then `div_ceil(4) * 4` overflowed.
    let p = prog(vec![extract(8, 0, 0, 2, Some(4))]);
    assert!(!run(&p, &[0xff; 8]));
    // A value above i64::MAX used to be clamped to i64::MAX, a number the packet never held.
    let p = prog(vec![extract(8, 0, 0, 1, None), isdataat(V0, false, true)]);
    assert!(!run(&p, &[0x80; 8]));
    // In range, the value and its alignment are exact.
    let p = prog(vec![
        extract(1, 0, 0, 3, Some(4)),
        isdataat(Operand::Lit(12), false, true),
        isdataat(Operand::Lit(11), false, false),
    ]);
    let mut st = VmState::default();
    assert!(p.payload_ok(&[3; 12], &mut st));
    assert_eq!(st.vars[0], 12); // 3 × 3 = 9, aligned up to 12
}

#[test]
fn relative_isdataat_does_not_report_data_past_i64() {
    // 0x7fff…ff is i64::MAX: cursor 9 + i64::MAX wrapped to a negative position, which was
    // "<= len", so isdataat said the data was there.
    let p = prog(vec![
        extract(8, 0, 0, 1, None),
        content(
            b"X",
            Position::Absolute {
                offset: Operand::Lit(8),
                depth: None,
            },
            false,
        ),
        isdataat(V0, true, false),
    ]);
    let buf = b"\x7f\xff\xff\xff\xff\xff\xff\xffX...";
    assert!(!run(&p, buf));
    let neg = prog(vec![
        extract(8, 0, 0, 1, None),
        content(
            b"X",
            Position::Absolute {
                offset: Operand::Lit(8),
                depth: None,
            },
            false,
        ),
        isdataat(V0, true, true),
    ]);
    assert!(
        run(&neg, buf),
        "no data lies i64::MAX bytes past the cursor"
    );
}

// --- the i128 model of the position arithmetic.

fn model_pos(cursor: usize, relative: bool, off: i64) -> i128 {
    if relative {
        cursor as i128 + i128::from(off)
    } else {
        i128::from(off)
    }
}

fn model_isdataat(d: &Isdataat, len: usize, cursor: usize, vars: &[i64; MAX_VARS]) -> bool {
    let n = i128::from(operand(d.offset, vars));
    n >= 0
        && if d.relative {
            cursor as i128 + n <= len as i128
        } else {
            n < len as i128
        }
}

fn model_byte_jump(
    b: &ByteJump,
    buf: &[u8],
    cursor: usize,
    vars: &[i64; MAX_VARS],
) -> Option<usize> {
    // The strategies generate literal counts only; a variable count is tested in vm.rs.
    // A count past Suricata's limit for the base (8 binary, 23 string bytes) fails the jump;
    // 0 reads nothing in binary and fails as a string (no digit).
    let string = b.base != NumBase::Binary;
    let count = match b.count {
        Operand::Lit(0) if !string => 0,
        Operand::Lit(n) => verdict_compiler::keywords::byte::count_ok(n, string)?,
        Operand::Var(_) => return None,
    };
    let pos = model_pos(cursor, b.relative, operand(b.offset, vars));
    // A relative read starts inside the buffer (one of 0 bytes may start at its end); no
    // read starts before it.
    let end = buf.len() as i128;
    if (b.relative && (pos > end || (pos == end && count != 0))) || pos < 0 {
        return None;
    }
    // An offset past i64 fails the jump, even one that reads nothing (count 0).
    let p = i64::try_from(pos).ok()?;
    let mut v: i128 = if count == 0 {
        0
    } else {
        i128::from(read_num(buf, p, count, b.endian, b.base)?)
    };
    if let Some(m) = b.bitmask {
        v = i128::from(apply_mask(v as u64, m));
    }
    v *= i128::from(b.multiplier.max(1));
    if b.align {
        v = (v + 3) / 4 * 4;
    }
    // Values that do not fit the 64-bit arithmetic make the test fail.
    if v > i128::from(i64::MAX) {
        return None;
    }
    let base = if b.from_beginning {
        0
    } else if b.from_end {
        buf.len() as i128
    } else {
        pos + i128::from(count)
    };
    let c = base + v + i128::from(b.post_offset);
    if c > i128::from(i64::MAX) || base + v > i128::from(i64::MAX) {
        return None;
    }
    // Before the start: the start; at or past the end: no match.
    let c = c.max(0);
    (c < buf.len() as i128).then_some(c as usize)
}

fn model_window(
    p: Position,
    ends_with: bool,
    cursor: usize,
    len: usize,
    plen: usize,
    vars: &[i64; MAX_VARS],
) -> Option<(usize, usize)> {
    let (lo, hi): (i128, i128) = match p {
        Position::Absolute { offset, depth } => {
            let lo = i128::from(operand(offset, vars).max(0));
            (
                lo,
                depth.map_or(len as i128, |d| lo + i128::from(operand(d, vars))),
            )
        }
        Position::Relative { distance, within } => {
            let start = cursor as i128 + i128::from(operand(distance, vars));
            let hi = within.map_or(len as i128, |w| start + i128::from(operand(w, vars)));
            (start.max(0), hi)
        }
        Position::StartsWith => (0, plen as i128),
    };
    let hi = hi.min(len as i128);
    let (lo, hi) = if ends_with {
        // The only start that ends the match at the buffer's end.
        let start = len as i128 - plen as i128;
        if lo > start || hi < len as i128 {
            return None;
        }
        (start, len as i128)
    } else {
        (lo, hi)
    };
    (lo >= 0 && hi - lo >= plen as i128).then_some((lo as usize, hi as usize))
}

// --- generators.

/// Offsets and values where arithmetic breaks, plus ordinary small ones.
fn edgy_i64() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => -20i64..40,
        1 => Just(i64::MAX),
        1 => Just(i64::MIN),
        1 => Just(i64::MAX - 1),
        1 => Just(i64::MIN + 1),
        1 => Just(i64::from(u32::MAX)),
        1 => Just(-i64::from(u32::MAX)),
        1 => any::<i64>(),
    ]
}

fn operand_s() -> impl Strategy<Value = Operand> {
    prop_oneof![
        3 => edgy_i64().prop_map(Operand::Lit),
        1 => (0..MAX_VARS as u8).prop_map(|s| Operand::Var(VarSlot(s))),
    ]
}

fn position_s() -> impl Strategy<Value = Position> {
    prop_oneof![
        (operand_s(), proptest::option::of(operand_s()))
            .prop_map(|(offset, depth)| Position::Absolute { offset, depth }),
        (operand_s(), proptest::option::of(operand_s()))
            .prop_map(|(distance, within)| Position::Relative { distance, within }),
        Just(Position::StartsWith),
    ]
}

fn endian_s() -> impl Strategy<Value = Endian> {
    prop_oneof![Just(Endian::Big), Just(Endian::Little), Just(Endian::Dce)]
}

fn base_s() -> impl Strategy<Value = NumBase> {
    prop_oneof![
        4 => Just(NumBase::Binary),
        1 => Just(NumBase::Dec),
        1 => Just(NumBase::Hex),
        1 => Just(NumBase::Oct),
    ]
}

/// Byte counts: binary reads are 1–8 bytes (9 must fail cleanly), strings up to 24.
fn count_s() -> impl Strategy<Value = u8> {
    prop_oneof![4 => 1u8..=9, 1 => 10u8..=24]
}

fn mask_s() -> impl Strategy<Value = Option<u64>> {
    proptest::option::weighted(0.2, prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>()])
}

fn multiplier_s() -> impl Strategy<Value = u32> {
    prop_oneof![4 => Just(1u32), 1 => 0u32..10, 1 => Just(u32::MAX), 1 => any::<u32>()]
}

fn byte_test_s() -> impl Strategy<Value = ByteTest> {
    (
        count_s(),
        prop_oneof![
            Just(ByteOp::Lt),
            Just(ByteOp::Gt),
            Just(ByteOp::Le),
            Just(ByteOp::Ge),
            Just(ByteOp::Eq),
            Just(ByteOp::And),
            Just(ByteOp::Xor)
        ],
        any::<bool>(),
        operand_s(),
        operand_s(),
        any::<bool>(),
        endian_s(),
        base_s(),
        mask_s(),
    )
        .prop_map(
            |(count, op, negated, value, offset, relative, endian, base, bitmask)| ByteTest {
                count: Operand::Lit(i64::from(count)),
                op,
                negated,
                value,
                offset,
                relative,
                endian,
                base,
                bitmask,
                buffer: Buffer::Payload,
            },
        )
}

fn byte_jump_s() -> impl Strategy<Value = ByteJump> {
    (
        prop_oneof![1 => Just(0u8), 6 => count_s()],
        operand_s(),
        any::<bool>(),
        multiplier_s(),
        endian_s(),
        base_s(),
        any::<bool>(),
        0u8..4,
        edgy_i64(),
        mask_s(),
    )
        .prop_map(
            |(count, offset, relative, multiplier, endian, base, align, from, post, bitmask)| {
                ByteJump {
                    count: Operand::Lit(i64::from(count)),
                    offset,
                    relative,
                    multiplier,
                    endian,
                    base,
                    align,
                    from_beginning: from == 1,
                    from_end: from == 2,
                    post_offset: post,
                    bitmask,
                    buffer: Buffer::Payload,
                }
            },
        )
}

fn byte_extract_s() -> impl Strategy<Value = ByteExtract> {
    (
        count_s(),
        edgy_i64(),
        0..MAX_VARS as u8,
        any::<bool>(),
        multiplier_s(),
        endian_s(),
        base_s(),
        proptest::option::of(prop_oneof![
            Just(0u8),
            Just(1),
            Just(2),
            Just(4),
            any::<u8>()
        ]),
        mask_s(),
    )
        .prop_map(
            |(count, offset, slot, relative, multiplier, endian, base, align, bitmask)| {
                ByteExtract {
                    count,
                    offset,
                    slot: VarSlot(slot),
                    name: format!("v{slot}"),
                    relative,
                    multiplier,
                    endian,
                    base,
                    align,
                    bitmask,
                    buffer: Buffer::Payload,
                }
            },
        )
}

fn isdataat_s() -> impl Strategy<Value = Isdataat> {
    (operand_s(), any::<bool>(), any::<bool>()).prop_map(|(offset, relative, negated)| Isdataat {
        offset,
        relative,
        negated,
        buffer: Buffer::Payload,
    })
}

const PCRES: &[&str] = &[
    "a+b",
    "^a",
    "b$",
    "(a|b)*c",
    "(a+)+$",
    "[0-9]{2,}",
    "\\x00",
    ".",
];

fn pcre_s() -> impl Strategy<Value = Insn> {
    (
        0..PCRES.len(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(i, relative, negated, caseless, anchored)| {
            Insn::Pcre(Pcre {
                pattern: PCRES[i].to_string(),
                caseless,
                dotall: true,
                multiline: false,
                extended: false,
                anchored,
                dollar_endonly: false,
                ungreedy: false,
                relative,
                negated,
                buffer: Buffer::Payload,
            })
        })
}

fn num_cmp_s() -> impl Strategy<Value = NumCmp> {
    let n = || prop_oneof![0u64..40, Just(u64::MAX)];
    prop_oneof![
        n().prop_map(NumCmp::Eq),
        n().prop_map(NumCmp::Lt),
        n().prop_map(NumCmp::Ge),
        (n(), n()).prop_map(|(a, b)| NumCmp::RangeExclusive(a, b)),
    ]
}

fn insn_s() -> impl Strategy<Value = Insn> {
    prop_oneof![
        3 => (proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(0xffu8), Just(b'1')], 1..4),
              position_s(), any::<bool>(), any::<bool>(), proptest::bool::weighted(0.2))
            .prop_map(|(pattern, position, negated, nocase, ends_with)| Insn::Content {
                pattern, nocase, negated, buffer: Buffer::Payload, position, ends_with, replace: None,
            }),
        1 => pcre_s(),
        2 => byte_test_s().prop_map(Insn::ByteTest),
        2 => byte_jump_s().prop_map(Insn::ByteJump),
        2 => byte_extract_s().prop_map(Insn::ByteExtract),
        2 => isdataat_s().prop_map(Insn::Isdataat),
        1 => num_cmp_s().prop_map(|cmp| Insn::BufferSize { cmp, buffer: Buffer::Payload }),
        1 => (any::<bool>(), any::<bool>(), prop_oneof![Just(None), (0u32..8).prop_map(Some)],
              -50i64..50)
            .prop_map(|(bitstring_overflow, double_overflow, oversize_length, offset)| {
                Insn::Asn1(verdict_compiler::ir::Asn1 {
                    bitstring_overflow,
                    double_overflow,
                    oversize_length,
                    offset,
                    relative: offset < 0 || offset % 2 == 0,
                    buffer: Buffer::Payload,
                })
            }),
    ]
}

/// `ops`, then a `base64_decode` on the payload, then `data` on what it decodes.
fn with_decode(ops: Vec<Insn>, decode: (Option<u32>, u32, bool), data: Vec<Insn>) -> Vec<Insn> {
    let (bytes, offset, relative) = decode;
    let on_decoded = data.into_iter().map(on_base64_data);
    ops.into_iter()
        .chain(std::iter::once(Insn::Base64Decode(
            verdict_compiler::ir::Base64Decode {
                bytes,
                offset,
                relative,
                buffer: Buffer::Payload,
            },
        )))
        .chain(on_decoded)
        .collect()
}

/// Payload bytes that make numbers (binary extremes, digits) and patterns likely.
fn payload_s() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            Just(b'a'),
            Just(b'b'),
            Just(b'c'),
            Just(0xffu8),
            Just(0x7f),
            Just(0x80),
            Just(0),
            b'0'..=b'9',
            any::<u8>(),
        ],
        0..48,
    )
}

fn cases() -> u32 {
    std::env::var("VERDICT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

fn runner() -> TestRunner {
    TestRunner::new(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })
}

/// `p` over the packets of one flow: its hits in the buffer (hits in decoded bytes are
/// offsets there), and the state carried from earlier packets never changes a verdict.
fn flow_holds(p: &CompiledProgram, packets: &[Vec<u8>]) -> Result<(), TestCaseError> {
    let mut carried = VmState::default();
    for buf in packets {
        let with_state = p.payload_ok(buf, &mut carried);
        if with_state {
            for h in carried.path.iter().filter(|h| !p.reads_decoded(h.op)) {
                prop_assert!(h.start <= h.end && h.end as usize <= buf.len(), "{h:?}");
            }
        }
        prop_assert_eq!(with_state, run(p, buf), "state leaked across packets");
    }
    Ok(())
}

/// Random programs over the packets of one flow: no panic (debug builds trap overflow), hits
/// inside the buffer, and the state carried from earlier packets never changes a verdict.
#[test]
fn random_programs_over_random_flows() {
    let flows = (
        proptest::collection::vec(insn_s(), 1..8),
        proptest::collection::vec(payload_s(), 1..6),
    );
    runner()
        .run(&flows, |(ops, packets)| flow_holds(&prog(ops), &packets))
        .unwrap();
}

/// Programs with a `base64_decode` over base64-ish payloads: no panic, the path's payload
/// hits inside the buffer, no state carried across packets.
#[test]
fn random_programs_with_a_base64_decode() {
    let b64ish = proptest::collection::vec(
        prop_oneof![
            b'A'..=b'Z',
            b'a'..=b'z',
            Just(b'='),
            Just(b'+'),
            Just(b'\n'),
            any::<u8>()
        ],
        0..64,
    );
    let content = (
        proptest::collection::vec(prop_oneof![Just(b'a'), Just(0xffu8), Just(b'1')], 1..3),
        position_s(),
        any::<bool>(),
    )
        .prop_map(|(pattern, position, negated)| content(&pattern, position, negated));
    let data = proptest::collection::vec(
        prop_oneof![2 => content, 1 => byte_test_s().prop_map(Insn::ByteTest)],
        1..4,
    );
    let input = (
        proptest::collection::vec(insn_s(), 0..3),
        (
            prop_oneof![Just(None), (1u32..20).prop_map(Some)],
            0u32..8,
            any::<bool>(),
        ),
        data,
        proptest::collection::vec(b64ish, 1..4),
    );
    runner()
        .run(&input, |(ops, decode, data, packets)| {
            flow_holds(&prog(with_decode(ops, decode, data)), &packets)
        })
        .unwrap();
}

/// The checked i64 position arithmetic gives exactly what unbounded arithmetic gives.
#[test]
fn position_arithmetic_matches_the_i128_model() {
    let vars_s = proptest::array::uniform8(edgy_i64().prop_map(|v| v.max(0)));
    let input = (
        byte_jump_s(),
        isdataat_s(),
        position_s(),
        any::<bool>(),
        1usize..4,
        payload_s(),
        0usize..64,
        vars_s,
    );
    runner()
        .run(&input, |(j, d, pos, ends, plen, buf, cursor, vars)| {
            let cursor = cursor.min(buf.len());
            prop_assert_eq!(
                byte_jump(&j, &buf, cursor, &vars),
                model_byte_jump(&j, &buf, cursor, &vars),
                "{:?}",
                j
            );
            prop_assert_eq!(
                isdataat_present(&d, buf.len() as i64, cursor, &vars),
                model_isdataat(&d, buf.len(), cursor, &vars),
                "{:?}",
                d
            );
            prop_assert_eq!(
                window(pos, ends, cursor, buf.len(), plen, &vars),
                model_window(pos, ends, cursor, buf.len(), plen, &vars),
                "{:?}",
                pos
            );
            Ok(())
        })
        .unwrap();
}
