//! The process list grouped by process tree: a Python process whose parent is another listed
//! Python process sits under it (a `multiprocessing` pool's workers under their parent), and
//! each tree of several processes shows its total CPU and RSS, so a pool of 8 workers reads as
//! one job. Trees are ordered by their totals, processes within a tree by their own figures.
use std::cmp::Ordering;
use std::collections::HashMap;

use super::process_list::ProcessRow;
use super::render_list::{trend_delta, ListSort};

/// A tree's totals, kept on its root row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TreeTotal {
    /// Processes in the tree, the root included.
    pub processes: usize,
    /// CPU of all of them, percent of one core.
    pub cpu: f64,
    /// RSS of all of them, bytes.
    pub rss: u64,
    /// RSS growth of all of them over the trend window, bytes.
    pub growth: i64,
}

/// Where a row sits in its tree.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct TreePlace {
    /// 0 for a root, 1 for its children, …
    pub depth: usize,
    /// The last of its siblings (drawn `└─`, else `├─`).
    pub last: bool,
    /// On a root of two or more processes: the tree's totals.
    pub total: Option<TreeTotal>,
}

/// Order `rows` by tree under `sort`, and set each row's [`ProcessRow::tree`]. A process's
/// parent is taken from [`ProcessRow::ppid`]; a cycle (pids reused between scans) or a parent
/// not in the list makes a root.
pub(crate) fn group(rows: &mut Vec<ProcessRow>, sort: ListSort) {
    let index: HashMap<i32, usize> = rows.iter().enumerate().map(|(i, r)| (r.pid, i)).collect();
    let parent_of = |i: usize| {
        rows[i]
            .ppid
            .and_then(|p| index.get(&p).copied())
            .filter(|&p| p != i)
    };
    // Each row's root: up its parents to one without a listed parent. A row whose line of
    // parents loops (pids reused between readings) is a root itself.
    let root_of: Vec<usize> = (0..rows.len())
        .map(|i| {
            let mut line = vec![i];
            let mut at = i;
            while let Some(p) = parent_of(at) {
                if line.contains(&p) {
                    return i;
                }
                line.push(p);
                at = p;
            }
            at
        })
        .collect();
    let is_root = |i: usize| root_of[i] == i;
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); rows.len()];
    for i in 0..rows.len() {
        if let Some(p) = parent_of(i).filter(|_| !is_root(i)) {
            children[p].push(i);
        }
    }
    let mut totals: HashMap<usize, TreeTotal> = HashMap::new();
    for (i, &root) in root_of.iter().enumerate() {
        let t = totals.entry(root).or_insert(TreeTotal {
            processes: 0,
            cpu: 0.0,
            rss: 0,
            growth: 0,
        });
        t.processes += 1;
        t.cpu += rows[i].cpu;
        t.rss += rows[i].rss;
        t.growth += trend_delta(&rows[i].trend);
    }
    let own = |i: usize| Figures {
        pid: rows[i].pid,
        cpu: rows[i].cpu,
        rss: rows[i].rss,
        growth: trend_delta(&rows[i].trend),
    };
    let whole = |i: usize| {
        let t = totals[&i];
        Figures {
            pid: rows[i].pid,
            cpu: t.cpu,
            rss: t.rss,
            growth: t.growth,
        }
    };
    let mut roots: Vec<usize> = (0..rows.len()).filter(|&i| is_root(i)).collect();
    roots.sort_by(|&a, &b| whole(a).cmp_by(&whole(b), sort));
    for list in &mut children {
        list.sort_by(|&a, &b| own(a).cmp_by(&own(b), sort));
    }
    let mut order: Vec<(usize, TreePlace)> = Vec::with_capacity(rows.len());
    for &root in &roots {
        let total = totals[&root];
        order.push((
            root,
            TreePlace {
                depth: 0,
                last: true,
                total: (total.processes > 1).then_some(total),
            },
        ));
        push_children(root, 1, &children, &mut order);
    }
    let mut taken: Vec<Option<ProcessRow>> = rows.drain(..).map(Some).collect();
    for (i, place) in order {
        if let Some(mut row) = taken[i].take() {
            row.tree = place;
            rows.push(row);
        }
    }
}

fn push_children(
    parent: usize,
    depth: usize,
    children: &[Vec<usize>],
    order: &mut Vec<(usize, TreePlace)>,
) {
    let kids = &children[parent];
    for (k, &child) in kids.iter().enumerate() {
        order.push((
            child,
            TreePlace {
                depth,
                last: k + 1 == kids.len(),
                total: None,
            },
        ));
        push_children(child, depth + 1, children, order);
    }
}

/// What rows and trees are sorted by.
struct Figures {
    pid: i32,
    cpu: f64,
    rss: u64,
    growth: i64,
}

impl Figures {
    fn cmp_by(&self, other: &Figures, sort: ListSort) -> Ordering {
        let order = match sort {
            ListSort::Pid => Ordering::Equal,
            ListSort::Cpu => other.cpu.total_cmp(&self.cpu),
            ListSort::Rss => other.rss.cmp(&self.rss),
            ListSort::Growth => other.growth.cmp(&self.growth),
        };
        order.then(self.pid.cmp(&other.pid))
    }
}

