//! Snapshot per keyword class: each rule of `rules/translate/*.rules` → its fate (with the
//! reason), the nft rules it becomes, the xt string rules (`--xt-string`), and the bytecode
//! disassembly. Review changes to `snapshots/back/` like code.

use verdict_compiler::check::{self, LoadOptions};
use verdict_compiler::classify::{classify, Decision};
use verdict_compiler::codegen::{compile_in, CompileOptions};
use verdict_compiler::kernel::SetContext;
use verdict_compiler::{diag, disasm};
use verdict_nft::lists::ListSets;
use verdict_nft::render::{rule_lines, xt_string_review, QueueMechanism, RenderOptions};

fn translate(text: &str, name: &str) -> String {
    let (sources, loaded) = check::load_str(name, text, &LoadOptions::default());
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    if !loaded.diagnostics.is_empty() {
        out.push_str("## diagnostics\n");
        out.push_str(&diag::render(&loaded.diagnostics, &sources, false));
        out.push('\n');
    }
    let opts = CompileOptions {
        xt_string: true,
        image_all: true,
        ..Default::default()
    };
    let ropts = RenderOptions {
        queue: QueueMechanism::XtNfqueue,
        xt_string: true,
        ..Default::default()
    };
    let ctx = SetContext::of(&loaded.rules);
    for rule in &loaded.rules {
        let line = rule.origin.line as usize;
        let comment = lines[..line - 1]
            .iter()
            .rev()
            .take_while(|l| l.starts_with('#'))
            .next()
            .map(|l| l.trim_start_matches('#').trim())
            .unwrap_or("");
        out.push_str(&format!("## line {line}: {comment}\n"));
        out.push_str(lines[line - 1]);
        out.push('\n');
        let fate = match classify(rule, opts.caps, true, &ctx) {
            Decision::Kernel(_) => "kernel".to_string(),
            Decision::Queue(r) => format!("queue ({r})"),
            Decision::Rejected(r) => format!("rejected ({r})"),
        };
        let c = compile_in(std::slice::from_ref(rule), &opts, &ctx);
        let xt = xt_string_review(
            &c.kernel,
            &RenderOptions {
                queue: QueueMechanism::NftQueue,
                ..ropts
            },
        );
        let fate = match verdict_compiler::kernel::lower_xt_string(rule, opts.caps) {
            _ if !xt.is_empty() => format!("kernel via --xt-string (else {fate})"),
            Err(why) if fate.contains(verdict_compiler::kernel::UNANCHORED) => {
                format!("{fate}; --xt-string: {why}")
            }
            _ => fate,
        };
        out.push_str(&format!("fate: {fate}\n"));
        for l in ListSets::of(&c.kernel).text().lines() {
            out.push_str(&format!("set: {}\n", l.trim()));
        }
        for l in rule_lines(&c.kernel, &ropts) {
            out.push_str(&format!("nft: {l}\n"));
        }
        for l in xt {
            out.push_str(&format!("xt: {l}\n"));
        }
        for p in &c.image.programs {
            out.push_str(&disasm::program(p));
        }
        out.push('\n');
    }
    out
}

#[test]
fn translation_snapshots() {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/../snapshots/back"));
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        insta::glob!("../../rules/translate", "*.rules", |path| {
            let text = std::fs::read_to_string(path).expect("read fixture");
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            insta::assert_snapshot!(translate(&text, &name));
        });
    });
}
