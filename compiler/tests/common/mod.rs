//! Helpers shared by the front-end tests.

#[path = "../../../tests/common/must_run.rs"]
pub mod must_run;

/// Every node of every parsed rule lies inside its parent, in order.
pub fn check_ast_nesting(text: &str) {
    use verdict_compiler::ast::{ListExpr, Span};
    use verdict_compiler::parse;
    fn inside(inner: Span, outer: Span, what: &str) {
        assert!(
            outer.start <= inner.start && inner.end <= outer.end,
            "{what} {inner:?} outside {outer:?}"
        );
    }
    fn list(e: &ListExpr<'_>, outer: Span) {
        inside(e.span(), outer, "list item");
        match e {
            ListExpr::Atom(_) => {}
            ListExpr::Not(x, s) => list(x, *s),
            ListExpr::List(xs, s) => xs.iter().for_each(|x| list(x, *s)),
        }
    }
    for c in parse::split(text, true) {
        let Ok(r) = parse::parse_rule(&text[c.span.range()], c.span.start, 0, c.commented) else {
            continue;
        };
        let mut last = r.span.start;
        for n in [
            r.action.span,
            r.protocol.span,
            r.src.span(),
            r.src_ports.span(),
            r.direction.span,
            r.dst.span(),
            r.dst_ports.span(),
        ] {
            inside(n, r.span, "header field");
            assert!(n.start >= last, "header fields out of order");
            last = n.start;
        }
        for e in [&r.src, &r.src_ports, &r.dst, &r.dst_ports] {
            list(e, r.span);
        }
        for o in &r.options {
            inside(o.span, r.span, "option");
            assert!(o.span.start >= last, "options out of order");
            last = o.span.end;
            inside(o.name.span, o.span, "keyword");
            if let Some(v) = o.value {
                inside(v.span, o.span, "value");
                assert_eq!(&text[v.span.range()], v.text);
            }
            assert_eq!(&text[o.name.span.range()], o.name.text);
        }
    }
}
