//! The one error type: where in which file, which rule, what is wrong.

use std::fmt;
use std::path::{Path, PathBuf};

/// Which rule an error is about: its name once known, else its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RuleRef {
    Named(String),
    /// 1-based, in file order.
    Numbered(usize),
}

/// A rules file that cannot be used, and why.
///
/// Displays as `FILE line N, rule "NAME": WHAT; WHAT TO DO`, leaving out the
/// parts that do not apply (a file that cannot be read has no line; a
/// top-level mistake has no rule; a rule without a usable name is
/// `rule #N`).
#[derive(Debug, thiserror::Error)]
#[error("{}", Shown(self))]
pub struct RulesError {
    origin: PathBuf,
    line: Option<usize>,
    rule: Option<RuleRef>,
    message: String,
}

impl RulesError {
    pub(crate) fn new(
        origin: &Path,
        line: Option<usize>,
        rule: Option<RuleRef>,
        message: impl Into<String>,
    ) -> RulesError {
        RulesError {
            origin: origin.to_path_buf(),
            line,
            rule,
            message: message.into(),
        }
    }

    /// The rules file, as the caller named it.
    pub fn path(&self) -> &Path {
        &self.origin
    }

    /// The 1-based line the problem is on, when it is on one.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// The name of the rule the problem is in, when the rule has one.
    pub fn rule(&self) -> Option<&str> {
        match &self.rule {
            Some(RuleRef::Named(name)) => Some(name),
            _ => None,
        }
    }

    /// The 1-based position of the rule the problem is in, for a rule
    /// without a usable name.
    pub fn rule_number(&self) -> Option<usize> {
        match self.rule {
            Some(RuleRef::Numbered(n)) => Some(n),
            _ => None,
        }
    }

    /// What is wrong and what to do, without the location.
    pub fn message(&self) -> &str {
        &self.message
    }
}

struct Shown<'a>(&'a RulesError);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.0;
        write!(f, "{}", e.origin.display())?;
        if let Some(line) = e.line {
            write!(f, " line {line}")?;
        }
        match &e.rule {
            Some(RuleRef::Named(name)) => write!(f, ", rule {name:?}")?,
            Some(RuleRef::Numbered(n)) => write!(f, ", rule #{n}")?,
            None => {}
        }
        write!(f, ": {}", e.message)
    }
}
