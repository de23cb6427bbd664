//! Display labels for frames, shared by every output format.
//!
//! A frame is shown as `function (file:line)`, or `function (file)` when line numbers are off or
//! the line is unknown (0). The file name is shortened by [`short_filename`].
use crate::display::short_filename;
use crate::stack::Frame;

use super::OutputOptions;

/// The display label of a frame: `function (file:line)`, or `function (file)` when
/// `opts.show_line_numbers` is false or the line is unknown (0). A frame without a file name is
/// shown as just `function`.
pub fn frame_label(frame: &Frame, opts: &OutputOptions) -> String {
    let file = short_filename(&frame.filename);
    if file.is_empty() {
        frame.name.to_string()
    } else if opts.show_line_numbers && frame.line != 0 {
        format!("{} ({}:{})", frame.name, file, frame.line)
    } else {
        format!("{} ({})", frame.name, file)
    }
}

/// Make a label safe for one field of a collapsed-stack line: `;` (the frame separator) becomes
/// `:`, and control characters (line breaks, tabs) become spaces.
pub(crate) fn collapsed_safe(label: &str) -> String {
    label
        .chars()
        .map(|c| match c {
            ';' => ':',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(name: &str, filename: &str, line: u32) -> Frame {
        Frame {
            name: name.into(),
            filename: filename.into(),
            line,
        }
    }

    #[test]
    fn labels() {
        let on = OutputOptions::default();
        let off = OutputOptions {
            show_line_numbers: false,
            ..OutputOptions::default()
        };
        let f = frame("run", "/usr/lib/python3.11/threading.py", 1012);
        assert_eq!(frame_label(&f, &on), "run (threading.py:1012)");
        assert_eq!(frame_label(&f, &off), "run (threading.py)");
        let f0 = frame("<module>", "/app/main.py", 0);
        assert_eq!(frame_label(&f0, &on), "<module> (/app/main.py)");
        assert_eq!(frame_label(&frame("f", "", 3), &on), "f");
    }

    #[test]
    fn collapsed_safe_replaces_separators() {
        assert_eq!(collapsed_safe("a;b\nc\td"), "a:b c d");
        assert_eq!(collapsed_safe("grüße"), "grüße");
    }
}
