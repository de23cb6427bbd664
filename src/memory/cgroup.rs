//! cgroup memory limits (v2 `memory.max`/`memory.current`, v1 `memory.limit_in_bytes`/
//! `memory.usage_in_bytes`), checked up the hierarchy: a parent's limit binds its children.
use std::path::{Path, PathBuf};

use procfs::ProcessCGroup;
use serde::Serialize;

/// A cgroup memory limit and the group's current usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CgroupLimit {
    /// The limit in bytes.
    pub limit: u64,
    /// Usage of the limited group in bytes.
    pub usage: u64,
}

/// Limits at or above this are "no limit" (v1 reports ~2^63 rounded to a page).
const UNLIMITED: u64 = 1 << 62;

/// Directories that may hold a memory limit for this process, its own group first, then parents.
pub(crate) fn limit_dirs(groups: &[ProcessCGroup], root: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for g in groups {
        let bases: Vec<PathBuf> = if g.hierarchy == 0 && g.controllers.is_empty() {
            vec![root.to_path_buf(), root.join("unified")]
        } else if g.controllers.iter().any(|c| c == "memory") {
            vec![root.join("memory")]
        } else {
            continue;
        };
        for base in bases {
            let mut path = Path::new(g.pathname.trim_start_matches('/'));
            loop {
                dirs.push(base.join(path));
                match path.parent() {
                    Some(p) => path = p,
                    None => break,
                }
            }
        }
    }
    dirs
}

/// The limit with the least room left among `dirs`, if any is set.
pub(crate) fn tightest(dirs: &[PathBuf]) -> Option<CgroupLimit> {
    dirs.iter()
        .filter_map(|d| read_limit(d))
        .min_by_key(|l| l.limit.saturating_sub(l.usage))
}

fn read_limit(dir: &Path) -> Option<CgroupLimit> {
    let num = |name: &str| -> Option<u64> {
        std::fs::read_to_string(dir.join(name))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    let (limit, usage) = match num("memory.max").zip(num("memory.current")) {
        Some(v2) => v2,
        None => num("memory.limit_in_bytes").zip(num("memory.usage_in_bytes"))?,
    };
    (limit < UNLIMITED).then_some(CgroupLimit { limit, usage })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_v2_and_v1_limits_up_the_tree() {
        let root = tempfile::tempdir().unwrap();
        let v2 = root.path().join("app/worker");
        std::fs::create_dir_all(&v2).unwrap();
        std::fs::write(v2.join("memory.max"), "max\n").unwrap();
        std::fs::write(v2.join("memory.current"), "100\n").unwrap();
        std::fs::write(root.path().join("app/memory.max"), "1000\n").unwrap();
        std::fs::write(root.path().join("app/memory.current"), "400\n").unwrap();
        let v1 = root.path().join("memory/job");
        std::fs::create_dir_all(&v1).unwrap();
        std::fs::write(v1.join("memory.limit_in_bytes"), "9223372036854771712\n").unwrap();
        std::fs::write(v1.join("memory.usage_in_bytes"), "5\n").unwrap();
        let groups = vec![
            ProcessCGroup {
                hierarchy: 0,
                controllers: vec![],
                pathname: "/app/worker".into(),
            },
            ProcessCGroup {
                hierarchy: 4,
                controllers: vec!["memory".into()],
                pathname: "/job".into(),
            },
        ];
        let dirs = limit_dirs(&groups, root.path());
        assert_eq!(
            tightest(&dirs),
            Some(CgroupLimit {
                limit: 1000,
                usage: 400
            })
        );
    }
}
