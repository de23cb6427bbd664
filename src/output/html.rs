//! One self-contained HTML report (RSS timeline, CPU and RSS-growth flame graphs, time-range selection).
use std::io::Write;

use super::{OutputOptions, ProfileWriter};
use crate::profile::Profile;

/// Writes the `html` format.
#[derive(Debug, Clone, Copy, Default)]
pub struct HtmlWriter;

impl ProfileWriter for HtmlWriter {
    fn write(
        &self,
        _profile: &Profile,
        _opts: &OutputOptions,
        _out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        anyhow::bail!("the html format is not implemented yet")
    }
}
