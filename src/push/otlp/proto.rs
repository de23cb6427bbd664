//! The OTLP profiles messages pyprobe sends, written by hand as prost structs (no `protoc` at
//! build time), field for field as the official definitions have them:
//! `opentelemetry/proto/profiles/v1development/profiles.proto`,
//! `opentelemetry/proto/collector/profiles/v1development/profiles_service.proto`, and the
//! `common/v1` and `resource/v1` messages they use
//! (<https://github.com/open-telemetry/opentelemetry-proto>, as of v1.11.0, the same as the
//! PyPI package `opentelemetry-proto` 1.45 the tests decode with). The protocol is still
//! `v1development`: its messages change between releases. Fields pyprobe never sets (the
//! resource's entity refs, the scope's attributes, `AnyValue`'s other cases, `KeyValue`'s
//! `key_strindex`) are left out: decoders skip absent fields.

/// `ExportProfilesServiceRequest`: the body of `POST /v1development/profiles`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportProfilesServiceRequest {
    /// One entry per resource (pyprobe: the one process).
    #[prost(message, repeated, tag = "1")]
    pub resource_profiles: Vec<ResourceProfiles>,
    /// The tables every profile of the request refers to by index.
    #[prost(message, optional, tag = "2")]
    pub dictionary: Option<ProfilesDictionary>,
}

/// `ProfilesDictionary`: every table's entry 0 is the zero value (index 0 means "none").
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProfilesDictionary {
    /// Binaries mapped (only the zero entry: Python frames have no addresses).
    #[prost(message, repeated, tag = "1")]
    pub mapping_table: Vec<Mapping>,
    /// Locations (one per distinct function and line).
    #[prost(message, repeated, tag = "2")]
    pub location_table: Vec<Location>,
    /// Functions.
    #[prost(message, repeated, tag = "3")]
    pub function_table: Vec<Function>,
    /// Trace links (only the zero entry).
    #[prost(message, repeated, tag = "4")]
    pub link_table: Vec<Link>,
    /// Strings, `""` first.
    #[prost(string, repeated, tag = "5")]
    pub string_table: Vec<String>,
    /// Attributes samples refer to (thread name and id).
    #[prost(message, repeated, tag = "6")]
    pub attribute_table: Vec<KeyValueAndUnit>,
    /// Stacks: location indices, leaf first.
    #[prost(message, repeated, tag = "7")]
    pub stack_table: Vec<Stack>,
}

/// `ResourceProfiles`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceProfiles {
    /// The process profiled (service name, pid, command line, host).
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    /// Profiles by producer.
    #[prost(message, repeated, tag = "2")]
    pub scope_profiles: Vec<ScopeProfiles>,
    /// Semantic-conventions schema.
    #[prost(string, tag = "3")]
    pub schema_url: String,
}

/// `ScopeProfiles`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ScopeProfiles {
    /// The producer: pyprobe and its version.
    #[prost(message, optional, tag = "1")]
    pub scope: Option<InstrumentationScope>,
    /// One profile per sample type.
    #[prost(message, repeated, tag = "2")]
    pub profiles: Vec<Profile>,
    /// Semantic-conventions schema.
    #[prost(string, tag = "3")]
    pub schema_url: String,
}

/// `Profile`: one sample type over one window.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Profile {
    /// What the values measure.
    #[prost(message, optional, tag = "1")]
    pub sample_type: Option<ValueType>,
    /// The samples.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    /// Start of the window, Unix nanoseconds.
    #[prost(fixed64, tag = "3")]
    pub time_unix_nano: u64,
    /// Length of the window, nanoseconds.
    #[prost(uint64, tag = "4")]
    pub duration_nano: u64,
    /// What one period is.
    #[prost(message, optional, tag = "5")]
    pub period_type: Option<ValueType>,
    /// The sampling interval (nanoseconds of wall time).
    #[prost(int64, tag = "6")]
    pub period: i64,
    /// 16 random bytes naming this profile.
    #[prost(bytes = "vec", tag = "7")]
    pub profile_id: Vec<u8>,
    /// Attributes dropped (none).
    #[prost(uint32, tag = "8")]
    pub dropped_attributes_count: u32,
    /// Format of `original_payload` (unused).
    #[prost(string, tag = "9")]
    pub original_payload_format: String,
    /// The profile in its original format (unused).
    #[prost(bytes = "vec", tag = "10")]
    pub original_payload: Vec<u8>,
    /// Attributes of the whole profile (indices into the attribute table).
    #[prost(int32, repeated, tag = "11")]
    pub attribute_indices: Vec<i32>,
}

