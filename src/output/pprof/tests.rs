//! pprof round trips: encode, gunzip, decode with the same prost messages, and compare with the
//! profile. Also home of [`memory_profile`], the fixture with RSS readings that the gecko and
//! speedscope tests share.
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use super::*;
use crate::profile::{AggregateOptions, Measure};
use crate::stack::{Frame, ThreadStack};

pub(crate) fn frame(name: &str, filename: &str, line: u32) -> Frame {
    Frame {
        name: name.into(),
        filename: filename.into(),
        line,
    }
}

pub(crate) fn thread(
    thread_id: u64,
    os_tid: Option<u32>,
    name: Option<&str>,
    active: bool,
    frames: &[&Frame],
) -> ThreadStack {
    ThreadStack {
        thread_id,
        os_tid,
        name: name.map(Into::into),
        active,
        holds_gil: active,
        // Innermost first, as the walker produces them.
        frames: frames.iter().rev().map(|f| (*f).clone()).collect(),
    }
}

pub(crate) const MAIN: u64 = 0x7f00_0000_1000;
pub(crate) const WORKER: u64 = 0x7f00_0000_2000;
pub(crate) const NAMELESS: u64 = 0x7f00_0000_3000;

/// 100 ticks 10 ms apart with an RSS reading each. MainThread alternates between `grow` (two
/// lines) while RSS grows by 1 MiB per tick, and `burn` (RSS flat); one release of 3 MiB. A
/// worker runs `Worker.work`, idle one tick in five; a thread without name or tid runs once.
/// Non-ASCII, `;` and line-less frames included.
pub(crate) fn memory_profile() -> Profile {
    let module = frame("<module>", "/app/main.py", 50);
    let grow = frame("grow", "/app/main.py", 20);
    let grow2 = frame("grow", "/app/main.py", 21);
    let burn = frame("burn", "/app/cpu.py", 5);
    let gruss = frame("grüße;x", "/app/i18n.py", 0);
    let run = frame("run", "/usr/lib/python3.11/threading.py", 1012);
    let work = frame("Worker.work", "/app/main.py", 40);
    let agg = AggregateOptions::default();
    let mut p = Profile::new("python main.py --big", Duration::from_millis(10));
    let mut rss: u64 = 10 << 20;
    for i in 0..100u64 {
        let at = Duration::from_millis(10 * i);
        let main_frames: Vec<&Frame> = match i % 5 {
            0 | 1 => vec![&module, &grow],
            2 => vec![&module, &grow2],
            3 => vec![&module, &burn, &gruss],
            _ => vec![&module, &burn],
        };
        if i > 0 && i % 5 < 3 {
            rss += 1 << 20;
        }
        if i == 61 {
            rss -= 3 << 20;
        }
        let mut stacks = vec![
            thread(MAIN, Some(1234), Some("MainThread"), true, &main_frames),
            thread(
                WORKER,
                Some(1240),
                Some("worker-1"),
                i % 5 != 4,
                &[&run, &work],
            ),
        ];
        if i == 7 {
            stacks.push(thread(NAMELESS, None, None, true, &[&run]));
        }
        p.add_tick(at, &stacks, Some(rss), &agg);
    }
    p.duration = Duration::from_millis(1000);
    p
}

fn encode(p: &Profile, opts: &OutputOptions) -> Vec<u8> {
    let mut out = Vec::new();
    PprofWriter.write(p, opts, &mut out).unwrap();
    out
}

/// Every id and string index in range, string 0 empty, ids unique and nonzero.
fn check_references(d: &proto::Profile) {
    let strings = d.string_table.len() as i64;
    assert_eq!(d.string_table.first().map(String::as_str), Some(""));
    let in_table = |i: i64| (0..strings).contains(&i);
    for vt in d.sample_type.iter().chain(&d.period_type) {
        assert!(in_table(vt.r#type) && in_table(vt.unit), "{vt:?}");
    }
    let functions: HashMap<u64, &proto::Function> = d.function.iter().map(|f| (f.id, f)).collect();
    assert_eq!(functions.len(), d.function.len(), "function ids unique");
    for f in &d.function {
        assert_ne!(f.id, 0);
        assert!(in_table(f.name) && in_table(f.system_name) && in_table(f.filename));
    }
    let locations: HashMap<u64, &proto::Location> = d.location.iter().map(|l| (l.id, l)).collect();
    assert_eq!(locations.len(), d.location.len(), "location ids unique");
    for l in &d.location {
        assert_ne!(l.id, 0);
        assert_eq!(l.line.len(), 1);
        assert!(functions.contains_key(&l.line[0].function_id));
    }
    for s in &d.sample {
        assert_eq!(s.value.len(), d.sample_type.len());
        assert!(!s.location_id.is_empty());
        assert!(s.location_id.iter().all(|id| locations.contains_key(id)));
        for l in &s.label {
            assert!(in_table(l.key) && in_table(l.str) && in_table(l.num_unit));
        }
    }
    assert!(d.comment.iter().all(|&c| in_table(c)));
    assert!(in_table(d.default_sample_type));
}

/// (function, file, line).
type DecodedFrame = (String, String, i64);

/// A decoded sample's frames, outermost first.
fn frames_of(d: &proto::Profile, s: &proto::Sample) -> Vec<DecodedFrame> {
    let str_of = |i: i64| d.string_table[i as usize].clone();
    s.location_id
        .iter()
        .rev()
        .map(|id| {
            let loc = d.location.iter().find(|l| l.id == *id).unwrap();
            let f = d
                .function
                .iter()
                .find(|f| f.id == loc.line[0].function_id)
                .unwrap();
            (str_of(f.name), str_of(f.filename), loc.line[0].line)
        })
        .collect()
}

fn label<'a>(d: &proto::Profile, s: &'a proto::Sample, key: &str) -> &'a proto::Label {
    s.label
        .iter()
        .find(|l| d.string_table[l.key as usize] == key)
        .unwrap_or_else(|| panic!("no label {key} in {s:?}"))
}

