//! W3C PROV-JSON export (<https://www.w3.org/Submission/prov-json/>).
//!
//! - Each process exec epoch is an **activity**.
//! - Each file version is an **entity**, identified by its content hash
//!   (`sha256:<hex>`); a file that was not hashed is an entity named after its path.
//! - Each machine is an **agent**.
//! - Edges: `used` (read, exec, rename_from), `wasGeneratedBy` (write, rename_to, link,
//!   symlink, mkdir), `wasInvalidatedBy` (delete), `wasInformedBy` (a process started by
//!   another) and `wasAssociatedWith` (a process and the machine it ran on).
//!
//! Attribute values are PROV-JSON literals: strings, numbers, arrays of them, or typed
//! values (`{"$": ..., "type": ...}`), so a non-UTF-8 path is carried as
//! `xsd:base64Binary`.

use base64::Engine as _;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use tot_api::{AccessKind, Bytes, ExitStatus};

use crate::lineage::LineageGraph;

/// The namespace of tot's own terms and ids.
pub const TOT_NAMESPACE: &str = "urn:tot:";
/// The namespace of file versions: `sha256:<hex>` names a content.
pub const SHA256_NAMESPACE: &str = "urn:tot:sha256:";

/// Formats nanoseconds since the Unix epoch as an `xsd:dateTime` in UTC.
pub fn format_time(nanos: u64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(nanos);
    humantime::format_rfc3339_nanos(time).to_string()
}

fn bytes_literal(bytes: &Bytes) -> Value {
    match std::str::from_utf8(bytes.as_slice()) {
        Ok(text) => Value::String(text.to_string()),
        Err(_) => json!({
            "$": base64::engine::general_purpose::STANDARD.encode(bytes.as_slice()),
            "type": "xsd:base64Binary",
        }),
    }
}

fn qualified_name(name: &str) -> Value {
    json!({"$": name, "type": "prov:QUALIFIED_NAME"})
}

