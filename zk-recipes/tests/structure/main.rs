//! The module graph of zk-recipes reads top to bottom: no module uses a module that
//! (transitively) uses it back (house style, "No sibling cycles": when two modules import each
//! other, the shared type lives in the wrong file; move it to a leaf).
//!
//! # What counts
//!
//! The modules are `lib.rs` (`crate`), every module file its `mod` declarations reach, and
//! every inline `mod x { .. }` (a `mod tests` too). Module `A` **uses** module `B` when, in
//! `A`'s own text, outside comments and literals:
//!
//! - a leaf of a `use` declaration names `B` or an item of `B` (`use super::task::Run`,
//!   `use crate::protected::{self, backoff}`, `use super::*`), whatever its `#[cfg]`
//!   (`#[cfg(doc)]` and `#[cfg(test)]` imports count);
//! - a path in code starts with `crate::`, `super::` or `self::`, or with the name of a child
//!   module of `A` or of a name `A` imports, and leads into `B` (`super::common::put_back(..)`,
//!   `crate::counter::decode_i32(..)`, `codec::encode(..)`).
//!
//! A path is resolved the way the compiler does, simplified: walk through module names; a
//! name a module imports is followed to where its `use` points (so `super::AtLeastOnce`, which
//! `queue` re-exports from `queue::consumer`, leads to `queue::consumer`); the module reached
//! last is `B`. In code the last segment names an item, never a module; in a `use` a last
//! segment that names both a module and an item counts as the module (too many edges rather
//! than too few). Other crates, `std` and unknown names are not followed.
//!
//! Not counted, because they are the map, not a dependency: `mod x;` and `mod x { .. }`, and a
//! `use` with a visibility (`pub use`, `pub(crate) use`, ...) whose written path lies below
//! the module declaring it (a parent re-exporting its children: `pub use node::NodeCache`).
//! A parent that *uses* a child (a private `use`, a path in code) counts like any module.
//! Also not counted: comments (doc comments and their links too), paths a macro expands to
//! (a path written inside a `macro_rules!` body counts as written), and the names behind a
//! glob (`use x::*` counts as a use of `x`, and a name it brings in is not followed).
//!
//! A **cycle** is two or more modules each reaching the others through uses; the test lists,
//! for each, the shortest cycle and the line behind each of its edges.
//!
//! `ZK_SHOW_MODULES=1 cargo test -p zkrs-recipes --test structure -- --nocapture` prints every
//! edge with the line behind it.
//!
//! The parser is a small hand-written lexer ([`lexer`]) and a scan of its tokens for `mod`,
//! `use` and paths ([`modgraph`]); it fails (rather than guess) on `#[path]` attributes and
//! on `use` declarations it cannot read.

mod lexer;
mod modgraph;

use std::collections::BTreeMap;
use std::path::Path;

use modgraph::Graph;

/// Every `.rs` file below `dir`, by path relative to it (with `/`).
fn sources(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).expect("readable source directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(dir).expect("below the source directory");
                let rel =
                    rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
                out.insert(rel, std::fs::read_to_string(&path).expect("readable source file"));
            }
        }
    }
    out
}

/// The failure message for `cycles`.
fn report(cycles: &[modgraph::Cycle]) -> String {
    let mut s =
        format!("{} module cycle(s) in zk-recipes/src (see tests/structure/main.rs):\n", cycles.len());
    for c in cycles {
        s.push_str(&c.to_string());
    }
    s
}

#[test]
fn zk_recipes_has_no_module_cycles() {
    let files = sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let graph = Graph::parse(&files).unwrap_or_else(|e| panic!("cannot read zk-recipes/src: {e}"));
    // A parser that silently saw nothing would find no cycle either.
    let unread: Vec<&String> = files.keys().filter(|f| !graph.files().contains(f.as_str())).collect();
    assert!(unread.is_empty(), "files no `mod` declaration reached: {unread:?}");
    assert!(graph.modules().count() >= 30, "modules found: {:?}", graph.modules().collect::<Vec<_>>());
    assert!(graph.edge_count() >= 50, "only {} edges found", graph.edge_count());
    for (from, to) in [
        ("cache::task", "cache::model"),
        ("queue::consumer", "queue::delivery"),
        ("group", "cache::children"),
    ] {
        assert!(graph.has_edge(from, to), "the edge {from} -> {to} was not found");
    }
    if std::env::var_os("ZK_SHOW_MODULES").is_some() {
        println!("{}", graph.edges_text());
    }
    let cycles = graph.cycles();
    assert!(cycles.is_empty(), "{}", report(&cycles));
}

/// The checker on small crates written here.
mod checker {
    use std::collections::BTreeMap;

    use crate::modgraph::Graph;

    fn graph(files: &[(&str, &str)]) -> Graph {
        let files: BTreeMap<String, String> =
            files.iter().map(|(p, s)| (p.to_string(), s.to_string())).collect();
        Graph::parse(&files).unwrap()
    }

    /// The cycles, each as its modules `a -> b -> a`.
    fn cycles(files: &[(&str, &str)]) -> Vec<String> {
        graph(files)
            .cycles()
            .iter()
            .map(|c| c.to_string().lines().next().unwrap_or_default().to_owned())
            .collect()
    }

