//! Snapshots of how the engine runs each fixture rule (prefilter pattern or port group, VM
//! work), so a change of strategy shows up in review. Fixtures are the shared
//! `rules/translate/*.rules`, compiled with every rule in the image (as replay does).

use verdict_compiler::check::{load_str, LoadOptions};
use verdict_compiler::codegen::{compile, CompileOptions};
use verdict_engine::detect::{DetectConfig, Detector};

fn explain(text: &str, name: &str) -> String {
    let (_, loaded) = load_str(name, text, &LoadOptions::default());
    let c = compile(
        &loaded.rules,
        &CompileOptions {
            image_all: true,
            ..Default::default()
        },
    );
    match Detector::new(&c.image, &DetectConfig::default()) {
        Ok(d) => d.explain(),
        Err(e) => format!("load error: {e}\n"),
    }
}

#[test]
fn engine_strategy_snapshots() {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/../snapshots/detect"));
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        insta::glob!("../../rules/translate", "*.rules", |path| {
            let text = std::fs::read_to_string(path).expect("read fixture");
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            insta::assert_snapshot!(explain(&text, &name));
        });
    });
}
