//! How exchanges look on a terminal: one line per exchange (like mitmdump),
//! sizes and durations people read at a glance.

use std::collections::BTreeMap;
use std::io::Write;

use interpose_capture::Exchange;
use interpose_store::ExchangeSummary;
use time::OffsetDateTime;

/// `1.2 KiB`, `340 B`, `5.0 MiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = UNITS[0];
    for u in &UNITS[1..] {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

/// `12ms`, `1.25s`.
pub fn duration(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{}ms", ms.round() as u64)
    } else {
        format!("{:.2}s", ms / 1000.0)
    }
}

/// `2026-11-24 19:10:01` (UTC) from Unix microseconds.
pub fn timestamp(us: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(us as i128 * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `HH:MM:SS` (UTC) from Unix microseconds.
pub fn clock(us: i64) -> String {
    timestamp(us)[11..].to_string()
}

/// The live line for one exchange:
/// `19:10:01 GET 200 https://api.example.test/v1/items 1.2 KiB 34ms`.
pub fn exchange_line(ex: &Exchange) -> String {
    let status = match (&ex.response, &ex.error) {
        (Some(r), _) if ex.websocket => format!("{} ws", r.status),
        (Some(r), _) => r.status.to_string(),
        (None, _) => "ERR".to_string(),
    };
    let size = ex.response.as_ref().map_or(0, |r| r.body.size);
    let mut line = format!(
        "{} {} {} {} {} {}",
        clock(ex.started_at_us),
        ex.request.method,
        status,
        ex.request.url,
        self::size(size),
        duration(ex.timings.total())
    );
    if !ex.rules.is_empty() {
        line.push_str(" [rules: ");
        line.push_str(&ex.rules.join(", "));
        line.push(']');
    }
    if let Some(error) = &ex.error {
        line.push_str(" — ");
        line.push_str(error);
    }
    line
}

/// The `history list` table: one line per exchange.
pub fn write_exchange_table(out: &mut impl Write, rows: &[ExchangeSummary]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:>6}  {:<19}  {:<7} {:>6}  {:<30} {:<40} {:>9} {:>8}",
        "ID", "TIME (UTC)", "METHOD", "STATUS", "HOST", "PATH", "SIZE", "DURATION"
    )?;
    for row in rows {
        let (host, path) = split_host_path(&row.url);
        writeln!(
            out,
            "{:>6}  {:<19}  {:<7} {:>6}  {:<30} {:<40} {:>9} {:>8}",
            row.id,
            timestamp(row.started_at_us),
            row.method,
            status(row),
            truncate(host, 30),
            truncate(path, 40),
            size(row.response_size),
            duration(row.duration_ms),
        )?;
    }
    Ok(())
}

/// `200`, `101 ws`, or `ERR` when no response came.
pub fn status(row: &ExchangeSummary) -> String {
    match (row.status, row.websocket) {
        (Some(s), true) => format!("{s} ws"),
        (Some(s), false) => s.to_string(),
        (None, _) => "ERR".into(),
    }
}

/// The largest counts first (ties by name), at most `n`, then how many
/// more: `GET 12, POST 3, +2 more`.
pub fn top_counts(counts: &BTreeMap<String, u64>, n: usize) -> String {
    let mut sorted: Vec<(&String, &u64)> = counts.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    let mut parts: Vec<String> = sorted
        .iter()
        .take(n)
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    if sorted.len() > n {
        parts.push(format!("+{} more", sorted.len() - n));
    }
    parts.join(", ")
}

/// `http://host:port/path?q` → (`host:port`, `/path?q`).
pub fn split_host_path(url: &str) -> (&str, &str) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    }
}

/// At most `max` characters, the last one `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(size(340), "340 B");
        assert_eq!(size(1234), "1.2 KiB");
        assert_eq!(size(5 * 1024 * 1024), "5.0 MiB");
    }

    #[test]
    fn durations_switch_to_seconds_past_one() {
        assert_eq!(duration(12.4), "12ms");
        assert_eq!(duration(1250.0), "1.25s");
    }

    #[test]
    fn top_counts_put_the_largest_first_and_say_how_many_more() {
        let counts: BTreeMap<String, u64> = [("a", 1), ("b", 5), ("c", 5), ("d", 2), ("e", 1)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert_eq!(top_counts(&counts, 3), "b 5, c 5, d 2, +2 more");
        assert_eq!(top_counts(&counts, 5), "b 5, c 5, d 2, a 1, e 1");
        assert_eq!(top_counts(&BTreeMap::new(), 3), "");
    }

    #[test]
    fn timestamps_are_utc_wall_clock() {
        assert_eq!(timestamp(1_700_000_000_000_000), "2023-11-14 22:13:20");
        assert_eq!(clock(1_700_000_000_000_000), "22:13:20");
    }
}
