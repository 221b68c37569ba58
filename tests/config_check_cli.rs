//! `verdict config check`: the shipped config passes; a typo'd key is named with its path and
//! line and fails the check; nothing here needs the kernel.

use std::process::Command;

fn config_check(path: &str) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_verdict"))
        .args(["config", "check", path])
        .output()
        .expect("run verdict");
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_shipped_config_passes() {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/rules/verdict.toml");
    let (code, out, err) = config_check(shipped);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(": ok ("), "{out}");
}

#[test]
fn a_typo_in_a_nested_key_names_the_key_and_line() {
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/rules/verdict.toml"))
            .unwrap();
    // The shipped file with one key misspelt, so the line is somewhere in the middle.
    let line = shipped
        .lines()
        .position(|l| l.starts_with("whitelist_dns"))
        .expect("shipped config has whitelist_dns")
        + 1;
    let broken = shipped.replacen("whitelist_dns", "whitelist_dsn", 1);
    let path =
        std::env::temp_dir().join(format!("verdict-config-check-{}.toml", std::process::id()));
    std::fs::write(&path, broken).unwrap();
    let (code, out, err) = config_check(path.to_str().unwrap());
    let _ = std::fs::remove_file(&path);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(&format!(
            "verdict-config-check-{}.toml:{line}:",
            std::process::id()
        )) && err.contains("unknown key `block.whitelist_dsn`"),
        "{err}"
    );
}

#[test]
fn a_bad_value_fails_too() {
    let path =
        std::env::temp_dir().join(format!("verdict-config-badval-{}.toml", std::process::id()));
    std::fs::write(
        &path,
        "[engine]\nmode = \"ips\"\n\n[metrics]\nlisten = \"not an address\"\n",
    )
    .unwrap();
    let (code, out, err) = config_check(path.to_str().unwrap());
    let _ = std::fs::remove_file(&path);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(":5:") && err.contains("metrics.listen"),
        "{err}"
    );
}

#[test]
fn action_order_and_exception_policies_are_checked_with_their_key() {
    let path = std::env::temp_dir().join(format!("verdict-config-eps-{}.toml", std::process::id()));
    let check = |text: &str| {
        std::fs::write(&path, text).unwrap();
        config_check(path.to_str().unwrap())
    };
    let (code, out, err) = check(
        "[engine]\naction_order = [\"drop\", \"pass\", \"reject\", \"alert\"]\n\
         [exception_policy]\nmaster = \"auto\"\nmidstream = \"pass-flow\"\n",
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = check("[engine]\naction_order = [\"drop\", \"pass\"]\n");
    assert_eq!(code, 1);
    assert!(
        err.contains(":2:") && err.contains("engine.action_order"),
        "{err}"
    );
    let (code, _, err) = check("[exception_policy]\nstream_memcap = \"drop\"\n");
    assert_eq!(code, 1);
    assert!(
        err.contains(":2:") && err.contains("exception_policy.stream_memcap"),
        "{err}"
    );
    // The live engine picks sessions up midstream: a drop policy for them cannot apply.
    let (code, _, err) = check("\n[exception_policy]\nmidstream = \"drop-flow\"\n");
    let _ = std::fs::remove_file(&path);
    assert_eq!(code, 1);
    assert!(
        err.contains(":3:") && err.contains("exception_policy.midstream"),
        "{err}"
    );
}

#[test]
fn a_bad_threshold_file_line_fails_the_check_with_its_line() {
    let dir = std::env::temp_dir().join(format!("verdict-config-check-th-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("verdict.toml");
    std::fs::write(&config, "threshold_file = \"threshold.config\"\n").unwrap();
    let th = dir.join("threshold.config");
    std::fs::write(
        &th,
        "suppress gen_id 1, sig_id 7, track by_src, ip 192.0.2.3\n\
         suppress gen_id 1, sig_id 8, track by_sideways, ip 192.0.2.3\n",
    )
    .unwrap();
    let (code, out, err) = config_check(config.to_str().unwrap());
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(&format!("{}:2:", th.display())) && err.contains("by_sideways"),
        "{err}"
    );
    std::fs::write(
        &th,
        "suppress gen_id 1, sig_id 7, track by_src, ip 192.0.2.3\n",
    )
    .unwrap();
    let (code, out, err) = config_check(config.to_str().unwrap());
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn stream_limits_that_cannot_work_fail_the_check() {
    let dir = std::env::temp_dir().join(format!("verdict-config-check-st-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("verdict.toml");
    std::fs::write(&config, "[engine]\nstream_memcap = 1000\n").unwrap();
    let (code, out, err) = config_check(config.to_str().unwrap());
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("stream_memcap") && err.contains("below"),
        "{err}"
    );
    std::fs::write(
        &config,
        "[engine]\nstream_memcap = 1048576\nstream_max_ooo_bytes = 65536\nstream_max_ooo_segments = 32\n",
    )
    .unwrap();
    let (code, out, err) = config_check(config.to_str().unwrap());
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 0, "{out}{err}");
}
