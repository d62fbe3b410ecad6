//! `tot lineage FILE`: the graph of writers, their inputs and the writers of those inputs
//! (or, downstream, readers and what they made), across runs and machines, joined by
//! content hash. Also a whole run's graph, for export.
//!
//! The walk keeps every content and process it has seen, so it visits each once and ends
//! on graphs with cycles (a file read and rewritten by the same tool, a `mv` back and
//! forth).

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use tot_api::{AccessKind, Bytes};

use crate::error::Error;
use crate::model::{AccessInfo, ContentKey, FileQuery, ProcessInfo, ProcessKey, Role};
use crate::query::ProvenanceStore;
use crate::schema;

/// Which way to walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Where the file came from: its writers, their inputs, those inputs' writers...
    Up,
    /// What was made from it: its readers, their outputs, those outputs' readers...
    Down,
}

/// How far and how wide to walk.
#[derive(Debug, Clone)]
pub struct LineageOptions {
    /// Up or down.
    pub direction: Direction,
    /// How many process levels to follow.
    pub depth: usize,
    /// Stop adding nodes past this many (the graph is then marked truncated).
    pub max_nodes: usize,
    /// Also add each process's parent chain (for export: `wasInformedBy`).
    pub ancestry: bool,
}

impl Default for LineageOptions {
    fn default() -> Self {
        LineageOptions {
            direction: Direction::Up,
            depth: 10,
            max_nodes: 20_000,
            ancestry: false,
        }
    }
}

/// A provenance graph: file versions, process epochs, and who used or produced what.
#[derive(Debug, Clone, PartialEq)]
pub struct LineageGraph {
    /// The direction walked.
    pub direction: Direction,
    /// The depth asked for.
    pub depth: usize,
    /// The file asked about (an index into `files`); `None` for a run's graph.
    pub root: Option<usize>,
    /// File versions: one per content, or per path for files that were not hashed.
    pub files: Vec<FileNode>,
    /// Process epochs.
    pub processes: Vec<ProcessNode>,
    /// Accesses between them.
    pub edges: Vec<Edge>,
    /// `(child, parent)` process indexes: the child was started by the parent.
    pub informed: Vec<(usize, usize)>,
    /// The walk stopped at `max_nodes`.
    pub truncated: bool,
}

/// A file version.
#[derive(Debug, Clone, PartialEq)]
pub struct FileNode {
    /// Its content's hash, when hashed.
    pub sha256: Option<String>,
    /// Its size, when known.
    pub size: Option<u64>,
    /// The paths it was seen at, first seen first.
    pub paths: Vec<Bytes>,
    content: Option<ContentKey>,
}

/// A process epoch in a graph.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessNode {
    /// The process.
    pub info: ProcessInfo,
    /// False for a process present only as another's ancestor.
    pub in_lineage: bool,
}

/// One access: a process used (read, exec, rename_from) or produced (write, ...) a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    /// Index into `processes`.
    pub process: usize,
    /// Index into `files`.
    pub file: usize,
    /// The access.
    pub kind: AccessKind,
    /// The path used.
    pub path: Bytes,
    /// When, ns since the epoch.
    pub time: Option<u64>,
}

impl Edge {
    /// True when the process produced the file, false when it used it.
    pub fn produced(&self) -> bool {
        schema::is_producing(self.kind)
    }
}

impl LineageGraph {
    fn empty(direction: Direction, depth: usize) -> Self {
        LineageGraph {
            direction,
            depth,
            root: None,
            files: Vec::new(),
            processes: Vec::new(),
            edges: Vec::new(),
            informed: Vec::new(),
            truncated: false,
        }
    }

    /// True when nothing is known beyond the file asked about.
    pub fn is_empty(&self) -> bool {
        self.processes.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum FileId {
    Content(ContentKey),
    Path(Bytes),
}

struct Builder<'s, S: ?Sized> {
    store: &'s S,
    graph: LineageGraph,
    files: HashMap<FileId, usize>,
    processes: HashMap<ProcessKey, usize>,
    edges: HashSet<(usize, usize, AccessKind)>,
    max_nodes: usize,
}

impl<'s, S: ProvenanceStore + ?Sized> Builder<'s, S> {
    fn new(store: &'s S, graph: LineageGraph, max_nodes: usize) -> Self {
        Builder {
            store,
            graph,
            files: HashMap::new(),
            processes: HashMap::new(),
            edges: HashSet::new(),
            max_nodes,
        }
    }