/// The command cell's prefix for a row in a column `width` wide: tree lines for members, the
/// totals for a tree's root, shorter when the column is narrow (some of the command must show).
pub(crate) fn prefix(place: &TreePlace, bytes: impl Fn(u64) -> String, width: usize) -> String {
    let mut out = String::new();
    if place.depth > 0 {
        out.push_str(&"  ".repeat(place.depth - 1));
        out.push_str(if place.last { "└─ " } else { "├─ " });
    }
    if let Some(t) = place.total {
        let (n, cpu, rss) = (t.processes, t.cpu, bytes(t.rss));
        let long = format!("[tree of {n}: {cpu:.0}% CPU, {rss}] ");
        let short = format!("[{n}× {cpu:.0}% {rss}] ");
        let fits = |text: &str| text.chars().count() + COMMAND_ROOM <= width;
        out.push_str(&if fits(&long) {
            long
        } else if fits(&short) {
            short
        } else {
            format!("[{n}×] ")
        });
    }
    out
}

/// Characters of the command kept beside a tree's totals.
const COMMAND_ROOM: usize = 12;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::top::process_list::Current;

    fn row(pid: i32, ppid: i32, cpu: f64, rss_mib: u64) -> ProcessRow {
        ProcessRow {
            pid,
            ppid: Some(ppid),
            version: "3.12".into(),
            command: format!("python job{pid}"),
            cpu,
            rss: rss_mib << 20,
            trend: vec![],
            current: Current::Pending,
            tree: TreePlace::default(),
        }
    }

    fn shape(rows: &[ProcessRow]) -> Vec<(i32, usize, bool, Option<usize>)> {
        rows.iter()
            .map(|r| {
                let t = r.tree;
                (r.pid, t.depth, t.last, t.total.map(|t| t.processes))
            })
            .collect()
    }

    #[test]
    fn a_pool_reads_as_one_tree_with_its_total_and_trees_sort_by_their_totals() {
        // 100 (shell's child, parent 1) with workers 101-103; a lone 200 using more RSS than
        // any one worker, but less than the pool; 300 a grandchild under 102.
        let mut rows = vec![
            row(200, 1, 10.0, 500),
            row(101, 100, 90.0, 100),
            row(100, 1, 5.0, 50),
            row(103, 100, 95.0, 300),
            row(102, 100, 99.0, 200),
            row(300, 102, 1.0, 10),
        ];
        group(&mut rows, ListSort::Rss);
        assert_eq!(
            shape(&rows),
            vec![
                (100, 0, true, Some(5)),
                (103, 1, false, None),
                (102, 1, false, None),
                (300, 2, true, None),
                (101, 1, true, None),
                (200, 0, true, None),
            ]
        );
        let total = rows[0].tree.total.unwrap();
        assert_eq!(total.rss, (50 + 100 + 300 + 200 + 10) << 20);
        assert!((total.cpu - 290.0).abs() < 1e-9);
        // By CPU: within the pool, the busiest worker first.
        group(&mut rows, ListSort::Cpu);
        let pids: Vec<i32> = rows.iter().map(|r| r.pid).collect();
        assert_eq!(pids, vec![100, 102, 300, 103, 101, 200]);
    }

    #[test]
    fn parents_outside_the_list_and_cycles_make_roots() {
        // 10 and 11 name each other as parent (pids reused between readings): both kept, once.
        let mut rows = vec![
            row(10, 11, 0.0, 1),
            row(11, 10, 0.0, 2),
            row(12, 999, 0.0, 3),
        ];
        group(&mut rows, ListSort::Pid);
        let mut pids: Vec<i32> = rows.iter().map(|r| r.pid).collect();
        pids.sort_unstable();
        assert_eq!(pids, vec![10, 11, 12]);
        assert!(rows
            .iter()
            .all(|r| r.tree.depth == 0 && r.tree.total.is_none()));
    }

    #[test]
    fn members_are_drawn_under_their_root_and_roots_carry_the_total() {
        let mb = |b: u64| format!("{}M", b >> 20);
        let member = TreePlace {
            depth: 2,
            last: true,
            total: None,
        };
        assert_eq!(prefix(&member, mb, 80), "  └─ ");
        let root = TreePlace {
            depth: 0,
            last: true,
            total: Some(TreeTotal {
                processes: 9,
                cpu: 780.4,
                rss: 1200 << 20,
                growth: 0,
            }),
        };
        assert_eq!(prefix(&root, mb, 80), "[tree of 9: 780% CPU, 1200M] ");
        // Narrower columns: shorter totals, so that some of the command still shows.
        assert_eq!(prefix(&root, mb, 30), "[9× 780% 1200M] ");
        assert_eq!(prefix(&root, mb, 14), "[9×] ");
        assert_eq!(prefix(&TreePlace::default(), mb, 80), "");
    }
}