#[test]
fn round_trip_keeps_totals_frames_and_labels() {
    let p = memory_profile();
    assert!(p.total(Measure::RssGrowth) > 0 && p.total(Measure::RssRelease) > 0);
    let bytes = encode(&p, &OutputOptions::default());
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip magic");
    let d = decode(&bytes).unwrap();
    check_references(&d);

    let s = |i: i64| d.string_table[i as usize].as_str();
    let types: Vec<(&str, &str)> = d
        .sample_type
        .iter()
        .map(|vt| (s(vt.r#type), s(vt.unit)))
        .collect();
    assert_eq!(types, SAMPLE_TYPES);
    assert_eq!(s(d.default_sample_type), "samples");
    let period_type = d.period_type.unwrap();
    assert_eq!(
        (s(period_type.r#type), s(period_type.unit)),
        ("wall", "nanoseconds")
    );
    assert_eq!(d.period, 10_000_000);
    assert_eq!(d.duration_nanos, 1_000_000_000);
    assert_eq!(d.time_nanos, 0);
    assert_eq!(
        d.comment.iter().map(|&c| s(c)).collect::<Vec<_>>(),
        ["python main.py --big"]
    );

    // Totals per sample type.
    let total = |i: usize| d.sample.iter().map(|x| x.value[i]).sum::<i64>() as u64;
    assert_eq!(total(0), p.total_samples());
    assert_eq!(total(1), p.total_samples() * 10_000_000);
    assert_eq!(total(2), p.total(Measure::RssGrowth));
    assert_eq!(total(3), p.total(Measure::RssRelease));
    assert_eq!(total(2), p.memory.growth_total);
    assert_eq!(total(3), p.memory.release_total);

    // Every stack of the profile comes back with its frames, lines, thread and weights.
    assert_eq!(d.sample.len(), p.stacks.len());
    let mut decoded: BTreeMap<(String, Vec<DecodedFrame>), Vec<i64>> = BTreeMap::new();
    for x in &d.sample {
        let name = s(label(&d, x, THREAD_NAME_LABEL).str).to_string();
        let tid = label(&d, x, THREAD_ID_LABEL).num;
        let t = p
            .threads
            .iter()
            .find(|t| t.name.clone().unwrap_or_else(|| t.label()) == name)
            .unwrap();
        assert_eq!(tid, t.os_tid.map_or(t.thread_id as i64, i64::from));
        decoded.insert((name, frames_of(&d, x)), x.value.clone());
    }
    for ((thread, ids), w) in &p.stacks {
        let t = &p.threads[*thread];
        let frames: Vec<_> = ids
            .iter()
            .map(|&id| {
                let f = &p.frames[id as usize];
                (
                    f.name.to_string(),
                    f.filename.to_string(),
                    i64::from(f.line),
                )
            })
            .collect();
        let name = t.name.clone().unwrap_or_else(|| t.label());
        let values = &decoded[&(name, frames)];
        assert_eq!(
            values,
            &[
                w.samples as i64,
                w.samples as i64 * 10_000_000,
                w.rss_growth as i64,
                w.rss_release as i64
            ]
        );
    }
    // The nameless thread is labelled by its ident.
    assert!(d.string_table.iter().any(|x| x == "thread 0x7f0000003000"));
    // Non-ASCII and `;` survive; a function is shared by its two lines.
    assert_eq!(d.function.iter().filter(|f| s(f.name) == "grow").count(), 1);
    assert!(d.function.iter().any(|f| s(f.name) == "grüße;x"));
    assert!(d
        .function
        .iter()
        .all(|f| f.start_line == 0 && f.system_name == f.name));
    let grow_lines: Vec<i64> = d
        .location
        .iter()
        .filter(|l| {
            let f = d
                .function
                .iter()
                .find(|f| f.id == l.line[0].function_id)
                .unwrap();
            s(f.name) == "grow"
        })
        .map(|l| l.line[0].line)
        .collect();
    assert_eq!(grow_lines.len(), 2, "{grow_lines:?}");
}

#[test]
fn rss_growth_goes_to_the_growing_function() {
    let p = memory_profile();
    let d = decode(&encode(&p, &OutputOptions::default())).unwrap();
    let in_grow: i64 = d
        .sample
        .iter()
        .filter(|x| frames_of(&d, x).iter().any(|f| f.0 == "grow"))
        .map(|x| x.value[2])
        .sum();
    let all: i64 = d.sample.iter().map(|x| x.value[2]).sum();
    // Growth is charged to the running threads (main and worker) of both readings.
    assert!(in_grow * 10 >= all * 3, "{in_grow} of {all}");
}

#[test]
fn without_line_numbers_locations_are_per_function() {
    let p = memory_profile();
    let opts = OutputOptions {
        show_line_numbers: false,
        ..OutputOptions::default()
    };
    let d = decode(&encode(&p, &opts)).unwrap();
    check_references(&d);
    assert!(d.location.iter().all(|l| l.line[0].line == 0));
    assert_eq!(d.location.len(), d.function.len());
    // grow:20 and grow:21 stacks merged.
    assert_eq!(d.sample.len(), p.stacks.len() - 1);
    let total = |i: usize| d.sample.iter().map(|x| x.value[i]).sum::<i64>() as u64;
    assert_eq!(total(0), p.total_samples());
    assert_eq!(total(2), p.total(Measure::RssGrowth));
}

#[test]
fn deterministic_and_empty() {
    let p = memory_profile();
    let opts = OutputOptions::default();
    assert_eq!(encode(&p, &opts), encode(&p, &opts));

    let empty = Profile::new("", Duration::from_millis(5));
    let d = decode(&encode(&empty, &opts)).unwrap();
    check_references(&d);
    assert!(d.sample.is_empty() && d.location.is_empty() && d.function.is_empty());
    assert_eq!(d.sample_type.len(), SAMPLE_TYPES.len());
    assert_eq!(d.period, 5_000_000);
    assert!(d.comment.is_empty());
}

#[test]
fn decode_accepts_uncompressed_and_rejects_garbage() {
    let p = memory_profile();
    let raw = build(&p, &OutputOptions::default()).unwrap();
    assert_eq!(decode(&raw.encode_to_vec()).unwrap(), raw);
    assert!(decode(&[0x1f, 0x8b, 1, 2, 3]).is_err());
}

/// `--subprocesses`: two processes whose main threads share a `pthread_t` (as a fork's do),
/// told apart by the tree's tagging; each stack under its process's root frame.
pub(crate) fn tree_profile() -> Profile {
    let mut p = Profile::new(
        "python pool.py (and its subprocesses)",
        Duration::from_millis(10),
    );
    let work = frame("work", "/app/pool.py", 7);
    for (pid, command) in [(100, "python pool.py"), (101, "python pool.py")] {
        let root = frame(&crate::profile::processes::root_name(pid, command), "", 0);
        let tagged = MAIN ^ (pid as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let stack = thread(
            tagged,
            Some(pid as u32),
            Some("MainThread"),
            true,
            &[&root, &work],
        );
        for i in 0..3 {
            p.add_tick(
                Duration::from_millis(10 * i),
                std::slice::from_ref(&stack),
                None,
                &AggregateOptions::default(),
            );
        }
    }
    p
}

#[test]
fn processes_of_a_tree_carry_pid_and_command_labels() {
    let p = tree_profile();
    let d = decode(&encode(&p, &OutputOptions::default())).unwrap();
    check_references(&d);
    let mut pids: Vec<i64> = d
        .sample
        .iter()
        .map(|s| label(&d, s, PID_LABEL).num)
        .collect();
    pids.sort_unstable();
    assert_eq!(pids, [100, 101]);
    for s in &d.sample {
        let command = label(&d, s, COMMAND_LABEL).str;
        assert_eq!(d.string_table[command as usize], "python pool.py");
        let pid = label(&d, s, PID_LABEL).num;
        assert_eq!(
            label(&d, s, THREAD_ID_LABEL).num,
            pid,
            "main thread: tid = pid"
        );
        assert_eq!(
            frames_of(&d, s)[0].0,
            format!("process {pid}: python pool.py")
        );
    }
    // One process: no process labels.
    let d = decode(&encode(&memory_profile(), &OutputOptions::default())).unwrap();
    assert!(d.sample.iter().all(|s| s
        .label
        .iter()
        .all(|l| d.string_table[l.key as usize] != PID_LABEL)));
}
