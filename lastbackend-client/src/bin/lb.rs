//! `lb`: the Last.Backend command line. Run `lb --help`.

use std::process::ExitCode;

use clap::Parser;
use lastbackend_client::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("cannot start: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // The server's message, then each field problem on its own line;
            // causes that repeat what is already said are left out.
            let mut text = String::new();
            for cause in err.chain().map(ToString::to_string) {
                if !text.contains(&cause) {
                    text = if text.is_empty() {
                        cause
                    } else {
                        format!("{text}: {cause}")
                    };
                }
            }
            eprintln!("{text}");
            ExitCode::FAILURE
        }
    }
}
