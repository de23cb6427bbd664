//! gzip-compressed pprof `profile.proto`, as `go tool pprof`, Pyroscope and Parca read it.
//!
//! - `sample_type`, in this order: `samples`/`count` (samples in which the stack was seen),
//!   `wall`/`nanoseconds` (samples × sampling interval), `rss_growth`/`bytes` and
//!   `rss_release`/`bytes` (resident memory growth and release charged to the stack, see
//!   [`crate::profile::Profile::add_tick`]). `default_sample_type` is `samples`;
//!   `period_type` is `wall`/`nanoseconds` and `period` the sampling interval in nanoseconds.
//! - One [`proto::Sample`] per (thread, stack), values in the order above, locations innermost
//!   first (pprof's order), with two labels: `thread_name` (the thread's name, or its label when
//!   it has none) and `thread_id` (the OS thread id, or the Python thread ident when unknown);
//!   with `--subprocesses`, also `pid` and `command` of the thread's process.
//!   Stacks that carry no value at all are left out.
//! - One [`proto::Location`] per distinct (function, line), holding one [`proto::Line`]; one
//!   [`proto::Function`] per distinct (name, file), whose `name` and `system_name` are the
//!   Python (qualified) name, `filename` the full file name, and `start_line` 0 (the first line
//!   of a function is not read). Without line numbers ([`OutputOptions::show_line_numbers`]
//!   off) every line is 0, so locations are per function and stacks that then coincide merge.
//!   No mappings: Python frames have no addresses.
//! - `duration_nanos` is the recording's wall time, `time_nanos` 0 (the profile does not keep
//!   the wall-clock start, and output stays deterministic), and the profile's title (the
//!   target's command line) is the one `comment`.
//!
//! [`OutputOptions::per_thread`] does not apply: the thread is a label of every sample
//! (`go tool pprof -tagroot=thread_name` puts it at the root). The gzip header carries no
//! timestamp, so the same profile always gives the same bytes.
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};

use anyhow::Context;
use prost::Message;

use super::{OutputOptions, ProfileWriter};
use crate::profile::{Profile, Weights};

pub mod proto;

/// Writes [`super::Format::Pprof`].
#[derive(Debug, Clone, Copy, Default)]
pub struct PprofWriter;

/// The sample types, in the order of every sample's values: (type, unit).
pub const SAMPLE_TYPES: [(&str, &str); 4] = [
    ("samples", "count"),
    ("wall", "nanoseconds"),
    ("rss_growth", "bytes"),
    ("rss_release", "bytes"),
];

/// Label key of the thread's name (a string label).
pub const THREAD_NAME_LABEL: &str = "thread_name";
/// Label key of the thread's id (a numeric label).
pub const THREAD_ID_LABEL: &str = "thread_id";
/// `--subprocesses`: label key of the process's pid (a numeric label).
pub const PID_LABEL: &str = "pid";
/// `--subprocesses`: label key of the process's command line (a string label).
pub const COMMAND_LABEL: &str = "command";

/// Interns strings for `string_table`, whose entry 0 is `""`.
struct Strings {
    table: Vec<String>,
    index: HashMap<String, i64>,
}

impl Strings {
    fn new() -> Self {
        let mut s = Strings {
            table: Vec::new(),
            index: HashMap::new(),
        };
        s.get("");
        s
    }

    fn get(&mut self, s: &str) -> i64 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.table.len() as i64;
        self.table.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }
}

