//! One module per subcommand. Each owns its clap `Args` struct and a `run` function that
//! returns the process exit code.

pub mod backends;
pub mod config;
pub mod db;
pub mod export;
pub mod import;
pub mod lineage;
pub mod print;
pub mod run;
pub mod runs;
pub mod show;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Run what the command line asked for.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Some(Command::Run(args)) => run::run(args),
        Some(Command::Import(args)) => import::run(args),
        Some(Command::Print(args)) => print::run(args),
        Some(Command::Backends(args)) => backends::run(args),
        Some(Command::Config(args)) => config::run(args),
        Some(Command::Show(args)) => show::run(args),
        Some(Command::Lineage(args)) => lineage::run(args),
        Some(Command::Export(args)) => export::run(args),
        Some(Command::Runs(args)) => runs::run(args),
        Some(Command::Db(args)) => db::run(args),
        Some(Command::External(argv)) => run::run(run::RunArgs {
            trace: cli.trace,
            command: argv,
        }),
        None => {
            use clap::CommandFactory as _;
            crate::cli::Cli::command().print_help()?;
            Ok(ExitCode::from(2))
        }
    }
}
