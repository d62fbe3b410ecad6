//! Pluggable backends end to end: the real `tot` with backends from the config, the
//! example dynamic plugin (built here with cargo), the example Python plugin, and plugins
//! and configs that are broken on purpose.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

use crate::support::{Record, Sandbox};

/// The workspace root.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tot-cli sits in the workspace")
        .to_path_buf()
}

/// Build the example dynamic plugin and the faulty fixture plugin once, in a target
/// directory of their own (the one running this test is locked by cargo), and return the
/// directory holding the libraries.
fn plugin_libraries() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let tot = Path::new(env!("CARGO_BIN_EXE_tot"));
        let profile_dir = tot.parent().expect("tot is in a profile directory");
        let target = profile_dir
            .parent()
            .expect("the profile directory is in a target directory");
        let plugin_target = target.join("e2e-plugins");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(workspace())
            .args([
                "build",
                "--quiet",
                "-p",
                "tot-plugin-strace-wrapper",
                "-p",
                "tot-plugin-faulty-fixture",
            ])
            .arg("--target-dir")
            .arg(&plugin_target)
            .status()
            .expect("run cargo build for the plugins");
        assert!(status.success(), "building the example plugins failed");
        plugin_target.join("debug")
    })
}

fn library(name: &str) -> PathBuf {
    let path = plugin_libraries().join(format!("lib{name}{}", std::env::consts::DLL_SUFFIX));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// A sandbox whose only config is `config` (as `$TOT_CONFIG`), with its own user config
/// directory so nothing of the machine's leaks in.
fn sandbox_with(config: &str) -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.write("tot-config.toml", config);
    std::fs::create_dir_all(sandbox.path().join("xdg-config")).expect("mkdir");
    sandbox
}

fn tot(sandbox: &Sandbox) -> Command {
    let mut cmd = sandbox.tot();
    cmd.env("TOT_CONFIG", sandbox.path().join("tot-config.toml"))
        .env("XDG_CONFIG_HOME", sandbox.path().join("xdg-config"));
    cmd
}

/// `tot run --backend NAME --record FILE -- ARGV...`: the output, and the record if one
/// was written.
fn trace(sandbox: &Sandbox, backend: &str, argv: &[&str]) -> (Output, Option<Record>) {
    let record_path = sandbox.path().join("record.jsonl");
    let _ = std::fs::remove_file(&record_path);
    let output = tot(sandbox)
        .args(["run", "--backend", backend, "--record"])
        .arg(&record_path)
        .arg("--")
        .args(argv)
        .output()
        .expect("run tot");
    let record = std::fs::read_to_string(&record_path)
        .ok()
        .map(|text| Record::parse(&text));
    (output, record)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn accesses_of<'a>(record: &'a Record, path: &Path, kind: &str) -> Vec<&'a Value> {
    let path = path.to_str().expect("utf-8 temp path");
    record
        .accesses
        .iter()
        .filter(|a| a["path"] == path && a["kind"] == kind)
        .collect()
}

#[test]
fn the_example_dynamic_plugin_traces_a_real_command() {
    let plugin = library("tot_plugin_strace_wrapper");
    let sandbox = sandbox_with(&format!(
        "[backends.strace-plugin]\nlibrary = {:?}\n",
        plugin.display().to_string()
    ));
    sandbox.write("input.txt", "made by hand\n");
    let (output, record) = trace(
        &sandbox,
        "strace-plugin",
        &["sh", "-c", "cat input.txt > output.txt; exit 3"],
    );
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let record = record.expect("a record");
    assert_eq!(record.header["backend"], "strace-plugin");
    assert_eq!(record.header["exit"], serde_json::json!({"code": 3}));
    assert_eq!(
        accesses_of(&record, &sandbox.path().join("input.txt"), "read").len(),
        1,
        "{:#?}",
        record.accesses
    );
    let written = accesses_of(&record, &sandbox.path().join("output.txt"), "write");
    assert_eq!(written.len(), 1, "{:#?}", record.accesses);
    // The same content as the input: the record hashes what the plugin saw written.
    let input_hash = &accesses_of(&record, &sandbox.path().join("input.txt"), "read")[0]["sha256"];
    assert_eq!(&written[0]["sha256"], input_hash);
    assert!(!record.processes_named("cat").is_empty());
}

#[test]
fn a_plugin_in_the_plugin_directory_is_found_by_its_own_name() {
    let sandbox = sandbox_with("");
    let dir = sandbox.path().join("xdg-config/tot/plugins");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let installed = dir.join(format!(
        "libtot_plugin_strace_wrapper{}",
        std::env::consts::DLL_SUFFIX
    ));
    std::fs::copy(library("tot_plugin_strace_wrapper"), &installed).expect("install the plugin");
    let output = tot(&sandbox)
        .args(["backends", "--json"])
        .output()
        .expect("run tot");
    assert!(output.status.success(), "{}", stderr(&output));
    let listing: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let backends = listing["backends"].as_array().expect("a list");
    let plugin = backends
        .iter()
        .find(|b| b["name"] == "strace-plugin")
        .expect("the plugin is listed");
    assert_eq!(plugin["source"]["kind"], "plugin_dir");
    assert_eq!(plugin["source"]["path"], installed.to_str().expect("utf-8"));
    assert_eq!(plugin["platforms"], serde_json::json!(["linux"]));
    assert_eq!(plugin["availability"]["usable"], true, "{plugin}");
    let strace = backends
        .iter()
        .find(|b| b["name"] == "strace")
        .expect("the built-in");
    assert_eq!(strace["source"]["kind"], "built_in");
    assert_eq!(listing["default"], "strace");
}