fn saturating_i64(v: u128) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Build the profile message (not yet encoded).
pub fn build(profile: &Profile, opts: &OutputOptions) -> anyhow::Result<proto::Profile> {
    let mut strings = Strings::new();
    let sample_type: Vec<proto::ValueType> = SAMPLE_TYPES
        .iter()
        .map(|(t, u)| proto::ValueType {
            r#type: strings.get(t),
            unit: strings.get(u),
        })
        .collect();

    // Profile frame id → location id, creating functions and locations as frames are met.
    let mut functions: Vec<proto::Function> = Vec::new();
    let mut function_ids: HashMap<(&str, &str), u64> = HashMap::new();
    let mut locations: Vec<proto::Location> = Vec::new();
    let mut location_ids: HashMap<(u64, i64), u64> = HashMap::new();
    let mut frame_locations: Vec<Option<u64>> = vec![None; profile.frames.len()];
    let mut location_of = |frame_id: u32| -> anyhow::Result<u64> {
        let index = frame_id as usize;
        let frame = profile.frames.get(index).with_context(|| {
            format!(
                "malformed profile: a stack refers to frame {frame_id} of {}",
                profile.frames.len()
            )
        })?;
        if let Some(id) = frame_locations[index] {
            return Ok(id);
        }
        let function_id = *function_ids
            .entry((&*frame.name, &*frame.filename))
            .or_insert_with(|| {
                let id = functions.len() as u64 + 1;
                let name = strings.get(&frame.name);
                functions.push(proto::Function {
                    id,
                    name,
                    system_name: name,
                    filename: strings.get(&frame.filename),
                    start_line: 0,
                });
                id
            });
        let line = if opts.show_line_numbers {
            i64::from(frame.line)
        } else {
            0
        };
        let id = *location_ids.entry((function_id, line)).or_insert_with(|| {
            let id = locations.len() as u64 + 1;
            locations.push(proto::Location {
                id,
                line: vec![proto::Line {
                    function_id,
                    line,
                    column: 0,
                }],
                ..Default::default()
            });
            id
        });
        frame_locations[index] = Some(id);
        Ok(id)
    };

    // (thread, location ids innermost first) → weights; stacks that coincide once lines are
    // dropped merge here.
    let mut merged: BTreeMap<(usize, Vec<u64>), Weights> = BTreeMap::new();
    for ((thread, ids), weights) in &profile.stacks {
        if ids.is_empty() || *weights == Weights::default() {
            continue;
        }
        anyhow::ensure!(
            *thread < profile.threads.len(),
            "malformed profile: a stack refers to thread {thread} of {}",
            profile.threads.len()
        );
        let stack = ids
            .iter()
            .rev()
            .map(|&id| location_of(id))
            .collect::<anyhow::Result<Vec<u64>>>()?;
        merged.entry((*thread, stack)).or_default().add(weights);
    }

    let name_key = strings.get(THREAD_NAME_LABEL);
    let id_key = strings.get(THREAD_ID_LABEL);
    let processes = crate::profile::processes::thread_processes(profile);
    let thread_labels: Vec<Vec<proto::Label>> = profile
        .threads
        .iter()
        .zip(&processes)
        .map(|(t, process)| {
            let name = t.name.clone().unwrap_or_else(|| t.label());
            let id = t.os_tid.map_or(t.thread_id as i64, i64::from);
            let mut labels = vec![
                proto::Label {
                    key: name_key,
                    str: strings.get(&name),
                    ..Default::default()
                },
                proto::Label {
                    key: id_key,
                    num: id,
                    ..Default::default()
                },
            ];
            if let Some((pid, command)) = process {
                labels.push(proto::Label {
                    key: strings.get(PID_LABEL),
                    num: i64::from(*pid),
                    ..Default::default()
                });
                labels.push(proto::Label {
                    key: strings.get(COMMAND_LABEL),
                    str: strings.get(command),
                    ..Default::default()
                });
            }
            labels
        })
        .collect();

    let interval_ns = profile.interval.as_nanos();
    let sample = merged
        .into_iter()
        .map(|((thread, location_id), w)| proto::Sample {
            location_id,
            value: vec![
                saturating_i64(u128::from(w.samples)),
                saturating_i64(u128::from(w.samples) * interval_ns),
                saturating_i64(u128::from(w.rss_growth)),
                saturating_i64(u128::from(w.rss_release)),
            ],
            label: thread_labels[thread].clone(),
        })
        .collect();

    let wall = sample_type[1];
    let default_sample_type = sample_type[0].r#type;
    let comment = if profile.title.is_empty() {
        Vec::new()
    } else {
        vec![strings.get(&profile.title)]
    };
    Ok(proto::Profile {
        sample_type,
        sample,
        location: locations,
        function: functions,
        string_table: strings.table,
        time_nanos: 0,
        duration_nanos: saturating_i64(profile.duration.as_nanos()),
        period_type: Some(wall),
        period: saturating_i64(interval_ns),
        comment,
        default_sample_type,
        ..Default::default()
    })
}

/// Read a `pprof` file back: gunzip (or take it as is when not gzip-compressed, as pprof
/// readers do) and decode.
pub fn decode(bytes: &[u8]) -> anyhow::Result<proto::Profile> {
    let raw;
    let data = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .context("decompressing the pprof profile")?;
        raw = out;
        &raw[..]
    } else {
        bytes
    };
    proto::Profile::decode(data).context("decoding the pprof profile")
}

/// Encode and gzip-compress a profile (no timestamp in the gzip header: the same profile always
/// gives the same bytes).
pub fn gzip(profile: &proto::Profile) -> anyhow::Result<Vec<u8>> {
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::default());
    gz.write_all(&profile.encode_to_vec())
        .context("compressing the pprof profile")?;
    gz.finish().context("compressing the pprof profile")
}

impl ProfileWriter for PprofWriter {
    fn write(
        &self,
        profile: &Profile,
        opts: &OutputOptions,
        out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        out.write_all(&gzip(&build(profile, opts)?)?)
            .context("writing the pprof profile")?;
        out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests;