    #[test]
    fn a_planted_sibling_cycle_is_found_with_its_lines() {
        let files = [
            ("lib.rs", "mod a;\nmod b;\nmod c;\n"),
            ("a.rs", "use super::b::B;\npub struct A;\n"),
            ("b.rs", "// use crate::a::A; (a comment is not an import)\nfn f() { let _ = \"crate::a\"; }\nfn g() -> crate::c::C { crate::c::C }\n"),
            ("c.rs", "pub struct C;\nfn h() { let _ = crate::a::A; }\n"),
        ];
        let g = graph(&files);
        let found = g.cycles();
        assert_eq!(found.len(), 1);
        let text = found[0].to_string();
        assert!(text.starts_with("a -> b -> c -> a"), "{text}");
        assert!(text.contains("a -> b: a.rs:1 `super::b::B`"), "{text}");
        assert!(text.contains("b -> c: b.rs:3 `crate::c::C`"), "{text}");
        assert!(text.contains("c -> a: c.rs:2 `crate::a::A`"), "{text}");
    }

    #[test]
    fn a_cycle_behind_a_re_export_is_found() {
        // queue's old shape: delivery imports the consumer through the parent's re-export.
        let files = [
            ("lib.rs", "pub mod queue;\n"),
            (
                "queue/mod.rs",
                "mod consumer;\nmod delivery;\npub use consumer::AtLeastOnce;\npub use delivery::Delivery;\n",
            ),
            ("queue/consumer.rs", "use super::delivery::{lock_item, Delivery};\npub struct AtLeastOnce;\n"),
            ("queue/delivery.rs", "#[cfg(doc)]\nuse super::AtLeastOnce;\npub struct Delivery;\n"),
        ];
        assert_eq!(cycles(&files), ["queue::consumer -> queue::delivery -> queue::consumer"]);
    }

    #[test]
    fn a_parent_re_exporting_its_children_is_no_cycle() {
        let files = [
            ("lib.rs", "mod error;\npub mod cache;\npub use error::Error;\n"),
            ("error.rs", "pub struct Error;\n"),
            ("cache/mod.rs", "mod model;\nmod node;\npub use node::NodeCache;\npub(crate) use model::{Model};\npub struct NodeData;\n"),
            ("cache/model.rs", "use super::NodeData;\nuse crate::Error;\npub struct Model;\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n"),
            ("cache/node.rs", "use super::{Model, NodeData};\npub struct NodeCache;\n"),
        ];
        let g = graph(&files);
        assert!(g.cycles().is_empty(), "{:?}", g.cycles());
        assert!(g.has_edge("cache::node", "cache::model"), "followed through the parent's re-export");
        assert!(g.has_edge("cache::model", "error"), "followed through the root's re-export");
        assert!(g.has_edge("cache::model::tests", "cache::model"));
    }

    #[test]
    fn a_parent_using_its_child_in_code_is_a_cycle() {
        let files = [
            ("lib.rs", "mod lock;\n"),
            ("lock/mod.rs", "mod internals;\npub struct Participant;\nfn key() { internals::sort_key() }\n"),
            ("lock/internals.rs", "use super::Participant;\npub fn sort_key() {}\n"),
        ];
        assert_eq!(cycles(&files), ["lock -> lock::internals -> lock"]);
    }

    #[test]
    fn an_inline_module_is_a_module() {
        // lock's old shape: `layout` (inline) calls into rw_lock, which imports layout's names.
        let files = [
            ("lib.rs", "mod lock;\n"),
            (
                "lock/mod.rs",
                "mod rw_lock;\npub mod layout {\n    pub const READ: &str = \"__READ__\";\n    pub fn key(n: &str) -> &str {\n        super::rw_lock::key(n)\n    }\n}\n",
            ),
            ("lock/rw_lock.rs", "use super::layout::READ;\npub(crate) fn key(n: &str) -> &str { n }\n"),
        ];
        assert_eq!(cycles(&files), ["lock::layout -> lock::rw_lock -> lock::layout"]);
    }

    #[test]
    fn a_call_of_a_root_function_is_not_its_namesake_module() {
        // `crate::lock(..)` calls the root's fn `lock`; the module `lock` is not used.
        let files = [
            ("lib.rs", "mod lock;\nmod cache;\npub(crate) fn lock() {}\n"),
            ("lock/mod.rs", "fn f() { crate::cache::g() }\n"),
            ("cache/mod.rs", "pub(crate) fn g() { crate::lock() }\n"),
        ];
        assert!(cycles(&files).is_empty());
    }

    #[test]
    fn unreadable_sources_fail_loudly() {
        let parse = |files: &[(&str, &str)]| {
            Graph::parse(&files.iter().map(|(p, s)| (p.to_string(), s.to_string())).collect())
        };
        assert!(parse(&[("lib.rs", "mod missing;\n")]).is_err(), "a declared module without its file");
        assert!(parse(&[("lib.rs", "#[path = \"x.rs\"]\nmod a;\n"), ("x.rs", "")]).is_err());
        assert!(parse(&[("lib.rs", "use crate::{a, b;\n")]).is_err());
    }
}
