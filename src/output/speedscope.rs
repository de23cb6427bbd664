//! speedscope's file format (<https://www.speedscope.app/file-format-schema.json>).
//!
//! One `sampled` profile per thread, named by the thread's label, with unit `none` (weights are
//! sample counts). After them, for each thread that RSS growth was charged to, a `sampled`
//! profile named `<thread label> — RSS growth` with unit `bytes` whose weights are the bytes of
//! resident memory growth charged to each stack (see [`crate::profile::Profile::add_tick`]).
//! Frames are shared by all profiles; a frame's `name` is its display label
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

/// Suffix of the name of a thread's RSS-growth profile.
pub(crate) const RSS_GROWTH_SUFFIX: &str = " — RSS growth";

impl SampledProfile {
    fn new(name: String, unit: &str, stacks: BTreeMap<Vec<usize>, u64>) -> Self {
        let (samples, weights): (Vec<_>, Vec<_>) = stacks.into_iter().unzip();
        SampledProfile {
            kind: "sampled".to_string(),
            name,
            unit: unit.to_string(),
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
                file: (!f.filename.is_empty()).then(|| f.filename.to_string()),
                line: (opts.show_line_numbers && f.line != 0).then_some(f.line),
            };
            *index.entry(frame).or_insert_with_key(|frame| {
                frames.push(frame.clone());
                frames.len() - 1
            })
        })
        .collect();

    // Per thread: stack → samples, and stack → bytes of RSS growth.
    let mut per_thread: Vec<BTreeMap<Vec<usize>, u64>> =
        vec![BTreeMap::new(); profile.threads.len()];
    let mut growth: Vec<BTreeMap<Vec<usize>, u64>> = vec![BTreeMap::new(); profile.threads.len()];
    for ((thread, ids), weights) in &profile.stacks {
        if (weights.samples == 0 && weights.rss_growth == 0) || ids.is_empty() {
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
        if weights.rss_growth > 0 {
            *growth[*thread].entry(stack.clone()).or_default() += weights.rss_growth;
        }
        if weights.samples > 0 {
            *stacks.entry(stack).or_default() += weights.samples;
        }
    }

    // `--subprocesses`: each thread's profile is named after its process too.
    let labels = crate::profile::processes::thread_labels(profile);
    let label = |i: usize| labels[i].clone();
    let mut profiles: Vec<SampledProfile> = per_thread
        .into_iter()
        .enumerate()
        .map(|(i, stacks)| SampledProfile::new(label(i), "none", stacks))
        .collect();
    if profiles.is_empty() {
        profiles.push(SampledProfile::new(
            "no samples".to_string(),
            "none",
            BTreeMap::new(),
        ));
    }
    profiles.extend(
        growth
            .into_iter()
            .enumerate()
            .filter(|(_, stacks)| !stacks.is_empty())
            .map(|(i, stacks)| {
                SampledProfile::new(format!("{}{RSS_GROWTH_SUFFIX}", label(i)), "bytes", stacks)
            }),
    );

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
        super::write_json(out, &build(profile, opts)?, "speedscope JSON")
    }
}

