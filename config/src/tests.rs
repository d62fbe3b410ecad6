//! Merging, provenance and located errors, over real files.

use std::path::{Path, PathBuf};

use crate::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

fn sources(
    system: Option<PathBuf>,
    user: Option<PathBuf>,
    project_start: Option<PathBuf>,
    env: Option<PathBuf>,
) -> Sources {
    Sources {
        system,
        user,
        project_start,
        env,
    }
}

#[test]
fn later_files_override_key_by_key_and_lists_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let system = write(
        dir.path(),
        "etc/config.toml",
        "backend = \"strace\"\nignore = [\"/proc\"]\n[backends.strace]\nseccomp = true\npath = \"/usr/bin/strace\"\n",
    );
    let user = write(
        dir.path(),
        "home/config.toml",
        "ignore = [\"~/.cache\"]\n[backends.strace]\nseccomp = false\n[store]\ndir = \"data\"\n",
    );
    let project_dir = dir.path().join("proj/sub");
    std::fs::create_dir_all(&project_dir).unwrap();
    write(
        dir.path(),
        "proj/.tot.toml",
        "backend = \"mine\"\n[backends.mine]\nplugin = \"bin/plugin.py\"\n",
    );
    let env = write(dir.path(), "env.toml", "[backends.strace]\nretries = 3\n");

    let config = Config::load_from(&sources(
        Some(system.clone()),
        Some(user.clone()),
        Some(project_dir),
        Some(env.clone()),
    ))
    .unwrap();
    let layers: Vec<Layer> = config.files().iter().map(|f| f.layer).collect();
    assert_eq!(
        layers,
        [Layer::System, Layer::User, Layer::Project, Layer::Env]
    );

    let backend = config.default_backend().unwrap();
    assert_eq!(backend.value, "mine");
    assert!(matches!(
        &backend.origin,
        Origin::File {
            layer: Layer::Project,
            line: 1,
            ..
        }
    ));

    let options = config.backend_options("strace");
    assert_eq!(options.get("seccomp").map(String::as_str), Some("false"));
    assert_eq!(
        options.get("path").map(String::as_str),
        Some("/usr/bin/strace")
    );
    assert_eq!(options.get("retries").map(String::as_str), Some("3"));
    let seccomp = &config.backend("strace").unwrap().options["seccomp"];
    assert_eq!(
        seccomp.origin,
        Origin::File {
            layer: Layer::User,
            path: user.clone(),
            line: 3
        }
    );

    let home = dirs::home_dir().unwrap();
    assert_eq!(
        config.ignore_prefixes(),
        [PathBuf::from("/proc"), home.join(".cache")]
    );

    let mine = config.backend("mine").unwrap();
    assert_eq!(
        mine.declaration.as_ref().unwrap().value,
        Declaration::Plugin {
            program: dir.path().join("proj/bin/plugin.py")
        }
    );

    if std::env::var_os(DATA_DIR_VARIABLE).is_none() {
        assert_eq!(config.data_dir().value, dir.path().join("home/data"));
        assert_eq!(config.records_dir(), dir.path().join("home/data/records"));
    }

    let entries = config.entries();
    let entry = entries
        .iter()
        .find(|e| e.key == "backends.strace.retries")
        .unwrap();
    assert_eq!(entry.value, "\"3\"");
    assert_eq!(
        entry.origin.to_string(),
        format!("{}:2 ($TOT_CONFIG)", env.display())
    );
}

#[test]
fn malformed_toml_is_located() {
    let err = Config::from_texts(vec![(
        Layer::Project,
        "/p/.tot.toml".into(),
        "backend = \"strace\"\n[backends.strace\nseccomp = 1\n".into(),
    )])
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Syntax);
    assert_eq!(err.position().unwrap().line, 2);
    let message = err.to_string();
    assert!(message.starts_with("/p/.tot.toml:2:"), "{message}");
    assert!(
        message.contains("[backends.strace"),
        "quotes the line: {message}"
    );
}

