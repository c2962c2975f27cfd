//! One module per subcommand. Each exposes `Args` (clap) and
//! `run(args, &Output) -> Result<ExitCode, Failure>`.

pub mod dev_issuer;
pub mod inspect;
pub mod mint;
