//! The registry over real files and real programs.

use std::path::{Path, PathBuf};

use tot_api::{Diagnostic, Event, EventKind, EventSink, ExitStatus, Severity, TraceRequest};
use tot_config::{Config, Layer};

use crate::*;

#[derive(Default)]
struct Collect {
    events: Vec<Event>,
    diagnostics: Vec<Diagnostic>,
}

impl EventSink for Collect {
    fn event(&mut self, event: Event) {
        self.events.push(event);
    }
    fn diagnostic(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }
}

fn config(text: &str) -> Config {
    Config::from_texts(vec![(Layer::Env, "/test/config.toml".into(), text.into())]).unwrap()
}

fn request(argv: &[&str], cwd: &Path) -> TraceRequest {
    TraceRequest {
        argv: argv.iter().map(Into::into).collect(),
        cwd: cwd.to_path_buf(),
        options: Default::default(),
    }
}

/// An external backend written in shell: it writes `lines` into `{output}`, then runs the
/// command (so its exit status is the command's).
fn shell_backend(lines: &[&str]) -> String {
    let printf: Vec<String> = lines
        .iter()
        .map(|l| format!("'{}'", l.replace('\'', "'\\''")))
        .collect();
    format!(
        "[backends.sh]\ncommand = [\"sh\", \"-c\", \"printf '%s\\\\n' {} > \\\"$0\\\"; exec \\\"$@\\\"\", \"{{output}}\", \"{{command}}\"]\n",
        printf.join(" ").replace('"', "\\\"")
    )
}

#[test]
fn unknown_names_suggest_the_closest() {
    let registry = Registry::from_config(&config(
        "[backends.my-tracer]\ncommand = [\"t\", \"{command}\"]\n",
    ));
    let err = registry.lookup("strase").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownBackend);
    let message = err.to_string();
    assert!(message.contains("(did you mean \"strace\"?)"), "{message}");
    assert!(message.contains("known backends: strace, "), "{message}");
    assert!(
        message.ends_with("my-tracer (see `tot backends`)"),
        "{message}"
    );
    assert_eq!(registry.suggest("my-tracr")[0], "my-tracer");
    assert!(registry.suggest("zzzzzz").is_empty());
}

#[test]
fn selection_precedence_is_flag_then_config_then_best() {
    let config = config("backend = \"sh\"\n[backends.strace]\nseccomp = false\n[backends.sh]\ncommand = [\"sh\", \"-c\", \"true\", \"{command}\"]\n");
    let registry = Registry::from_config(&config);
    let chosen = registry.select(Some("strace"), &config).unwrap();
    assert_eq!(chosen.name, "strace");
    assert_eq!(chosen.reason, Reason::CommandLine);
    assert_eq!(
        chosen.options.get("seccomp").map(String::as_str),
        Some("false")
    );
    let chosen = registry.select(None, &config).unwrap();
    assert_eq!(chosen.name, "sh");
    assert!(matches!(chosen.reason, Reason::Config(_)));
    let defaults = Config::defaults();
    let chosen = Registry::from_config(&defaults)
        .select(None, &defaults)
        .unwrap();
    assert_eq!(
        chosen.name, "strace",
        "strace is installed on the test machine"
    );
    assert_eq!(chosen.reason, Reason::BestUsable);

    let bad = Config::from_texts(vec![(
        Layer::User,
        "/u.toml".into(),
        "\n\nbackend = \"strac\"\n".into(),
    )])
    .unwrap();
    let err = Registry::from_config(&bad).select(None, &bad).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("(did you mean \"strace\"?)"), "{message}");
    assert!(message.contains("/u.toml:3"), "{message}");
}

#[test]
fn an_external_event_stream_is_decoded_and_malformed_lines_reported() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(&shell_backend(&[
        r#"{"hello":{"protocol":"tot-events","v":"1.0"}}"#,
        r#"{"tid":7,"ev":{"exec":{"path":"/bin/sh","argv":["sh"]}}}"#,
        "garbage",
        r#"{"tid":7,"ev":{"exit":{"status":{"code":5}}}}"#,
    ]));
    let backend = Registry::from_config(&config)
        .lookup("sh")
        .unwrap()
        .instantiate()
        .unwrap();
    let mut sink = Collect::default();
    let outcome = backend
        .trace(&request(&["sh", "-c", "exit 5"], dir.path()), &mut sink)
        .unwrap();
    assert_eq!(outcome.status, ExitStatus::Code(5));
    assert_eq!(outcome.root_pid, Some(7));
    assert_eq!(sink.events.len(), 2);
    let malformed: Vec<_> = sink
        .diagnostics
        .iter()
        .filter(|d| d.line == Some(3))
        .collect();
    assert_eq!(malformed.len(), 1, "{:?}", sink.diagnostics);
    assert!(malformed[0].message.contains("garbage"));
}

#[test]
fn an_external_backend_that_stops_early_keeps_events_and_the_commands_status() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(&shell_backend(&[
        r#"{"hello":{"protocol":"tot-events","v":"1.0"}}"#,
        r#"{"tid":7,"ev":{"exec":{"path":"/bin/sh","argv":["sh"]}}}"#,
    ]));
    let backend = Registry::from_config(&config)
        .lookup("sh")
        .unwrap()
        .instantiate()
        .unwrap();
    let mut sink = Collect::default();
    let outcome = backend
        .trace(&request(&["sh", "-c", "exit 9"], dir.path()), &mut sink)
        .unwrap();
    assert_eq!(outcome.status, ExitStatus::Code(9));
    assert_eq!(sink.events.len(), 1);
    let error = sink
        .diagnostics
        .iter()
        .find(|d| d.severity == Severity::Error)
        .unwrap();
    assert!(
        error
            .message
            .contains("before reporting the traced command's exit"),
        "{}",
        error.message
    );
}

