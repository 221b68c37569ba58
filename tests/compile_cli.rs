//! `verdict compile` end to end: the shipped default rule set compiles, every output file is
//! written, the report adds up, and the script loads in a scratch netns (as root). Bad input
//! gives a precise error and a non-zero exit, never a script.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

fn verdict() -> Command {
    Command::new(env!("CARGO_BIN_EXE_verdict"))
}

fn out_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("verdict-compile-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// `verdict compile ARGS rules/default.rules -o OUT`.
fn compile_default(args: &[&str], out: &Path) -> std::process::Output {
    verdict()
        .arg("compile")
        .args(args)
        .arg(root().join("rules/default.rules"))
        .arg("-o")
        .arg(out)
        .output()
        .unwrap()
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn default_rules_compile_to_every_output() {
    let out = out_dir("default");
    let o = compile_default(&["--queues", "0:1"], &out);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("verdict compile report"), "{stdout}");
    for f in [
        "verdict.nft",
        "verdict.json",
        "rules.vbc",
        "report.txt",
        "report.json",
        "xt.sh",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let f = &report["fates"];
    let total = f["kernel"].as_u64().unwrap()
        + f["queue"].as_u64().unwrap()
        + f["rejected"].as_u64().unwrap();
    let rules = std::fs::read_to_string(root().join("rules/default.rules")).unwrap();
    let n = rules
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .count();
    assert_eq!(total as usize, n, "every rule has exactly one fate");
    assert!(f["kernel"].as_u64().unwrap() >= 10, "{report}");
    assert_eq!(report["queue_mechanism"], "xt NFQUEUE (iptables-nft)");
    let image = std::fs::read(out.join("rules.vbc")).unwrap();
    let image = verdict_compiler_image(&image);
    assert_eq!(image as u64, f["queue"].as_u64().unwrap());
    let xt = std::fs::read_to_string(out.join("xt.sh")).unwrap();
    assert!(xt.contains("--queue-balance 0:1 --queue-bypass"), "{xt}");
    // --explain prints the fate, the nft rule and the program
    let o = compile_default(&["--quiet", "--explain", "9000012"], &out);
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("fate: kernel\n"), "{s}");
    assert!(
        s.contains("nft: ") && s.contains("@ih,0,32 == 0x1700032a"),
        "{s}"
    );
    let o = compile_default(&["--quiet", "--explain", "9000017"], &out);
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(
        s.contains("fate: queue (reject to both ends needs the engine)"),
        "{s}"
    );
    assert!(
        s.contains("strategy  prefilter \"${jndi:\"/i -> confirm 2 ops -> pcre"),
        "{s}"
    );
    // flow via conntrack, and the switch that keeps it queued
    let o = compile_default(&["--quiet", "--explain", "9000019"], &out);
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("fate: kernel\n"), "{s}");
    assert!(
        s.contains("ct state established ct direction original tcp flags & 0x06 == 0x00"),
        "{s}"
    );
    let o = compile_default(
        &["--quiet", "--flow-in-queue", "--explain", "9000019"],
        &out,
    );
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(
        s.contains("fate: queue (flow state needs the engine ([kernel] flow = \"queue\"))"),
        "{s}"
    );

    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn compiled_scripts_pass_nft_check_in_a_netns() {
    require_netns!();
    let out = out_dir("nft-check");
    let o = compile_default(&["--quiet", "--queues", "0:1"], &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let guard = Netns::new(format!("vt-cli-{}", std::process::id()));
    let ns = guard.0.clone();
    let check = Command::new("ip")
        .args(["netns", "exec", &ns, "nft", "-c", "-f"])
        .arg(out.join("verdict.nft"))
        .output()
        .unwrap();
    let check_json = Command::new("ip")
        .args(["netns", "exec", &ns, "nft", "-j", "-c", "-f"])
        .arg(out.join("verdict.json"))
        .output()
        .unwrap();
    drop(guard);
    let _ = std::fs::remove_dir_all(&out);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(
        check_json.status.success(),
        "{}",
        String::from_utf8_lossy(&check_json.stderr)
    );
}

/// A network namespace removed on drop, also when an assertion panics.
struct Netns(String);

impl Netns {
    fn new(name: String) -> Netns {
        assert!(Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .unwrap()
            .success());
        Netns(name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Number of programs in a serialized image.
fn verdict_compiler_image(bytes: &[u8]) -> usize {
    // The binary crate has no library; read the image through the shared crate.
    verdict_compiler::bytecode::RuleSetImage::from_bytes(bytes)
        .unwrap()
        .programs
        .len()
}

#[test]
fn nothing_loadable_is_an_error_and_writes_no_script() {
    let out = out_dir("bad");
    let bad = std::env::temp_dir().join(format!("verdict-bad-{}.rules", std::process::id()));
    std::fs::write(
        &bad,
        "alert tcp any any -> any 80 (msg:\"x\"; content:; sid:1;)\nthis is not a rule\n",
    )
    .unwrap();
    let o = verdict()
        .arg("compile")
        .arg(&bad)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no rule could be loaded"), "{stderr}");
    assert!(!out.join("verdict.nft").exists());
    let o = verdict()
        .args(["compile", "/nonexistent/rules", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/rules"));
    let _ = std::fs::remove_file(&bad);
}

/// fwsnort itself translates the community set, and the report's comparison accounts for
/// every rule fwsnort put in iptables: in both, or fwsnort only with verdict's reason.
#[test]
fn the_report_compares_the_split_with_real_fwsnort() {
    let community = root().join("../shared/rules/snort-community/community.rules");
    let Some(_ran) = common::must_run::require_shared(&community, module_path!()) else {
        return;
    };
    let Some(fwsnort) = ["/usr/sbin/fwsnort", "/usr/bin/fwsnort"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())
    else {
        common::must_run::skip("fwsnort is not installed (apt-get install fwsnort)");
        return;
    };
    let out = out_dir("fwsnort");
    std::fs::create_dir_all(&out).unwrap();
    let script = out.join("fwsnort.sh");
    let o = Command::new(fwsnort)
        .arg(format!("--snort-rfile={}", community.display()))
        .arg(format!("--ipt-script={}", script.display()))
        .arg(format!("--logfile={}", out.join("fwsnort.log").display()))
        .args(["--no-ipt-test", "--no-addresses"])
        .current_dir(&out)
        .output()
        .unwrap();
    assert!(
        o.status.success() && script.exists(),
        "fwsnort failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    // fwsnort's own count: "Generated iptables rules for 446 out of 887 signatures".
    let summary = String::from_utf8_lossy(&o.stdout).into_owned();
    let translated: u64 = summary
        .split("Generated iptables rules for ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in fwsnort's summary: {summary}"));
    let o = verdict()
        .arg("compile")
        .args(["--xt-string", "-q", "--compare-fwsnort"])
        .arg(&script)
        .arg(&community)
        .arg("-o")
        .arg(out.join("v"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("v/report.json")).unwrap()).unwrap();
    let f = &report["fwsnort"];
    let n = |k: &str| f[k].as_u64().unwrap_or_else(|| panic!("{k} in {f}"));
    let only: u64 = f["fwsnort_only"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert!(n("fwsnort") > 100, "{f}");
    assert_eq!(n("fwsnort"), translated, "{f}");
    assert_eq!(n("both") + only + n("not_loaded"), n("fwsnort"), "{f}");
    assert_eq!(n("both") + n("verdict_only"), n("verdict"), "{f}");
    assert_eq!(n("verdict"), report["fates"]["kernel"].as_u64().unwrap());
    // fwsnort searches the whole packet for HTTP-buffer contents; verdict keeps those.
    assert!(
        f["fwsnort_only"]["content in a non-payload buffer needs the engine"]
            .as_u64()
            .is_some_and(|v| v > 0),
        "{f}"
    );
    let table = std::fs::read_to_string(out.join("v/report.txt")).unwrap();
    assert!(
        table.contains("fwsnort comparison: fwsnort puts"),
        "{table}"
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_file_that_is_not_fwsnort_output_is_refused() {
    let out = out_dir("notfwsnort");
    std::fs::create_dir_all(&out).unwrap();
    let bogus = out.join("bogus.sh");
    std::fs::write(&bogus, "#!/bin/sh\necho hello\n").unwrap();
    let o = compile_default(
        &["--compare-fwsnort", bogus.to_str().unwrap()],
        &out.join("v"),
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no rule in it names a sid"), "{err}");
    let _ = std::fs::remove_dir_all(&out);
}

/// `--xt-string` with `--explain`: a rule taken as xt string matches shows them (exact
/// windows in the shortest-header chain, and how many other header lengths hold copies); one
/// the string form cannot keep says why; the report counts the mode's rules.
#[test]
fn xt_string_explain_shows_the_string_rules_and_why_others_stay_queued() {
    let out = out_dir("xtexplain");
    std::fs::create_dir_all(&out).unwrap();
    let rules = out.join("xt.rules");
    std::fs::write(
        &rules,
        "alert tcp $HOME_NET 1433 -> $EXTERNAL_NET any (msg:\"sa\"; flow:to_client,established; content:\"Login failed\"; content:\"'sa'\"; distance:0; within:4; sid:9100001; rev:1;)\n\
         alert tcp any any -> any 80 (msg:\"gap\"; content:\"GET\"; content:\"admin\"; distance:4; within:9; sid:9100002; rev:1;)\n",
    )
    .unwrap();
    let run = |sid: &str| {
        let o = verdict()
            .args(["compile", "--xt-string", "--explain", sid])
            .arg(&rules)
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let s = run("9100001");
    assert!(s.contains("fate: kernel via --xt-string"), "{s}");
    assert!(
        s.contains("xt: iptables-nft -w -A VERDICT-TCP-40 -s 10.0.0.0/8,172.16.0.0/12,192.168.0.0/16 -p tcp -m multiport --sports 1433 -m u32 ! --u32 16="),
        "{s}"
    );
    // "Login failed" then "'sa'" right after it: one pattern.
    assert!(
        s.contains("--hex-string |4c6f67696e206661696c65642773612"),
        "{s}"
    );
    assert!(
        s.contains("xt: # and in 20 more iptables-nft tcp chains"),
        "{s}"
    );
    let s = run("9100002");
    assert!(
        s.contains("fate: queue (unanchored content needs the engine; --xt-string: relative content the kernel cannot order)"),
        "{s}"
    );
    let report = std::fs::read_to_string(out.join("report.txt")).unwrap();
    assert!(
        report.contains("xt-string: 1 rules as 1 xt rules"),
        "{report}"
    );
    assert!(
        report.contains("1  relative content the kernel cannot order"),
        "{report}"
    );
    let _ = std::fs::remove_dir_all(&out);
}
