//! speedscope's file format (<https://www.speedscope.app/file-format-schema.json>).
//!
//! One `sampled` profile per thread, named by the thread's label, with unit `none` (weights are
//! sample counts). Frames are shared by all profiles; a frame's `name` is its display label
//! (`function (file:line)`), `file` the full file name, `line` the line (absent when line numbers
//! are off or the line is unknown). Frames that render identically are merged, and so are the
//! stacks that then become identical. The data is aggregated, so samples carry no time order:
//! they are sorted by frame indices.
//!
//! [`OutputOptions::per_thread`] does not apply: threads are always separate profiles. A profile
//! without any thread gets one empty profile named `no samples`, so that `activeProfileIndex` 0
//! is valid and speedscope opens the file.
use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::label::frame_label;
use super::{OutputOptions, ProfileWriter};
use crate::profile::Profile;

/// The `$schema` of the file.
pub(crate) const SCHEMA: &str = "https://www.speedscope.app/file-format-schema.json";

/// Writes [`super::Format::Speedscope`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SpeedscopeWriter;

/// The whole file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SpeedscopeFile {
    #[serde(rename = "$schema")]
    pub schema: String,
    pub shared: Shared,
    pub profiles: Vec<SampledProfile>,
    pub name: String,
    pub active_profile_index: usize,
    pub exporter: String,
}

/// Data shared by every profile.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Shared {
    pub frames: Vec<SpeedscopeFrame>,
}

/// A frame.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SpeedscopeFrame {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

/// A `sampled` profile.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SampledProfile {
    /// Always `sampled`.
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub unit: String,
    pub start_value: u64,
    pub end_value: u64,
    /// Frame indices, outermost first.
    pub samples: Vec<Vec<usize>>,
    pub weights: Vec<u64>,
}

impl SampledProfile {
    fn new(name: String, stacks: BTreeMap<Vec<usize>, u64>) -> Self {
        let (samples, weights): (Vec<_>, Vec<_>) = stacks.into_iter().unzip();
        SampledProfile {
            kind: "sampled".to_string(),
            name,
            unit: "none".to_string(),
            start_value: 0,
            end_value: weights.iter().sum(),
            samples,
            weights,
        }
    }
}

/// Build the file's data.
pub(crate) fn build(profile: &Profile, opts: &OutputOptions) -> anyhow::Result<SpeedscopeFile> {
    // Profile frame id → index in `frames`, merging frames that render identically.
    let mut frames: Vec<SpeedscopeFrame> = Vec::new();
    let mut index: HashMap<SpeedscopeFrame, usize> = HashMap::new();
    let frame_map: Vec<usize> = profile
        .frames
        .iter()
        .map(|f| {
            let frame = SpeedscopeFrame {
                name: frame_label(f, opts),
                file: (!f.filename.is_empty()).then(|| f.filename.clone()),
                line: (opts.show_line_numbers && f.line != 0).then_some(f.line),
            };
            *index.entry(frame).or_insert_with_key(|frame| {
                frames.push(frame.clone());
                frames.len() - 1
            })
        })
        .collect();

    let mut per_thread: Vec<BTreeMap<Vec<usize>, u64>> =
        vec![BTreeMap::new(); profile.threads.len()];
    for ((thread, ids), weights) in &profile.stacks {
        if weights.samples == 0 || ids.is_empty() {
            continue;
        }
        let threads = per_thread.len();
        let stacks = per_thread.get_mut(*thread).with_context(|| {
            format!("malformed profile: a stack refers to thread {thread} of {threads}")
        })?;
        let stack = ids
            .iter()
            .map(|&id| {
                frame_map.get(id as usize).copied().with_context(|| {
                    format!(
                        "malformed profile: a stack refers to frame {id} of {}",
                        frame_map.len()
                    )
                })
            })
            .collect::<anyhow::Result<Vec<usize>>>()?;
        *stacks.entry(stack).or_default() += weights.samples;
    }

    let mut profiles: Vec<SampledProfile> = profile
        .threads
        .iter()
        .zip(per_thread)
        .map(|(t, stacks)| SampledProfile::new(t.label(), stacks))
        .collect();
    if profiles.is_empty() {
        profiles.push(SampledProfile::new(
            "no samples".to_string(),
            BTreeMap::new(),
        ));
    }

    Ok(SpeedscopeFile {
        schema: SCHEMA.to_string(),
        shared: Shared { frames },
        profiles,
        name: profile.title.clone(),
        active_profile_index: 0,
        exporter: format!("pyprobe {}", env!("CARGO_PKG_VERSION")),
    })
}

impl ProfileWriter for SpeedscopeWriter {
    fn write(
        &self,
        profile: &Profile,
        opts: &OutputOptions,
        out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        let file = build(profile, opts)?;
        let mut out = std::io::BufWriter::new(out);
        serde_json::to_writer(&mut out, &file).context("writing speedscope JSON")?;
        out.write_all(b"\n")?;
        out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn empty_profile_has_one_empty_profile() {
        let p = Profile::new("python x.py", Duration::from_millis(10));
        let mut out = Vec::new();
        SpeedscopeWriter
            .write(&p, &OutputOptions::default(), &mut out)
            .unwrap();
        let f: SpeedscopeFile = serde_json::from_slice(&out).unwrap();
        assert_eq!(f.name, "python x.py");
        assert_eq!(f.profiles.len(), 1);
        assert_eq!(f.profiles[0].name, "no samples");
        assert!(f.profiles[0].samples.is_empty());
        assert_eq!(f.profiles[0].end_value, 0);
        assert!(f.shared.frames.is_empty());
    }
}
