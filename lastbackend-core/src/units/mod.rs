//! The quantities manifests are written in: memory sizes ([`Ram`]), CPU
//! amounts ([`Cpu`]) and port mappings ([`PortMapping`]); and the
//! durations of configuration files ([`parse_duration`]).
//!
//! Each type stores one canonical unit (bytes, millicores, numbers), parses
//! every form the original accepted plus a few it panicked on, and prints a
//! canonical form that parses back to the same value. Serde goes through the
//! same strings, so a manifest read and written again keeps its meaning.
//! A value that does not parse is a [`UnitError`] naming the value, what is
//! wrong with it and the forms that would have been accepted.
//!
//! ```
//! use lastbackend_core::units::{Cpu, PortMapping, Protocol, Ram};
//!
//! let ram: Ram = "512Mi".parse()?;
//! assert_eq!(ram.bytes(), 512 * 1024 * 1024);
//! assert_eq!("1.5gb".parse::<Ram>()?.to_string(), "1500000000");
//!
//! let cpu: Cpu = "0.5".parse()?;
//! assert_eq!((cpu.millis(), cpu.to_string()), (500, "500m".to_string()));
//!
//! let port: PortMapping = "80:8080".parse()?;
//! assert_eq!((port.host_port, port.container_port), (Some(80), 8080));
//! assert_eq!(port.protocol, Protocol::Tcp);
//! assert_eq!(port.to_string(), "80:8080/tcp");
//! # Ok::<(), lastbackend_core::units::UnitError>(())
//! ```

mod cpu;
mod duration;
mod port;
mod ram;
#[cfg(test)]
mod tests;

pub use cpu::Cpu;
pub use duration::parse_duration;
pub use port::{PortMapping, Protocol};
pub use ram::Ram;

/// Why a unit value is malformed: names the value, what it is, and the
/// accepted forms.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {value:?}: {reason}; accepted forms: {accepted}")]
pub struct UnitError {
    /// What the value was meant to be, e.g. `"RAM size"`.
    pub what: &'static str,
    /// The value as it was given.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
    /// The forms that parse, with examples.
    pub accepted: &'static str,
}

/// A decimal number split at its point: `"1.25"` is `("1", "25")`. Only
/// [`split_number`] makes one, so both parts hold nothing but ASCII digits.
struct Decimal<'a> {
    whole: &'a str,
    fraction: &'a str,
}

/// Why a [`Decimal`] could not be scaled to a whole `u64`.
enum ScaleError {
    Overflow,
    NotWhole,
}

/// Splits `s` into a decimal number (`12`, `1.5`) and the rest after it, with
/// the whitespace between them skipped. Signs, exponents, `NaN` and `inf` are
/// not numbers here; the returned reason says what was found instead.
fn split_number(s: &str) -> Result<(Decimal<'_>, &str), String> {
    if s.is_empty() {
        return Err("empty value".into());
    }
    if s.starts_with('-') {
        return Err("negative values are not allowed".into());
    }
    let number_len = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (number, rest) = s.split_at(number_len);
    let (whole, fraction) = match number.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (number, None),
    };
    if whole.is_empty() {
        return Err("expected a number".into());
    }
    match fraction {
        Some("") => return Err("expected digits after the decimal point".into()),
        Some(f) if f.contains('.') => return Err(format!("malformed number {number:?}")),
        _ => {}
    }
    let decimal = Decimal {
        whole,
        fraction: fraction.unwrap_or(""),
    };
    Ok((decimal, rest.trim_start()))
}

impl Decimal<'_> {
    /// The number times `multiplier`, exactly. Works digit by digit, so any
    /// number of fraction digits is fine as long as the product is whole.
    fn scale(&self, multiplier: u64) -> Result<u64, ScaleError> {
        let mut whole: u64 = 0;
        for digit in self.whole.bytes() {
            whole = whole
                .checked_mul(10)
                .and_then(|w| w.checked_add(u64::from(digit - b'0')))
                .ok_or(ScaleError::Overflow)?;
        }
        // The fraction 0.d1 d2 … dn times m is (d1·m + (d2·m + (… + dn·m)/10)/10)/10:
        // the product is whole exactly when every one of those divisions is,
        // and each partial sum stays below 10·m, so nothing overflows.
        let mut fraction: u64 = 0;
        for digit in self.fraction.bytes().rev() {
            let sum = u64::from(digit - b'0')
                .checked_mul(multiplier)
                .and_then(|d| d.checked_add(fraction))
                .ok_or(ScaleError::Overflow)?;
            if !sum.is_multiple_of(10) {
                return Err(ScaleError::NotWhole);
            }
            fraction = sum / 10;
        }
        whole
            .checked_mul(multiplier)
            .and_then(|w| w.checked_add(fraction))
            .ok_or(ScaleError::Overflow)
    }
}
