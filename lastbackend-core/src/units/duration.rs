//! Durations as configuration files write them: seconds, or Go-style
//! (`30s`, `5m`, `1h30m`, `1d`).

use std::time::Duration;

use super::UnitError;

const WHAT: &str = "duration";
const ACCEPTED: &str = "seconds (30) or a duration such as 30s, 5m, 1h30m, 1d";

/// Parses seconds (`30`) or a sum of numbers with a unit, `s`, `m`, `h` or
/// `d` (`30s`, `5m`, `1h30m`, `24h`), as the original's settings took them.
///
/// ```
/// use std::time::Duration;
/// use lastbackend_core::units::parse_duration;
///
/// assert_eq!(parse_duration("1h30m")?, Duration::from_secs(5400));
/// assert_eq!(parse_duration("45")?, Duration::from_secs(45));
/// assert!(parse_duration("5 minutes").is_err());
/// # Ok::<(), lastbackend_core::units::UnitError>(())
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let error = |reason: &str| UnitError {
        what: WHAT,
        value: text.to_owned(),
        reason: reason.to_owned(),
        accepted: ACCEPTED,
    };
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    if text.is_empty() {
        return Err(error("empty value"));
    }
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let unit_len = rest[digits..]
            .bytes()
            .take_while(u8::is_ascii_alphabetic)
            .count();
        if digits == 0 || unit_len == 0 {
            return Err(error("not a number with a unit"));
        }
        let value: u64 = rest[..digits].parse().map_err(|_| error("too long"))?;
        let unit = match &rest[digits..digits + unit_len] {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86400,
            _ => return Err(error("unknown unit")),
        };
        total = value
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| error("too long"))?;
        rest = &rest[digits + unit_len..];
    }
    Ok(Duration::from_secs(total))
}
