use clap::{Arg, ArgAction, Command};

use super::{render, split_default};

#[test]
fn the_default_moves_from_the_help_to_its_column() {
    assert_eq!(
        split_default("Port for listening [default: 2967] (YAML `server.port`)."),
        (
            "Port for listening (YAML `server.port`).".to_owned(),
            Some("2967".to_owned())
        )
    );
    assert_eq!(split_default("No default"), ("No default".to_owned(), None));
}

#[test]
fn a_row_has_names_env_default_and_possible_values() {
    let command = Command::new("tool").subcommand(
        Command::new("serve")
            .about("Serves")
            .arg(
                Arg::new("mode")
                    .long("mode")
                    .short('m')
                    .env("TOOL_MODE")
                    .value_parser(["fast", "safe"])
                    .default_value("safe")
                    .help("How to serve | with care"),
            )
            .arg(
                Arg::new("quiet")
                    .long("quiet")
                    .action(ArgAction::SetTrue)
                    .help("Says less"),
            )
            .arg(Arg::new("secret").long("secret").hide(true)),
    );
    let markdown = render(&command);
    assert!(
        markdown.contains("## `tool serve`\n\nServes\n"),
        "{markdown}"
    );
    assert!(
        markdown.contains(
            "| `-m`, `--mode <MODE>` | `TOOL_MODE` | `safe` | \
             How to serve \\| with care. Possible values: `fast`, `safe`. |"
        ),
        "{markdown}"
    );
    assert!(
        markdown.contains("| `--quiet` |  |  | Says less |"),
        "{markdown}"
    );
    assert!(!markdown.contains("secret"), "{markdown}");
}