/// `Link` (only the zero entry is sent).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Link {
    /// Trace id.
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    /// Span id.
    #[prost(bytes = "vec", tag = "2")]
    pub span_id: Vec<u8>,
}

/// `ValueType`.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct ValueType {
    /// Index of the type name in the string table.
    #[prost(int32, tag = "1")]
    pub type_strindex: i32,
    /// Index of the unit in the string table.
    #[prost(int32, tag = "2")]
    pub unit_strindex: i32,
}

/// `Sample`: one stack of one thread, and its value.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// Index into the stack table.
    #[prost(int32, tag = "1")]
    pub stack_index: i32,
    /// Indices into the attribute table (thread name, thread id).
    #[prost(int32, repeated, tag = "2")]
    pub attribute_indices: Vec<i32>,
    /// Index into the link table (0: none).
    #[prost(int32, tag = "3")]
    pub link_index: i32,
    /// The value (one, of the profile's sample type).
    #[prost(int64, repeated, tag = "4")]
    pub values: Vec<i64>,
    /// When it was seen (not sent: values are aggregated over the window).
    #[prost(fixed64, repeated, tag = "5")]
    pub timestamps_unix_nano: Vec<u64>,
}

/// `Mapping` (only the zero entry is sent).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Mapping {
    /// Start address.
    #[prost(uint64, tag = "1")]
    pub memory_start: u64,
    /// End address.
    #[prost(uint64, tag = "2")]
    pub memory_limit: u64,
    /// Offset in the file.
    #[prost(uint64, tag = "3")]
    pub file_offset: u64,
    /// Index of the file name in the string table.
    #[prost(int32, tag = "4")]
    pub filename_strindex: i32,
    /// Attributes.
    #[prost(int32, repeated, tag = "5")]
    pub attribute_indices: Vec<i32>,
}

/// `Stack`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Stack {
    /// Indices into the location table, leaf (innermost frame) first.
    #[prost(int32, repeated, tag = "1")]
    pub location_indices: Vec<i32>,
}

/// `Location`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Location {
    /// Index into the mapping table (0: none).
    #[prost(int32, tag = "1")]
    pub mapping_index: i32,
    /// Address (0: Python frames have none).
    #[prost(uint64, tag = "2")]
    pub address: u64,
    /// The source line (one: Python frames are not inlined).
    #[prost(message, repeated, tag = "3")]
    pub lines: Vec<Line>,
    /// Attributes.
    #[prost(int32, repeated, tag = "4")]
    pub attribute_indices: Vec<i32>,
}

/// `Line`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Line {
    /// Index into the function table.
    #[prost(int32, tag = "1")]
    pub function_index: i32,
    /// Line number (0: unknown).
    #[prost(int64, tag = "2")]
    pub line: i64,
    /// Column (0: unknown).
    #[prost(int64, tag = "3")]
    pub column: i64,
}

/// `Function`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Function {
    /// Index of the (qualified) name in the string table.
    #[prost(int32, tag = "1")]
    pub name_strindex: i32,
    /// Index of the system name (the same for Python).
    #[prost(int32, tag = "2")]
    pub system_name_strindex: i32,
    /// Index of the source file name.
    #[prost(int32, tag = "3")]
    pub filename_strindex: i32,
    /// First line of the function (0: not read).
    #[prost(int64, tag = "4")]
    pub start_line: i64,
}

/// `KeyValueAndUnit`: an entry of the attribute table.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValueAndUnit {
    /// Index of the key in the string table.
    #[prost(int32, tag = "1")]
    pub key_strindex: i32,
    /// The value.
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
    /// Index of the unit (0: none).
    #[prost(int32, tag = "3")]
    pub unit_strindex: i32,
}

/// `common.v1.AnyValue`, the cases pyprobe sends.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AnyValue {
    /// The value.
    #[prost(oneof = "Value", tags = "1, 3")]
    pub value: Option<Value>,
}

/// `AnyValue.value`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Value {
    /// `string_value`.
    #[prost(string, tag = "1")]
    String(String),
    /// `int_value`.
    #[prost(int64, tag = "3")]
    Int(i64),
}

/// `common.v1.KeyValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    /// The key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// The value.
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

/// `common.v1.InstrumentationScope`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct InstrumentationScope {
    /// Name of the producer.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Its version.
    #[prost(string, tag = "2")]
    pub version: String,
}

/// `resource.v1.Resource`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Resource {
    /// Attributes (semantic conventions: `service.name`, `process.pid`, ...).
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
}
