//! Setup shared by the compiler benches.

#[path = "../../../tests/common/must_run.rs"]
pub mod must_run;

use verdict_compiler::check::Source;

/// The Snort community rule set as one source, or `None` (after printing why) when absent.
pub fn community() -> Option<Vec<Source>> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/rules/snort-community/community.rules"
    );
    let Ok(text) = std::fs::read_to_string(path) else {
        must_run::skip(&format!("{path} not found"));
        return None;
    };
    Some(vec![Source {
        name: "community.rules".into(),
        text,
    }])
}
