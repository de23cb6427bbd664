//! Collapsed ("folded") stacks: one line per distinct stack, `frame;frame;frame COUNT`,
//! outermost frame first. The input format of `flamegraph.pl`, inferno and speedscope.
//!
//! With [`OutputOptions::per_thread`] the first field is the thread's label. Labels go through
//! [`collapsed_safe`](super::label::collapsed_safe) so a `;` or a line break inside a name cannot
//! break a line. Lines are sorted (byte order) and stacks that render to the same line (same
//! frames in different threads without `per_thread`, frames that differ only by line number
//! without `show_line_numbers`, ...) are merged by adding their counts. Zero-weight stacks are
//! left out.
use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Context;

use super::label::{collapsed_safe, frame_label};
use super::{OutputOptions, ProfileWriter};
use crate::profile::Profile;

/// Writes [`super::Format::Collapsed`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CollapsedWriter;

impl ProfileWriter for CollapsedWriter {
    fn write(
        &self,
        profile: &Profile,
        opts: &OutputOptions,
        out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        let mut out = std::io::BufWriter::new(out);
        for line in collapsed_lines(profile, opts)? {
            out.write_all(line.as_bytes())?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        Ok(())
    }
}

/// Folded stacks → total count, sorted by stack. The stack is the line without its count.
pub(crate) fn collapsed_stacks(
    profile: &Profile,
    opts: &OutputOptions,
) -> anyhow::Result<BTreeMap<String, u64>> {
    let frame_labels: Vec<String> = profile
        .frames
        .iter()
        .map(|f| collapsed_safe(&frame_label(f, opts)))
        .collect();
    let thread_labels: Vec<String> = if opts.per_thread {
        profile
            .threads
            .iter()
            .map(|t| collapsed_safe(&t.label()))
            .collect()
    } else {
        Vec::new()
    };

    let mut merged: BTreeMap<String, u64> = BTreeMap::new();
    let mut line = String::new();
    for ((thread, ids), weights) in &profile.stacks {
        if weights.get(opts.measure) == 0 {
            continue;
        }
        line.clear();
        if opts.per_thread {
            let label = thread_labels.get(*thread).with_context(|| {
                format!(
                    "malformed profile: a stack refers to thread {thread} of {}",
                    thread_labels.len()
                )
            })?;
            line.push_str(label);
        }
        for &id in ids {
            let label = frame_labels.get(id as usize).with_context(|| {
                format!(
                    "malformed profile: a stack refers to frame {id} of {}",
                    frame_labels.len()
                )
            })?;
            if !line.is_empty() {
                line.push(';');
            }
            line.push_str(label);
        }
        if line.is_empty() {
            continue;
        }
        match merged.get_mut(line.as_str()) {
            Some(count) => *count += weights.get(opts.measure),
            None => {
                merged.insert(line.clone(), weights.get(opts.measure));
            }
        }
    }
    Ok(merged)
}

/// The lines of the collapsed output, without line terminators, sorted: `a;b;c COUNT`.
/// [`FlamegraphWriter`](super::FlamegraphWriter) renders these same lines.
pub fn collapsed_lines(profile: &Profile, opts: &OutputOptions) -> anyhow::Result<Vec<String>> {
    Ok(collapsed_stacks(profile, opts)?
        .into_iter()
        .map(|(mut stack, count)| {
            stack.push(' ');
            stack.push_str(&count.to_string());
            stack
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{AggregateOptions, Weights};
    use crate::stack::{Frame, ThreadStack};

    fn frame(name: &str, line: u32) -> Frame {
        Frame {
            name: name.into(),
            filename: "/app/m.py".into(),
            line,
        }
    }

    fn stack(thread_id: u64, frames_innermost_first: Vec<Frame>) -> ThreadStack {
        ThreadStack {
            thread_id,
            os_tid: Some(thread_id as u32),
            name: Some(format!("T{thread_id}").into()),
            active: true,
            holds_gil: true,
            frames: frames_innermost_first.into(),
        }
    }

    fn render(profile: &Profile, opts: &OutputOptions) -> String {
        let mut out = Vec::new();
        CollapsedWriter.write(profile, opts, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn merges_threads_and_lines() {
        let mut p = Profile::new("t", std::time::Duration::from_millis(10));
        let agg = AggregateOptions::default();
        p.add_sample(
            &[
                stack(1, vec![frame("f", 3), frame("main", 1)]),
                stack(2, vec![frame("f", 3), frame("main", 1)]),
            ],
            &agg,
        );
        p.add_sample(&[stack(1, vec![frame("f", 4), frame("main", 1)])], &agg);

        assert_eq!(
            render(&p, &OutputOptions::default()),
            "main (/app/m.py:1);f (/app/m.py:3) 2\nmain (/app/m.py:1);f (/app/m.py:4) 1\n"
        );
        let no_lines = OutputOptions {
            show_line_numbers: false,
            ..Default::default()
        };
        assert_eq!(render(&p, &no_lines), "main (/app/m.py);f (/app/m.py) 3\n");
        let per_thread = OutputOptions {
            per_thread: true,
            show_line_numbers: false,
            ..Default::default()
        };
        assert_eq!(
            render(&p, &per_thread),
            "T1 (tid 1);main (/app/m.py);f (/app/m.py) 2\nT2 (tid 2);main (/app/m.py);f (/app/m.py) 1\n"
        );
    }

    #[test]
    fn empty_and_malformed() {
        let mut p = Profile::new("t", std::time::Duration::from_millis(10));
        assert_eq!(render(&p, &OutputOptions::default()), "");
        p.stacks.insert(
            (0, vec![7]),
            Weights {
                samples: 1,
                ..Default::default()
            },
        );
        let err = collapsed_lines(&p, &OutputOptions::default()).unwrap_err();
        assert!(err.to_string().contains("frame 7"), "{err}");
    }
}
