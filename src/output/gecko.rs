//! Firefox Profiler (gecko) JSON with an RSS counter track.
use std::io::Write;

use super::{OutputOptions, ProfileWriter};
use crate::profile::Profile;

/// Writes the `gecko` format.
#[derive(Debug, Clone, Copy, Default)]
pub struct GeckoWriter;

impl ProfileWriter for GeckoWriter {
    fn write(
        &self,
        _profile: &Profile,
        _opts: &OutputOptions,
        _out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        anyhow::bail!("the gecko format is not implemented yet")
    }
}
