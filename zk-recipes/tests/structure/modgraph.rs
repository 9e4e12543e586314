//! The module graph of a crate, read from its source files, and the cycles in it.
//!
//! See the [crate docs](crate) for what counts as an edge.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::lexer::{tokens, Tok, Token};

/// How deep re-exports are followed (a guard against import loops such as two globs).
const MAX_FOLLOW: usize = 16;

/// A module, named by its path from the crate root (`crate`, `crate::cache::task`).
#[derive(Debug, Default)]
struct Module {
    /// The file it is written in (relative to the source directory).
    file: String,
    /// Its child modules, by name.
    children: BTreeSet<String>,
    /// The names its `use` declarations bring in: name -> the path written (in this module).
    bindings: BTreeMap<String, Vec<Vec<String>>>,
}

/// Where a path occurs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// A leaf of a `use` tree: its last segment may name a module. `public`: the `use` has
    /// a visibility (`pub`, `pub(crate)`, ...).
    Use { public: bool },
    /// Code (types, expressions, patterns, attributes): the last segment names an item.
    Code,
}

/// One path written in a module.
#[derive(Debug, Clone)]
struct Ref {
    from: String,
    segs: Vec<String>,
    place: Place,
    line: usize,
}

/// One edge's evidence: the first reference behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Evidence {
    pub(crate) file: String,
    pub(crate) line: usize,
    pub(crate) path: String,
}

/// The modules of a crate and which uses which.
#[derive(Debug, Default)]
pub(crate) struct Graph {
    modules: BTreeMap<String, Module>,
    /// from -> to -> the first reference that makes the edge.
    edges: BTreeMap<String, BTreeMap<String, Evidence>>,
}

/// A cycle: modules `m0 -> m1 -> ... -> m0`, each edge with its evidence, and every module
/// of its strongly connected component (all the modules that reach each other).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cycle {
    pub(crate) steps: Vec<(String, String, Evidence)>,
    pub(crate) component: Vec<String>,
}

impl std::fmt::Display for Cycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.steps.iter().map(|(from, _, _)| short(from)).collect();
        writeln!(f, "{} -> {}", names.join(" -> "), names[0])?;
        for (from, to, e) in &self.steps {
            writeln!(f, "    {} -> {}: {}:{} `{}`", short(from), short(to), e.file, e.line, e.path)?;
        }
        if self.component.len() > self.steps.len() {
            let all: Vec<&str> = self.component.iter().map(|m| short(m)).collect();
            writeln!(f, "    (the modules that reach each other: {})", all.join(", "))?;
        }
        Ok(())
    }
}

/// `crate::a::b` as `a::b`.
fn short(module: &str) -> &str {
    module.strip_prefix("crate::").unwrap_or(module)
}

impl Graph {
    /// Reads the crate whose root is `lib.rs` in `files` (path relative to the source
    /// directory -> text), following its `mod` declarations.
    pub(crate) fn parse(files: &BTreeMap<String, String>) -> Result<Graph, String> {
        let mut g = Graph::default();
        let mut refs = Vec::new();
        let mut queue = VecDeque::from([("crate".to_owned(), "lib.rs".to_owned(), String::new())]);
        while let Some((module, file, dir)) = queue.pop_front() {
            let src = files.get(&file).ok_or_else(|| format!("{module}: no file {file}"))?;
            let toks = tokens(src).map_err(|e| format!("{file}: {e}"))?;
            let found = g.read_file(&module, &file, &dir, &toks, &mut refs)?;
            for (child, child_dir) in found {
                let name = child.rsplit("::").next().unwrap_or_default();
                let flat = format!("{child_dir}{name}.rs");
                let nested = format!("{child_dir}{name}/mod.rs");
                let (path, dir) = match (files.contains_key(&flat), files.contains_key(&nested)) {
                    (true, false) => (flat, format!("{child_dir}{name}/")),
                    (false, true) => (nested, format!("{child_dir}{name}/")),
                    _ => return Err(format!("{child}: want exactly one of {flat} and {nested}")),
                };
                queue.push_back((child, path, dir));
            }
        }
        for r in &refs {
            g.add_edge(r);
        }
        Ok(g)
    }