#[test]
fn unknown_keys_are_located_and_name_the_known_ones() {
    let err = Config::from_texts(vec![(
        Layer::User,
        "/u/config.toml".into(),
        "ignore = []\nbakend = \"strace\"\n".into(),
    )])
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownKey);
    assert_eq!(err.position(), Some(Position { line: 2, column: 1 }));
    let message = err.to_string();
    assert!(message.contains("unknown key `bakend`"), "{message}");
    assert!(message.contains("`backend`"), "{message}");

    let err = Config::from_texts(vec![(
        Layer::User,
        "/u/config.toml".into(),
        "[store]\npath = \"/x\"\n".into(),
    )])
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownKey);
    assert_eq!(err.position().unwrap().line, 2);

    let err = Config::from_texts(vec![(
        Layer::User,
        "/u/config.toml".into(),
        "[backends.mine]\ncommand = [\"t\", \"{command}\"]\nseccomp = true\n".into(),
    )])
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownKey);
    assert_eq!(
        err.position(),
        Some(Position {
            line: 3,
            column: 11
        })
    );
}

#[test]
fn type_errors_are_located() {
    let cases = [
        ("backend = 3\n", 1, 11),
        ("ignore = \"/proc\"\n", 1, 10),
        ("[backends.x]\ncommand = \"tracer {command}\"\n", 2, 11),
        ("[backends.x]\ncommand = [\"tracer\"]\n", 2, 11),
        (
            "[backends.x]\ncommand = [\"t\", \"{command}\"]\nformat = \"ltrace\"\n",
            3,
            10,
        ),
        (
            "[backends.x]\nlibrary = \"l.so\"\nformat = \"strace\"\n",
            3,
            10,
        ),
        (
            "[backends.x]\nplugin = \"p\"\nplatforms = [\"windows\"]\n",
            3,
            13,
        ),
        ("[backends.strace]\nextra = [1, 2]\n", 2, 9),
        ("[backends.x]\nplugin = \"p\"\nlibrary = \"l.so\"\n", 3, 11),
        ("ignore = [\"relative/dir\"]\n", 1, 11),
    ];
    for (text, line, column) in cases {
        let err =
            Config::from_texts(vec![(Layer::Env, "/e.toml".into(), text.into())]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidValue, "{text}: {err}");
        assert_eq!(
            err.position(),
            Some(Position { line, column }),
            "{text}: {err}"
        );
    }
}

#[test]
fn command_backends_are_read_with_their_format_and_platforms() {
    let config = Config::from_texts(vec![(
        Layer::User,
        "/u/config.toml".into(),
        "[backends.st]\ncommand = [\"strace\", \"-f\", \"-o\", \"{output}\", \"--\", \"{command}\"]\nformat = \"strace\"\nplatforms = [\"linux\"]\n".into(),
    )])
    .unwrap();
    let st = config.backend("st").unwrap();
    match &st.declaration.as_ref().unwrap().value {
        Declaration::Command { command, format } => {
            assert_eq!(command[3], "{output}");
            assert_eq!(*format, StreamFormat::Strace);
        }
        other => panic!("not a command: {other:?}"),
    }
    assert_eq!(st.platforms.as_ref().unwrap().value, ["linux"]);
}

#[test]
fn a_later_file_may_switch_a_backend_to_another_kind() {
    let config = Config::from_texts(vec![
        (
            Layer::User,
            "/u.toml".into(),
            "[backends.x]\nplugin = \"/p\"\n".into(),
        ),
        (
            Layer::Project,
            "/p/.tot.toml".into(),
            "[backends.x]\nlibrary = \"/l.so\"\n".into(),
        ),
    ])
    .unwrap();
    assert_eq!(
        config
            .backend("x")
            .unwrap()
            .declaration
            .as_ref()
            .unwrap()
            .value,
        Declaration::Library {
            path: "/l.so".into()
        }
    );
}

#[test]
fn no_files_means_defaults() {
    let config = Config::load_from(&sources(None, None, None, None)).unwrap();
    assert!(config.files().is_empty());
    assert!(config.default_backend().is_none());
    assert_eq!(config.entries()[0].origin, Origin::Default);
}
