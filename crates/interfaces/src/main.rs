//! `yajin`: the command line and the HTTP server.

use std::process::ExitCode;

use clap::Parser;
use yajin::cli::Cli;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match yajin::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let line = failure.message.lines().next().unwrap_or("failed").to_owned();
            eprintln!("yajin: {line}");
            ExitCode::from(failure.exit_code)
        }
    }
}
