//! The flags reference (`docs/flags.md`), rendered from the clap definitions
//! so that it cannot drift from the binary: one section per subcommand, one
//! table row per flag with its `LB_*` variable, default and description.
//!
//! ```
//! let markdown = lastbackend::reference::flags_reference();
//! assert!(markdown.contains("## `lastbackend api`"));
//! ```

use std::fmt::Write as _;

use clap::{Arg, Command, CommandFactory};

use crate::Cli;

/// The command that rewrites `docs/flags.md` from [`flags_reference`].
pub const REGENERATE: &str =
    "UPDATE_FLAGS_REFERENCE=1 cargo test -p lastbackend --test flags_reference";

/// The Markdown reference of every `lastbackend` subcommand's flags, as
/// committed in `docs/flags.md`.
pub fn flags_reference() -> String {
    render(&Cli::command())
}

/// The Markdown reference of `command`'s subcommands (and theirs, nested).
fn render(command: &Command) -> String {
    let name = command.get_name();
    let mut out = format!(
        "# `{name}` flags\n\n\
         Generated from the clap definitions by \
         `lastbackend::reference::flags_reference()`; do not edit by hand. \
         Regenerate with:\n\n\
         ```sh\n{REGENERATE}\n```\n\n\
         A flag's environment variable sets it when the flag is not given. \
         Flags and variables take precedence over the YAML file given with \
         `-c`, and the file over the defaults shown here.\n"
    );
    for sub in command.get_subcommands() {
        section(&mut out, name, sub);
    }
    out
}

/// One subcommand's heading, about text and flags table, then its own
/// subcommands.
fn section(out: &mut String, parent: &str, command: &Command) {
    let path = format!("{parent} {}", command.get_name());
    let _ = write!(out, "\n## `{path}`\n\n");
    if let Some(about) = command.get_long_about().or(command.get_about()) {
        let _ = writeln!(out, "{}\n", one_line(&about.to_string()));
    }
    let args: Vec<&Arg> = command
        .get_arguments()
        .filter(|a| !a.is_hide_set())
        .collect();
    if args.is_empty() {
        out.push_str("No flags.\n");
    } else {
        out.push_str("| flag | env | default | description |\n|---|---|---|---|\n");
        for arg in args {
            row(out, arg);
        }
    }
    for sub in command.get_subcommands() {
        section(out, &path, sub);
    }
}

/// One table row.
fn row(out: &mut String, arg: &Arg) {
    let help = arg
        .get_long_help()
        .or(arg.get_help())
        .map(ToString::to_string)
        .unwrap_or_default();
    let (mut description, documented) = split_default(&one_line(&help));
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    // clap's own default when it has one; otherwise the `[default: …]` the
    // help text states (most flags leave it to the config loader, which
    // layers flags over the YAML file over the defaults).
    let default = if defaults.is_empty() {
        documented.unwrap_or_default()
    } else {
        defaults.join(", ")
    };
    let takes_values = arg.get_action().takes_values();
    let possible: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| format!("`{}`", v.get_name()))
        .collect();
    if takes_values && !possible.is_empty() {
        if !description.is_empty() && !description.ends_with('.') {
            description.push('.');
        }
        let _ = write!(description, " Possible values: {}.", possible.join(", "));
    }
    let env = arg
        .get_env()
        .map(|e| format!("`{}`", e.to_string_lossy()))
        .unwrap_or_default();
    // A value is code; a phrase ("the hostname") is prose.
    let default = if default.is_empty() || default.contains(' ') {
        default
    } else {
        format!("`{default}`")
    };
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} |",
        flag(arg, takes_values),
        env,
        escape(&default),
        escape(description.trim()),
    );
}

/// `` `-c`, `--config <CONFIG>` ``: the names and, for flags that take one,
/// the value's placeholder.
fn flag(arg: &Arg, takes_values: bool) -> String {
    let value = if takes_values {
        let names: Vec<String> = arg.get_value_names().map_or_else(
            || vec![arg.get_id().as_str().to_uppercase()],
            |names| names.iter().map(ToString::to_string).collect(),
        );
        format!(" <{}>", names.join("> <"))
    } else {
        String::new()
    };
    let mut names = Vec::new();
    if let Some(short) = arg.get_short() {
        names.push(format!("`-{short}`"));
    }
    match arg.get_long() {
        Some(long) => names.push(format!("`--{long}{value}`")),
        None if arg.is_positional() => names.push(format!("`{}`", value.trim())),
        None => {}
    }
    names.join(", ")
}

/// Joins the lines of a help text into one, as a table cell needs.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The description without its `[default: …]`, and that default.
fn split_default(help: &str) -> (String, Option<String>) {
    const MARK: &str = "[default: ";
    let Some(start) = help.find(MARK) else {
        return (help.to_owned(), None);
    };
    let Some(len) = help[start..].find(']') else {
        return (help.to_owned(), None);
    };
    let default = help[start + MARK.len()..start + len].trim().to_owned();
    let rest = format!("{}{}", help[..start].trim_end(), &help[start + len + 1..]);
    (rest, Some(default))
}

/// Keeps a table cell one cell: pipes would split it.
fn escape(cell: &str) -> String {
    cell.replace('|', "\\|")
}

#[cfg(test)]
mod tests;