    fn full(&mut self) -> bool {
        let full = self.graph.files.len() + self.graph.processes.len() >= self.max_nodes;
        if full {
            self.graph.truncated = true;
        }
        full
    }

    /// The node of a file version, and whether it is new.
    fn file(
        &mut self,
        id: FileId,
        sha256: Option<&String>,
        size: Option<u64>,
        path: &Bytes,
    ) -> (usize, bool) {
        if let Some(&index) = self.files.get(&id) {
            let node = &mut self.graph.files[index];
            if !node.paths.contains(path) {
                node.paths.push(path.clone());
            }
            return (index, false);
        }
        let index = self.graph.files.len();
        self.graph.files.push(FileNode {
            sha256: sha256.cloned(),
            size,
            paths: vec![path.clone()],
            content: match id {
                FileId::Content(c) => Some(c),
                FileId::Path(_) => None,
            },
        });
        self.files.insert(id, index);
        (index, true)
    }

    fn file_of_access(&mut self, access: &AccessInfo) -> (usize, bool) {
        let id = match access.content {
            Some(content) => FileId::Content(content),
            None => FileId::Path(access.path.clone()),
        };
        self.file(id, access.sha256.as_ref(), access.size, &access.path)
    }

    fn process(&mut self, key: ProcessKey, in_lineage: bool) -> Result<(usize, bool), Error> {
        if let Some(&index) = self.processes.get(&key) {
            if in_lineage {
                self.graph.processes[index].in_lineage = true;
            }
            return Ok((index, false));
        }
        let info = self.store.process(key)?;
        let index = self.graph.processes.len();
        self.graph.processes.push(ProcessNode { info, in_lineage });
        self.processes.insert(key, index);
        Ok((index, true))
    }

    fn edge(&mut self, process: usize, file: usize, access: &AccessInfo) {
        if self.edges.insert((process, file, access.kind)) {
            self.graph.edges.push(Edge {
                process,
                file,
                kind: access.kind,
                path: access.path.clone(),
                time: access.time,
            });
        }
    }

    /// Adds a process's inputs (walking up) or outputs (walking down); returns the new
    /// file nodes that have a content to follow.
    fn expand_process(
        &mut self,
        process: usize,
        direction: Direction,
    ) -> Result<Vec<usize>, Error> {
        let key = self.graph.processes[process].info.key;
        let mut next = Vec::new();
        for access in self.store.accesses_of_process(key)? {
            let wanted = match direction {
                Direction::Up => schema::is_input(access.kind),
                Direction::Down => schema::is_producing(access.kind),
            };
            if !wanted {
                continue;
            }
            if self.full() {
                break;
            }
            let (file, new) = self.file_of_access(&access);
            self.edge(process, file, &access);
            if new && access.content.is_some() {
                next.push(file);
            }
        }
        Ok(next)
    }

    /// The accesses that connect a file node to the processes of the next level.
    fn file_accesses(&self, file: usize, direction: Direction) -> Result<Vec<AccessInfo>, Error> {
        let node = &self.graph.files[file];
        let role = match direction {
            Direction::Up => Role::Produced,
            Direction::Down => Role::Used,
        };
        if let Some(content) = node.content {
            return self.store.accesses_of_content(content, role);
        }
        // A path-only node (the file asked about no longer exists): its recorded writes.
        let mut found = Vec::new();
        for path in &node.paths {
            let Some(key) = self.store.find_path(path.as_slice())? else {
                continue;
            };
            let producing = self.store.producing_accesses_at_path(key)?;
            match direction {
                Direction::Up => found.extend(producing),
                Direction::Down => {
                    let contents: HashSet<ContentKey> =
                        producing.iter().filter_map(|a| a.content).collect();
                    for content in contents {
                        found.extend(self.store.accesses_of_content(content, Role::Used)?);
                    }
                }
            }
        }
        Ok(found)
    }

