//! Every command that reads `verdict.toml` refuses a typo with the key path and its line,
//! before doing anything else (for `run`: before touching the kernel).

use std::process::Command;

fn verdict(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(args)
        .output()
        .expect("run verdict");
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

struct Dir(std::path::PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("verdict-config-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
    fn file(&self, name: &str, text: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs each command with `cfg` and asserts it fails naming `key` at `FILE:LINE:`.
fn each_command_refuses(d: &Dir, cfg_text: &str, line: u32, key: &str) {
    let cfg = d.file("verdict.toml", cfg_text);
    let rules = d.file(
        "r.rules",
        "alert tcp any any -> any 80 (msg:\"m\"; content:\"x\"; sid:1;)\n",
    );
    let out = d.0.join("out").display().to_string();
    let pcap = d.0.join("none.pcap").display().to_string();
    let commands: [Vec<&str>; 4] = [
        vec!["check", "--config", &cfg, &rules],
        vec!["compile", "--config", &cfg, &rules, "-o", &out],
        vec!["replay", &pcap, "-r", &rules, "--config", &cfg, "-o", &out],
        // No rules given either: even if the config were accepted, run stops before the kernel.
        vec!["run", "--config", &cfg, "--log-dir", &out],
    ];
    let want = format!("{cfg}:{line}:");
    for args in commands {
        let (code, err) = verdict(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(
            err.contains(&want) && err.contains(&format!("unknown key `{key}`")),
            "{args:?} should name `{key}` at {want}: {err}"
        );
    }
}

#[test]
fn a_typo_in_a_table_is_refused_by_every_command() {
    let d = Dir::new("table");
    each_command_refuses(
        &d,
        "disabled = [2]\n[engine]\nmode = \"ids\"\nworker = 2\n[vars]\nHOME_NET = \"any\"\n",
        4,
        "engine.worker",
    );
}

#[test]
fn a_typo_at_the_top_level_is_refused_by_every_command() {
    let d = Dir::new("top");
    each_command_refuses(&d, "log_dir = \"/tmp\"\ndisable = [1]\n", 2, "disable");
}
