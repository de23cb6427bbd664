//! gzip-compressed pprof profile.proto.
use std::io::Write;

use super::{OutputOptions, ProfileWriter};
use crate::profile::Profile;

/// Writes the `pprof` format.
#[derive(Debug, Clone, Copy, Default)]
pub struct PprofWriter;

impl ProfileWriter for PprofWriter {
    fn write(
        &self,
        _profile: &Profile,
        _opts: &OutputOptions,
        _out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        anyhow::bail!("the pprof format is not implemented yet")
    }
}
