//! Rebuilding an [`Interpreter`] without the live process, from a few addresses kept next to a
//! memory snapshot.
//!
//! Discovery needs the target's ELF files and maps, which a snapshot does not hold. What the
//! walker needs of it is small: the version (which picks the layout table) and three addresses.
//! The only part of the layout that comes from the target itself, `_Py_DebugOffsets` (3.13+), is
//! read again through the reader, so a snapshot must hold those bytes: [`Interpreter::from_record`]
//! run through a [`crate::process::RecordingReader`] records them.
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::debug_offsets;
use super::version::Version;
use super::Interpreter;
use crate::error::{Error, Result};
use crate::process::MemoryReader;

/// What [`Interpreter::from_record`] needs to rebuild an [`Interpreter`] offline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterpreterRecord {
    /// Exact version, e.g. "3.11.7".
    pub version: String,
    /// `PyInterpreterState *` of the main interpreter.
    pub interp_addr: u64,
    /// `&_PyRuntime` (3.7+), when found.
    pub runtime_addr: Option<u64>,
    /// `&_PyThreadState_Current` (2.7 and 3.6).
    pub tstate_current_addr: Option<u64>,
}

impl Interpreter {
    /// The addresses and version that [`Interpreter::from_record`] rebuilds this from.
    pub fn record(&self) -> InterpreterRecord {
        InterpreterRecord {
            version: self.version.to_string(),
            interp_addr: self.interp_addr,
            runtime_addr: self.runtime_addr,
            tstate_current_addr: self.tstate_current_addr,
        }
    }

    /// Rebuild an interpreter from its record, reading the layout the target publishes (3.13+)
    /// through `reader` exactly as discovery did. `binary` is empty: a snapshot has no files.
    pub fn from_record<R: MemoryReader>(
        rec: &InterpreterRecord,
        reader: &R,
    ) -> Result<Interpreter> {
        let version = Version::parse_prefix(&rec.version)
            .ok_or_else(|| Error::invalid(format!("bad version {:?} in record", rec.version)))?;
        // Versions that publish `_Py_DebugOffsets` (3.13+) have its positions in their table.
        let publishes = python_versions::layout_for(version.major, version.minor)
            .is_some_and(|l| !l.debug_offsets.is_empty());
        let debug = match rec.runtime_addr {
            Some(rt) if publishes => {
                let d = debug_offsets::read(reader, rt)?.ok_or_else(|| {
                    Error::invalid(format!("no _Py_DebugOffsets at _PyRuntime {rt:#x}"))
                })?;
                if d.version != version {
                    return Err(Error::invalid(format!(
                        "record says {version}, the target publishes {}",
                        d.version
                    )));
                }
                Some(d)
            }
            _ => None,
        };
        let (layout, layout_drift) = debug_offsets::target_layout(version, debug.as_ref())?;
        Ok(Interpreter {
            version,
            layout,
            interp_addr: rec.interp_addr,
            runtime_addr: rec.runtime_addr,
            tstate_current_addr: rec.tstate_current_addr,
            binary: PathBuf::new(),
            found_by: "replayed from a record".into(),
            layout_drift,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::SnapshotReader;

    fn record(version: &str, runtime: Option<u64>) -> InterpreterRecord {
        InterpreterRecord {
            version: version.into(),
            interp_addr: 0x1000,
            runtime_addr: runtime,
            tstate_current_addr: None,
        }
    }

    #[test]
    fn round_trips_through_json() {
        let rec = record("3.11.7", Some(0x2000));
        let json = serde_json::to_string(&rec).unwrap();
        assert_eq!(
            serde_json::from_str::<InterpreterRecord>(&json).unwrap(),
            rec
        );
        let interp = Interpreter::from_record(&rec, &SnapshotReader::new()).unwrap();
        assert_eq!(interp.record(), rec);
        assert_eq!(interp.layout, *python_versions::layout_for(3, 11).unwrap());
    }

    #[test]
    fn errors_instead_of_guessing() {
        let empty = SnapshotReader::new();
        // 3.13+ without the published layout in the snapshot.
        assert!(matches!(
            Interpreter::from_record(&record("3.13.0", Some(0x2000)), &empty),
            Err(Error::Read { .. })
        ));
        assert!(matches!(
            Interpreter::from_record(&record("3.40.0", None), &empty),
            Err(Error::UnsupportedVersion { .. })
        ));
        assert!(Interpreter::from_record(&record("three", None), &empty).is_err());
        // A cookie with garbage behind it.
        let mut snap = SnapshotReader::new();
        let mut bytes = debug_offsets::COOKIE.to_vec();
        bytes.extend(0x030d00f0u64.to_le_bytes());
        bytes.resize(debug_offsets::READ_LEN, 0xff);
        bytes[16..24].copy_from_slice(&0u64.to_le_bytes());
        snap.insert(0x2000, &bytes);
        assert!(matches!(
            Interpreter::from_record(&record("3.13.0", Some(0x2000)), &snap),
            Err(Error::Invalid(_))
        ));
        assert!(Interpreter::from_record(&record("3.14.0", Some(0x2000)), &snap).is_err());
    }
}
