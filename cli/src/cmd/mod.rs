//! One module per subcommand. Each exposes `Args` (clap) and
//! `run(args, &Output) -> Result<ExitCode, Failure>`.

pub mod agent;
pub mod demo;
pub mod dev_issuer;
pub mod dev_stack;
pub mod doctor;
pub mod inspect;
pub mod jwks;
pub mod mint;
pub mod net;
pub mod verify;

/// The tokio runtime of the commands that do network I/O (two workers: the
/// work is waiting, not computing).
pub fn async_runtime() -> Result<tokio::runtime::Runtime, crate::output::Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| crate::output::Failure::usage("runtime_failed", format!("cannot start the async runtime: {e}")))
}

/// Human log lines on stderr for the long-running commands, colour only on
/// a terminal; `RUST_LOG` overrides `default_filter`.
pub fn init_stderr_logging(default_filter: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never)
        .try_init();
}
