//! `tokenkeep`: the command line of tokenkeep.
//!
//! Exit codes: 0 valid/ok, 1 rejected or check failed (or stdout could not
//! be written), 2 usage or configuration error (clap's own usage errors
//! included), 141 stdout closed early (as if killed by SIGPIPE).

#![forbid(unsafe_code)]

mod agent;
mod cmd;
mod output;
mod stop_signal;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Keep tokens honest and fresh: verify, inspect and mint JWTs, check an issuer, run a local OIDC issuer.
#[derive(Debug, Parser)]
#[command(name = "tokenkeep", version, about, propagate_version = true)]
struct Cli {
    /// Machine-readable JSON output instead of human text.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The end-to-end story on an embedded dev issuer and a real OpenBao dev server (about 75 s).
    Demo(cmd::demo::Args),
    /// Verify a token against an issuer's keys and a policy.
    Verify(cmd::verify::Args),
    /// Show a key set: usable keys, skipped ones and why, caching headers.
    Jwks(cmd::jwks::Args),
    /// Check an issuer end to end (discovery, JWKS, TLS, clock, a token's kid).
    Doctor(cmd::doctor::Args),
    /// Decode a token and show its header, claims and times (NOT verified).
    Inspect(cmd::inspect::Args),
    /// Sign a token with a local private key (PEM or JWK).
    Mint(cmd::mint::Args),
    /// Run a local OIDC/JWKS issuer on 127.0.0.1 until interrupted.
    DevIssuer(cmd::dev_issuer::Args),
    /// For tests of every host: a dev issuer, a real OpenBao trusting it and optionally a real
    /// PostgreSQL behind OpenBao's database engine, described in one JSON line.
    DevStack(cmd::dev_stack::Args),
    /// Keep credentials fresh for software that cannot link tokenkeep: sources
    /// (Vault token, KV secrets, leases, token files) written to files, atomically.
    Agent(cmd::agent::Args),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_or_help(&e),
    };
    let out = output::Output::new(cli.json);
    let result = match cli.command {
        Command::Demo(args) => cmd::demo::run(args, &out),
        Command::Verify(args) => cmd::verify::run(args, &out),
        Command::Jwks(args) => cmd::jwks::run(args, &out),
        Command::Doctor(args) => cmd::doctor::run(args, &out),
        Command::Inspect(args) => cmd::inspect::run(args, &out),
        Command::Mint(args) => cmd::mint::run(args, &out),
        Command::DevIssuer(args) => cmd::dev_issuer::run(args, &out),
        Command::DevStack(args) => cmd::dev_stack::run(args, &out),
        Command::Agent(args) => cmd::agent::run(args, &out),
    };
    match result {
        Ok(code) => out.finish(code),
        Err(failure) => out.fail(&failure),
    }
}

/// clap's own output: a usage error on stderr (exit 2); `--help` and
/// `--version` on stdout through [`output::Output`], so a closed pipe or a
/// full disk ends as for every other command.
fn usage_or_help(e: &clap::Error) -> ExitCode {
    if e.use_stderr() {
        let _ = e.print();
        return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(output::EXIT_USAGE));
    }
    let out = output::Output::new(false);
    out.text(&e.render().ansi().to_string());
    out.finish(ExitCode::SUCCESS)
}
