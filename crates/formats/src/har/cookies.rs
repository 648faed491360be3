//! HAR cookie lists from `Cookie` and `Set-Cookie` headers.

use interpose_capture::Header;
use serde::Serialize;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

#[derive(Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Cookie {
    pub name: String,
    pub value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// ISO 8601, as HAR wants it (not the header's HTTP date).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_only: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secure: Option<bool>,
}

impl Cookie {
    fn new(name: &str, value: &str) -> Self {
        Cookie {
            name: name.trim().to_string(),
            value: value.trim().to_string(),
            path: None,
            domain: None,
            expires: None,
            http_only: None,
            secure: None,
        }
    }
}

/// Every `name=value` pair of every `Cookie` header, in order. A pair
/// without `=` is a cookie with an empty name, as browsers read it.
pub(super) fn request_cookies(headers: &[Header]) -> Vec<Cookie> {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("cookie"))
        .flat_map(|h| h.value.split(';'))
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) => Cookie::new(name, value),
            None => Cookie::new("", pair),
        })
        .collect()
}

/// One cookie per `Set-Cookie` header, with the attributes HAR knows.
/// `Max-Age` wins over `Expires` (RFC 6265) and counts from `now_us`, the
/// exchange's start; a date that cannot be read leaves `expires` out.
pub(super) fn response_cookies(headers: &[Header], now_us: i64) -> Vec<Cookie> {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("set-cookie"))
        .filter_map(|h| set_cookie(&h.value, now_us))
        .collect()
}

fn set_cookie(line: &str, now_us: i64) -> Option<Cookie> {
    let mut parts = line.split(';');
    let (name, value) = parts.next()?.split_once('=')?;
    if name.trim().is_empty() && value.trim().is_empty() {
        return None;
    }
    let mut cookie = Cookie::new(name, value);
    let mut expires = None;
    let mut max_age = None;
    for attr in parts {
        let (key, val) = attr.split_once('=').unwrap_or((attr, ""));
        let val = val.trim();
        match key.trim().to_ascii_lowercase().as_str() {
            "path" if !val.is_empty() => cookie.path = Some(val.to_string()),
            "domain" if !val.is_empty() => cookie.domain = Some(val.to_string()),
            "expires" => expires = parse_cookie_date(val),
            "max-age" => max_age = val.parse::<i64>().ok(),
            "httponly" => cookie.http_only = Some(true),
            "secure" => cookie.secure = Some(true),
            _ => {}
        }
    }
    let expiry = match max_age {
        Some(secs) if secs <= 0 => Some(OffsetDateTime::UNIX_EPOCH),
        Some(secs) => OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(now_us) * 1000 + i128::from(secs) * 1_000_000_000,
        )
        .ok(),
        None => expires,
    };
    cookie.expires = expiry.and_then(|t| super::iso_time(t).ok());
    Some(cookie)
}

/// The cookie date algorithm of RFC 6265 §5.1.1, which reads the IMF date
/// (`Sun, 06 Nov 1994 08:49:37 GMT`), the Netscape form
/// (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime alike. Always UTC.
fn parse_cookie_date(s: &str) -> Option<OffsetDateTime> {
    let is_delimiter = |c: char| matches!(c, '\x09' | '\x20'..='\x2f' | '\x3b'..='\x40' | '\x5b'..='\x60' | '\x7b'..='\x7e');
    let (mut time, mut day, mut month, mut year) = (None, None, None, None);
    for token in s.split(is_delimiter).filter(|t| !t.is_empty()) {
        if time.is_none() {
            if let Some(t) = parse_time(token) {
                time = Some(t);
                continue;
            }
        }
        if day.is_none() {
            if let Some(d) = leading_digits(token, 1, 2) {
                day = Some(d);
                continue;
            }
        }
        if month.is_none() {
            if let Some(m) = parse_month(token) {
                month = Some(m);
                continue;
            }
        }
        if year.is_none() {
            if let Some(y) = leading_digits(token, 2, 4) {
                year = Some(match y {
                    70..=99 => y + 1900,
                    0..=69 => y + 2000,
                    y => y,
                });
                continue;
            }
        }
    }
    let (h, m, sec) = time?;
    let year = year.filter(|y| *y >= 1601)?;
    let date =
        Date::from_calendar_date(i32::try_from(year).ok()?, month?, u8::try_from(day?).ok()?)
            .ok()?;
    let time = Time::from_hms(h, m, sec).ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc())
}