/// Check a speedscope file against the rules of its schema
/// (<https://www.speedscope.app/file-format-schema.json>, from speedscope's
/// `src/lib/file-format-spec.ts`), on the raw JSON: required fields and their types, `unit` in
/// the enumeration, `samples` and `weights` of equal length, frame indices in range,
/// `activeProfileIndex` in range, and (pyprobe's own rule) `startValue` 0 and `endValue` the
/// sum of the weights. Returns the first violation.
#[cfg(test)]
pub(crate) fn check_schema(v: &serde_json::Value) -> Result<(), String> {
    use serde_json::Value;
    const UNITS: [&str; 6] = [
        "none",
        "nanoseconds",
        "microseconds",
        "milliseconds",
        "seconds",
        "bytes",
    ];
    let obj = v.as_object().ok_or("the file is not an object")?;
    let allowed = [
        "$schema",
        "shared",
        "profiles",
        "name",
        "activeProfileIndex",
        "exporter",
    ];
    if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!("unknown top-level field {k:?}"));
    }
    if v["$schema"] != SCHEMA {
        return Err(format!("$schema is {}", v["$schema"]));
    }
    for key in ["name", "exporter"] {
        if obj.contains_key(key) && !v[key].is_string() {
            return Err(format!("{key} is not a string"));
        }
    }
    let frames = v["shared"]["frames"]
        .as_array()
        .ok_or("shared.frames is not an array")?;
    for (i, f) in frames.iter().enumerate() {
        let f = f.as_object().ok_or(format!("frame {i} is not an object"))?;
        if !f.get("name").is_some_and(Value::is_string) {
            return Err(format!("frame {i} has no string name"));
        }
        for (k, val) in f {
            let ok = match k.as_str() {
                "name" | "file" => val.is_string(),
                "line" | "col" => val.is_number(),
                _ => false,
            };
            if !ok {
                return Err(format!("frame {i}: bad field {k:?} = {val}"));
            }
        }
    }
    let profiles = v["profiles"].as_array().ok_or("profiles is not an array")?;
    if let Some(active) = obj.get("activeProfileIndex") {
        let active = active
            .as_u64()
            .ok_or("activeProfileIndex is not an index")?;
        if active as usize >= profiles.len() {
            return Err(format!("activeProfileIndex {active} of {}", profiles.len()));
        }
    }
    for (i, p) in profiles.iter().enumerate() {
        let at = |what: &str| format!("profile {i} ({}): {what}", p["name"]);
        if p["type"] != "sampled" {
            return Err(at("type is not \"sampled\""));
        }
        if !p["name"].is_string() {
            return Err(at("name is not a string"));
        }
        if !p["unit"].as_str().is_some_and(|u| UNITS.contains(&u)) {
            return Err(at(&format!("unit {} is not in the enumeration", p["unit"])));
        }
        let start = p["startValue"]
            .as_f64()
            .ok_or_else(|| at("no startValue"))?;
        let end = p["endValue"].as_f64().ok_or_else(|| at("no endValue"))?;
        let samples = p["samples"].as_array().ok_or_else(|| at("no samples"))?;
        let weights = p["weights"].as_array().ok_or_else(|| at("no weights"))?;
        if samples.len() != weights.len() {
            return Err(at(&format!(
                "{} samples but {} weights",
                samples.len(),
                weights.len()
            )));
        }
        for s in samples {
            let s = s.as_array().ok_or_else(|| at("a sample is not an array"))?;
            if s.is_empty() {
                return Err(at("an empty stack"));
            }
            if !s
                .iter()
                .all(|i| i.as_u64().is_some_and(|i| (i as usize) < frames.len()))
            {
                return Err(at(&format!("frame index out of range in {s:?}")));
            }
        }
        let mut sum = 0.0;
        for w in weights {
            let w = w.as_f64().ok_or_else(|| at("a weight is not a number"))?;
            if w < 0.0 {
                return Err(at("a negative weight"));
            }
            sum += w;
        }
        if start != 0.0 || end != sum {
            return Err(at(&format!(
                "startValue {start}, endValue {end}, weights sum to {sum}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::pprof::tests::memory_profile;
    use crate::profile::Measure;
    use std::time::Duration;

    fn render(p: &Profile, opts: &OutputOptions) -> (SpeedscopeFile, serde_json::Value) {
        let mut out = Vec::new();
        SpeedscopeWriter.write(p, opts, &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        check_schema(&v).unwrap();
        (serde_json::from_slice(&out).unwrap(), v)
    }

    #[test]
    fn a_tree_has_one_profile_per_process_thread() {
        let p = crate::output::pprof::tests::tree_profile();
        let (f, _) = render(&p, &OutputOptions::default());
        let names: Vec<&str> = f.profiles.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "process 100 — MainThread (tid 100)",
                "process 101 — MainThread (tid 101)"
            ]
        );
    }

    #[test]
    fn rss_growth_profiles_beside_the_sample_profiles() {
        let p = memory_profile();
        let (f, _) = render(&p, &OutputOptions::default());
        // 3 threads, then RSS growth for the two that were charged (the nameless thread ran
        // in one tick only, between two readings: it was charged too).
        let names: Vec<&str> = f.profiles.iter().map(|p| p.name.as_str()).collect();
        let labels: Vec<String> = p.threads.iter().map(|t| t.label()).collect();
        assert_eq!(
            &names[..3],
            labels.iter().map(String::as_str).collect::<Vec<_>>()
        );
        let mut growth = Vec::new();
        for (t, label) in p.threads.iter().zip(&labels) {
            let charged: u64 = p
                .stacks
                .iter()
                .filter(|((thread, _), _)| p.threads[*thread] == *t)
                .map(|(_, w)| w.rss_growth)
                .sum();
            if charged > 0 {
                growth.push((format!("{label}{RSS_GROWTH_SUFFIX}"), charged));
            }
        }
        assert_eq!(f.profiles.len(), 3 + growth.len());
        for (prof, (name, charged)) in f.profiles[3..].iter().zip(&growth) {
            assert_eq!(&prof.name, name);
            assert_eq!(prof.unit, "bytes");
            assert_eq!(prof.end_value, *charged);
            assert!(prof.weights.iter().all(|&w| w > 0));
        }
        for prof in &f.profiles[..3] {
            assert_eq!(prof.unit, "none");
        }
        let bytes: u64 = f.profiles[3..].iter().map(|p| p.end_value).sum();
        assert_eq!(bytes, p.total(Measure::RssGrowth));
        let samples: u64 = f.profiles[..3].iter().map(|p| p.end_value).sum();
        assert_eq!(samples, p.total_samples());
        // The growth is mostly charged to `grow`.
        let grow = f
            .shared
            .frames
            .iter()
            .position(|fr| fr.name.starts_with("grow ("))
            .unwrap();
        let main = &f.profiles[3];
        assert!(main.name.starts_with("MainThread"));
        let in_grow: u64 = main
            .samples
            .iter()
            .zip(&main.weights)
            .filter(|(s, _)| s.contains(&grow))
            .map(|(_, w)| w)
            .sum();
        assert!(
            in_grow * 2 > main.end_value,
            "{in_grow} of {}",
            main.end_value
        );
    }

    #[test]
    fn schema_check_catches_violations() {
        let p = memory_profile();
        let (_, good) = render(&p, &OutputOptions::default());
        let broken = |change: &dyn Fn(&mut serde_json::Value)| {
            let mut v = good.clone();
            change(&mut v);
            check_schema(&v).unwrap_err()
        };
        assert!(broken(&|v| v["profiles"][0]["unit"] = "samples".into()).contains("enumeration"));
        assert!(broken(&|v| {
            v["profiles"][1]["weights"].as_array_mut().unwrap().pop();
        })
        .contains("weights"));
        assert!(broken(&|v| v["profiles"][0]["samples"][0][0] = 10_000.into()).contains("range"));
        assert!(broken(&|v| v["profiles"][0]["endValue"] = 1.into()).contains("endValue"));
        assert!(broken(&|v| v["activeProfileIndex"] = 99.into()).contains("activeProfileIndex"));
        assert!(broken(&|v| v["shared"]["frames"][0]["line"] = "x".into()).contains("frame 0"));
    }

    #[test]
    fn empty_profile_has_one_empty_profile() {
        let p = Profile::new("python x.py", Duration::from_millis(10));
        let mut out = Vec::new();
        SpeedscopeWriter
            .write(&p, &OutputOptions::default(), &mut out)
            .unwrap();
        check_schema(&serde_json::from_slice(&out).unwrap()).unwrap();
        let f: SpeedscopeFile = serde_json::from_slice(&out).unwrap();
        assert_eq!(f.name, "python x.py");
        assert_eq!(f.profiles.len(), 1);
        assert_eq!(f.profiles[0].name, "no samples");
        assert!(f.profiles[0].samples.is_empty());
        assert_eq!(f.profiles[0].end_value, 0);
        assert!(f.shared.frames.is_empty());
    }
}
