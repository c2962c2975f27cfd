//! One module per subcommand. Each exposes `Args` (clap) and
//! `run(args, &Output) -> Result<ExitCode, Failure>`.

pub mod agent;
pub mod demo;
pub mod dev_issuer;
pub mod doctor;
pub mod inspect;
pub mod jwks;
pub mod mint;
pub mod net;
pub mod verify;
