//! Live reload: the rules of a running capture, swapped whole when the
//! file changes, keeping the last good rules through a bad edit.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::error::RulesError;
use crate::files::{self, FileSig, BODY_HASH_LIMIT};
use crate::parse;
use crate::rule::RuleSet;

/// The current rules of a running capture; swapped whole on reload, so a
/// request sees either the old rules or the new, never a mix.
#[derive(Debug)]
pub struct LiveRules {
    path: PathBuf,
    rules: RwLock<Arc<RuleSet>>,
    seen: Mutex<Seen>,
}

/// The files as last looked at, whether that load was good or bad: a bad
/// edit is reported once, and again only after the files change.
#[derive(Debug)]
struct Seen {
    rules_file: FileSig,
    /// The body files the last load read or tried to (a missing one
    /// included, so creating it triggers a reload).
    body_files: Vec<(PathBuf, FileSig)>,
}

impl LiveRules {
    /// Loads the rules file; an error here is fatal to the caller, as
    /// there are no earlier rules to keep.
    pub fn load(path: &Path) -> Result<LiveRules, RulesError> {
        let (outcome, rules_file) = parse::load(path);
        let rules = outcome.rules?;
        Ok(LiveRules {
            path: path.to_path_buf(),
            rules: RwLock::new(Arc::new(rules)),
            seen: Mutex::new(Seen {
                rules_file,
                body_files: outcome.body_files,
            }),
        })
    }

    /// The rules in force now.
    pub fn current(&self) -> Arc<RuleSet> {
        self.rules
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The rules file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Re-reads if the rules file (or any `body_file` it uses) changed
    /// since the last look: `Ok(None)` if nothing changed, `Ok(Some(n))`
    /// after loading `n` rules. `Err` when the changed file is bad (or
    /// gone): the last good rules stay in force, and the same bad state is
    /// not reported again on later calls.
    pub fn check(&self) -> Result<Option<usize>, RulesError> {
        // One check at a time, so two callers cannot both report a change.
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let (bytes, rules_file) = files::read_with_sig(&self.path, u64::MAX);
        let bodies_unchanged = seen
            .body_files
            .iter()
            .all(|(path, sig)| files::sig_of(path, BODY_HASH_LIMIT) == *sig);
        if rules_file == seen.rules_file && bodies_unchanged {
            return Ok(None);
        }
        seen.rules_file = rules_file;
        let bytes = match bytes {
            Ok(bytes) => bytes,
            Err(e) => return Err(parse::read_error(&self.path, &e)),
        };
        let outcome = parse::parse_bytes(&bytes, &self.path);
        seen.body_files = outcome.body_files;
        let rules = outcome.rules?;
        let n = rules.len();
        *self.rules.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(rules);
        Ok(Some(n))
    }
}

/// Polls `live.check()` every `every` until `shutdown`, calling `report`
/// with each outcome that is not `Ok(None)`: `Ok(n)` after a reload of `n`
/// rules, `Err` for a bad edit (reported once; the old rules stay).
pub async fn watch(
    live: Arc<LiveRules>,
    every: Duration,
    shutdown: CancellationToken,
    report: impl Fn(Result<usize, RulesError>) + Send + 'static,
) {
    // tokio's interval panics on zero.
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate, and the rules were just loaded.
    tick.tick().await;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        // File reads block; keep them off the runtime's worker threads.
        let live = live.clone();
        let outcome = tokio::select! {
            () = shutdown.cancelled() => return,
            joined = tokio::task::spawn_blocking(move || live.check()) => joined,
        };
        match outcome {
            Ok(Ok(None)) => {}
            Ok(Ok(Some(n))) => report(Ok(n)),
            Ok(Err(e)) => report(Err(e)),
            // A panic in check() is a bug; the old rules are still there,
            // so keep watching rather than take the capture down.
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    const ONE: &str = "[[rule]]\nname = \"one\"\n";
    const TWO: &str = "[[rule]]\nname = \"one\"\n[[rule]]\nname = \"two\"\n";
    const BAD: &str = "[[rule]]\nname = \"one\"\nset_header = {}\n";

    fn names(live: &LiveRules) -> Vec<String> {
        live.current()
            .names()
            .iter()
            .map(|n| n.to_string())
            .collect()
    }

    #[test]
    fn a_good_edit_reloads_and_an_unchanged_file_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rules.toml");
        fs::write(&path, ONE).unwrap();
        let live = LiveRules::load(&path).unwrap();
        assert_eq!(live.path(), path);
        assert_eq!(names(&live), ["one"]);
        assert_eq!(live.check().unwrap(), None);

        let before = live.current();
        fs::write(&path, TWO).unwrap();
        assert_eq!(live.check().unwrap(), Some(2));
        assert_eq!(names(&live), ["one", "two"]);
        // Holders of the old set keep it whole.
        assert_eq!(before.names(), ["one"]);
        assert_eq!(live.check().unwrap(), None);
    }

    #[test]
    fn a_same_length_edit_is_seen_by_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rules.toml");
        fs::write(&path, "[[rule]]\nname = \"aaa\"\n").unwrap();
        let live = LiveRules::load(&path).unwrap();
        // Same length, and likely the same mtime on a coarse clock.
        fs::write(&path, "[[rule]]\nname = \"bbb\"\n").unwrap();
        assert_eq!(live.check().unwrap(), Some(1));
        assert_eq!(names(&live), ["bbb"]);
    }

