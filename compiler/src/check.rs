//! Loading rule files for every subcommand: read sources, split, parse, lower, detect
//! duplicate sids across the whole load, and summarise.

use crate::diag::{Code, Diagnostic, Severity};
use crate::ir;
use crate::lower::Lowerer;
use crate::parse;
use crate::vars::Vars;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::Path;

/// A rule file's name (as given) and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Path as given on the command line (used in diagnostics).
    pub name: String,
    /// The text; invalid UTF-8 is replaced (and reported as binary garbage).
    pub text: String,
}

impl Source {
    /// Reads a file, or every `*.rules` file under a directory (recursively, sorted by path).
    pub fn read(path: &Path) -> io::Result<Vec<Source>> {
        let meta = std::fs::metadata(path)?;
        if meta.is_dir() {
            let mut files = Vec::new();
            collect_rules(path, &mut files)?;
            files.sort();
            files.iter().map(|f| Self::read_file(f)).collect()
        } else {
            Ok(vec![Self::read_file(path)?])
        }
    }

    fn read_file(path: &Path) -> io::Result<Source> {
        let bytes = std::fs::read(path)?;
        let text = match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        Ok(Source {
            name: path.display().to_string(),
            text,
        })
    }
}

fn collect_rules(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        if p.is_dir() {
            collect_rules(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "rules") {
            out.push(p);
        }
    }
    Ok(())
}

/// How to load rules.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Also parse commented-out rules (`# alert ...`); their problems are warnings and
    /// they are returned with `origin.commented = true`.
    pub include_commented: bool,
    /// Variables for `$HOME_NET` etc.
    pub vars: Vars,
}

/// Counts for the summary line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Files read.
    pub files: usize,
    /// Rules found (enabled, plus commented ones when asked).
    pub rules_parsed: usize,
    /// Rules that lowered to IR.
    pub ok: usize,
    /// Rules rejected with at least one error.
    pub with_errors: usize,
    /// Rejected rules by the code of their first problem.
    pub by_reason: BTreeMap<String, usize>,
    /// Commented-out rules parsed (with `include_commented`).
    pub commented_parsed: usize,
    /// Of those, how many lowered.
    pub commented_ok: usize,
}

impl Summary {
    /// Enabled rules found.
    pub fn enabled(&self) -> usize {
        self.rules_parsed - self.commented_parsed
    }
    /// Enabled rules that lowered.
    pub fn enabled_ok(&self) -> usize {
        self.ok - self.commented_ok
    }
}

/// The result of a load.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Rules that lowered without error, in file order.
    pub rules: Vec<ir::Rule>,
    /// Every problem found (errors for enabled rules, warnings for commented ones).
    pub diagnostics: Vec<Diagnostic>,
    /// Counts.
    pub summary: Summary,
}