/// Keeps the characters that are safe in the local part of a qualified name.
fn local_part(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

fn entity_id(sha256: &Option<String>, first_path: &Bytes) -> String {
    match sha256 {
        Some(sha) if is_sha256_hex(sha) => format!("sha256:{}", sha.to_ascii_lowercase()),
        _ => {
            let digest = Sha256::digest(first_path.as_slice());
            let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
            format!("tot:unhashed-{hex}")
        }
    }
}

/// The PROV-JSON document of a graph.
pub fn to_prov_json(graph: &LineageGraph) -> Value {
    let mut entities = Map::new();
    let mut activities = Map::new();
    let mut agents = Map::new();
    let mut used = Map::new();
    let mut generated = Map::new();
    let mut invalidated = Map::new();
    let mut informed = Map::new();
    let mut associated = Map::new();

    let entity_ids: Vec<String> = graph
        .files
        .iter()
        .map(|f| entity_id(&f.sha256, &f.paths[0]))
        .collect();
    for (file, id) in graph.files.iter().zip(&entity_ids) {
        let mut attributes = Map::new();
        attributes.insert("prov:type".into(), qualified_name("tot:FileVersion"));
        attributes.insert(
            "prov:label".into(),
            Value::String(file.paths[0].to_str_lossy().into_owned()),
        );
        let paths: Vec<Value> = file.paths.iter().map(bytes_literal).collect();
        attributes.insert("tot:path".into(), Value::Array(paths));
        if let Some(sha) = &file.sha256 {
            attributes.insert("tot:sha256".into(), Value::String(sha.clone()));
        }
        if let Some(size) = file.size {
            attributes.insert("tot:size".into(), json!(size));
        }
        entities.insert(id.clone(), Value::Object(attributes));
    }

    let activity_ids: Vec<String> = graph
        .processes
        .iter()
        .map(|p| format!("tot:process-{}", local_part(&p.info.id)))
        .collect();
    for (process, id) in graph.processes.iter().zip(&activity_ids) {
        let info = &process.info;
        let mut attributes = Map::new();
        attributes.insert("prov:type".into(), qualified_name("tot:ProcessExec"));
        attributes.insert(
            "prov:label".into(),
            Value::String(crate::lineage::display_argv(&info.argv)),
        );
        if let Some(start) = info.start {
            attributes.insert("prov:startTime".into(), Value::String(format_time(start)));
        }
        if let Some(end) = info.end {
            attributes.insert("prov:endTime".into(), Value::String(format_time(end)));
        }
        attributes.insert(
            "tot:argv".into(),
            Value::Array(info.argv.iter().map(bytes_literal).collect()),
        );
        if let Some(exe) = &info.exe {
            attributes.insert("tot:exe".into(), bytes_literal(exe));
        }
        attributes.insert("tot:cwd".into(), bytes_literal(&info.cwd));
        attributes.insert("tot:pid".into(), json!(info.pid));
        attributes.insert("tot:run".into(), Value::String(info.run_id.clone()));
        match &info.exit {
            Some(ExitStatus::Code(code)) => {
                attributes.insert("tot:exitCode".into(), json!(code));
            }
            Some(ExitStatus::Signal { name, .. }) => {
                attributes.insert("tot:signal".into(), Value::String(name.clone()));
            }
            _ => {}
        }
        activities.insert(id.clone(), Value::Object(attributes));

        let agent = format!("tot:machine-{}", local_part(&info.machine_id));
        agents.entry(agent.clone()).or_insert_with(|| {
            json!({
                "prov:type": qualified_name("tot:Machine"),
                "prov:label": info.hostname,
                "tot:machineId": info.machine_id,
                "tot:hostname": info.hostname,
            })
        });
        associated.insert(
            format!("_:assoc{}", associated.len() + 1),
            json!({"prov:activity": id, "prov:agent": agent}),
        );
    }

    for edge in &graph.edges {
        let activity = &activity_ids[edge.process];
        let entity = &entity_ids[edge.file];
        let access = serde_json::to_value(edge.kind).unwrap_or(Value::Null);
        let mut relation = Map::new();
        relation.insert("prov:activity".into(), Value::String(activity.clone()));
        relation.insert("prov:entity".into(), Value::String(entity.clone()));
        if let Some(time) = edge.time {
            relation.insert("prov:time".into(), Value::String(format_time(time)));
        }
        relation.insert("tot:access".into(), access);
        relation.insert("tot:path".into(), bytes_literal(&edge.path));
        let relation = Value::Object(relation);
        match edge.kind {
            AccessKind::Delete => {
                invalidated.insert(format!("_:inv{}", invalidated.len() + 1), relation);
            }
            AccessKind::Mkdir => {
                generated.insert(format!("_:gen{}", generated.len() + 1), relation);
            }
            kind if crate::schema::is_producing(kind) => {
                generated.insert(format!("_:gen{}", generated.len() + 1), relation);
            }
            _ => {
                used.insert(format!("_:use{}", used.len() + 1), relation);
            }
        }
    }

    for (child, parent) in &graph.informed {
        informed.insert(
            format!("_:inf{}", informed.len() + 1),
            json!({
                "prov:informed": activity_ids[*child],
                "prov:informant": activity_ids[*parent],
            }),
        );
    }

    let mut document = Map::new();
    document.insert(
        "prefix".into(),
        json!({
            "tot": TOT_NAMESPACE,
            "sha256": SHA256_NAMESPACE,
            "xsd": "http://www.w3.org/2001/XMLSchema#",
        }),
    );
    document.insert("entity".into(), Value::Object(entities));
    document.insert("activity".into(), Value::Object(activities));
    document.insert("agent".into(), Value::Object(agents));
    document.insert("used".into(), Value::Object(used));
    document.insert("wasGeneratedBy".into(), Value::Object(generated));
    if !invalidated.is_empty() {
        document.insert("wasInvalidatedBy".into(), Value::Object(invalidated));
    }
    document.insert("wasInformedBy".into(), Value::Object(informed));
    document.insert("wasAssociatedWith".into(), Value::Object(associated));
    Value::Object(document)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_xsd_date_times() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            format_time(1_700_000_000_123_456_789),
            "2023-11-14T22:13:20.123456789Z"
        );
        // A leap day.
        assert_eq!(
            format_time(951_782_400_000_000_000),
            "2000-02-29T00:00:00.000000000Z"
        );
    }

    #[test]
    fn non_utf8_paths_are_typed_base64() {
        let value = bytes_literal(&Bytes(vec![b'/', 0xff]));
        assert_eq!(value, json!({"$": "L/8=", "type": "xsd:base64Binary"}));
    }
}