#[test]
fn a_refused_stream_is_an_error_naming_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(&shell_backend(&[
        r#"{"hello":{"protocol":"tot-events","v":"7.1"}}"#,
    ]));
    let backend = Registry::from_config(&config)
        .lookup("sh")
        .unwrap()
        .instantiate()
        .unwrap();
    let err = backend
        .trace(&request(&["true"], dir.path()), &mut Collect::default())
        .unwrap_err();
    assert!(err.message.contains("version 7.1"), "{err}");
    assert!(err.message.contains("reads version 1.0"), "{err}");
}

#[test]
fn a_backend_that_never_opens_its_output_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        "[backends.mute]\ncommand = [\"sh\", \"-c\", \"exit 4\", \"{output}\", \"{command}\"]\n",
    );
    let backend = Registry::from_config(&config)
        .lookup("mute")
        .unwrap()
        .instantiate()
        .unwrap();
    let err = backend
        .trace(&request(&["true"], dir.path()), &mut Collect::default())
        .unwrap_err();
    assert!(err.message.contains("never opened its output"), "{err}");
    assert!(err.message.contains("exited with status 4"), "{err}");
}

#[test]
fn a_missing_command_is_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(&shell_backend(&[]));
    let backend = Registry::from_config(&config)
        .lookup("sh")
        .unwrap()
        .instantiate()
        .unwrap();
    let err = backend
        .trace(
            &request(&["no-such-command-tot-test"], dir.path()),
            &mut Collect::default(),
        )
        .unwrap_err();
    assert_eq!(err.kind, tot_api::BackendErrorKind::CommandNotFound);
}

#[test]
fn an_external_strace_command_is_parsed_as_strace() {
    let dir = tempfile::tempdir().unwrap();
    let config = config("[backends.st]\ncommand = [\"strace\", \"-f\", \"-ttt\", \"-qq\", \"-o\", \"{output}\", \"--\", \"{command}\"]\nformat = \"strace\"\nplatforms = [\"linux\"]\n");
    let registry = Registry::from_config(&config);
    let report = registry.lookup("st").unwrap().report();
    assert!(
        report.availability.is_available(),
        "{:?}",
        report.availability
    );
    let backend = registry.lookup("st").unwrap().instantiate().unwrap();
    let mut sink = Collect::default();
    let outcome = backend
        .trace(
            &request(
                &["sh", "-c", "cat /etc/hostname > /dev/null; exit 3"],
                dir.path(),
            ),
            &mut sink,
        )
        .unwrap();
    assert_eq!(outcome.status, ExitStatus::Code(3));
    let opened: Vec<_> = sink
        .events
        .iter()
        .filter_map(|e| match &e.ev {
            EventKind::Open { path, .. } => Some(path.to_string()),
            _ => None,
        })
        .collect();
    assert!(opened.iter().any(|p| p == "/etc/hostname"), "{opened:?}");
}

#[test]
fn files_that_are_not_plugins_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.so");
    std::fs::write(&text, "this is not a library\n").unwrap();
    let err = load_plugin_library(&text).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotALibrary);
    assert!(
        err.to_string().contains("is not a loadable library"),
        "{err}"
    );

    let err = load_plugin_library(&dir.path().join("missing.so")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PluginNotFound);

    let libm = system_library("libm.so.6");
    let err = load_plugin_library(&libm).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MissingSymbol);
    assert!(
        err.to_string()
            .contains("does not export the symbol `tot_plugin_entry`"),
        "{err}"
    );
}

/// A real shared library that is not a tot plugin.
fn system_library(name: &str) -> PathBuf {
    let candidates = [
        "/lib/x86_64-linux-gnu",
        "/usr/lib/x86_64-linux-gnu",
        "/lib/aarch64-linux-gnu",
        "/usr/lib64",
        "/lib64",
    ];
    candidates
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{name} not found in {candidates:?}"))
}

#[test]
fn plugin_directories_yield_plugins_and_broken_entries() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("libbroken.so"), "not elf").unwrap();
    std::fs::write(dir.path().join("README.md"), "docs").unwrap();
    let script = dir.path().join("tot-backend-echo.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nif [ \"$1\" = --availability ]; then echo '{\"unavailable\":{\"reason\":\"echo is a toy\",\"fix\":\"use strace\"}}'; exit 0; fi\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = config(&format!(
        "plugin_dirs = [{:?}]\n",
        dir.path().display().to_string()
    ));
    let registry = Registry::from_config(&config);
    let broken = registry.lookup("broken").unwrap();
    assert!(matches!(broken.source(), Source::PluginDir { .. }));
    let report = broken.report();
    match &report.availability {
        tot_api::Availability::Unavailable { reason, .. } => {
            assert!(reason.contains("not a loadable library"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    let echo = registry.lookup("echo").unwrap().report();
    assert_eq!(
        echo.availability,
        tot_api::Availability::Unavailable {
            reason: "echo is a toy".into(),
            fix: "use strace".into()
        }
    );
    assert!(registry.get("README").is_none());
}
