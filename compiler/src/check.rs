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

/// Rules below which [`load`] stays on the calling thread (spawning costs more than it saves).
const PARALLEL_MIN_RULES: usize = 2000;

/// Most threads [`load`] parses and lowers on.
const MAX_THREADS: usize = 8;

/// One logical rule found by the split: its source, where it starts, whether it was commented.
#[derive(Clone, Copy)]
struct Job {
    file: usize,
    chunk: parse::Chunk,
}

/// What parsing and lowering made of one job (`None`: prose after a `#`, not a rule).
type Outcome = Option<Result<crate::lower::Lowered, Vec<Diagnostic>>>;

/// Loads rules from sources: one bad rule never stops the others. Large loads parse and
/// lower on several threads (each rule on its own, with its own variable cache per thread);
/// the results are merged in file order, so the output is the same as on one thread.
pub fn load(sources: &[Source], opts: &LoadOptions) -> Loaded {
    let jobs: Vec<Job> = sources
        .iter()
        .enumerate()
        .flat_map(|(file, src)| {
            parse::split(&src.text, opts.include_commented)
                .into_iter()
                .map(move |chunk| Job { file, chunk })
        })
        .collect();
    let threads = if jobs.len() < PARALLEL_MIN_RULES {
        1
    } else {
        std::thread::available_parallelism()
            .map_or(1, usize::from)
            .min(MAX_THREADS)
    };
    load_jobs(sources, &jobs, opts, threads)
}

/// Parses and lowers the jobs on `threads` threads, then merges.
fn load_jobs(sources: &[Source], jobs: &[Job], opts: &LoadOptions, threads: usize) -> Loaded {
    let outcomes: Vec<Outcome> = if threads <= 1 {
        lower_jobs(sources, jobs, opts)
    } else {
        let per = jobs.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = jobs
                .chunks(per)
                .map(|part| scope.spawn(move || lower_jobs(sources, part, opts)))
                .collect();
            handles
                .into_iter()
                .flat_map(|h| match h.join() {
                    Ok(v) => v,
                    // A panic in the lowering is a bug: surface it as it would on one thread.
                    Err(e) => std::panic::resume_unwind(e),
                })
                .collect()
        })
    };
    merge(sources, jobs, outcomes)
}

/// Parses and lowers a run of jobs (in order) with one lowerer.
fn lower_jobs(sources: &[Source], jobs: &[Job], opts: &LoadOptions) -> Vec<Outcome> {
    let mut lw = Lowerer::new(&opts.vars);
    let mut out = Vec::with_capacity(jobs.len());
    // Line numbers are counted incrementally from the previous job of the same file.
    let mut at: Option<(usize, usize, u32)> = None; // (file, byte position, line)
    for job in jobs {
        let src = &sources[job.file];
        let (from, mut line) = match at {
            Some((f, pos, line)) if f == job.file => (pos, line),
            _ => (0, 1),
        };
        line += src.text.as_bytes()[from..job.chunk.span.start]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u32;
        at = Some((job.file, job.chunk.span.start, line));
        let text = &src.text[job.chunk.span.range()];
        let commented = job.chunk.commented;
        let parsed = parse::parse_rule(text, job.chunk.span.start, job.file, commented);
        if commented && parsed.is_err() && !parse::looks_like_rule(text) {
            // Prose that happens to start with an action word ("# alert on ...").
            out.push(None);
            continue;
        }
        out.push(Some(
            parsed
                .map_err(|d| vec![d])
                .and_then(|ast| lw.lower(&ast, job.file, &src.name, line)),
        ));
    }
    out
}

/// Checks sids across the whole load and counts, in file order.
fn merge(sources: &[Source], jobs: &[Job], outcomes: Vec<Outcome>) -> Loaded {
    let mut rules = Vec::with_capacity(jobs.len());
    let mut diagnostics = Vec::new();
    let mut summary = Summary {
        files: sources.len(),
        ..Summary::default()
    };
    let mut seen: HashMap<(u32, u32), (usize, crate::ast::Span)> =
        HashMap::with_capacity(jobs.len());
    for (job, outcome) in jobs.iter().zip(outcomes) {
        let Some(result) = outcome else {
            continue;
        };
        let (fi, commented) = (job.file, job.chunk.commented);
        summary.rules_parsed += 1;
        if commented {
            summary.commented_parsed += 1;
        }
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
                if commented {
                    summary.commented_ok += 1;
                }
                rules.push(rule);
            }
            Err(mut ds) => {
                summary.with_errors += 1;
                let first = ds.first().map_or("unknown", |d| d.code.slug());
                *summary.by_reason.entry(first.to_string()).or_default() += 1;
                if commented {
                    for d in &mut ds {
                        d.severity = Severity::Warning;
                        d.message = format!("commented-out rule: {}", d.message);
                    }
                }
                diagnostics.extend(ds);
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
    fn parallel_load_equals_one_thread() {
        // Every kind of outcome, spread over files and over the threads' shares: good rules,
        // errors, duplicate sids (also across files and shares), commented rules and prose,
        // continuation lines (line numbers), blank lines.
        let mut sources = Vec::new();
        for f in 0..3 {
            let mut text = String::new();
            for i in 0..1500u32 {
                let sid = if i % 97 == 0 { 7 } else { f * 10_000 + i };
                match i % 7 {
                    0 => text.push_str(&format!(
                        "alert tcp any any -> any 80 (msg:\"a\"; content:\"x{i}\"; sid:{sid};)\n"
                    )),
                    1 => text.push_str(&format!(
                        "# alert udp any any -> any any (msg:\"c\"; sid:{sid};)\n# alert on this\n"
                    )),
                    2 => text.push_str(&format!(
                        "alert tcp any any -> any any (msg:\"bad\"; nosuchkw; sid:{sid};)\n\n"
                    )),
                    3 => text.push_str(&format!(
                        "alert tcp any any -> any any (msg:\"m\"; \\\n  content:\"y\"; sid:{sid};)\n"
                    )),
                    4 => text.push_str(&format!("alert tcp any any -> any any (sid:{sid}\n")),
                    _ => text.push_str(&format!(
                        "drop udp $HOME_NET any -> $EXTERNAL_NET 53 (msg:\"d\"; sid:{sid};)\n"
                    )),
                }
            }
            sources.push(Source {
                name: format!("f{f}.rules"),
                text,
            });
        }
        let opts = LoadOptions {
            include_commented: true,
            ..LoadOptions::default()
        };
        let jobs: Vec<Job> = sources
            .iter()
            .enumerate()
            .flat_map(|(file, src)| {
                parse::split(&src.text, true)
                    .into_iter()
                    .map(move |chunk| Job { file, chunk })
            })
            .collect();
        let one = load_jobs(&sources, &jobs, &opts, 1);
        assert!(one.summary.ok > 1000 && one.summary.with_errors > 1000);
        assert!(one
            .diagnostics
            .iter()
            .any(|d| d.code == Code::DuplicateSid && d.file != d.secondary[0].file));
        for threads in [2, 3, 5] {
            let many = load_jobs(&sources, &jobs, &opts, threads);
            assert_eq!(format!("{many:?}"), format!("{one:?}"), "{threads} threads");
        }
        assert_eq!(format!("{:?}", load(&sources, &opts)), format!("{one:?}"));
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
