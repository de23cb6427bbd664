//! The `pyprobe` binary: parse arguments, run the library, report errors. Nothing else.
use std::process::ExitCode;

use clap::Parser;
use pyprobe::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Dump(args) => pyprobe::dump::run(&args.to_config(), &mut std::io::stdout().lock())
            .map(|()| ExitCode::SUCCESS),
        Command::Heap(args) => pyprobe::heap::run(&args.to_config(), &mut std::io::stdout().lock())
            .map(|()| ExitCode::SUCCESS),
        Command::Top(args) => pyprobe::top::run(&args.to_config()).map(|()| ExitCode::SUCCESS),
        Command::Record(args) => match args.to_config() {
            Err(msg) => Err(anyhow::anyhow!(msg)),
            Ok(config) => pyprobe::record::run(&config).map(|outcome| {
                pyprobe::say!("{}", outcome.summary());
                match outcome.child_status.and_then(|s| s.code()) {
                    Some(code) if code != 0 => {
                        pyprobe::say!("pyprobe: the profiled program exited with status {code}");
                        ExitCode::from(code.clamp(1, 255) as u8)
                    }
                    _ => ExitCode::SUCCESS,
                }
            }),
        },
    };
    result.unwrap_or_else(|err| {
        if pyprobe::error::is_broken_pipe(&err) {
            return ExitCode::SUCCESS;
        }
        pyprobe::say!("pyprobe: error: {err}");
        for cause in err.chain().skip(1) {
            pyprobe::say!("  caused by: {cause}");
        }
        ExitCode::from(2)
    })
}
