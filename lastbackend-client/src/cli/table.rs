//! Plain-text tables and key/value blocks laid out as the original `lb`
//! printed them: upper-case headers underlined with dashes, columns padded.

use chrono::{DateTime, Utc};

/// Columns are separated by this many spaces at least.
const GAP: usize = 2;

/// A table with a header row underlined by dashes.
pub(crate) fn table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let underline = header.map(|title| "-".repeat(title.chars().count()));
    let mut lines: Vec<[&str; N]> = vec![header, underline.each_ref().map(String::as_str)];
    lines.extend(rows.iter().map(|row| row.each_ref().map(String::as_str)));
    let mut widths = [0; N];
    for line in &lines {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for line in lines {
        let mut text = String::new();
        for (column, cell) in line.iter().enumerate() {
            text.push_str(cell);
            if column + 1 < N {
                let pad = widths[column] - cell.chars().count() + GAP;
                text.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}

/// Key/value lines with the values aligned: `NAME         test`.
pub(crate) fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(key, _)| key.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (key, value) in pairs {
        let line = format!("{key:<width$}{:GAP$}{value}", "");
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Indents every non-empty line.
pub(crate) fn indent(text: &str, by: usize) -> String {
    text.lines()
        .map(|line| match line {
            "" => "\n".to_owned(),
            line => format!("{:by$}{line}\n", ""),
        })
        .collect()
}

/// How long ago, in the words the original used: `5 days ago`.
pub(crate) fn ago(time: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - time).num_seconds();
    if seconds < 1 {
        return "now".to_owned();
    }
    const MINUTE: i64 = 60;
    const HOUR: i64 = 60 * MINUTE;
    const DAY: i64 = 24 * HOUR;
    const WEEK: i64 = 7 * DAY;
    const MONTH: i64 = 30 * DAY;
    const YEAR: i64 = 365 * DAY;
    let (count, unit) = match seconds {
        s if s < MINUTE => (s, "second"),
        s if s < HOUR => (s / MINUTE, "minute"),
        s if s < DAY => (s / HOUR, "hour"),
        s if s < WEEK => (s / DAY, "day"),
        s if s < MONTH => (s / WEEK, "week"),
        s if s < YEAR => (s / MONTH, "month"),
        s => (s / YEAR, "year"),
    };
    match count {
        1 => format!("1 {unit} ago"),
        n => format!("{n} {unit}s ago"),
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[test]
    fn columns_are_padded_to_the_widest_cell_and_headers_underlined() {
        let out = table(
            ["NAME", "DESCRIPTION", "ENDPOINT"],
            &[["demo".into(), "".into(), "demo.lb.local".into()]],
        );
        assert_eq!(
            out,
            "NAME  DESCRIPTION  ENDPOINT\n\
             ----  -----------  --------\n\
             demo               demo.lb.local\n"
        );
    }

    #[test]
    fn ages_read_like_the_original() {
        let now = Utc::now();
        assert_eq!(ago(now, now), "now");
        assert_eq!(ago(now - Duration::seconds(1), now), "1 second ago");
        assert_eq!(ago(now - Duration::minutes(5), now), "5 minutes ago");
        assert_eq!(ago(now - Duration::days(6), now), "6 days ago");
        assert_eq!(ago(now - Duration::days(15), now), "2 weeks ago");
        assert_eq!(ago(now - Duration::days(400), now), "1 year ago");
    }
}