/// `min..=max` digits at the start of `token`, not followed by another digit.
fn leading_digits(token: &str, min: usize, max: usize) -> Option<u32> {
    let digits = token.bytes().take_while(u8::is_ascii_digit).count();
    if digits < min || digits > max {
        return None;
    }
    token[..digits].parse().ok()
}

fn parse_time(token: &str) -> Option<(u8, u8, u8)> {
    let mut fields = token.splitn(3, ':');
    let h = leading_digits(fields.next()?, 1, 2)?;
    let m = leading_digits(fields.next()?, 1, 2)?;
    let s = leading_digits(fields.next()?, 1, 2)?;
    Some((
        u8::try_from(h).ok()?,
        u8::try_from(m).ok()?,
        u8::try_from(s).ok()?,
    ))
}

fn parse_month(token: &str) -> Option<Month> {
    let prefix = token.get(..3)?.to_ascii_lowercase();
    Some(match prefix.as_str() {
        "jan" => Month::January,
        "feb" => Month::February,
        "mar" => Month::March,
        "apr" => Month::April,
        "may" => Month::May,
        "jun" => Month::June,
        "jul" => Month::July,
        "aug" => Month::August,
        "sep" => Month::September,
        "oct" => Month::October,
        "nov" => Month::November,
        "dec" => Month::December,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(t: Option<OffsetDateTime>) -> Option<String> {
        t.map(|t| crate::har::iso_time(t).unwrap())
    }

    #[test]
    fn cookie_dates_in_imf_netscape_and_asctime_forms_all_read_as_utc() {
        let want = Some("1994-11-06T08:49:37.000Z".to_string());
        assert_eq!(
            iso(parse_cookie_date("Sun, 06 Nov 1994 08:49:37 GMT")),
            want
        );
        assert_eq!(
            iso(parse_cookie_date("Sunday, 06-Nov-94 08:49:37 GMT")),
            want
        );
        assert_eq!(iso(parse_cookie_date("Sun Nov  6 08:49:37 1994")), want);
        assert_eq!(parse_cookie_date("tomorrow"), None);
        assert_eq!(parse_cookie_date("Sun, 31 Feb 2021 08:49:37 GMT"), None);
    }

    #[test]
    fn set_cookie_attributes_map_to_har_fields_and_max_age_beats_expires() {
        let c = set_cookie(
            "sid=abc=1; Path=/app; Domain=.example.test; Expires=Wed, 21 Oct 2015 07:28:00 GMT; HttpOnly; Secure; SameSite=Lax",
            0,
        )
        .unwrap();
        assert_eq!(c.name, "sid");
        assert_eq!(c.value, "abc=1");
        assert_eq!(c.path.as_deref(), Some("/app"));
        assert_eq!(c.domain.as_deref(), Some(".example.test"));
        assert_eq!(c.expires.as_deref(), Some("2015-10-21T07:28:00.000Z"));
        assert_eq!((c.http_only, c.secure), (Some(true), Some(true)));

        let c = set_cookie(
            "a=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Max-Age=60",
            1_000_000,
        )
        .unwrap();
        assert_eq!(c.expires.as_deref(), Some("1970-01-01T00:01:01.000Z"));
        let c = set_cookie("a=1", 0).unwrap();
        assert_eq!((c.path, c.expires, c.http_only), (None, None, None));
    }

    #[test]
    fn request_cookies_come_from_every_cookie_header_in_order() {
        let headers = [
            Header::new("Cookie", "a=1; b=2"),
            Header::new("Accept", "*/*"),
            Header::new("cookie", "c=x=y;;lonely"),
        ];
        let got: Vec<(String, String)> = request_cookies(&headers)
            .into_iter()
            .map(|c| (c.name, c.value))
            .collect();
        let want = [("a", "1"), ("b", "2"), ("c", "x=y"), ("", "lonely")];
        assert_eq!(
            got,
            want.map(|(n, v)| (n.to_string(), v.to_string())).to_vec()
        );
    }
}
