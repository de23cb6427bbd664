//! Reads tests/interpreters.txt, the one list of interpreters, for the Rust side: the
//! integration tests, the walker's unit tests and the benches include this file (`#[path]`),
//! the Python scripts read the same list (benches/interpreters.py).
#![allow(dead_code)] // each includer uses a part

use std::path::{Path, PathBuf};

/// One line of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Names it in messages and names its snapshots, e.g. "pyenv-3.11.7" or "debian-3.14".
    pub label: String,
    /// The executable's path, `pyenv:X.Y.Z` or `debian:X.Y`, as written.
    pub location: String,
    /// (major, minor).
    pub version: (u8, u8),
    /// `headers`, `family`, `deep`: see the list's header.
    pub tags: Vec<String>,
}

impl Listed {
    /// Whether the line carries `tag`.
    pub fn has(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }

    /// `X.Y` of a `debian:X.Y` entry.
    pub fn debian(&self) -> Option<&str> {
        self.location.strip_prefix("debian:")
    }

    /// The executable's path, except for Debian builds (their place is what
    /// tools/install-debian-pythons prints).
    pub fn path(&self) -> Option<PathBuf> {
        if self.debian().is_some() {
            return None;
        }
        Some(match self.location.strip_prefix("pyenv:") {
            Some(full) => {
                let root = std::env::var_os("PYENV_ROOT").unwrap_or_else(|| "/root/.pyenv".into());
                Path::new(&root)
                    .join("versions")
                    .join(full)
                    .join("bin/python")
            }
            None => PathBuf::from(&self.location),
        })
    }
}

/// The list's file, in the repository holding the crate being built (the workspace root, or
/// above a member crate such as python_versions/).
pub fn list_file() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir
        .ancestors()
        .map(|dir| dir.join("tests/interpreters.txt"))
        .find(|file| file.is_file())
        .unwrap_or_else(|| panic!("no tests/interpreters.txt above {}", crate_dir.display()))
}

/// Every interpreter listed, in the list's order. Panics on a malformed line: the list is ours.
pub fn listed() -> Vec<Listed> {
    let file = list_file();
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
    parse(&text)
}

/// The labels of the lines tagged `tag`, in the list's order.
pub fn labels_tagged(tag: &str) -> Vec<String> {
    listed()
        .into_iter()
        .filter(|l| l.has(tag))
        .map(|l| l.label)
        .collect()
}

fn parse(text: &str) -> Vec<Listed> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let (label, location, version) = match words[..] {
                [label, location, version] | [label, location, version, _] => {
                    (label, location, version)
                }
                _ => panic!("interpreters.txt: `{line}` is not `label where version [tags]`"),
            };
            let version = version
                .split_once('.')
                .and_then(|(major, minor)| Some((major.parse().ok()?, minor.parse().ok()?)))
                .unwrap_or_else(|| panic!("interpreters.txt: `{line}`: version is not X.Y"));
            Listed {
                label: label.to_string(),
                location: location.to_string(),
                version,
                tags: words
                    .get(3)
                    .map(|t| t.split(',').map(str::to_string).collect())
                    .unwrap_or_default(),
            }
        })
        .collect()
}
