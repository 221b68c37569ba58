//! Hand-built IR for the back-end tests (independent of the parser); nft's tests include
//! this file too.
#![allow(dead_code)]

use verdict_compiler::ir::*;

/// A rule with `any` everywhere and no options.
pub fn rule(sid: u32, action: Action, proto: Protocol) -> Rule {
    Rule {
        action,
        proto,
        src: IpSet::any(),
        src_ports: PortSet::full(),
        direction: Direction::To,
        dst: IpSet::any(),
        dst_ports: PortSet::full(),
        meta: Meta {
            sid: Sid(sid),
            gid: Gid(1),
            rev: 1,
            msg: format!("test rule {sid}"),
            classtype: None,
            priority: None,
            references: vec![],
            metadata: vec![],
            target: None,
            alert: false,
        },
        header: vec![],
        payload: vec![],
        flow: FlowOpts::default(),
        flowbits: vec![],
        threshold: None,
        detection_filter: None,
        block: None,
        vars: vec![],
        transforms: vec![],
        tx_dirs: vec![],
        state: vec![],
        tags: vec![],
        origin: Origin {
            file: "test".into(),
            line: 1,
            commented: false,
        },
    }
}

/// A content at a fixed offset (offset + depth = len) in the payload.
pub fn fixed(pattern: &[u8], offset: i64, nocase: bool, negated: bool) -> PayloadTest {
    content(ContentSpec {
        negated,
        nocase,
        position: Position::Absolute {
            offset: Operand::Lit(offset),
            depth: Some(Operand::Lit(pattern.len() as i64)),
        },
        ..spec(pattern)
    })
}

/// An unanchored content.
pub fn anywhere(pattern: &[u8], nocase: bool) -> PayloadTest {
    content(ContentSpec {
        nocase,
        ..spec(pattern)
    })
}

/// An IPv4 prefix set (v6 empty).
pub fn v4(prefixes: &[(u32, u8)]) -> IpSet {
    let ranges = prefixes
        .iter()
        .map(|&(a, l)| {
            let host = if l == 0 {
                u32::MAX
            } else {
                (1u32 << (32 - l)).wrapping_sub(1)
            };
            (a, a | host)
        })
        .collect();
    IpSet {
        v4: RangeSet::from_ranges(ranges),
        v6: RangeSet::empty(),
    }
}

/// A content with explicit spec fields.
pub fn content(spec: ContentSpec) -> PayloadTest {
    PayloadTest::Content(Content::new(spec).expect("valid content"))
}

/// A default content spec (unanchored, payload buffer).
pub fn spec(pattern: &[u8]) -> ContentSpec {
    ContentSpec {
        pattern: pattern.to_vec(),
        negated: false,
        nocase: false,
        position: Position::Absolute {
            offset: Operand::Lit(0),
            depth: None,
        },
        ends_with: false,
        buffer: Buffer::Payload,
        fast_pattern: None,
        replace: None,
    }
}

/// A pcre on the payload.
pub fn pcre(pattern: &str) -> PayloadTest {
    PayloadTest::Pcre(Pcre {
        pattern: pattern.into(),
        caseless: false,
        dotall: false,
        multiline: false,
        extended: false,
        anchored: false,
        dollar_endonly: false,
        ungreedy: false,
        relative: false,
        negated: false,
        buffer: Buffer::Payload,
    })
}
