//! CPython versions: parsing `PY_VERSION_HEX` and version strings.
use std::fmt;

/// A CPython version, e.g. 3.11.7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Version {
    /// Major (2 or 3).
    pub major: u8,
    /// Minor.
    pub minor: u8,
    /// Micro (patch) level.
    pub patch: u8,
}

impl Version {
    /// From `PY_VERSION_HEX` (0xMMmmpp..), as `Py_Version` and `_Py_DebugOffsets.version` hold it.
    /// https://github.com/python/cpython/blob/v3.11.7/Include/patchlevel.h
    pub fn from_hex(hex: u64) -> Option<Version> {
        let v = Version {
            major: ((hex >> 24) & 0xff) as u8,
            minor: ((hex >> 16) & 0xff) as u8,
            patch: ((hex >> 8) & 0xff) as u8,
        };
        v.is_plausible().then_some(v)
    }

    /// From text that starts with a version, like "3.9.18 (main, …" or "2.7.18+".
    pub fn parse_prefix(text: &str) -> Option<Version> {
        let mut parts = text.splitn(3, '.');
        let major: u8 = parts.next()?.parse().ok()?;
        let minor: u8 = parts.next()?.parse().ok()?;
        let rest = parts.next()?;
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        let patch: u8 = digits.parse().ok()?;
        let v = Version {
            major,
            minor,
            patch,
        };
        v.is_plausible().then_some(v)
    }

    /// Versions that could exist (2.7, 3.x with a sane minor).
    fn is_plausible(&self) -> bool {
        matches!((self.major, self.minor), (2, 7) | (3, 0..=40))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Find `X.Y.Z (` version strings as `Py_GetVersion` builds them, in a binary's bytes.
/// Returns the most frequent plausible match (a binary also quotes other versions in messages).
pub(crate) fn scan_version_string(bytes: &[u8]) -> Option<Version> {
    let mut counts: std::collections::BTreeMap<Version, usize> = Default::default();
    for (i, w) in bytes.windows(2).enumerate() {
        // A version string starts after a NUL: "\03.9.18 (main, …"
        if w[0] != 0 || !(w[1] == b'2' || w[1] == b'3') {
            continue;
        }
        let tail = &bytes[i + 1..bytes.len().min(i + 24)];
        let Ok(text) =
            std::str::from_utf8(&tail[..tail.iter().position(|&b| b == 0).unwrap_or(tail.len())])
        else {
            continue;
        };
        if let Some(v) = Version::parse_prefix(text) {
            let shown = v.to_string();
            let after = &text[shown.len().min(text.len())..];
            if after.starts_with(" (") || after.starts_with("+ (") {
                *counts.entry(v).or_default() += 1;
            }
        }
    }
    counts
        .into_iter()
        .max_by_key(|&(v, n)| (n, v))
        .map(|(v, _)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_versions() {
        assert_eq!(
            Version::from_hex(0x030b07f0),
            Some(Version {
                major: 3,
                minor: 11,
                patch: 7
            })
        );
        assert_eq!(
            Version::from_hex(0x030e0af0).unwrap().to_string(),
            "3.14.10"
        );
        assert_eq!(Version::from_hex(0), None);
    }

    #[test]
    fn prefix_versions() {
        assert_eq!(
            Version::parse_prefix("2.7.18 (default, Jan"),
            Some(Version {
                major: 2,
                minor: 7,
                patch: 18
            })
        );
        assert_eq!(
            Version::parse_prefix("3.13.0rc1"),
            Some(Version {
                major: 3,
                minor: 13,
                patch: 0
            })
        );
        assert_eq!(Version::parse_prefix("hello"), None);
    }

    #[test]
    fn scans_binary_text() {
        let blob = b"xx\x003.9.18 (main, Nov  1 2026, 10:00:00) \n[GCC]\x00junk\x003.1.0\x00";
        assert_eq!(
            scan_version_string(blob),
            Some(Version {
                major: 3,
                minor: 9,
                patch: 18
            })
        );
        assert_eq!(scan_version_string(b"nothing here"), None);
    }
}