#[test]
fn the_python_plugin_traces_a_real_command() {
    let script = workspace().join("examples/plugin-python/tot_exec_plugin.py");
    let sandbox = sandbox_with(&format!(
        "[backends.pyexec]\nplugin = {:?}\nenv = true\n",
        script.display().to_string()
    ));
    let (output, record) = trace(
        &sandbox,
        "pyexec",
        &["sh", "-c", "echo from the command; exit 4"],
    );
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "from the command\n",
        "stdout passes through"
    );
    let record = record.expect("a record");
    assert_eq!(record.header["backend"], "pyexec");
    let sh = record.processes_named("sh");
    assert_eq!(sh.len(), 1, "{:#?}", record.processes);
    assert_eq!(
        sh[0]["argv"],
        serde_json::json!(["sh", "-c", "echo from the command; exit 4"])
    );
    assert_eq!(sh[0]["exit"], serde_json::json!({"code": 4}));

    let listing = tot(&sandbox)
        .args(["backends", "--json"])
        .output()
        .expect("run tot");
    let listing: Value = serde_json::from_slice(&listing.stdout).expect("JSON");
    let pyexec = listing["backends"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "pyexec")
        .cloned()
        .unwrap();
    assert_eq!(pyexec["availability"]["usable"], true, "{pyexec}");
    assert_eq!(pyexec["source"]["kind"], "config");
}

#[test]
fn malformed_toml_is_refused_with_file_line_and_column() {
    let sandbox = sandbox_with("backend = \"strace\"\n[backends.strace\nseccomp = false\n");
    for args in [&["backends"][..], &["config"], &["run", "--", "true"]] {
        let output = tot(&sandbox).args(args).output().expect("run tot");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let message = stderr(&output);
        let config = sandbox.path().join("tot-config.toml");
        assert!(
            message.contains(&format!("{}:2:", config.display())),
            "{args:?}: {message}"
        );
        assert!(message.contains("invalid TOML"), "{message}");
    }
    let sandbox = sandbox_with("[backends.strace]\nseccomp = false\n[store]\nlocation = \"/x\"\n");
    let output = tot(&sandbox).args(["config"]).output().expect("run tot");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("tot-config.toml:4:1: unknown key `location`"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn tot_config_shows_where_each_value_came_from() {
    let sandbox = sandbox_with("backend = \"strace\"\n[backends.strace]\nseccomp = false\n");
    sandbox.write(".tot.toml", "ignore = [\"/proc\"]\n");
    let output = tot(&sandbox)
        .args(["config", "--json"])
        .output()
        .expect("run tot");
    assert!(output.status.success(), "{}", stderr(&output));
    let json: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let value = |key: &str| {
        json["values"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["key"] == key)
            .cloned()
            .unwrap_or_else(|| panic!("no {key} in {json}"))
    };
    assert_eq!(value("backend")["origin"]["file"]["layer"], "env");
    assert_eq!(value("backends.strace.seccomp")["value"], "\"false\"");
    assert_eq!(
        value("backends.strace.seccomp")["origin"]["file"]["line"],
        3
    );
    assert_eq!(value("ignore[0]")["origin"]["file"]["layer"], "project");
    assert_eq!(
        value("store.dir")["origin"]["environment"]["variable"],
        "TOT_DATA_DIR"
    );
}

#[test]
fn an_unknown_backend_is_refused_with_the_closest_names() {
    let sandbox = sandbox_with("");
    let output = tot(&sandbox)
        .args(["--backend", "strase", "true"])
        .output()
        .expect("run tot");
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("unknown backend \"strase\" (did you mean \"strace\"?)"),
        "{message}"
    );

    let sandbox = sandbox_with("backend = \"ptrac\"\n");
    let output = tot(&sandbox).args(["true"]).output().expect("run tot");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("tot-config.toml:1"),
        "names where the default was set: {}",
        stderr(&output)
    );
}

#[test]
fn files_that_are_not_plugins_are_clear_errors() {
    let sandbox = sandbox_with("[backends.text]\nlibrary = \"notes.so\"\n[backends.libm]\nlibrary = \"/lib/x86_64-linux-gnu/libm.so.6\"\n[backends.gone]\nlibrary = \"missing.so\"\n");
    sandbox.write("notes.so", "not a library at all\n");
    let cases = [
        ("text", "is not a loadable library"),
        ("libm", "does not export the symbol `tot_plugin_entry`"),
        ("gone", "cannot be opened"),
    ];
    for (backend, expected) in cases {
        let output = tot(&sandbox)
            .args(["--backend", backend, "true"])
            .output()
            .expect("run tot");
        assert_eq!(output.status.code(), Some(2), "{backend}");
        assert!(
            stderr(&output).contains(expected),
            "{backend}: {}",
            stderr(&output)
        );
    }
    let listing = tot(&sandbox).args(["backends"]).output().expect("run tot");
    assert!(listing.status.success());
    let text = String::from_utf8_lossy(&listing.stdout);
    assert!(
        text.contains("not usable") && text.contains("is not a loadable library"),
        "{text}"
    );
}

