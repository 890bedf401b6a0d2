//! What the rules cover in MITRE ATT&CK terms (Enterprise, IaaS platform): each rule's techniques
//! (`attack` in `rules/iocs.toml`), the names of those techniques and the techniques no rule
//! covers, with why (`rules/attack.toml`). `firebreak rules --coverage` prints it; a test holds
//! docs/coverage.md equal to it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::triage::rules::RuleSet;

/// The technique catalogue, as reviewed text.
pub const BUILTIN_ATTACK: &str = include_str!("../../rules/attack.toml");

/// An ATT&CK technique a rule detects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Technique {
    /// `T1562.008`.
    pub id: String,
    /// `Impair Defenses: Disable or Modify Cloud Logs`.
    pub name: String,
    /// The tactics it serves, comma separated.
    pub tactic: String,
}

/// An IaaS technique no rule covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Uncovered {
    /// Technique id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Why Firebreak's rules do not cover it (and what does, if anything).
    pub why: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
#[derive(Default)]
struct AttackFile {
    other_rules: BTreeMap<String, Vec<String>>,
    technique: Vec<Technique>,
    uncovered: Vec<Uncovered>,
}

/// One covered technique and the rules that detect it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Covered {
    /// The technique.
    #[serde(flatten)]
    pub technique: Technique,
    /// The rules, in table order (root use last).
    pub rules: Vec<String>,
}

/// The coverage map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// Covered techniques, by id.
    pub covered: Vec<Covered>,
    /// Techniques no rule covers, by id.
    pub uncovered: Vec<Uncovered>,
    /// Rules that name no technique (runbook hygiene checks).
    pub unmapped: Vec<String>,
}

impl Coverage {
    /// The built-in catalogue applied to `rules`.
    pub fn builtin(rules: &RuleSet) -> Result<Coverage, ConfigError> {
        Coverage::from_toml(BUILTIN_ATTACK, rules)
    }

    /// A catalogue (TOML text) applied to `rules`: every id a rule names must be in the
    /// catalogue, none may be both covered and uncovered, and every catalogue entry is used.
    pub fn from_toml(text: &str, rules: &RuleSet) -> Result<Coverage, ConfigError> {
        let file: AttackFile =
            toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        let invalid = |key: String, message: String| ConfigError::Invalid { key, message };
        let known: BTreeMap<&str, &Technique> =
            file.technique.iter().map(|t| (t.id.as_str(), t)).collect();
        let mut by_id: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut unmapped = Vec::new();
        let named = rules
            .rules()
            .iter()
            .map(|r| (r.name.as_str(), &r.attack))
            .chain(file.other_rules.iter().map(|(n, a)| (n.as_str(), a)));
        for (rule, ids) in named {
            if ids.is_empty() {
                unmapped.push(rule.to_string());
            }
            for id in ids {
                if !known.contains_key(id.as_str()) {
                    return Err(invalid(
                        format!("{rule}.attack"),
                        format!("{id} is not a technique of rules/attack.toml"),
                    ));
                }
                by_id.entry(id.clone()).or_default().push(rule.to_string());
            }
        }
        let mut seen = BTreeSet::new();
        for u in &file.uncovered {
            if by_id.contains_key(&u.id) || !seen.insert(u.id.as_str()) {
                return Err(invalid(
                    format!("uncovered {}", u.id),
                    "is covered by a rule, or listed twice".into(),
                ));
            }
        }
        let mut covered = Vec::new();
        for t in &file.technique {
            let Some(rules) = by_id.remove(&t.id) else {
                return Err(invalid(
                    format!("technique {}", t.id),
                    "no rule names it (list it under [[uncovered]] instead)".into(),
                ));
            };
            covered.push(Covered {
                technique: t.clone(),
                rules,
            });
        }
        covered.sort_by(|a, b| a.technique.id.cmp(&b.technique.id));
        let mut uncovered = file.uncovered;
        uncovered.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Coverage {
            covered,
            uncovered,
            unmapped,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_catalogue_names_every_technique_the_rules_use() {
        let rules = RuleSet::builtin().expect("rules");
        let c = Coverage::builtin(&rules).expect("coverage");
        assert!(c.covered.len() >= 20, "{}", c.covered.len());
        assert!(c.uncovered.len() >= 20, "{}", c.uncovered.len());
        let logs = c
            .covered
            .iter()
            .find(|t| t.technique.id == "T1562.008")
            .expect("cloud logs");
        assert!(logs.rules.contains(&"cloudtrail-stopped".to_string()));
    }

    #[test]
    fn unknown_unused_and_double_ids_are_refused() {
        let rules = RuleSet::from_toml(
            r#"[[ioc]]
name = "x"
category = "iam"
source = "iam.amazonaws.com"
events = ["CreateUser"]
condition = "always"
severity = "S2"
attack = ["T1136.003"]
why = "w"
"#,
        )
        .expect("rule");
        let technique = "[[technique]]\nid = \"T1136.003\"\nname = \"n\"\ntactic = \"t\"\n";
        let ok = format!("[other_rules]\n{technique}");
        assert!(Coverage::from_toml(&ok, &rules).is_ok());
        // The rule names a technique the catalogue lacks.
        let lacking = "[other_rules]\n[[technique]]\nid = \"T1\"\nname = \"n\"\ntactic = \"t\"\n";
        assert!(Coverage::from_toml(lacking, &rules).is_err());
        // Covered and listed as uncovered.
        let both = format!("{ok}[[uncovered]]\nid = \"T1136.003\"\nname = \"n\"\nwhy = \"w\"\n");
        assert!(Coverage::from_toml(&both, &rules).is_err());
        // A technique no rule uses.
        let unused = format!("{ok}[[technique]]\nid = \"T9\"\nname = \"n\"\ntactic = \"t\"\n");
        assert!(Coverage::from_toml(&unused, &rules).is_err());
    }
}
