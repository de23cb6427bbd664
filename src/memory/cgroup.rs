//! cgroup memory limits (v2 `memory.max`/`memory.current`, v1 `memory.limit_in_bytes`/
//! `memory.usage_in_bytes`), checked up the hierarchy: a parent's limit binds its children.
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::proc::ProcessCGroup;
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

/// One group's limit and usage files, kept open: v2 `memory.max` and `memory.current`, or v1
/// `memory.limit_in_bytes` and `memory.usage_in_bytes`.
#[derive(Debug)]
pub(crate) struct LimitFiles {
    limit: File,
    usage: File,
}

impl LimitFiles {
    /// The pair in `dir` (v2 first), if it has one.
    fn open(dir: &Path) -> Option<LimitFiles> {
        let pair = |limit: &str, usage: &str| {
            Some(LimitFiles {
                limit: File::open(dir.join(limit)).ok()?,
                usage: File::open(dir.join(usage)).ok()?,
            })
        };
        pair("memory.max", "memory.current")
            .or_else(|| pair("memory.limit_in_bytes", "memory.usage_in_bytes"))
    }

    /// The limit now, if the group has one (v2 says `max` when it does not).
    fn read(&self) -> Option<CgroupLimit> {
        let number = |file: &File| -> Option<u64> {
            let mut buf = [0u8; 32];
            let text = crate::proc::read_start(file, &mut buf)?;
            std::str::from_utf8(text).ok()?.trim().parse().ok()
        };
        let (limit, usage) = (number(&self.limit)?, number(&self.usage)?);
        (limit < UNLIMITED).then_some(CgroupLimit { limit, usage })
    }
}

/// Open the limit files of each of `dirs` that has them.
pub(crate) fn open_limits(dirs: &[PathBuf]) -> Vec<LimitFiles> {
    dirs.iter().filter_map(|d| LimitFiles::open(d)).collect()
}

/// The limit with the least room left, if any is set.
pub(crate) fn tightest(groups: &[LimitFiles]) -> Option<CgroupLimit> {
    groups
        .iter()
        .filter_map(LimitFiles::read)
        .min_by_key(|l| l.limit.saturating_sub(l.usage))
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
        let limits = open_limits(&dirs);
        assert_eq!(
            tightest(&limits),
            Some(CgroupLimit {
                limit: 1000,
                usage: 400
            })
        );
        // Kept open, read afresh: a change in usage shows on the next read.
        std::fs::write(root.path().join("app/memory.current"), "900\n").unwrap();
        assert_eq!(
            tightest(&limits),
            Some(CgroupLimit {
                limit: 1000,
                usage: 900
            })
        );
    }
}
