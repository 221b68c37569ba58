//! Bytecode generation on hand-built IR: instruction order, fast pattern choice, flowbit
//! interning, image round trip.

mod back_util;

use back_util::*;
use verdict_compiler::bytecode::{Insn, RuleSetImage};
use verdict_compiler::codegen::{compile, CompileOptions};
use verdict_compiler::disasm;
use verdict_compiler::ir::*;

fn flowbit(cmd: FlowbitCmd, name: &str) -> Flowbits {
    Flowbits {
        cmd,
        names: vec![name.into()],
        op: BitsOp::All,
        group: None,
    }
}

#[test]
fn ops_are_header_then_flowbit_checks_then_payload_then_effects() {
    let mut r = rule(7, Action::Alert, Protocol::Tcp);
    r.flowbits.push(flowbit(FlowbitCmd::Set, "b"));
    r.payload.push(anywhere(b"GET", false));
    r.flowbits.push(flowbit(FlowbitCmd::IsSet, "a"));
    r.header.push(HeaderTest::Ttl(NumCmp::Lt(3)));
    r.flowbits.push(flowbit(FlowbitCmd::NoAlert, ""));
    let out = compile(&[r], &CompileOptions::default());
    let p = &out.image.programs[0];
    let kinds: Vec<&str> = p
        .ops
        .iter()
        .map(|o| match o {
            Insn::Header(_) => "header",
            Insn::FlowbitsTest { .. } => "flowbits-test",
            Insn::Content { .. } => "content",
            Insn::FlowbitsSet { .. } => "flowbits-set",
            Insn::NoAlert => "noalert",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "header",
            "flowbits-test",
            "content",
            "flowbits-set",
            "noalert"
        ]
    );
    assert_eq!(out.image.flowbits, ["a", "b"]);
}

#[test]
fn fast_pattern_is_explicit_else_longest_positive_payload_content() {
    let mut r = rule(1, Action::Alert, Protocol::Tcp);
    r.payload.push(anywhere(b"short", false));
    r.payload.push(content(ContentSpec {
        negated: true,
        ..spec(b"a much longer negated one")
    }));
    r.payload.push(anywhere(b"longest!", true));
    r.payload.push(content(ContentSpec {
        buffer: Buffer::Raw,
        ..spec(b"raw buffer is longer still")
    }));
    let p = &compile(&[r.clone()], &CompileOptions::default())
        .image
        .programs[0];
    let fp = p.fast_pattern.as_ref().unwrap();
    assert_eq!(fp.bytes, b"longest!");
    assert!(fp.nocase);
    assert_eq!(fp.op_index, 2);
    assert_eq!(p.strategy, "prefilter \"longest!\"/i -> confirm 4 ops");

    r.payload.insert(
        0,
        content(ContentSpec {
            fast_pattern: Some(FastPattern::Only),
            ..spec(b"fp")
        }),
    );
    r.payload.push(pcre("x+"));
    let p = &compile(&[r], &CompileOptions::default()).image.programs[0];
    let fp = p.fast_pattern.as_ref().unwrap();
    assert_eq!(
        (fp.bytes.as_slice(), fp.only, fp.op_index),
        (&b"fp"[..], true, 0)
    );
    assert_eq!(p.strategy, "prefilter \"fp\" -> confirm 5 ops -> pcre");

    let mut h = rule(2, Action::Alert, Protocol::Tcp);
    h.flow.established = Some(true);
    let p = &compile(&[h], &CompileOptions::default()).image.programs[0];
    assert!(p.fast_pattern.is_none());
    assert_eq!(p.strategy, "header 0 ops");
}

#[test]
fn flowbit_names_are_interned_once_across_rules() {
    let mut a = rule(1, Action::Alert, Protocol::Tcp);
    a.flowbits.push(flowbit(FlowbitCmd::Set, "login"));
    let mut b = rule(2, Action::Alert, Protocol::Tcp);
    b.flowbits.push(flowbit(FlowbitCmd::IsSet, "login"));
    let out = compile(&[a, b], &CompileOptions::default());
    assert_eq!(out.image.flowbits, ["login"]);
    let ids: Vec<_> = out
        .image
        .programs
        .iter()
        .flat_map(|p| p.ops.iter())
        .filter_map(|o| match o {
            Insn::FlowbitsSet { bits, .. } | Insn::FlowbitsTest { bits, .. } => Some(bits.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(ids[0], ids[1]);
}

#[test]
fn image_round_trips_and_disassembles() {
    let mut r = rule(3, Action::Drop, Protocol::Tcp);
    r.dst_ports = PortSet::range(80, 80);
    r.flow.established = Some(true);
    r.flow.to_server = Some(true);
    r.payload.push(content(ContentSpec {
        nocase: true,
        ..spec(b"evil\r\n")
    }));
    r.payload.push(pcre("^x"));
    let out = compile(&[r], &CompileOptions::default());
    let bytes = out.image.to_bytes();
    assert_eq!(RuleSetImage::from_bytes(&bytes).unwrap(), out.image);
    let text = disasm::program(&out.image.programs[0]);
    assert_eq!(
        text,
        "program 1:3:1 drop tcp\n  msg       \"test rule 3\"\n  match     any any -> any 80\n  flow      established,to_server\n  prefilter \"evil|0D 0A|\" nocase in payload (op 0)\n  strategy  prefilter \"evil|0D 0A|\"/i -> confirm 2 ops -> pcre\n  0000  content   \"evil|0D 0A|\" offset 0 in payload nocase\n  0001  pcre      /^x/ in payload\n"
    );
}

#[test]
fn every_rule_file_image_round_trips_through_bytes() {
    // bincode reads fields by position: a field the serializer may skip (serde's
    // `skip_serializing_if`) in a bytecode type breaks every image that has it.
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../rules");
    let mut files = 0;
    for dir in ["valid", "translate"] {
        for e in std::fs::read_dir(format!("{root}/{dir}")).unwrap() {
            let path = e.unwrap().path();
            if path.extension().is_none_or(|x| x != "rules") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let (_, loaded) = verdict_compiler::check::load_str(
                path.to_str().unwrap(),
                &text,
                &Default::default(),
            );
            let out = compile(
                &loaded.rules,
                &CompileOptions {
                    image_all: true,
                    ..Default::default()
                },
            );
            let back = RuleSetImage::from_bytes(&out.image.to_bytes());
            assert_eq!(back.as_ref().ok(), Some(&out.image), "{}", path.display());
            files += 1;
        }
    }
    assert!(files > 20, "only {files} rule files found");
}
