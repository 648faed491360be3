//! "Did you mean …?" for unknown keys.

/// The known key that differs from `key` only in case, `-` for `_`, or a
/// plural `s`: surely the one meant.
pub(crate) fn same_but_for_form<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let norm = normalise(key);
    known.iter().copied().find(|&c| {
        norm == c || norm.strip_suffix('s') == Some(c) || c.strip_suffix('s') == Some(&norm)
    })
}

/// The nearest known key within two edits, if any.
pub(crate) fn within_two_edits<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let norm = normalise(key);
    known
        .iter()
        .map(|c| (edit_distance(&norm, c), *c))
        // Two edits on a two-letter key is a different word, not a typo.
        .filter(|&(d, c)| d <= 2 && d < c.len().min(norm.len()))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

fn normalise(key: &str) -> String {
    key.to_ascii_lowercase().replace('-', "_")
}

/// Levenshtein distance, counting an adjacent swap as one edit (`nmae`).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // rows[i][j]: distance between a[..i] and b[..j].
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    rows[0] = (0..=b.len()).collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = d;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As `unknown_key` tries them within one table.
    fn did_you_mean<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
        same_but_for_form(key, known).or_else(|| within_two_edits(key, known))
    }

    use crate::parse::RULE_KEYS as RULE;

    #[test]
    fn typos_plurals_case_and_dashes_are_recognised() {
        assert_eq!(did_you_mean("set_header", RULE), Some("set_headers"));
        assert_eq!(did_you_mean("map-remote", RULE), Some("map_remote"));
        assert_eq!(did_you_mean("Name", RULE), Some("name"));
        assert_eq!(did_you_mean("nmae", RULE), Some("name"));
        assert_eq!(did_you_mean("responds", RULE), Some("respond"));
        assert_eq!(did_you_mean("rules", &["rule"]), Some("rule"));
        assert_eq!(
            did_you_mean("method", &["host", "methods"]),
            Some("methods")
        );
    }

    #[test]
    fn unrelated_keys_get_no_suggestion() {
        assert_eq!(did_you_mean("priority", RULE), None);
        assert_eq!(did_you_mean("x", RULE), None);
    }
}
