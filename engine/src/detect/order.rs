//! Suricata's `action-order`: the order in which the matches of one packet are applied.
//!
//! Suricata sorts its signatures by action class (default `pass, drop, reject, alert`), then
//! by priority, and walks a packet's matches in that order: each match logs its alert and
//! applies its action until a `pass` is applied, after which nothing more alerts on that
//! packet. So with the default order a matching `pass` silences everything, while with
//! `drop, pass, reject, alert` a matching `drop` still drops (and logs) before the `pass`
//! stops the walk.

use verdict_compiler::ir::Action;

/// The four action classes `action-order` ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionClass {
    /// `pass`
    Pass,
    /// `drop` (and `sdrop`)
    Drop,
    /// `reject`, `rejectsrc`, `rejectdst`, `rejectboth`
    Reject,
    /// `alert` (and `log`)
    Alert,
}

impl ActionClass {
    /// The class a rule action is ranked by.
    pub fn of(a: Action) -> ActionClass {
        match a {
            Action::Pass => ActionClass::Pass,
            Action::Drop | Action::Sdrop => ActionClass::Drop,
            Action::Reject(_) => ActionClass::Reject,
            Action::Alert | Action::Log => ActionClass::Alert,
        }
    }

    /// Parses Suricata's spelling (`pass`, `drop`, `reject`, `alert`).
    pub fn parse(s: &str) -> Option<ActionClass> {
        Some(match s {
            "pass" => ActionClass::Pass,
            "drop" => ActionClass::Drop,
            "reject" => ActionClass::Reject,
            "alert" => ActionClass::Alert,
            _ => return None,
        })
    }
}

/// A complete ranking of the four classes (first = applied first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionOrder([ActionClass; 4]);

/// Why an `action-order` list was refused (Suricata refuses to start on the same lists).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionOrderError {
    /// A name that is not one of the four classes.
    #[error("unknown action `{0}` (expected pass, drop, reject and alert)")]
    Unknown(String),
    /// A class listed twice.
    #[error("action `{0}` is listed twice")]
    Duplicate(String),
    /// Fewer or more than four entries.
    #[error("action-order must list all of pass, drop, reject and alert exactly once ({0} given)")]
    Count(usize),
}

impl Default for ActionOrder {
    fn default() -> Self {
        ActionOrder([
            ActionClass::Pass,
            ActionClass::Drop,
            ActionClass::Reject,
            ActionClass::Alert,
        ])
    }
}

impl ActionOrder {
    /// Builds an order from Suricata's list form; all four classes, each once.
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Result<ActionOrder, ActionOrderError> {
        let mut out = Vec::with_capacity(4);
        for n in names {
            let n = n.as_ref().trim();
            let c = ActionClass::parse(n).ok_or_else(|| ActionOrderError::Unknown(n.into()))?;
            if out.contains(&c) {
                return Err(ActionOrderError::Duplicate(n.into()));
            }
            out.push(c);
        }
        <[ActionClass; 4]>::try_from(out)
            .map(ActionOrder)
            .map_err(|v| ActionOrderError::Count(v.len()))
    }

    /// Rank of an action: lower is applied first.
    pub fn rank(&self, a: Action) -> u8 {
        let c = ActionClass::of(a);
        // The array holds every class once (checked by the constructors).
        self.0.iter().position(|&x| x == c).unwrap_or(3) as u8
    }

    /// The classes in order.
    pub fn classes(&self) -> [ActionClass; 4] {
        self.0
    }
}

impl<'de> serde::Deserialize<'de> for ActionOrder {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        ActionOrder::from_names(&names).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use verdict_compiler::ir::RejectTarget;

    #[test]
    fn default_is_pass_drop_reject_alert() {
        let o = ActionOrder::default();
        assert!(o.rank(Action::Pass) < o.rank(Action::Drop));
        assert!(o.rank(Action::Drop) < o.rank(Action::Reject(RejectTarget::Dst)));
        assert!(o.rank(Action::Reject(RejectTarget::Default)) < o.rank(Action::Alert));
        assert_eq!(o.rank(Action::Sdrop), o.rank(Action::Drop));
    }

    #[test]
    fn lists_are_checked_like_suricata() {
        let o = ActionOrder::from_names(&["drop", "alert", "reject", "pass"]).unwrap();
        assert_eq!(o.rank(Action::Drop), 0);
        assert_eq!(o.rank(Action::Alert), 1);
        assert_eq!(o.rank(Action::Pass), 3);
        assert_eq!(
            ActionOrder::from_names(&["pass", "reject"]),
            Err(ActionOrderError::Count(2))
        );
        assert_eq!(
            ActionOrder::from_names(&["pass", "drop", "drop", "alert"]),
            Err(ActionOrderError::Duplicate("drop".into()))
        );
        assert_eq!(
            ActionOrder::from_names(&["pass", "drop", "reject", "ftw"]),
            Err(ActionOrderError::Unknown("ftw".into()))
        );
    }
}
