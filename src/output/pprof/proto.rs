//! The messages of pprof's `profile.proto`, written by hand as prost structs (there is no
//! `protoc` at build time).
//!
//! They mirror <https://github.com/google/pprof/blob/main/proto/profile.proto> (package
//! `perftools.profiles`, proto3) field for field: same names, types and tag numbers, so that any
//! pprof reader (`go tool pprof`, Pyroscope, Parca) decodes what we encode. Repeated numeric
//! fields are packed, as proto3 does by default. Comments summarize the upstream ones.

/// The whole profile.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Profile {
    /// What each `Sample::value` measures, in order.
    #[prost(message, repeated, tag = "1")]
    pub sample_type: Vec<ValueType>,
    /// The samples.
    #[prost(message, repeated, tag = "2")]
    pub sample: Vec<Sample>,
    /// Address ranges of the mapped binaries (unused by pyprobe: Python frames have none).
    #[prost(message, repeated, tag = "3")]
    pub mapping: Vec<Mapping>,
    /// Locations (one per distinct function and line).
    #[prost(message, repeated, tag = "4")]
    pub location: Vec<Location>,
    /// Functions referenced by the locations.
    #[prost(message, repeated, tag = "5")]
    pub function: Vec<Function>,
    /// Every string the profile refers to by index; `string_table[0]` must be `""`.
    #[prost(string, repeated, tag = "6")]
    pub string_table: Vec<String>,
    /// Index into the string table: a regexp of frames to drop.
    #[prost(int64, tag = "7")]
    pub drop_frames: i64,
    /// Index into the string table: a regexp of frames to keep.
    #[prost(int64, tag = "8")]
    pub keep_frames: i64,
    /// Start of the collection, nanoseconds since the epoch (UTC).
    #[prost(int64, tag = "9")]
    pub time_nanos: i64,
    /// Duration of the collection, nanoseconds.
    #[prost(int64, tag = "10")]
    pub duration_nanos: i64,
    /// The kind of events between sampled occurrences.
    #[prost(message, optional, tag = "11")]
    pub period_type: Option<ValueType>,
    /// The number of events (of `period_type`) between sampled occurrences.
    #[prost(int64, tag = "12")]
    pub period: i64,
    /// Indices into the string table: free-form, human-readable text.
    #[prost(int64, repeated, tag = "13")]
    pub comment: Vec<i64>,
    /// Index into the string table of the type (`ValueType::r#type`) of the preferred sample
    /// value.
    #[prost(int64, tag = "14")]
    pub default_sample_type: i64,
    /// Index into the string table: a URL documenting the profile's contents.
    #[prost(int64, tag = "15")]
    pub doc_url: i64,
}

/// The meaning and unit of a value.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct ValueType {
    /// Index into the string table, e.g. `samples`.
    #[prost(int64, tag = "1")]
    pub r#type: i64,
    /// Index into the string table, e.g. `count`.
    #[prost(int64, tag = "2")]
    pub unit: i64,
}

/// Values measured in one program context (a stack).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// `Location::id`s, the leaf (innermost frame) first.
    #[prost(uint64, repeated, tag = "1")]
    pub location_id: Vec<u64>,
    /// One value per `Profile::sample_type`, in that order.
    #[prost(int64, repeated, tag = "2")]
    pub value: Vec<i64>,
    /// Extra context, e.g. the thread.
    #[prost(message, repeated, tag = "3")]
    pub label: Vec<Label>,
}

/// A key and a string or numeric value.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Label {
    /// Index into the string table.
    #[prost(int64, tag = "1")]
    pub key: i64,
    /// Index into the string table (at most one of `str` and `num` is set).
    #[prost(int64, tag = "2")]
    pub str: i64,
    /// A numeric value.
    #[prost(int64, tag = "3")]
    pub num: i64,
    /// Index into the string table: the unit of `num`.
    #[prost(int64, tag = "4")]
    pub num_unit: i64,
}

/// A binary or library mapped into memory.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Mapping {
    /// Unique nonzero id.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// Start address.
    #[prost(uint64, tag = "2")]
    pub memory_start: u64,
    /// End address.
    #[prost(uint64, tag = "3")]
    pub memory_limit: u64,
    /// File offset of the first mapped address.
    #[prost(uint64, tag = "4")]
    pub file_offset: u64,
    /// Index into the string table.
    #[prost(int64, tag = "5")]
    pub filename: i64,
    /// Index into the string table.
    #[prost(int64, tag = "6")]
    pub build_id: i64,
    /// Whether symbols were resolved.
    #[prost(bool, tag = "7")]
    pub has_functions: bool,
    /// Whether file names were resolved.
    #[prost(bool, tag = "8")]
    pub has_filenames: bool,
    /// Whether line numbers were resolved.
    #[prost(bool, tag = "9")]
    pub has_line_numbers: bool,
    /// Whether inline frames were resolved.
    #[prost(bool, tag = "10")]
    pub has_inline_frames: bool,
}

/// A program location: one or more lines (several when inlined).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Location {
    /// Unique nonzero id.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// `Mapping::id`, or 0 when not applicable.
    #[prost(uint64, tag = "2")]
    pub mapping_id: u64,
    /// Instruction address, if any.
    #[prost(uint64, tag = "3")]
    pub address: u64,
    /// The lines; the last one is the caller the others were inlined into.
    #[prost(message, repeated, tag = "4")]
    pub line: Vec<Line>,
    /// Whether several symbols share this address.
    #[prost(bool, tag = "5")]
    pub is_folded: bool,
}

/// A line of a function.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Line {
    /// `Function::id`.
    #[prost(uint64, tag = "1")]
    pub function_id: u64,
    /// Line number in the source (0 when unknown).
    #[prost(int64, tag = "2")]
    pub line: i64,
    /// Column number in the source (0 when unknown).
    #[prost(int64, tag = "3")]
    pub column: i64,
}

/// A function.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Function {
    /// Unique nonzero id.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// Index into the string table: human-readable name.
    #[prost(int64, tag = "2")]
    pub name: i64,
    /// Index into the string table: the name as the system knows it.
    #[prost(int64, tag = "3")]
    pub system_name: i64,
    /// Index into the string table: source file.
    #[prost(int64, tag = "4")]
    pub filename: i64,
    /// First line of the function in its file (0 when unknown).
    #[prost(int64, tag = "5")]
    pub start_line: i64,
}