#[test]
fn a_plugin_of_another_abi_version_is_refused_naming_both() {
    let plugin = library("tot_plugin_faulty_fixture");
    let sandbox = sandbox_with(&format!(
        "[backends.faulty]\nlibrary = {:?}\n",
        plugin.display().to_string()
    ));
    let output = tot(&sandbox)
        .env("TOT_FAULTY_PLUGIN_ABI_VERSION", "99")
        .args(["--backend", "faulty", "true"])
        .output()
        .expect("run tot");
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("ABI version 99, but this tot speaks version 1"),
        "{message}"
    );
}

#[test]
fn a_panicking_plugin_keeps_the_events_and_the_commands_status() {
    let plugin = library("tot_plugin_faulty_fixture");
    let sandbox = sandbox_with(&format!(
        "[backends.faulty]\nlibrary = {:?}\nmode = \"panic\"\n",
        plugin.display().to_string()
    ));
    let (output, record) = trace(&sandbox, "faulty", &["sh", "-c", "exit 6"]);
    assert_eq!(output.status.code(), Some(6), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("the plugin panicked: deliberate panic"),
        "{}",
        stderr(&output)
    );
    let record = record.expect("the record is written");
    assert_eq!(record.header["exit"], serde_json::json!({"code": 6}));
    assert_eq!(
        record.processes_named("sh").len(),
        1,
        "{:#?}",
        record.processes
    );
}

#[test]
fn a_failing_plugin_keeps_the_events_received() {
    let plugin = library("tot_plugin_faulty_fixture");
    let sandbox = sandbox_with(&format!(
        "[backends.faulty]\nlibrary = {:?}\nmode = \"fail\"\n",
        plugin.display().to_string()
    ));
    let (output, record) = trace(&sandbox, "faulty", &["sh", "-c", "exit 0"]);
    assert!(
        stderr(&output).contains("deliberate failure after the exec"),
        "{}",
        stderr(&output)
    );
    let record = record.expect("the record is written");
    assert_eq!(
        record.processes_named("sh").len(),
        1,
        "{:#?}",
        record.processes
    );
}

/// An external command backend in shell: writes `lines` into `{output}`, then becomes the
/// traced command, so its exit status is the command's.
fn shell_backend(lines: &[&str]) -> String {
    let quoted: Vec<String> = lines.iter().map(|l| format!("'{l}'")).collect();
    let script = format!("printf '%s\\n' {} > \"$0\"; exec \"$@\"", quoted.join(" "));
    format!(
        "[backends.sh]\ncommand = [\"sh\", \"-c\", {}, \"{{output}}\", \"{{command}}\"]\n",
        toml_string(&script)
    )
}

fn toml_string(text: &str) -> String {
    serde_json::to_string(text).expect("a string")
}

#[test]
fn an_external_backend_that_stops_early_keeps_events_and_status() {
    let pid = std::process::id();
    let exec = format!(
        r#"{{"tid":{pid},"ev":{{"exec":{{"path":"/bin/sh","argv":["sh","-c","exit 7"]}}}}}}"#
    );
    let sandbox = sandbox_with(&shell_backend(&[
        r#"{"hello":{"protocol":"tot-events","v":"1.0"}}"#,
        &exec,
    ]));
    let (output, record) = trace(&sandbox, "sh", &["sh", "-c", "exit 7"]);
    assert_eq!(output.status.code(), Some(7), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("before reporting the traced command's exit"),
        "{}",
        stderr(&output)
    );
    let record = record.expect("the record is written");
    assert_eq!(
        record.processes_named("sh").len(),
        1,
        "{:#?}",
        record.processes
    );
}

#[test]
fn an_external_backend_writing_malformed_lines_is_reported_by_line() {
    let pid = std::process::id();
    let exec = format!(r#"{{"tid":{pid},"ev":{{"exec":{{"path":"/bin/true","argv":["true"]}}}}}}"#);
    let exit = format!(r#"{{"tid":{pid},"ev":{{"exit":{{"status":{{"code":0}}}}}}}}"#);
    let sandbox = sandbox_with(&shell_backend(&[
        r#"{"hello":{"protocol":"tot-events","v":"1.0"}}"#,
        "this is not an event",
        &exec,
        &exit,
    ]));
    let (output, record) = trace(&sandbox, "sh", &["true"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("sh:2: malformed event") && message.contains("this is not an event"),
        "{message}"
    );
    let record = record.expect("the record is written");
    assert_eq!(
        record.processes_named("true").len(),
        1,
        "the lines after the bad one are kept: {:#?}",
        record.processes
    );
}
