//! One window as an OTLP profiles export request (`POST {url}/v1development/profiles`,
//! `application/x-protobuf`): one resource (the process: `service.name`, `process.pid`,
//! `process.command_line`, `host.name`), one scope (pyprobe), and one profile per sample type —
//! in this version of the protocol a profile has a single sample type — `samples`/`count` and
//! `rss_growth`/`bytes`, sharing one dictionary. Each sample carries the thread's `thread.name`
//! and `thread.id` attributes.
use std::collections::HashMap;
use std::time::UNIX_EPOCH;

use prost::Message;

use super::{Labels, WindowInfo};
use crate::profile::{Profile, Weights};

pub mod proto;

use proto::{AnyValue, KeyValue, KeyValueAndUnit, Value};

/// Path under the collector's base URL (OTLP/HTTP).
pub const PATH: &str = "/v1development/profiles";
/// Content type of the body.
pub const CONTENT_TYPE: &str = "application/x-protobuf";

/// A stack's value of one sample type.
type ValueOf = fn(&Weights) -> u64;

/// The sample types sent, one profile each: (type, unit, value of a stack).
const TYPES: [(&str, &str, ValueOf); 2] = [
    ("samples", "count", |w| w.samples),
    ("rss_growth", "bytes", |w| w.rss_growth),
];

/// Interns strings for the dictionary's string table (entry 0 is `""`).
#[derive(Default)]
struct Strings {
    table: Vec<String>,
    index: HashMap<String, i32>,
}

impl Strings {
    fn get(&mut self, s: &str) -> i32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.table.len() as i32;
        self.table.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }
}

fn string_attr(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::String(value.into())),
        }),
    }
}

/// The request body of one window.
pub fn encode(profile: &Profile, labels: &Labels, window: &WindowInfo, id: [u8; 16]) -> Vec<u8> {
    build(profile, labels, window, id).encode_to_vec()
}

/// The request of one window.
pub fn build(
    profile: &Profile,
    labels: &Labels,
    window: &WindowInfo,
    id: [u8; 16],
) -> proto::ExportProfilesServiceRequest {
    let mut strings = Strings::default();
    strings.get("");
    let mut dict = proto::ProfilesDictionary {
        mapping_table: vec![Default::default()],
        location_table: vec![Default::default()],
        function_table: vec![Default::default()],
        link_table: vec![Default::default()],
        attribute_table: vec![Default::default()],
        stack_table: vec![Default::default()],
        ..Default::default()
    };
    // Frame id → location index; (name, file) → function index.
    let mut functions: HashMap<(&str, &str), i32> = HashMap::new();
    let mut locations: HashMap<(i32, u32), i32> = HashMap::new();
    let mut frame_location = vec![0i32; profile.frames.len()];
    for (index, frame) in profile.frames.iter().enumerate() {
        let function = *functions
            .entry((&frame.name, &frame.filename))
            .or_insert_with(|| {
                let name = strings.get(&frame.name);
                dict.function_table.push(proto::Function {
                    name_strindex: name,
                    system_name_strindex: name,
                    filename_strindex: strings.get(&frame.filename),
                    start_line: 0,
                });
                dict.function_table.len() as i32 - 1
            });
        frame_location[index] = *locations.entry((function, frame.line)).or_insert_with(|| {
            dict.location_table.push(proto::Location {
                lines: vec![proto::Line {
                    function_index: function,
                    line: i64::from(frame.line),
                    column: 0,
                }],
                ..Default::default()
            });
            dict.location_table.len() as i32 - 1
        });
    }
    // Per thread: its two attributes (name, id).
    let (name_key, id_key) = (strings.get("thread.name"), strings.get("thread.id"));
    let thread_attrs: Vec<Vec<i32>> = profile
        .threads
        .iter()
        .map(|t| {
            let name = t.name.clone().unwrap_or_else(|| t.label());
            let id = t.os_tid.map_or(t.thread_id as i64, i64::from);
            let mut attr = |key, value| {
                dict.attribute_table.push(KeyValueAndUnit {
                    key_strindex: key,
                    value: Some(AnyValue { value: Some(value) }),
                    unit_strindex: 0,
                });
                dict.attribute_table.len() as i32 - 1
            };
            vec![
                attr(name_key, Value::String(name)),
                attr(id_key, Value::Int(id)),
            ]
        })
        .collect();
    // One stack-table entry per (thread, stack), leaf first; malformed ids are skipped.
    let mut stacks: Vec<(i32, usize, &Weights)> = Vec::new();
    for ((thread, ids), weights) in &profile.stacks {
        if ids.is_empty() || *thread >= profile.threads.len() {
            continue;
        }
        let location_indices: Option<Vec<i32>> = ids
            .iter()
            .rev()
            .map(|&id| frame_location.get(id as usize).copied())
            .collect();
        let Some(location_indices) = location_indices else {
            continue;
        };
        dict.stack_table.push(proto::Stack { location_indices });
        stacks.push((dict.stack_table.len() as i32 - 1, *thread, weights));
    }
    let interval_ns = i64::try_from(profile.interval.as_nanos()).unwrap_or(i64::MAX);
    let period_type = proto::ValueType {
        type_strindex: strings.get("wall"),
        unit_strindex: strings.get("nanoseconds"),
    };
    let start = window.from.duration_since(UNIX_EPOCH).unwrap_or_default();
    let profiles = TYPES
        .iter()
        .enumerate()
        .map(|(n, (kind, unit, value))| {
            let mut profile_id = id;
            profile_id[15] ^= n as u8;
            proto::Profile {
                sample_type: Some(proto::ValueType {
                    type_strindex: strings.get(kind),
                    unit_strindex: strings.get(unit),
                }),
                samples: stacks
                    .iter()
                    .filter(|(_, _, w)| value(w) > 0)
                    .map(|&(stack_index, thread, w)| proto::Sample {
                        stack_index,
                        attribute_indices: thread_attrs[thread].clone(),
                        values: vec![i64::try_from(value(w)).unwrap_or(i64::MAX)],
                        ..Default::default()
                    })
                    .collect(),
                time_unix_nano: u64::try_from(start.as_nanos()).unwrap_or(u64::MAX),
                duration_nano: u64::try_from(window.duration.as_nanos()).unwrap_or(u64::MAX),
                period_type: Some(period_type),
                period: interval_ns,
                profile_id: profile_id.to_vec(),
                ..Default::default()
            }
        })
        .collect();
    dict.string_table = strings.table;
    let resource = proto::Resource {
        attributes: vec![
            string_attr("service.name", &labels.service),
            KeyValue {
                key: "process.pid".into(),
                value: Some(AnyValue {
                    value: Some(Value::Int(i64::from(labels.pid))),
                }),
            },
            string_attr("process.command_line", &labels.command),
            string_attr("host.name", &labels.host),
        ],
    };
    proto::ExportProfilesServiceRequest {
        resource_profiles: vec![proto::ResourceProfiles {
            resource: Some(resource),
            scope_profiles: vec![proto::ScopeProfiles {
                scope: Some(proto::InstrumentationScope {
                    name: "pyprobe".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                }),
                profiles,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
        dictionary: Some(dict),
    }
}
