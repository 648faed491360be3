//! How exchanges look on a terminal: one line per exchange (like mitmdump),
//! sizes and durations people read at a glance.

use interpose_capture::Exchange;
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
    if let Some(error) = &ex.error {
        line.push_str(" — ");
        line.push_str(error);
    }
    line
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
    fn timestamps_are_utc_wall_clock() {
        assert_eq!(timestamp(1_700_000_000_000_000), "2023-11-14 22:13:20");
        assert_eq!(clock(1_700_000_000_000_000), "22:13:20");
    }
}
