//! Interactive flame graph (SVG), rendered by inferno from the collapsed lines of
//! [`collapsed_lines`](super::collapsed_lines).
//!
//! An empty profile (no stack with a non-zero weight) is not an error: it produces a small valid
//! SVG that shows the title and says `no samples were collected: <why>`, so the output file of a
//! recording always exists and explains itself.
use std::io::{BufWriter, Write};

use anyhow::Context;
use inferno::flamegraph::{self, color::MultiPalette, Palette};

use super::collapsed::collapsed_lines;
use super::{OutputOptions, ProfileWriter};
use crate::display::escape_markup;
use crate::profile::Profile;

/// Writes [`super::Format::Flamegraph`].
#[derive(Debug, Clone, Copy, Default)]
pub struct FlamegraphWriter;

impl ProfileWriter for FlamegraphWriter {
    fn write(
        &self,
        profile: &Profile,
        opts: &OutputOptions,
        out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        let lines = collapsed_lines(profile, opts)?;
        let mut out = BufWriter::new(out);
        if lines.is_empty() {
            write_empty_svg(profile, &mut out)?;
        } else {
            // `Options` is non-exhaustive: start from the defaults and set fields.
            let mut options = flamegraph::Options::default();
            options.title = title(profile).to_string();
            options.subtitle = Some(subtitle(profile));
            options.count_name = opts.measure.unit().to_string();
            options.colors = Palette::Multi(MultiPalette::Python);
            // Colors from a hash of the name: deterministic output, stable across runs.
            options.hash = true;
            options.reverse_stack_order = false;
            flamegraph::from_lines(&mut options, lines.iter().map(String::as_str), &mut out)
                .context("rendering the flame graph")?;
        }
        out.flush()?;
        Ok(())
    }
}

fn title(profile: &Profile) -> &str {
    if profile.title.trim().is_empty() {
        "pyprobe"
    } else {
        &profile.title
    }
}

/// `1234 samples over 12.34 s, every 10 ms`, plus ` (2468 thread stacks)` when several threads
/// were sampled per tick (the flame graph's `all` counts thread stacks), and `, 3 failed`.
fn subtitle(profile: &Profile) -> String {
    let mut s = format!(
        "{} samples over {:.2} s, every {} ms",
        profile.sample_count,
        profile.duration.as_secs_f64(),
        trim_float(profile.interval.as_secs_f64() * 1000.0),
    );
    let stacks = profile.total_samples();
    if stacks != profile.sample_count {
        s.push_str(&format!(" ({stacks} thread stacks)"));
    }
    if profile.error_count > 0 {
        s.push_str(&format!(", {} failed", profile.error_count));
    }
    s
}

/// `10`, `0.5`, `2.25`: at most 3 decimals, no trailing zeros.
fn trim_float(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Why there is nothing to draw.
fn no_samples_reason(profile: &Profile) -> String {
    let mut s = if profile.sample_count == 0 {
        "the target was not sampled even once (did it exit immediately?)".to_string()
    } else {
        format!(
            "none of the {} samples had a Python stack to record (all threads idle or filtered out)",
            profile.sample_count
        )
    };
    if profile.error_count > 0 {
        s.push_str(&format!("; {} samples failed", profile.error_count));
    }
    s
}

/// The document for a profile without samples.
fn write_empty_svg(profile: &Profile, out: &mut dyn Write) -> anyhow::Result<()> {
    write!(
        out,
        r##"<?xml version="1.0" standalone="no"?>
<svg version="1.1" width="1200" height="110" viewBox="0 0 1200 110" xmlns="http://www.w3.org/2000/svg">
<rect x="0" y="0" width="100%" height="100%" fill="#eeeeee"/>
<text x="600" y="30" text-anchor="middle" font-family="Verdana" font-size="17">{title}</text>
<text x="600" y="60" text-anchor="middle" font-family="Verdana" font-size="14">no samples were collected: {reason}</text>
<text x="600" y="85" text-anchor="middle" font-family="Verdana" font-size="12" fill="#555555">{subtitle}</text>
</svg>
"##,
        title = escape_markup(title(profile)),
        reason = escape_markup(&no_samples_reason(profile)),
        subtitle = escape_markup(&subtitle(profile)),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formatting_helpers() {
        assert_eq!(trim_float(10.0), "10");
        assert_eq!(trim_float(0.5), "0.5");
        assert_eq!(trim_float(2.25), "2.25");
        let mut p = Profile::new("", Duration::from_millis(10));
        p.sample_count = 5;
        p.duration = Duration::from_millis(1234);
        p.error_count = 2;
        assert_eq!(
            subtitle(&p),
            "5 samples over 1.23 s, every 10 ms (0 thread stacks), 2 failed"
        );
        assert_eq!(title(&p), "pyprobe");
    }
}
