//! Feeds arbitrary text to every unit parser: none may panic, and every value
//! one accepts must print as text that parses back to the same value.
//!
//! Run: `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none units`
#![no_main]

use std::fmt::{Debug, Display};
use std::str::FromStr;

use lastbackend_core::units::{Cpu, PortMapping, Protocol, Ram};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check_round_trip::<Ram>(text);
    check_round_trip::<Cpu>(text);
    check_round_trip::<Protocol>(text);
    check_round_trip::<PortMapping>(text);
});

fn check_round_trip<T>(text: &str)
where
    T: FromStr + Display + PartialEq + Debug,
    T::Err: Debug,
{
    if let Ok(value) = text.parse::<T>() {
        let printed = value.to_string();
        match printed.parse::<T>() {
            Ok(again) => assert_eq!(again, value, "{text:?} printed as {printed:?}"),
            Err(err) => panic!("{text:?} printed as {printed:?}, which does not parse: {err:?}"),
        }
    }
}
