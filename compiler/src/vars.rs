//! Rule variables (`$HOME_NET`, `$HTTP_PORTS`, …): Suricata's shipped defaults, overridable
//! from the `[vars]` table of `verdict.toml`. Values are kept as text and resolved by the
//! lowering, which parses them with the same grammar as the rule header.

use std::collections::BTreeMap;
use std::path::Path;

/// Variable definitions by name (without the `$`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vars {
    defs: BTreeMap<String, String>,
}

/// Why a config file's variables could not be read.
#[derive(Debug, thiserror::Error)]
pub enum VarsError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{path} is not valid TOML: {source}")]
    Toml {
        /// The file.
        path: String,
        /// The cause.
        source: Box<toml::de::Error>,
    },
    /// `[vars]` has a value that is not a string, number or list.
    #[error(
        "{path}: [vars] {name} must be a string such as \"[10.0.0.0/8,192.168.0.0/16]\" or \"80\""
    )]
    BadValue {
        /// The file.
        path: String,
        /// The variable.
        name: String,
    },
}

/// Suricata's default address groups and port groups (suricata.yaml), plus the Snort port
/// groups the community rules use that Suricata does not ship (SIP, Oracle, file data).
const DEFAULTS: &[(&str, &str)] = &[
    ("HOME_NET", "[192.168.0.0/16,10.0.0.0/8,172.16.0.0/12]"),
    ("EXTERNAL_NET", "!$HOME_NET"),
    ("HTTP_SERVERS", "$HOME_NET"),
    ("SMTP_SERVERS", "$HOME_NET"),
    ("SQL_SERVERS", "$HOME_NET"),
    ("DNS_SERVERS", "$HOME_NET"),
    ("TELNET_SERVERS", "$HOME_NET"),
    ("AIM_SERVERS", "$EXTERNAL_NET"),
    ("DC_SERVERS", "$HOME_NET"),
    ("DNP3_SERVER", "$HOME_NET"),
    ("DNP3_CLIENT", "$HOME_NET"),
    ("MODBUS_CLIENT", "$HOME_NET"),
    ("MODBUS_SERVER", "$HOME_NET"),
    ("ENIP_CLIENT", "$HOME_NET"),
    ("ENIP_SERVER", "$HOME_NET"),
    ("SIP_SERVERS", "$HOME_NET"),
    ("SSH_SERVERS", "$HOME_NET"),
    ("FTP_SERVERS", "$HOME_NET"),
    ("HTTP_PORTS", "80"),
    ("SHELLCODE_PORTS", "!80"),
    ("ORACLE_PORTS", "1521"),
    ("SSH_PORTS", "22"),
    ("DNP3_PORTS", "20000"),
    ("MODBUS_PORTS", "502"),
    ("FILE_DATA_PORTS", "[$HTTP_PORTS,110,143]"),
    ("FTP_PORTS", "21"),
    ("GENEVE_PORTS", "6081"),
    ("VXLAN_PORTS", "4789"),
    ("TEREDO_PORTS", "3544"),
    ("SIP_PORTS", "[5060,5061,5600]"),
];

impl Default for Vars {
    fn default() -> Self {
        Vars {
            defs: DEFAULTS
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }
}

impl Vars {
    /// No variables at all.
    pub fn empty() -> Vars {
        Vars {
            defs: BTreeMap::new(),
        }
    }
    /// The definition of `name` (without `$`).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.defs.get(name).map(String::as_str)
    }
    /// Defines or overrides a variable.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.defs.insert(name.into(), value.into());
    }
    /// All names, sorted (for "did you mean").
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.defs.keys().map(String::as_str)
    }
    /// The defaults overridden by the `[vars]` table of a verdict.toml; other tables are
    /// ignored. Values may be strings (`"[10.0.0.0/8]"`), integers (`80`) or arrays.
    pub fn from_config_file(path: &Path) -> Result<Vars, VarsError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| VarsError::Io {
            path: p.clone(),
            source,
        })?;
        Self::from_config_str(&text, &p)
    }
    /// Like [`Vars::from_config_file`] on text already read; `path` names it in errors.
    pub fn from_config_str(text: &str, path: &str) -> Result<Vars, VarsError> {
        let doc: toml::Table = toml::from_str(text).map_err(|e| VarsError::Toml {
            path: path.to_string(),
            source: Box::new(e),
        })?;
        let mut vars = Vars::default();
        if let Some(toml::Value::Table(t)) = doc.get("vars") {
            for (k, v) in t {
                let text = value_text(v).ok_or_else(|| VarsError::BadValue {
                    path: path.to_string(),
                    name: k.clone(),
                })?;
                vars.set(k.trim_start_matches('$'), text);
            }
        }
        Ok(vars)
    }
}

fn value_text(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Array(a) => {
            let parts: Option<Vec<String>> = a.iter().map(value_text).collect();
            Some(format!("[{}]", parts?.join(",")))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_overrides_defaults_and_ignores_other_tables() {
        let v = Vars::from_config_str(
            "rules = \"x\"\n[vars]\nHOME_NET = \"[10.0.0.0/8]\"\nHTTP_PORTS = 8080\nWEB = [80, \"443\"]\n[engine]\nworkers = 2\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(v.get("HOME_NET"), Some("[10.0.0.0/8]"));
        assert_eq!(v.get("HTTP_PORTS"), Some("8080"));
        assert_eq!(v.get("WEB"), Some("[80,443]"));
        assert_eq!(v.get("EXTERNAL_NET"), Some("!$HOME_NET"));
        assert!(Vars::from_config_str("[vars]\nX = 1.5\n", "t").is_err());
        assert!(Vars::from_config_str("[vars\n", "t").is_err());
    }
}