    /// The modules found, by path.
    pub(crate) fn modules(&self) -> impl Iterator<Item = &str> {
        self.modules.keys().map(String::as_str)
    }

    /// The files the modules are written in.
    pub(crate) fn files(&self) -> BTreeSet<&str> {
        self.modules.values().map(|m| m.file.as_str()).collect()
    }

    /// Whether `from` uses `to` (module paths without the `crate::` prefix).
    pub(crate) fn has_edge(&self, from: &str, to: &str) -> bool {
        let (from, to) = (format!("crate::{from}"), format!("crate::{to}"));
        self.edges.get(&from).is_some_and(|e| e.contains_key(&to))
    }

    /// Every edge with its evidence, one a line, in module order.
    pub(crate) fn edges_text(&self) -> String {
        let mut s = String::new();
        for (from, tos) in &self.edges {
            for (to, e) in tos {
                s.push_str(&format!(
                    "{} -> {}: {}:{} `{}`\n",
                    short(from),
                    short(to),
                    e.file,
                    e.line,
                    e.path
                ));
            }
        }
        s
    }

    /// How many edges there are.
    pub(crate) fn edge_count(&self) -> usize {
        self.edges.values().map(BTreeMap::len).sum()
    }

    /// Records the modules declared in one file (`module`, written in `file`, whose file
    /// children live in `dir`) and the paths it names; returns the file modules it declares
    /// with the directory their file is in.
    fn read_file(
        &mut self,
        module: &str,
        file: &str,
        dir: &str,
        toks: &[Token],
        refs: &mut Vec<Ref>,
    ) -> Result<Vec<(String, String)>, String> {
        self.modules.entry(module.to_owned()).or_default().file = file.to_owned();
        let mut files = Vec::new();
        // The inline modules open at this point: (module, its children's dir, brace depth).
        let mut scopes = vec![(module.to_owned(), dir.to_owned(), 0usize)];
        let mut depth = 0usize;
        let mut i = 0;
        while i < toks.len() {
            let (scope, scope_dir, _) = scopes.last().cloned().unwrap_or_default();
            match &toks[i].tok {
                Tok::Punct('{') => depth += 1,
                Tok::Punct('}') => {
                    depth = depth
                        .checked_sub(1)
                        .ok_or_else(|| format!("{file}:{}: unbalanced }}", toks[i].line))?;
                    if scopes.len() > 1 && scopes.last().is_some_and(|s| s.2 == depth) {
                        scopes.pop();
                    }
                }
                Tok::Punct('#') if path_attribute(&toks[i..]) => {
                    return Err(format!("{file}:{}: #[path] is not supported", toks[i].line));
                }
                Tok::Ident(w) if w == "mod" => {
                    if let (Some(Tok::Ident(name)), Some(next)) = (tok(toks, i + 1), tok(toks, i + 2)) {
                        let child = format!("{scope}::{name}");
                        self.modules.entry(scope.clone()).or_default().children.insert(name.clone());
                        match next {
                            Tok::Punct(';') => files.push((child, scope_dir.clone())),
                            Tok::Punct('{') => {
                                self.modules.entry(child.clone()).or_default().file = file.to_owned();
                                depth += 1;
                                scopes.push((child, format!("{scope_dir}{name}/"), depth - 1));
                                i += 3;
                                continue;
                            }
                            _ => {}
                        }
                        i += 2;
                    }
                }
                Tok::Ident(w) if w == "use" => {
                    let public = is_public(&toks[..i]);
                    let (leaves, end) = use_tree(toks, i + 1)?;
                    for (segs, binding) in leaves {
                        if let Some(name) = binding {
                            let m = self.modules.entry(scope.clone()).or_default();
                            m.bindings.entry(name).or_default().push(segs.clone());
                        }
                        let line = toks[i].line;
                        refs.push(Ref { from: scope.clone(), segs, place: Place::Use { public }, line });
                    }
                    i = end;
                    continue;
                }
                Tok::Ident(first) if tok(toks, i + 1) == Some(&Tok::Sep) && !after_sep(toks, i) => {
                    let mut segs = vec![first.clone()];
                    let mut j = i + 1;
                    while let (Some(Tok::Sep), Some(Tok::Ident(s))) = (tok(toks, j), tok(toks, j + 1)) {
                        segs.push(s.clone());
                        j += 2;
                    }
                    if segs.len() > 1 {
                        refs.push(Ref { from: scope.clone(), segs, place: Place::Code, line: toks[i].line });
                    }
                    i = j;
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
        Ok(files)
    }

    /// Adds the edge `r` makes, if any.
    fn add_edge(&mut self, r: &Ref) {
        let last_is_item = r.place == Place::Code;
        let Some(to) = self.resolve(&r.from, &r.segs, last_is_item, 0) else { return };
        if to == r.from {
            return;
        }
        // The map: a module re-exporting what its descendants define, as written.
        if let Place::Use { public: true } = r.place {
            let written = self.resolve_modules(&r.from, &r.segs);
            if written.is_some_and(|w| is_descendant(&w, &r.from)) {
                return;
            }
        }
        let file = self.modules.get(&r.from).map(|m| m.file.clone()).unwrap_or_default();
        let evidence = Evidence { file, line: r.line, path: r.segs.join("::") };
        self.edges.entry(r.from.clone()).or_default().entry(to).or_insert(evidence);
    }

    /// The module where `segs` (written in `from`) starts: `crate`, `super` (repeated),
    /// `self`, a child module of `from`, or a name a `use` in `from` brings in (followed).
    /// `None` for other crates and for names this graph does not know.
    fn start(
        &self,
        from: &str,
        segs: &[String],
        last_is_item: bool,
        depth: usize,
    ) -> Option<(String, usize)> {
        let first = segs.first()?;
        match first.as_str() {
            "crate" => Some(("crate".to_owned(), 1)),
            "self" => Some((from.to_owned(), 1)),
            "super" => {
                let mut m = from.to_owned();
                let mut k = 0;
                while segs.get(k).is_some_and(|s| s == "super") {
                    m = m.rsplit_once("::")?.0.to_owned();
                    k += 1;
                }
                Some((m, k))
            }
            name if self.modules.get(from)?.children.contains(name) => Some((format!("{from}::{name}"), 1)),
            _ => {
                // `segs` is longer than its binding's name only in code (`Change::Added`)
                // or in a `use` of a binding's member (`use codec::encode`).
                let target = self.follow(from, first, &segs[1..], last_is_item, depth)?;
                Some((target, segs.len()))
            }
        }
    }

    /// The module `segs` (written in `from`) points at: walk through child modules, follow
    /// a name brought in by a `use`, stop at anything else. In code the last segment is an
    /// item, never a module (`crate::lock(..)` calls the root's function `lock`, whatever
    /// module `lock` there is). `None` for other crates.
    fn resolve(&self, from: &str, segs: &[String], last_is_item: bool, depth: usize) -> Option<String> {
        let (mut cur, k) = self.start(from, segs, last_is_item, depth)?;
        for (idx, seg) in segs.iter().enumerate().skip(k) {
            let m = self.modules.get(&cur)?;
            let item_only = last_is_item && idx + 1 == segs.len();
            if !item_only && m.children.contains(seg) {
                cur = format!("{cur}::{seg}");
                continue;
            }
            if let Some(target) = self.follow(&cur, seg, &segs[idx + 1..], last_is_item, depth) {
                return Some(target);
            }
            break;
        }
        Some(cur)
    }

    /// Follows the name `seg` brought into `module` by a `use`, with `rest` after it.
    fn follow(
        &self,
        module: &str,
        seg: &str,
        rest: &[String],
        last_is_item: bool,
        depth: usize,
    ) -> Option<String> {
        if depth >= MAX_FOLLOW {
            return None;
        }
        let paths = self.modules.get(module)?.bindings.get(seg)?;
        // Of several bindings of one name (a module and a function, say), the first that
        // resolves in this crate.
        paths.iter().find_map(|p| {
            let full: Vec<String> = p.iter().chain(rest).cloned().collect();
            self.resolve(module, &full, last_is_item, depth + 1)
        })
    }

    /// The module `segs` reaches through module names alone (no `use` followed).
    fn resolve_modules(&self, from: &str, segs: &[String]) -> Option<String> {
        let first = segs.first()?;
        let (mut cur, k) = match first.as_str() {
            "crate" | "self" | "super" => self.start(from, segs, false, MAX_FOLLOW)?,
            name if self.modules.get(from)?.children.contains(name) => (format!("{from}::{name}"), 1),
            _ => return None,
        };
        for seg in &segs[k..] {
            if !self.modules.get(&cur)?.children.contains(seg) {
                break;
            }
            cur = format!("{cur}::{seg}");
        }
        Some(cur)
    }

    /// Every cycle, one per strongly connected component (its shortest cycle through its
    /// first module), in module order.
    pub(crate) fn cycles(&self) -> Vec<Cycle> {
        let mut out = Vec::new();
        for comp in self.components() {
            if comp.len() < 2 {
                continue;
            }
            if let Some(c) = self.shortest_cycle(&comp) {
                out.push(c);
            }
        }
        out
    }

    fn successors(&self, m: &str) -> impl Iterator<Item = &String> {
        self.edges.get(m).into_iter().flat_map(|e| e.keys())
    }

    /// The strongly connected components (Kosaraju: finish order, then the reversed graph).
    fn components(&self) -> Vec<BTreeSet<String>> {
        let nodes: Vec<&String> = self.modules.keys().collect();
        let mut seen = BTreeSet::new();
        let mut order = Vec::new();
        for &n in &nodes {
            if seen.contains(n) {
                continue;
            }
            // Iterative DFS: (node, its successors not visited yet).
            seen.insert(n.clone());
            let mut stack = vec![(n.clone(), self.successors(n).cloned().collect::<Vec<_>>())];
            while let Some((node, next)) = stack.last_mut() {
                match next.pop() {
                    Some(s) if !seen.contains(&s) => {
                        seen.insert(s.clone());
                        let succ = self.successors(&s).cloned().collect();
                        stack.push((s, succ));
                    }
                    Some(_) => {}
                    None => {
                        order.push(node.clone());
                        stack.pop();
                    }
                }
            }
        }
        let mut reverse: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (from, tos) in &self.edges {
            for to in tos.keys() {
                reverse.entry(to).or_default().push(from);
            }
        }
        let mut assigned = BTreeSet::new();
        let mut comps = Vec::new();
        for n in order.iter().rev() {
            if !assigned.insert(n.clone()) {
                continue;
            }
            let mut comp = BTreeSet::from([n.clone()]);
            let mut todo = vec![n.as_str()];
            while let Some(m) = todo.pop() {
                for &p in reverse.get(m).into_iter().flatten() {
                    if assigned.insert(p.to_owned()) {
                        comp.insert(p.to_owned());
                        todo.push(p);
                    }
                }
            }
            comps.push(comp);
        }
        comps.sort();
        comps
    }

    /// The shortest cycle through the first module of `comp`, inside `comp` (breadth first).
    fn shortest_cycle(&self, comp: &BTreeSet<String>) -> Option<Cycle> {
        let start = comp.first()?;
        let mut prev: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = VecDeque::from([start.as_str()]);
        while let Some(m) = queue.pop_front() {
            for s in self.successors(m).filter(|s| comp.contains(*s)) {
                if s == start {
                    let mut path = vec![m];
                    while let Some(&p) = prev.get(path.last()?) {
                        path.push(p);
                    }
                    path.reverse();
                    let steps = path
                        .iter()
                        .enumerate()
                        .map(|(k, &from)| {
                            let to = path.get(k + 1).copied().unwrap_or(start);
                            (from.to_owned(), to.to_owned(), self.edges[from][to].clone())
                        })
                        .collect();
                    return Some(Cycle { steps, component: comp.iter().cloned().collect() });
                }
                if s != start && !prev.contains_key(s.as_str()) {
                    prev.insert(s, m);
                    queue.push_back(s);
                }
            }
        }
        None
    }
}

fn tok(toks: &[Token], i: usize) -> Option<&Tok> {
    toks.get(i).map(|t| &t.tok)
}

/// Whether the token before `i` is `::` (then `i` is inside a path, not at its start).
fn after_sep(toks: &[Token], i: usize) -> bool {
    i > 0 && toks[i - 1].tok == Tok::Sep
}

/// Whether `toks` (ending just before a `use`) end with a visibility: `pub` or `pub(...)`.
fn is_public(toks: &[Token]) -> bool {
    match toks.last().map(|t| &t.tok) {
        Some(Tok::Ident(w)) => w == "pub",
        Some(Tok::Punct(')')) => {
            let open = toks.iter().rposition(|t| t.tok == Tok::Punct('('));
            open.is_some_and(|o| o > 0 && toks[o - 1].tok == Tok::Ident("pub".into()))
        }
        _ => false,
    }
}

/// Whether `toks` start with `#[path`.
fn path_attribute(toks: &[Token]) -> bool {
    matches!(
        (toks.get(1).map(|t| &t.tok), toks.get(2).map(|t| &t.tok)),
        (Some(Tok::Punct('[')), Some(Tok::Ident(w))) if w == "path"
    )
}

/// The leaves of the `use` tree starting at `i`: each full path and the name it binds
/// (`None` for a glob or `as _`); and the index after the `;`.
#[allow(clippy::type_complexity)]
fn use_tree(toks: &[Token], i: usize) -> Result<(Vec<(Vec<String>, Option<String>)>, usize), String> {
    let mut leaves = Vec::new();
    let end = subtree(toks, i, Vec::new(), &mut leaves)?;
    match tok(toks, end) {
        Some(Tok::Punct(';')) => Ok((leaves, end + 1)),
        _ => Err(format!("line {}: a use declaration without its ;", toks[i.min(toks.len() - 1)].line)),
    }
}

/// One use subtree at `i` below `prefix`; returns the index after it.
fn subtree(
    toks: &[Token],
    mut i: usize,
    prefix: Vec<String>,
    leaves: &mut Vec<(Vec<String>, Option<String>)>,
) -> Result<usize, String> {
    let mut segs = prefix;
    let line = toks.get(i).map_or(0, |t| t.line);
    loop {
        match tok(toks, i) {
            // `use ::std::..`: another crate.
            Some(Tok::Sep) if segs.is_empty() => {
                segs.push("::".to_owned());
                i += 1;
            }
            Some(Tok::Ident(s)) => {
                segs.push(s.clone());
                i += 1;
                match tok(toks, i) {
                    Some(Tok::Sep) => i += 1,
                    Some(Tok::Ident(w)) if w == "as" => {
                        let alias = match tok(toks, i + 1) {
                            Some(Tok::Ident(a)) if a != "_" => Some(a.clone()),
                            _ => None,
                        };
                        leaves.push(leaf(segs, alias, true));
                        return Ok(i + 2);
                    }
                    _ => {
                        leaves.push(leaf(segs, None, false));
                        return Ok(i);
                    }
                }
            }
            Some(Tok::Punct('*')) => {
                leaves.push((segs, None));
                return Ok(i + 1);
            }
            Some(Tok::Punct('{')) => {
                i += 1;
                loop {
                    match tok(toks, i) {
                        Some(Tok::Punct('}')) => return Ok(i + 1),
                        Some(Tok::Punct(',')) => i += 1,
                        Some(_) => i = subtree(toks, i, segs.clone(), leaves)?,
                        None => return Err(format!("line {line}: unclosed use group")),
                    }
                }
            }
            _ => return Err(format!("line {line}: unexpected token in a use declaration")),
        }
    }
}

/// A leaf: `a::b::self` is `a::b`, bound as `b`; `alias_given` with `alias: None` is `as _`.
fn leaf(mut segs: Vec<String>, alias: Option<String>, alias_given: bool) -> (Vec<String>, Option<String>) {
    if segs.last().is_some_and(|s| s == "self") && segs.len() > 1 {
        segs.pop();
    }
    let name = if alias_given { alias } else { segs.last().cloned() };
    (segs, name)
}

/// Whether `m` is strictly below `ancestor`.
fn is_descendant(m: &str, ancestor: &str) -> bool {
    m.strip_prefix(ancestor).is_some_and(|rest| rest.starts_with("::"))
}
