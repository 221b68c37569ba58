//! Setup shared by the compiler benches.

#[path = "../../../tests/common/must_run.rs"]
pub mod must_run;

use std::path::PathBuf;
use verdict_compiler::check::Source;

/// `../shared/rules/<rel>` seen from the repository root.
pub fn shared_rules(rel: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/rules")).join(rel)
}

/// The Snort community rule set as one source, or `None` (after printing why) when absent.
#[allow(dead_code)] // the compile bench reads its sets itself, end to end
pub fn community() -> Option<Vec<Source>> {
    let path = shared_rules("snort-community/community.rules");
    let Ok(text) = std::fs::read_to_string(&path) else {
        must_run::skip(&format!("{} not found", path.display()));
        return None;
    };
    Some(vec![Source {
        name: "community.rules".into(),
        text,
    }])
}