impl Loaded {
    /// True if any diagnostic is an error (the exit code of `verdict check`).
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

/// Loads rules from sources: one bad rule never stops the others.
pub fn load(sources: &[Source], opts: &LoadOptions) -> Loaded {
    let mut lw = Lowerer::new(&opts.vars);
    let mut rules = Vec::new();
    let mut diagnostics = Vec::new();
    let mut summary = Summary {
        files: sources.len(),
        ..Summary::default()
    };
    let mut seen: HashMap<(u32, u32), (usize, crate::ast::Span)> = HashMap::new();
    for (fi, src) in sources.iter().enumerate() {
        let mut line = 1u32;
        let mut line_pos = 0usize;
        let chunks = parse::split(&src.text, opts.include_commented);
        rules.reserve(chunks.len());
        seen.reserve(chunks.len());
        for chunk in chunks {
            line += src.text.as_bytes()[line_pos..chunk.span.start]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u32;
            line_pos = chunk.span.start;
            let text = &src.text[chunk.span.range()];
            let parsed = parse::parse_rule(text, chunk.span.start, fi, chunk.commented);
            if chunk.commented && parsed.is_err() && !parse::looks_like_rule(text) {
                // Prose that happens to start with an action word ("# alert on ...").
                continue;
            }
            summary.rules_parsed += 1;
            if chunk.commented {
                summary.commented_parsed += 1;
            }
            let result = parsed
                .map_err(|d| vec![d])
                .and_then(|ast| lw.lower(&ast, fi, &src.name, line));
            let result = result.and_then(|l| {
                let key = (l.rule.meta.gid.0, l.rule.meta.sid.0);
                match seen.get(&key) {
                    Some(&(ff, fs)) => Err(vec![Diagnostic::new(
                        Code::DuplicateSid,
                        fi,
                        l.sid_span,
                        format!("duplicate sid {}:{} (gid:sid)", key.0, key.1),
                    )
                    .label("used again here")
                    .also(ff, fs, "first used here")
                    .help("give each rule its own sid; bump rev when you change a rule")]),
                    None => {
                        seen.insert(key, (fi, l.sid_span));
                        Ok(l.rule)
                    }
                }
            });
            match result {
                Ok(rule) => {
                    summary.ok += 1;
                    if chunk.commented {
                        summary.commented_ok += 1;
                    }
                    rules.push(rule);
                }
                Err(mut ds) => {
                    summary.with_errors += 1;
                    let first = ds.first().map_or("unknown", |d| d.code.slug());
                    *summary.by_reason.entry(first.to_string()).or_default() += 1;
                    if chunk.commented {
                        for d in &mut ds {
                            d.severity = Severity::Warning;
                            d.message = format!("commented-out rule: {}", d.message);
                        }
                    }
                    diagnostics.extend(ds);
                }
            }
        }
    }
    Loaded {
        rules,
        diagnostics,
        summary,
    }
}

/// Loads rule text given as a string (tests, tools).
pub fn load_str(name: &str, text: &str, opts: &LoadOptions) -> (Vec<Source>, Loaded) {
    let sources = vec![Source {
        name: name.to_string(),
        text: text.to_string(),
    }];
    let loaded = load(&sources, opts);
    (sources, loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commented_rules_prose_and_warnings() {
        let text = "# alert the admin when this fires, then drop it\n\
                    # alert tcp any any -> any any (msg:\"off\"; sid:1;)\n\
                    # alert tcp any any -> any any (msg:\"broken\"; sid:;)\n\
                    alert tcp any any -> any any (msg:\"on\"; sid:2;)\n";
        let (_, without) = load_str("t.rules", text, &LoadOptions::default());
        assert_eq!((without.summary.rules_parsed, without.rules.len()), (1, 1));
        let opts = LoadOptions {
            include_commented: true,
            ..LoadOptions::default()
        };
        let (_, with) = load_str("t.rules", text, &opts);
        let s = &with.summary;
        assert_eq!(
            (s.rules_parsed, s.commented_parsed, s.commented_ok, s.ok),
            (3, 2, 1, 2)
        );
        assert!(with.rules[0].origin.commented && with.rules[0].origin.line == 2);
        assert_eq!(with.diagnostics.len(), 1);
        assert_eq!(with.diagnostics[0].severity, Severity::Warning);
        assert!(!with.has_errors());
    }

    #[test]
    fn duplicate_sids_across_files_point_at_both() {
        let a = Source {
            name: "a.rules".into(),
            text: "alert tcp any any -> any any (sid:5;)\n".into(),
        };
        let b = Source {
            name: "b.rules".into(),
            text: "\nalert udp any any -> any any (sid:5;)\n".into(),
        };
        let l = load(&[a, b], &LoadOptions::default());
        assert_eq!(l.rules.len(), 1);
        let d = &l.diagnostics[0];
        assert_eq!(
            (d.code, d.file, d.secondary[0].file),
            (Code::DuplicateSid, 1, 0)
        );
    }
}
