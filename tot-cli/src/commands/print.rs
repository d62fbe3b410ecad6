//! `tot print`: show a run record readably.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use tot_api::{AccessKind, ExitStatus, FileAccess, ProcessEntry, RunRecord};
use tot_store::lineage::display_argv as shell_words;

use super::db::format_time;

const EXAMPLES: &str = "\
Examples:
  tot print ~/.local/share/tot/records/r-0123456789abcdef.jsonl
  tot print --json build.jsonl | jq '.processes | length'";

/// Print a run record: the run, its process tree, and each process's inputs and outputs.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct PrintArgs {
    /// Print the record as one JSON object `{header, processes, accesses}`.
    #[arg(long)]
    pub json: bool,

    /// The record file.
    pub record: PathBuf,
}

/// Run `tot print`.
pub fn run(args: PrintArgs) -> anyhow::Result<ExitCode> {
    let (record, problems) = tot_record::read_record(&args.record)
        .with_context(|| format!("cannot read the record {}", args.record.display()))?;
    for problem in &problems {
        eprintln!("tot: warning: {problem}");
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.json {
        let value = serde_json::json!({
            "header": record.header,
            "processes": record.processes,
            "accesses": record.accesses,
        });
        serde_json::to_writer_pretty(&mut out, &value)?;
        writeln!(out)?;
    } else {
        write_text(&mut out, &record)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn write_text(out: &mut impl std::io::Write, record: &RunRecord) -> std::io::Result<()> {
    let h = &record.header;
    writeln!(
        out,
        "run {} on {} ({}), {} backend, tot {}",
        h.run_id, h.hostname, h.os, h.backend, h.tot_version
    )?;
    writeln!(out, "command: {}", shell_words(&h.argv))?;
    writeln!(out, "cwd:     {}", h.cwd)?;
    if let Some(start) = h.start {
        write!(out, "start:   {}", format_time(start))?;
        match h.end {
            Some(end) => writeln!(
                out,
                ", took {:.3} s",
                end.saturating_sub(start) as f64 / 1e9
            )?,
            None => writeln!(out, ", cut short (no end recorded)")?,
        }
    }
    writeln!(out, "exit:    {}", describe_exit(h.exit.as_ref()))?;
    writeln!(
        out,
        "{} processes, {} file accesses",
        record.processes.len(),
        record.accesses.len()
    )?;
    writeln!(out)?;

    let mut accesses: BTreeMap<&str, Vec<&FileAccess>> = BTreeMap::new();
    for access in &record.accesses {
        accesses
            .entry(access.process.as_str())
            .or_default()
            .push(access);
    }
    let mut children: BTreeMap<Option<&str>, Vec<&ProcessEntry>> = BTreeMap::new();
    let known: std::collections::HashSet<&str> =
        record.processes.iter().map(|p| p.id.as_str()).collect();
    for process in &record.processes {
        let parent = process.parent.as_deref().filter(|p| known.contains(p));
        children.entry(parent).or_default().push(process);
    }
    // Epochs that a later epoch of the same pid replaced by exec.
    let exec_successors: std::collections::HashSet<&str> = record
        .processes
        .iter()
        .filter_map(|p| {
            let parent = p.parent.as_deref()?;
            let same_pid = record
                .processes
                .iter()
                .any(|q| q.id == parent && q.pid == p.pid);
            same_pid.then_some(parent)
        })
        .collect();
    // Iterative depth-first walk: deep process trees must not overflow the stack.
    let mut stack: Vec<(&ProcessEntry, usize)> = children
        .get(&None)
        .map(|roots| roots.iter().rev().map(|p| (*p, 0)).collect())
        .unwrap_or_default();
    while let Some((process, depth)) = stack.pop() {
        let indent = "  ".repeat(depth);
        let exe = process
            .exe
            .as_ref()
            .map(|e| e.to_string())
            .unwrap_or_default();
        let ending = if process.exit.is_none() && exec_successors.contains(process.id.as_str()) {
            "then exec".to_string()
        } else {
            describe_exit(process.exit.as_ref())
        };
        writeln!(
            out,
            "{indent}[{}] {}  ({exe}; {ending})",
            process.pid,
            shell_words(&process.argv),
        )?;
        for access in accesses.get(process.id.as_str()).into_iter().flatten() {
            if access.kind == AccessKind::Exec {
                continue;
            }
            let hash = access
                .sha256
                .as_deref()
                .map(|h| format!("sha256:{}", &h[..h.len().min(12)]))
                .or_else(|| access.note.clone())
                .unwrap_or_default();
            let source = access
                .source
                .as_ref()
                .map(|s| format!(" (from {s})"))
                .unwrap_or_default();
            writeln!(
                out,
                "{indent}    {:<11} {}{source}  {hash}",
                kind_word(access.kind),
                access.path
            )?;
        }
        if let Some(kids) = children.get(&Some(process.id.as_str())) {
            for kid in kids.iter().rev() {
                stack.push((kid, depth + 1));
            }
        }
    }
    Ok(())
}

fn kind_word(kind: AccessKind) -> &'static str {
    match kind {
        AccessKind::Read => "read",
        AccessKind::Write => "write",
        AccessKind::Exec => "exec",
        AccessKind::Delete => "delete",
        AccessKind::RenameFrom => "rename-from",
        AccessKind::RenameTo => "rename-to",
        AccessKind::Link => "link",
        AccessKind::Symlink => "symlink",
        AccessKind::Mkdir => "mkdir",
    }
}

/// A readable exit status.
pub fn describe_exit(exit: Option<&ExitStatus>) -> String {
    match exit {
        Some(ExitStatus::Code(code)) => format!("exit {code}"),
        Some(ExitStatus::Signal { name, core_dumped }) => {
            format!(
                "killed by {name}{}",
                if *core_dumped { ", core dumped" } else { "" }
            )
        }
        Some(ExitStatus::Unknown) | None => "exit unknown".into(),
    }
}