    #[test]
    fn a_bad_edit_is_reported_once_and_the_last_good_rules_stay_until_it_is_fixed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rules.toml");
        fs::write(&path, ONE).unwrap();
        let live = LiveRules::load(&path).unwrap();

        fs::write(&path, BAD).unwrap();
        let e = live.check().unwrap_err();
        assert_eq!(e.line(), Some(3));
        assert!(e.to_string().contains("did you mean `set_headers`?"), "{e}");
        assert_eq!(names(&live), ["one"]);
        assert_eq!(live.check().unwrap(), None, "reported again");
        assert_eq!(names(&live), ["one"]);

        fs::write(&path, TWO).unwrap();
        assert_eq!(live.check().unwrap(), Some(2));
        assert_eq!(names(&live), ["one", "two"]);
    }

    #[test]
    fn a_vanished_file_is_reported_once_and_its_return_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rules.toml");
        fs::write(&path, ONE).unwrap();
        let live = LiveRules::load(&path).unwrap();

        fs::remove_file(&path).unwrap();
        let e = live.check().unwrap_err();
        assert_eq!(e.line(), None);
        assert!(e.to_string().contains("cannot read the rules file"), "{e}");
        assert_eq!(live.check().unwrap(), None);
        assert_eq!(names(&live), ["one"]);

        fs::write(&path, TWO).unwrap();
        assert_eq!(live.check().unwrap(), Some(2));
    }

    #[test]
    fn an_edited_body_file_reloads_the_rules() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rules.toml");
        let body = dir.path().join("down.txt");
        fs::write(&body, "first").unwrap();
        fs::write(
            &path,
            "[[rule]]\nname = \"r\"\nrespond = { body_file = \"down.txt\" }\n",
        )
        .unwrap();
        let live = LiveRules::load(&path).unwrap();
        let body_of = |live: &LiveRules| live.current().rules[0].respond.clone().unwrap().body;
        assert_eq!(body_of(&live), "first");
        assert_eq!(live.check().unwrap(), None);

        fs::write(&body, "later").unwrap();
        assert_eq!(live.check().unwrap(), Some(1));
        assert_eq!(body_of(&live), "later");
    }

    #[test]
    fn creating_a_missing_body_file_fixes_the_rules() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rules.toml");
        fs::write(&path, ONE).unwrap();
        let live = LiveRules::load(&path).unwrap();

        fs::write(
            &path,
            "[[rule]]\nname = \"r\"\nrespond = { body_file = \"late.json\" }\n",
        )
        .unwrap();
        assert!(live.check().is_err());
        assert_eq!(live.check().unwrap(), None);
        fs::write(dir.path().join("late.json"), "{}").unwrap();
        assert_eq!(live.check().unwrap(), Some(1));
        assert_eq!(names(&live), ["r"]);
    }

    #[test]
    fn loading_a_bad_file_fails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rules.toml");
        fs::write(&path, BAD).unwrap();
        assert_eq!(LiveRules::load(&path).unwrap_err().line(), Some(3));
        assert!(LiveRules::load(&dir.path().join("none.toml")).is_err());
    }

    async fn next<T>(rx: &mut tokio::sync::mpsc::UnboundedReceiver<T>) -> Option<T> {
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("a report within 10 s")
    }

    #[tokio::test]
    async fn watch_reports_reloads_and_bad_edits_once_and_stops_on_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rules.toml");
        fs::write(&path, ONE).unwrap();
        let live = Arc::new(LiveRules::load(&path).unwrap());
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(watch(
            live.clone(),
            Duration::from_millis(10),
            shutdown.clone(),
            move |outcome| {
                let _ = tx.send(outcome.map_err(|e| e.to_string()));
            },
        ));
        // Replaced whole, as editors save, so no poll sees half a file.
        let replace = |text: &str| {
            let tmp = dir.path().join("rules.toml.tmp");
            fs::write(&tmp, text).unwrap();
            fs::rename(&tmp, &path).unwrap();
        };
        replace(TWO);
        assert_eq!(next(&mut rx).await, Some(Ok(2)));
        replace(BAD);
        let bad = next(&mut rx).await.unwrap().unwrap_err();
        assert!(bad.contains("set_header"), "{bad}");
        // Many polls later, the bad edit has not been reported again.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(rx.try_recv().is_err());
        assert_eq!(live.current().len(), 2);

        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("watch stops")
            .unwrap();
        // The task is gone, and with it the sender.
        assert_eq!(rx.recv().await, None);
    }
}
