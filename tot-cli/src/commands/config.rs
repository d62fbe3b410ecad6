//! `tot config`: the merged configuration and where each value came from.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use tot_config::{Config, Sources};

const EXAMPLES: &str = "\
Examples:
  tot config                        the merged configuration, value by value
  tot config --json                 the same, for scripts
  TOT_CONFIG=ci.toml tot config     with one more file on top

Files, lowest precedence first: /etc/tot/config.toml, the user's config.toml
(~/.config/tot on Linux, ~/Library/Application Support/tot on macOS), the nearest
.tot.toml from the current directory up, and $TOT_CONFIG. Later files override earlier
ones key by key; `ignore` and `plugin_dirs` add up.";

/// Show the configuration.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct ConfigArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Run `tot config`.
pub fn run(args: ConfigArgs) -> anyhow::Result<ExitCode> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let sources = Sources::standard(&cwd);
    let config = Config::load_from(&sources)?;
    let entries = config.entries();
    if args.json {
        let files: Vec<_> = sources
            .candidates()
            .into_iter()
            .map(|(layer, path, exists)| serde_json::json!({"layer": layer, "path": path, "read": exists}))
            .collect();
        let json = serde_json::json!({ "files": files, "values": entries });
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("# files, lowest precedence first");
    for (layer, path, exists) in sources.candidates() {
        let state = if exists { "read" } else { "not found" };
        println!("#   {:<8} {} ({state})", layer.label(), path.display());
    }
    println!();
    let width = entries
        .iter()
        .map(|e| e.key.len() + e.value.len() + 3)
        .max()
        .unwrap_or(0);
    for entry in &entries {
        let line = format!("{} = {}", entry.key, entry.value);
        println!("{line:width$}  # {}", entry.origin);
    }
    Ok(ExitCode::SUCCESS)
}
