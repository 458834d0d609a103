//! The `taxpoynt-mono` binary: parse the command line and run it.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than the system allocator: webhook intake and sync allocate many small,
/// short-lived buffers across threads, where glibc's malloc spent about a tenth of the
/// service's CPU (README, "Webhook intake").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = taxpoynt_mono::cli::Cli::parse();
    match taxpoynt_mono::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
