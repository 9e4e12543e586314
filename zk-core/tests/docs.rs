//! Every `§N` / `§N.M` cited in the workspace's Rust sources names a section of
//! `docs/protocol.md` that exists, so a reader can follow each reference inside the repository.
//!
//! A section exists when the file has a heading with that number: `## 9. ACLs ...`,
//! `### 9.3 Schemes`, `#### 7.7.1 ...`. Scanned: every `.rs` file under zk-core/, zk-recipes/,
//! zk-testing/ and examples/ (build output in `target/` directories skipped), and the
//! references docs/protocol.md makes to itself. A `§` not followed by a digit is prose, not a
//! reference.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

const PROTOCOL_DOC: &str = "docs/protocol.md";
const SOURCE_DIRS: [&str; 4] = ["zk-core", "zk-recipes", "zk-testing", "examples"];

#[test]
fn every_section_reference_resolves() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root");
    let doc = fs::read_to_string(root.join(PROTOCOL_DOC)).expect("docs/protocol.md is readable");
    let sections = headings(&doc);

    let mut files = vec![root.join(PROTOCOL_DOC)];
    for dir in SOURCE_DIRS {
        rust_files(&root.join(dir), &mut files);
    }
    let (mut cited, mut dangling) = (0, Vec::new());
    for file in &files {
        let text = fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for (n, line) in text.lines().enumerate() {
            for section in references(line) {
                cited += 1;
                if !sections.contains(&section) {
                    let shown = file.strip_prefix(root).unwrap_or(file).display();
                    dangling.push(format!("{shown}:{}: §{section}", n + 1));
                }
            }
        }
    }
    assert!(cited > 0, "no § reference found: is the scan looking in the right place ({})?", root.display());
    assert!(
        dangling.is_empty(),
        "{} reference(s) to a section that {PROTOCOL_DOC} does not have (add the section or fix the \
         reference):\n{}",
        dangling.len(),
        dangling.join("\n")
    );
}

/// The section numbers of the `##`–`####` headings; a number used by two headings is a bug.
fn headings(doc: &str) -> BTreeSet<String> {
    let mut sections = BTreeSet::new();
    for line in doc.lines() {
        let Some(rest) = ["## ", "### ", "#### "].iter().find_map(|h| line.strip_prefix(h)) else {
            continue;
        };
        let number = section_number(rest);
        // `## 9. ACLs` ends its number with a dot, `### 9.3 Schemes` with a space.
        if !number.is_empty() && rest[number.len()..].starts_with([' ', '.']) {
            assert!(sections.insert(number.to_owned()), "{PROTOCOL_DOC}: two headings numbered {number}");
        }
    }
    sections
}

/// The sections cited on one line: `§9.3` gives `9.3`; the dot in `(§6).` is punctuation.
fn references(line: &str) -> Vec<String> {
    line.match_indices('§')
        .map(|(i, s)| section_number(&line[i + s.len()..]).to_owned())
        .filter(|n| !n.is_empty())
        .collect()
}

/// The longest prefix of `s` shaped `digits(.digits)*`.
fn section_number(s: &str) -> &str {
    let digits = |from: usize| s[from..].bytes().take_while(u8::is_ascii_digit).count();
    let mut end = digits(0);
    if end == 0 {
        return "";
    }
    while s[end..].starts_with('.') && digits(end + 1) > 0 {
        end += 1 + digits(end + 1);
    }
    &s[..end]
}

/// Every `.rs` file below `dir`, skipping `target` directories.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            if path.file_name().is_some_and(|name| name != "target") {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn section_numbers_are_read_as_written() {
    assert_eq!(references("see §9.3, §4 and §7.7.1."), ["9.3", "4", "7.7.1"]);
    assert_eq!(references("(§6). §13.8-11 and §5.2–§5.8"), ["6", "13.8", "5.2", "5.8"]);
    assert!(references("Section numbers (§) refer to ...").is_empty());
    let doc = "## 9. ACLs\n### 9.3 Schemes\n#### 7.7.1 Events\n# 1. Title\n##### 2.2 Deep\n## Intro 3.1\n";
    assert_eq!(headings(doc).into_iter().collect::<Vec<_>>(), ["7.7.1", "9", "9.3"]);
}
