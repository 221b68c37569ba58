//! Shared helpers for the kernel tests: network namespaces with a Drop guard, hand-built IR.
#![allow(dead_code)]

use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use verdict_compiler::ir::*;

/// True when running as root (kernel tests need it).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc_geteuid() == 0 }
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// Skips the calling test with a printed reason unless root with `ip` and `nft`.
#[macro_export]
macro_rules! require_root {
    () => {
        if !common::is_root() {
            eprintln!("skipped: needs root for network namespaces and nft");
            return;
        }
    };
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A network namespace deleted on drop (also on panic).
pub struct Netns {
    /// its name
    pub name: String,
}

impl Netns {
    /// Creates a uniquely named namespace.
    pub fn new(tag: &str) -> Netns {
        let name = format!(
            "vt-{tag}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let st = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("run ip");
        assert!(st.success(), "ip netns add {name} failed");
        Netns { name }
    }
    /// Runs a command inside the namespace.
    pub fn exec(&self, argv: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(argv)
            .output()
            .expect("run ip netns exec")
    }
    /// Runs a command inside the namespace and asserts success; returns stdout.
    pub fn ok(&self, argv: &[&str]) -> String {
        let o = self.exec(argv);
        assert!(
            o.status.success(),
            "{:?} failed in {}: {}{}",
            argv,
            self.name,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
    /// `nft -c -f FILE` (or `-j` for JSON) with the given text; Ok or the error output.
    pub fn nft_check(&self, text: &str, json: bool) -> Result<(), String> {
        self.nft_file(text, json, true)
    }
    /// `nft -f FILE`.
    pub fn nft_load(&self, text: &str, json: bool) -> Result<(), String> {
        self.nft_file(text, json, false)
    }
    fn nft_file(&self, text: &str, json: bool, check: bool) -> Result<(), String> {
        let path = std::env::temp_dir().join(format!(
            "{}-{}.{}",
            self.name,
            COUNTER.fetch_add(1, Ordering::SeqCst),
            if json { "json" } else { "nft" }
        ));
        std::fs::write(&path, text).expect("write script");
        let p = path.to_string_lossy().into_owned();
        let mut argv = vec!["nft"];
        if json {
            argv.push("-j");
        }
        if check {
            argv.push("-c");
        }
        argv.extend(["-f", &p]);
        let o = self.exec(&argv);
        let _ = std::fs::remove_file(&path);
        if o.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&o.stderr).into_owned())
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

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
        },
        header: vec![],
        payload: vec![],
        flow: FlowOpts::default(),
        flowbits: vec![],
        threshold: None,
        detection_filter: None,
        block: None,
        vars: vec![],
        origin: Origin {
            file: "test".into(),
            line: 1,
            commented: false,
        },
    }
}

/// A content at a fixed offset (offset + depth = len) in the payload.
pub fn fixed(pattern: &[u8], offset: i64, nocase: bool, negated: bool) -> PayloadTest {
    PayloadTest::Content(
        Content::new(ContentSpec {
            pattern: pattern.to_vec(),
            negated,
            nocase,
            position: Position::Absolute {
                offset: Operand::Lit(offset),
                depth: Some(Operand::Lit(pattern.len() as i64)),
            },
            buffer: Buffer::Payload,
            fast_pattern: None,
            replace: None,
        })
        .expect("valid content"),
    )
}

/// An unanchored content.
pub fn anywhere(pattern: &[u8], nocase: bool) -> PayloadTest {
    PayloadTest::Content(
        Content::new(ContentSpec {
            pattern: pattern.to_vec(),
            negated: false,
            nocase,
            position: Position::Absolute {
                offset: Operand::Lit(0),
                depth: None,
            },
            buffer: Buffer::Payload,
            fast_pattern: None,
            replace: None,
        })
        .expect("valid content"),
    )
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