    fn add_ancestry(&mut self) -> Result<(), Error> {
        let mut index = 0;
        while index < self.graph.processes.len() {
            let parent = self.graph.processes[index].info.parent;
            if let Some(parent) = parent {
                if self.processes.contains_key(&parent) || !self.full() {
                    let (parent_index, _) = self.process(parent, false)?;
                    if parent_index != index
                        && !self.graph.informed.contains(&(index, parent_index))
                    {
                        self.graph.informed.push((index, parent_index));
                    }
                }
            }
            index += 1;
        }
        Ok(())
    }
}

pub(crate) fn walk<S: ProvenanceStore + ?Sized>(
    store: &S,
    query: &FileQuery,
    options: &LineageOptions,
) -> Result<LineageGraph, Error> {
    let graph = LineageGraph::empty(options.direction, options.depth);
    let mut builder = Builder::new(store, graph, options.max_nodes.max(1));
    let root_id = match &query.sha256 {
        Some(sha256) => match store.find_content(sha256)? {
            Some(content) => FileId::Content(content),
            // A content tot never saw: nothing connects to it.
            None => {
                builder.file(
                    FileId::Path(query.path.clone()),
                    Some(sha256),
                    None,
                    &query.path,
                );
                builder.graph.root = Some(0);
                return Ok(builder.graph);
            }
        },
        None => FileId::Path(query.path.clone()),
    };
    let (root, _) = builder.file(root_id, query.sha256.as_ref(), None, &query.path);
    builder.graph.root = Some(root);

    let mut frontier = vec![root];
    'levels: for _ in 0..options.depth {
        let mut next = Vec::new();
        for file in frontier {
            for access in builder.file_accesses(file, options.direction)? {
                if builder.full() {
                    break 'levels;
                }
                let (process, new) = builder.process(access.process, true)?;
                builder.edge(process, file, &access);
                if new {
                    next.extend(builder.expand_process(process, options.direction)?);
                }
            }
        }
        if next.is_empty() {
            break;
        }
        frontier = next;
    }
    if options.ancestry {
        builder.add_ancestry()?;
    }
    Ok(builder.graph)
}

pub(crate) fn run_graph<S: ProvenanceStore + ?Sized>(
    store: &S,
    run_id: &str,
) -> Result<LineageGraph, Error> {
    let graph = LineageGraph::empty(Direction::Up, 0);
    let mut builder = Builder::new(store, graph, usize::MAX);
    let keys = store.processes_of_run(run_id)?;
    for key in &keys {
        builder.process(*key, true)?;
    }
    for index in 0..builder.graph.processes.len() {
        let key = builder.graph.processes[index].info.key;
        for access in store.accesses_of_process(key)? {
            let (file, _) = builder.file_of_access(&access);
            builder.edge(index, file, &access);
        }
    }
    builder.add_ancestry()?;
    Ok(builder.graph)
}

