//! What can be checked of the D script without a Mac: every probe it names is a known
//! macOS probe, the required probes are all there, and every line its `printf`s can print
//! is read by the shared line-format parser without a diagnostic.

use tot_api::{Diagnostic, Event, EventKind, EventSink};
use tot_backend_dtrace::{D_SCRIPT, KNOWN_PROBES, REQUIRED_PROBES};
use tot_script_format::{parse, Os};

/// One clause of a D program: its probe descriptions and its body.
struct Clause {
    probes: Vec<String>,
    body: String,
}

fn strip_comments(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        match rest[start..].find("*/") {
            Some(end) => rest = &rest[start + end + 2..],
            None => rest = "",
        }
    }
    out.push_str(rest);
    out
}

fn clauses(script: &str) -> Vec<Clause> {
    let text = strip_comments(script);
    let mut clauses = Vec::new();
    let mut head = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '{' {
            head.push(c);
            continue;
        }
        let mut depth = 1;
        let mut body = String::new();
        for c in chars.by_ref() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                break;
            }
            body.push(c);
        }
        // The head is: pragmas and inlines, then probe descriptions, then a predicate.
        let description: String = head
            .lines()
            .filter(|l| !l.trim_start().starts_with('#') && !l.trim_start().starts_with("inline"))
            .collect::<Vec<_>>()
            .join(" ");
        let description = description.split('/').next().unwrap_or_default();
        let probes = description
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect();
        clauses.push(Clause { probes, body });
        head.clear();
    }
    clauses
}

/// `printf("FORMAT", ...)` formats in a clause body, as written.
fn printf_formats(body: &str) -> Vec<String> {
    body.match_indices("printf(\"")
        .filter_map(|(start, found)| {
            let rest = &body[start + found.len()..];
            rest.find('"').map(|end| rest[..end].to_string())
        })
        .collect()
}

/// Expand the D string escapes of a format (`\t`, `\n`).
fn expand(format: &str) -> String {
    format.replace("\\t", "\t").replace("\\n", "\n")
}

/// Fill a format's conversions the way DTrace would for a call to `function`: numbers for
/// `%d` (1: valid as a pid, an fd, a count and a flag), hex for `%x`, the function name for the first `%s` of an `S` record, an escaped
/// path with a tab, a newline and non-UTF-8 bytes for `%S` (DTrace's escaping).
fn fill(format: &str, function: &str) -> String {
    let nasty_path = r"/tmp/a\tb\nc\303\251\377\0";
    let mut out = String::new();
    let mut rest = format;
    let mut first_s = true;
    while let Some(pos) = rest.find('%') {
        out.push_str(&rest[..pos]);
        let conv = &rest[pos + 1..pos + 2];
        out.push_str(match conv {
            "d" => "1",
            "x" => "241",
            "S" => nasty_path,
            "s" if first_s && format.starts_with('S') => {
                first_s = false;
                function
            }
            // X's status: a wait status from lltostr, or "-".
            "s" => "256",
            other => panic!("unexpected conversion %{other} in {format:?}"),
        });
        rest = &rest[pos + 2..];
    }
    out.push_str(rest);
    out
}

#[derive(Default)]
struct Recorder(Vec<Event>, Vec<Diagnostic>);

impl EventSink for Recorder {
    fn event(&mut self, event: Event) {
        self.0.push(event);
    }
    fn diagnostic(&mut self, diagnostic: Diagnostic) {
        self.1.push(diagnostic);
    }
}

#[test]
fn every_probe_is_known_and_every_required_probe_is_used() {
    let used: Vec<String> = clauses(D_SCRIPT)
        .into_iter()
        .flat_map(|c| c.probes)
        .collect();
    assert!(used.len() > 30, "{used:?}");
    for probe in &used {
        assert!(
            KNOWN_PROBES.contains(&probe.as_str()),
            "unknown probe {probe:?}"
        );
    }
    for required in REQUIRED_PROBES {
        assert!(
            used.iter().any(|p| p == required),
            "missing probe {required}"
        );
    }
}

#[test]
fn the_header_is_darwin_and_escaped() {
    let begin = clauses(D_SCRIPT)
        .into_iter()
        .find(|c| c.probes == ["dtrace:::BEGIN"])
        .expect("a BEGIN clause");
    let header = expand(&printf_formats(&begin.body)[0]);
    assert_eq!(
        header,
        tot_script_format::header_line(
            Os::Darwin,
            tot_script_format::StringMode::Escaped,
            "dtrace"
        ) + "\n"
    );
}

#[test]
fn every_printf_prints_lines_the_parser_reads() {
    let header = tot_script_format::header_line(
        Os::Darwin,
        tot_script_format::StringMode::Escaped,
        "dtrace",
    );
    let mut checked = 0;
    for clause in clauses(D_SCRIPT) {
        let functions: Vec<String> = clause
            .probes
            .iter()
            .map(|p| p.split(':').nth(2).unwrap_or_default().to_string())
            .collect();
        for format in printf_formats(&clause.body) {
            if format.starts_with("#tot-script") {
                continue;
            }
            for function in &functions {
                let mut stream = header.clone() + "\n";
                // An argument record needs its exec before it.
                if format.starts_with('A') {
                    stream.push_str("E\t1\t1\t1\t/bin/x\t8\t0\t.\n");
                    let line = expand(&format);
                    // Its index is fixed in the format (`\t0\t`...); fill the others in order.
                    let index: usize = line
                        .split('\t')
                        .nth(4)
                        .and_then(|i| i.parse().ok())
                        .expect("index");
                    for before in 0..index {
                        stream.push_str(&format!("A\t1\t1\t1\t{before}\targ\t.\n"));
                    }
                    stream.push_str(&fill(&line, function));
                    for after in index + 1..8 {
                        stream.push_str(&format!("A\t1\t1\t1\t{after}\targ\t.\n"));
                    }
                } else {
                    let line = fill(&expand(&format), function);
                    stream.push_str(&line);
                    // An exec announcing arguments (`%d` fills in 1) is followed by them.
                    if line.starts_with("E\t") && line.ends_with("\t1\t1\t.\n") {
                        stream.push_str("A\t1\t1\t1\t0\targ\t.\n");
                    }
                }
                let mut recorder = Recorder::default();
                let summary = parse(stream.as_bytes(), &mut recorder);
                assert_eq!(
                    summary.malformed, 0,
                    "{format:?} for {function}: {:?}",
                    recorder.1
                );
                assert!(
                    recorder.1.is_empty(),
                    "{format:?} for {function}: {:?}",
                    recorder.1
                );
                assert!(
                    !recorder.0.is_empty(),
                    "{format:?} for {function}: no event"
                );
                let event = &recorder.0[0];
                if let EventKind::Open { path, .. } = &event.ev {
                    assert_eq!(path.as_slice(), b"/tmp/a\tb\nc\xc3\xa9\xff", "{format:?}");
                }
                if format.starts_with("S") && function.starts_with("open") {
                    assert!(
                        matches!(event.ev, EventKind::Open { .. }),
                        "{format:?} for {function}: {event:?}"
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 25, "{checked}");
}
