//! Rule text through the whole front end and back end: parse, lower, classify, compile to
//! nft and bytecode, and load the bytecode into the engine.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verdict_compiler::check::{load_str, LoadOptions};
use verdict_compiler::codegen::{compile, CompileOptions};
use verdict_engine::detect::{DetectConfig, Detector};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (_, loaded) = load_str("fuzz.rules", &text, &LoadOptions::default());
    let opts = CompileOptions {
        image_all: true,
        ..Default::default()
    };
    let c = compile(&loaded.rules, &opts);
    // The engine may refuse an image (a pcre PCRE2 rejects), never panic on one.
    let _ = Detector::new(&c.image, &DetectConfig::default());
});
