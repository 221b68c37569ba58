//! `verdict check` end to end: exit codes, rustc-style location of errors, JSON output,
//! variables from verdict.toml.

mod common;

use std::path::PathBuf;
use std::process::Command;

const COMMUNITY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/rules/snort-community/community.rules"
);

fn verdict(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(args)
        .output()
        .expect("run verdict");
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("verdict-cli-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
    fn file(&self, name: &str, text: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn community_rules_check_clean() {
    let Some(_ran) = common::must_run::require_shared(COMMUNITY, module_path!()) else {
        return;
    };
    let (code, out, err) = verdict(&["check", COMMUNITY]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.contains("rule(s) parsed, ") && out.contains(" 0 with errors"),
        "{out}"
    );
    let (code, out, _) = verdict(&["check", "--include-commented", COMMUNITY]);
    assert_eq!(
        code, 0,
        "problems in commented-out rules are warnings:\n{out}"
    );
    assert!(out.contains("enabled rules: 887/887 ok (100.00%)"), "{out}");
}

#[test]
fn broken_rule_points_at_line_and_column() {
    let dir = Scratch::new("broken");
    let good = "alert tcp any any -> any any (msg:\"ok\"; sid:1;)\n";
    let bad = "alert tcp any any -> any any (msg:\"bad\"; content:\"|0d 0g|\"; sid:2;)\n";
    let f = dir.file("broken.rules", &format!("# a comment\n{good}{bad}"));
    let (code, out, _) = verdict(&["check", "--color", "never", &f]);
    assert_eq!(code, 1, "{out}");
    // Line 3, column of the `g` in `0g`.
    let col = bad.find("0g|").unwrap() + 2;
    assert!(
        out.contains(&format!("{f}:3:{col}")),
        "expected {f}:3:{col} in\n{out}"
    );
    assert!(
        out.contains("error[V0005]: `g` is not a hex digit"),
        "{out}"
    );
    assert!(
        out.contains("2 rule(s) parsed, 1 ok, 1 with errors"),
        "{out}"
    );
    assert!(out.contains("bad-hex"), "{out}");

    let (code, out, _) = verdict(&["check", "--format", "json", &f]);
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let d = &doc["diagnostics"][0];
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(3), Some(col as u64)),
        "{d}"
    );
    assert_eq!(d["reason"], "bad-hex");
    assert_eq!(doc["summary"]["with_errors"], 1);
}

#[test]
fn config_vars_and_directories() {
    let dir = Scratch::new("vars");
    let rules = dir.file(
        "a.rules",
        "alert tcp $DMZ any -> any $WEB (msg:\"dmz\"; sid:7;)\n",
    );
    dir.file("b.txt", "this is not a rules file and is ignored\n");
    let (code, out, _) = verdict(&["check", "--color", "never", &rules]);
    assert_eq!(code, 1);
    assert!(out.contains("undefined variable $DMZ"), "{out}");
    let cfg = dir.file(
        "verdict.toml",
        "[vars]\nDMZ = \"[198.51.100.0/24]\"\nWEB = \"[80,443]\"\n[engine]\nworkers = 2\n",
    );
    let (code, out, _) = verdict(&["check", "--config", &cfg, dir.0.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("checked 1 file(s): 1 rule(s) parsed, 1 ok"),
        "{out}"
    );
    let (code, _, err) = verdict(&["check", "/nonexistent/verdict.rules"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("cannot read /nonexistent/verdict.rules"),
        "{err}"
    );
}