/// A command line for display: arguments joined by spaces, quoted when they need it.
pub fn display_argv(argv: &[Bytes]) -> String {
    argv.iter()
        .map(|arg| {
            let text = arg.to_str_lossy();
            let plain = !text.is_empty()
                && text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
            if plain {
                text.into_owned()
            } else {
                format!("'{}'", text.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn short_sha(sha256: &Option<String>) -> String {
    match sha256 {
        Some(sha) => format!("sha256:{}", sha.chars().take(12).collect::<String>()),
        None => "(not hashed)".into(),
    }
}

/// Longest command line shown in a tree; linkers' run to kilobytes (`--json` has all).
const LABEL_COMMAND_CHARS: usize = 160;

fn process_label(info: &ProcessInfo) -> String {
    let command = if info.described {
        let full = display_argv(&info.argv);
        match full.char_indices().nth(LABEL_COMMAND_CHARS) {
            Some((cut, _)) => format!("{}…", &full[..cut]),
            None => full,
        }
    } else {
        "(process not described in its record)".into()
    };
    let exit = match &info.exit {
        Some(tot_api::ExitStatus::Code(code)) => format!(", exit {code}"),
        Some(tot_api::ExitStatus::Signal { name, .. }) => format!(", killed by {name}"),
        _ => String::new(),
    };
    format!(
        "{command}  [{} pid {}, run {}{exit}]",
        info.hostname,
        info.pid,
        short_run(&info.run_id)
    )
}

fn short_run(run_id: &str) -> &str {
    let end = run_id
        .char_indices()
        .nth(14)
        .map(|(i, _)| i)
        .unwrap_or(run_id.len());
    &run_id[..end]
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Node {
    File(usize),
    Process(usize),
    /// This many system files, counted instead of listed.
    FoldedSystemFiles(usize),
}

/// Files of the operating system itself (under /usr, /lib, /bin, ..., and the loader
/// cache): inputs of nearly every process, so text output counts them instead of listing
/// them.
pub fn is_system_path(path: &[u8]) -> bool {
    const SYSTEM_DIRS: [&[u8]; 6] = [
        b"/usr/", b"/lib/", b"/lib32/", b"/lib64/", b"/bin/", b"/sbin/",
    ];
    const SYSTEM_FILES: [&[u8]; 3] = [
        b"/etc/ld.so.cache",
        b"/etc/localtime",
        b"/etc/nsswitch.conf",
    ];
    SYSTEM_DIRS.iter().any(|dir| path.starts_with(dir)) || SYSTEM_FILES.contains(&path)
}

/// Renders the graph as an indented tree from the file asked about. Nodes reached a
/// second time are shown once and then marked `(see above)`. With `fold_system`, a
/// process's system-file inputs that nothing in the graph produced are counted in one line
/// instead of listed (upstream only).
pub fn render_text(graph: &LineageGraph, fold_system: bool) -> String {
    let Some(root) = graph.root else {
        return String::new();
    };
    // Children in walking order: up, a file's producers then a process's inputs; down,
    // a file's users then a process's outputs.
    let mut children: HashMap<Node, Vec<(Node, Bytes)>> = HashMap::new();
    for edge in &graph.edges {
        let (file, process) = (Node::File(edge.file), Node::Process(edge.process));
        let file_to_process = edge.produced() == (graph.direction == Direction::Up);
        if file_to_process {
            children
                .entry(file)
                .or_default()
                .push((process, edge.path.clone()));
        } else {
            children
                .entry(process)
                .or_default()
                .push((file, edge.path.clone()));
        }
    }
    if fold_system && graph.direction == Direction::Up {
        for (node, kids) in children.iter_mut() {
            if !matches!(node, Node::Process(_)) {
                continue;
            }
            let before = kids.len();
            kids.retain(|(kid, path)| {
                let Node::File(file) = kid else { return true };
                let produced_here = graph.edges.iter().any(|e| e.file == *file && e.produced());
                produced_here || !is_system_path(path.as_slice())
            });
            let folded = before - kids.len();
            if folded > 0 {
                kids.push((Node::FoldedSystemFiles(folded), Bytes::default()));
            }
        }
    }
    let mut out = String::new();
    let mut shown = HashSet::new();
    // (node, path it was reached by, prefix of its children, own prefix)
    let mut stack = vec![(
        Node::File(root),
        graph.files[root].paths[0].clone(),
        String::new(),
        String::new(),
    )];
    while let Some((node, path, child_prefix, own_prefix)) = stack.pop() {
        let label = match node {
            Node::File(i) => format!("{}  {}", path, short_sha(&graph.files[i].sha256)),
            Node::Process(i) => process_label(&graph.processes[i].info),
            Node::FoldedSystemFiles(n) => format!("+ {n} system files (--all-inputs lists them)"),
        };
        let repeated = !matches!(node, Node::FoldedSystemFiles(_)) && !shown.insert(node);
        let kids = children.get(&node).filter(|_| !repeated);
        let note = if repeated && children.contains_key(&node) {
            "  (see above)"
        } else {
            ""
        };
        out.push_str(&own_prefix);
        out.push_str(&label);
        out.push_str(note);
        out.push('\n');
        if let Some(kids) = kids {
            for (n, (kid, kid_path)) in kids.iter().enumerate().rev() {
                let last = n + 1 == kids.len();
                let own = format!("{child_prefix}{}", if last { "└── " } else { "├── " });
                let deeper = format!("{child_prefix}{}", if last { "    " } else { "│   " });
                stack.push((*kid, kid_path.clone(), deeper, own));
            }
        }
    }
    if graph.truncated {
        out.push_str("… (stopped at the node limit; narrow with --depth or raise --max-nodes)\n");
    }
    out
}

fn dot_escape(text: &str) -> String {
    text.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

/// Renders the graph in Graphviz DOT: files are notes, processes boxes, and edges follow
/// the data (input → process → output).
pub fn render_dot(graph: &LineageGraph) -> String {
    let mut out =
        String::from("digraph lineage {\n  rankdir=LR;\n  node [fontname=\"monospace\"];\n");
    for (i, file) in graph.files.iter().enumerate() {
        let label = format!("{}\n{}", file.paths[0], short_sha(&file.sha256));
        let style = if Some(i) == graph.root {
            ", style=bold"
        } else {
            ""
        };
        out.push_str(&format!(
            "  f{i} [shape=note, label=\"{}\"{style}];\n",
            dot_escape(&label)
        ));
    }
    for (i, process) in graph.processes.iter().enumerate() {
        let label = process_label(&process.info);
        let style = if process.in_lineage {
            ""
        } else {
            ", style=dashed"
        };
        out.push_str(&format!(
            "  p{i} [shape=box, label=\"{}\"{style}];\n",
            dot_escape(&label)
        ));
    }
    for edge in &graph.edges {
        let kind = serde_json::to_value(edge.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        if edge.produced() {
            out.push_str(&format!(
                "  p{} -> f{} [label=\"{kind}\"];\n",
                edge.process, edge.file
            ));
        } else {
            out.push_str(&format!(
                "  f{} -> p{} [label=\"{kind}\"];\n",
                edge.file, edge.process
            ));
        }
    }
    for (child, parent) in &graph.informed {
        out.push_str(&format!(
            "  p{parent} -> p{child} [style=dotted, label=\"started\"];\n"
        ));
    }
    out.push_str("}\n");
    out
}

/// The JSON form of a graph (`tot lineage --json`).
#[derive(Serialize)]
pub struct GraphJson<'g> {
    direction: Direction,
    depth: usize,
    root: Option<String>,
    truncated: bool,
    files: Vec<FileJson<'g>>,
    processes: Vec<ProcessJson<'g>>,
    edges: Vec<EdgeJson<'g>>,
}

#[derive(Serialize)]
struct FileJson<'g> {
    id: String,
    sha256: &'g Option<String>,
    size: Option<u64>,
    paths: &'g [Bytes],
}

#[derive(Serialize)]
struct ProcessJson<'g> {
    id: String,
    argv: &'g [Bytes],
    exe: &'g Option<Bytes>,
    cwd: &'g Bytes,
    pid: u32,
    machine: &'g str,
    hostname: &'g str,
    run: &'g str,
    start: Option<u64>,
    end: Option<u64>,
    exit_code: Option<i32>,
    parent: Option<String>,
}

#[derive(Serialize)]
struct EdgeJson<'g> {
    from: String,
    to: String,
    kind: AccessKind,
    path: &'g Bytes,
    time: Option<u64>,
}

impl<'g> GraphJson<'g> {
    /// The JSON view of a graph. Files are `f<n>`, processes `p<n>`; edges go from input
    /// to process and from process to output.
    pub fn new(graph: &'g LineageGraph) -> Self {
        let index_of: HashMap<ProcessKey, usize> = graph
            .processes
            .iter()
            .enumerate()
            .map(|(i, p)| (p.info.key, i))
            .collect();
        GraphJson {
            direction: graph.direction,
            depth: graph.depth,
            root: graph.root.map(|r| format!("f{r}")),
            truncated: graph.truncated,
            files: graph
                .files
                .iter()
                .enumerate()
                .map(|(i, f)| FileJson {
                    id: format!("f{i}"),
                    sha256: &f.sha256,
                    size: f.size,
                    paths: &f.paths,
                })
                .collect(),
            processes: graph
                .processes
                .iter()
                .enumerate()
                .map(|(i, p)| ProcessJson {
                    id: format!("p{i}"),
                    argv: &p.info.argv,
                    exe: &p.info.exe,
                    cwd: &p.info.cwd,
                    pid: p.info.pid,
                    machine: &p.info.machine_id,
                    hostname: &p.info.hostname,
                    run: &p.info.run_id,
                    start: p.info.start,
                    end: p.info.end,
                    exit_code: p.info.exit_code(),
                    parent: p
                        .info
                        .parent
                        .and_then(|k| index_of.get(&k))
                        .map(|i| format!("p{i}")),
                })
                .collect(),
            edges: graph
                .edges
                .iter()
                .map(|e| {
                    let (from, to) = if e.produced() {
                        (format!("p{}", e.process), format!("f{}", e.file))
                    } else {
                        (format!("f{}", e.file), format!("p{}", e.process))
                    };
                    EdgeJson {
                        from,
                        to,
                        kind: e.kind,
                        path: &e.path,
                        time: e.time,
                    }
                })
                .collect(),
        }
    }
}
