//! Parsing the command line's sizes and durations.

use std::time::Duration;

use crate::server::MAX_CONNECTIONS;

/// Parses a size: `5MiB`, `512KiB`, `2MB`, `10k` or a number of bytes.
pub(crate) fn parse_size(text: &str) -> std::result::Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: usize = number
        .parse()
        .map_err(|_| format!("invalid size {text:?}; write e.g. 5MiB"))?;
    let multiplier: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1024,
        "m" | "mb" => 1_000_000,
        "mib" => 1024 * 1024,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1024 * 1024 * 1024,
        other => {
            return Err(format!(
                "unknown size unit {other:?}; use B, KiB, MiB, GiB, KB, MB or GB"
            ));
        }
    };
    number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("size {text:?} is too large"))
}

/// The shortest lease accepted: heartbeats go every third of it.
const MIN_LEASE: Duration = Duration::from_millis(100);

/// Parses a lease: a duration of at least 100 ms.
pub(super) fn parse_lease(text: &str) -> std::result::Result<Duration, String> {
    let lease = parse_duration(text)?;
    if lease < MIN_LEASE {
        return Err(format!(
            "lease {text:?} is too short; use at least {}ms",
            MIN_LEASE.as_millis()
        ));
    }
    Ok(lease)
}

/// Parses a connection timeout: a duration above zero (zero would close every connection
/// before its first request).
pub(super) fn parse_timeout(text: &str) -> std::result::Result<Duration, String> {
    let timeout = parse_duration(text)?;
    if timeout.is_zero() {
        return Err(format!(
            "timeout {text:?} would close every connection at once; use e.g. 10s"
        ));
    }
    Ok(timeout)
}

/// Parses a connection limit: a whole number from 1 to [`MAX_CONNECTIONS`].
pub(super) fn parse_max_connections(text: &str) -> std::result::Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_CONNECTIONS).contains(&n) => Ok(n),
        _ => Err(format!(
            "invalid connection limit {text:?}; write a whole number from 1 to {MAX_CONNECTIONS}"
        )),
    }
}

/// Parses a duration with its unit: `30s`, `500ms`, `2m`, `1h`, `30d`. A bare number is
/// refused, as in `#[job(timeout = ...)]` (`30` could mean seconds or milliseconds), except
/// `0`, which is zero in every unit.
pub(crate) fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?}; write e.g. 30s"))?;
    Ok(match unit.trim() {
        "" => {
            return Err(format!(
                "duration {text:?} has no unit; write e.g. {number}s, {number}ms, {number}m or {number}h"
            ));
        }
        "s" => Duration::from_secs(number),
        "ms" => Duration::from_millis(number),
        "m" => Duration::from_secs(number.saturating_mul(60)),
        "h" => Duration::from_secs(number.saturating_mul(3600)),
        "d" => Duration::from_secs(number.saturating_mul(86_400)),
        other => {
            return Err(format!(
                "unknown duration unit {other:?}; use ms, s, m, h or d"
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{parse_duration, parse_lease, parse_max_connections, parse_size, parse_timeout};

    #[test]
    fn sizes() {
        assert_eq!(parse_size("5MiB"), Ok(5 * 1024 * 1024));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("2 kb"), Ok(2000));
        assert!(parse_size("five").is_err());
        assert!(parse_size("5XB").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(
            parse_duration("7"),
            Err("duration \"7\" has no unit; write e.g. 7s, 7ms, 7m or 7h".to_owned())
        );
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn connection_timeouts() {
        assert_eq!(parse_timeout("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_timeout("1ms"), Ok(Duration::from_millis(1)));
        assert!(parse_timeout("0s").is_err());
        assert!(parse_timeout("10").is_err());
    }

    #[test]
    fn connection_limits() {
        assert_eq!(parse_max_connections("1024"), Ok(1024));
        assert_eq!(parse_max_connections("1"), Ok(1));
        assert!(parse_max_connections("0").is_err());
        assert!(parse_max_connections("-1").is_err());
        assert!(parse_max_connections("many").is_err());
        assert!(parse_max_connections("16777217").is_err());
    }

    #[test]
    fn leases() {
        assert_eq!(parse_lease("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_lease("100ms"), Ok(Duration::from_millis(100)));
        assert!(parse_lease("0ms").is_err());
        assert!(parse_lease("0").is_err());
        assert!(parse_lease("30").is_err());
        assert!(parse_lease("99ms").is_err());
        assert!(parse_lease("soon").is_err());
    }
}
