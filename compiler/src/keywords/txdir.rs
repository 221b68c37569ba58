//! Transactional rules (`=>`, Suricata 8): one rule over both directions of one app-layer
//! transaction — request keywords on the request, response keywords on the response.
//!
//! Buffers that exist on both sides (HTTP headers, `http.connection`, `file.data`, the TLS
//! random, …) are ambiguous in such a rule. A sticky buffer keyword takes `to_server` or
//! `to_client` (`http.connection: to_client;`) to say which side it reads, and that side
//! stays in force for the ambiguous buffers after it until the other is named, as
//! Suricata's parser keeps its "force" flag. Before any, an ambiguous buffer reads the
//! request, the side a transaction starts with.

use crate::diag::Code;
use crate::ir::{Buffer, TxDirSelection};
use crate::keywords::KwError;

/// The side selections of one rule while it is lowered.
#[derive(Debug, Default)]
pub struct TxDirs {
    /// The rule is `=>`.
    transactional: bool,
    /// The side named last by a `to_server`/`to_client` argument (true: to_server).
    force: Option<bool>,
    /// (buffer, to_server, index of the selection's first payload test), in rule order.
    selections: Vec<(Buffer, bool, u32)>,
}

impl TxDirs {
    /// Side selections for a rule whose header has `=>` (`transactional`) or not.
    pub fn new(transactional: bool) -> TxDirs {
        TxDirs {
            transactional,
            ..TxDirs::default()
        }
    }

    /// A sticky buffer keyword selected `b` with argument `arg` (`to_server`/`to_client`, or
    /// none); the rule has `tests` payload tests so far.
    pub fn select(&mut self, b: Buffer, arg: Option<&str>, tests: usize) -> Result<(), KwError> {
        if let Some(a) = arg {
            let to_server = match a.trim() {
                "to_server" | "toserver" => true,
                "to_client" | "toclient" => false,
                other => {
                    return Err(KwError::code(
                        Code::BadValue,
                        format!("expected `to_server` or `to_client`, not `{other}`"),
                    ))
                }
            };
            if !self.transactional {
                return Err(KwError::code(
                    Code::BadValue,
                    "a direction on a buffer keyword needs a transactional rule (`=>` in the header)",
                )
                .help("with `->` the direction of the packet decides; write `flow:to_client` instead"));
            }
            if let Some(fixed) = b.tx_side() {
                if fixed != to_server {
                    return Err(KwError::code(
                        Code::Conflict,
                        format!(
                            "this buffer only exists {}",
                            if fixed {
                                "in the request"
                            } else {
                                "in the response"
                            }
                        ),
                    ));
                }
            }
            self.force = Some(to_server);
        }
        if self.transactional {
            let side = b.tx_side().unwrap_or(self.force.unwrap_or(true));
            let tests = u32::try_from(tests).unwrap_or(u32::MAX);
            self.selections.push((b, side, tests));
        }
        Ok(())
    }

    /// The rule's side selections of ambiguous buffers; a rule with `tests` payload tests in
    /// all.
    pub fn finish(self, tests: usize) -> Vec<TxDirSelection> {
        let total = u32::try_from(tests).unwrap_or(u32::MAX);
        let ends: Vec<u32> = self
            .selections
            .iter()
            .skip(1)
            .map(|s| s.2)
            .chain(std::iter::once(total))
            .collect();
        self.selections
            .into_iter()
            .zip(ends)
            .filter(|((b, _, start), end)| b.two_sided() && start < end)
            .map(|((buffer, to_server, start), end)| TxDirSelection {
                buffer,
                to_server,
                tests: start..end,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::AppBuffer as A;

    #[test]
    fn ambiguous_buffers_read_the_request_until_a_side_is_named() {
        let mut d = TxDirs::new(true);
        d.select(Buffer::App(A::HttpUri), None, 0).unwrap();
        d.select(Buffer::App(A::HttpConnection), None, 1).unwrap();
        d.select(Buffer::App(A::HttpConnection), Some("to_client"), 2)
            .unwrap();
        d.select(Buffer::App(A::HttpStatCode), None, 3).unwrap();
        d.select(Buffer::App(A::HttpHeader), None, 4).unwrap();
        let s = d.finish(5);
        assert_eq!(
            s,
            vec![
                TxDirSelection {
                    buffer: Buffer::App(A::HttpConnection),
                    to_server: true,
                    tests: 1..2
                },
                TxDirSelection {
                    buffer: Buffer::App(A::HttpConnection),
                    to_server: false,
                    tests: 2..3
                },
                TxDirSelection {
                    buffer: Buffer::App(A::HttpHeader),
                    to_server: false,
                    tests: 4..5
                },
            ]
        );
    }

    #[test]
    fn a_side_needs_a_transactional_rule_and_must_fit_the_buffer() {
        let mut d = TxDirs::new(false);
        assert!(d
            .select(Buffer::App(A::HttpConnection), Some("to_client"), 0)
            .is_err());
        let mut d = TxDirs::new(true);
        assert!(d
            .select(Buffer::App(A::HttpUri), Some("to_client"), 0)
            .is_err());
        assert!(d
            .select(Buffer::App(A::HttpUri), Some("to_server"), 0)
            .is_ok());
        assert!(d
            .select(Buffer::App(A::HttpConnection), Some("sideways"), 0)
            .is_err());
    }

    #[test]
    fn one_way_rules_record_nothing() {
        let mut d = TxDirs::new(false);
        d.select(Buffer::App(A::HttpConnection), None, 0).unwrap();
        d.select(Buffer::App(A::HttpUri), None, 1).unwrap();
        assert!(d.finish(2).is_empty());
    }
}
