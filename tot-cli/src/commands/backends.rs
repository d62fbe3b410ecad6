//! `tot backends`: every backend tot knows, where it comes from, and whether it is usable
//! here (and if not, why and how to fix it).

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use tot_api::Availability;
use tot_config::Config;
use tot_registry::{Reason, Registry};

const EXAMPLES: &str = "\
Examples:
  tot backends                      which backends are usable here
  tot backends --json               the same, for scripts
  tot --backend=NAME make           trace with one of them

Backends come from tot itself (built-in), from [backends.NAME] tables in the config
(`tot config` shows which files), and from plugins in the plugin directories.";

/// List the backends.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct BackendsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Run `tot backends`.
pub fn run(args: BackendsArgs) -> anyhow::Result<ExitCode> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let config = Config::load(&cwd)?;
    let registry = Registry::from_config(&config);
    let reports = registry.report();
    let default = registry
        .select(None, &config)
        .ok()
        .map(|s| (s.name, s.reason));
    if args.json {
        let json = serde_json::json!({
            "default": default.as_ref().map(|(name, _)| name),
            "backends": reports,
            "warnings": registry.warnings(),
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(ExitCode::SUCCESS);
    }
    let name_width = reports
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let platform_texts: Vec<String> = reports.iter().map(|r| r.platforms.join(",")).collect();
    let platform_width = platform_texts
        .iter()
        .map(String::len)
        .max()
        .unwrap_or(9)
        .max(9);
    println!(
        "{:name_width$}  {:platform_width$}  STATUS / SOURCE",
        "NAME", "PLATFORMS"
    );
    for (report, platforms) in reports.iter().zip(&platform_texts) {
        let marker = match &default {
            Some((name, _)) if *name == report.name => " (default)",
            _ => "",
        };
        let status = match &report.availability {
            Availability::Available { detail } => format!("usable{marker}: {detail}"),
            Availability::Unavailable { reason, .. } => format!("not usable: {reason}"),
        };
        println!(
            "{:name_width$}  {platforms:platform_width$}  {status}",
            report.name
        );
        let indent = " ".repeat(name_width + platform_width + 4);
        if let Availability::Unavailable { fix, .. } = &report.availability {
            println!("{indent}fix: {fix}");
        }
        println!("{indent}from: {}", report.source);
    }
    match &default {
        Some((name, reason)) => {
            let why = match reason {
                Reason::Config(origin) => format!("set at {origin}"),
                Reason::BestUsable => "the best usable here".to_string(),
                Reason::CommandLine => "from the command line".to_string(),
            };
            println!("\ndefault: {name} ({why}); choose another with --backend=NAME");
        }
        None => println!("\nno default: no backend is usable here"),
    }
    for warning in registry.warnings() {
        eprintln!("tot: warning: {warning}");
    }
    Ok(ExitCode::SUCCESS)
}
