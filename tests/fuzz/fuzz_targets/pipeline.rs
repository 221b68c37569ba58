//! A capture file (pcap or pcapng) through the offline pipeline, as `verdict replay` runs it:
//! link layers, decode, IPv4 defragmentation, flow table, stream reassembly, app-layer
//! parsers and the VM, inline (drops and replaces take effect), with the repo's default rules.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};
use verdict_compiler::check::{load_str, LoadOptions};
use verdict_compiler::codegen::{compile, CompileOptions};
use verdict_engine::detect::{DetectConfig, Detector};
use verdict_engine::replay::{ReplayOptions, Replayer};

const RULES: &str = include_str!("../../../rules/default.rules");

fn detector() -> Arc<Detector> {
    static DET: OnceLock<Arc<Detector>> = OnceLock::new();
    DET.get_or_init(|| {
        let (_, loaded) = load_str("default.rules", RULES, &LoadOptions::default());
        let opts = CompileOptions {
            image_all: true,
            ..Default::default()
        };
        let image = compile(&loaded.rules, &opts).image;
        let cfg = DetectConfig {
            inline: true,
            ..Default::default()
        };
        Arc::new(Detector::new(&image, &cfg).expect("the default rules load"))
    })
    .clone()
}

fuzz_target!(|data: &[u8]| {
    // The replayer reads files (chunked, as captures are large): one per process, rewritten
    // for each input.
    static PATH: OnceLock<std::path::PathBuf> = OnceLock::new();
    let path = PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("verdict-fuzz-pipeline-{}.pcap", std::process::id()))
    });
    std::fs::write(path, data).expect("write the capture");
    let mut r = Replayer::new(detector(), None, ReplayOptions::default()).expect("replayer");
    // A corrupt capture is an error, never a panic.
    let _ = r.run_file(path);
    let _ = r.finish();
});
