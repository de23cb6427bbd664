//! Short, fixed-width renderings of numbers and labels for the live view.
use ratatui::text::Span;

use super::process_list::is_python_executable_name;
use crate::display::short_filename;

/// Display width of `s` in terminal columns.
pub(crate) fn width(s: &str) -> usize {
    Span::raw(s).width()
}

/// A percentage in at most 6 columns: `0.0%`, `99.5%`, `250%`.
pub(crate) fn percent(p: f64) -> String {
    if p < 99.95 {
        format!("{p:.1}%")
    } else {
        format!("{p:.0}%")
    }
}

/// Cut `s` to `max` columns, ending in `…` when cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = width(c.encode_utf8(&mut [0; 4]));
        if used + w > max - 1 {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// `function (file:line)` fitted to `max` columns: the full path when there is room, then the
/// shortened one (site-packages and stdlib prefixes dropped), then the file name alone, and
/// only then the function name cut.
pub(crate) fn function_label(
    name: &str,
    filename: &str,
    line: u32,
    max: usize,
) -> (String, String) {
    let place = |file: &str| {
        if line > 0 {
            format!(" ({file}:{line})")
        } else {
            format!(" ({file})")
        }
    };
    let short = short_filename(filename);
    let base = short.rsplit('/').next().unwrap_or(short);
    for file in [filename, short, base] {
        let p = place(file);
        if width(name) + width(&p) <= max {
            return (name.to_string(), p);
        }
    }
    let p = place(base);
    let name_room = max.saturating_sub(width(&p));
    if name_room >= 8 {
        return (truncate(name, name_room), p);
    }
    (truncate(name, max), String::new())
}

/// A one-row sparkline of `values` (oldest first), scaled between their minimum and maximum;
/// a flat series is a flat line at the bottom.
pub(crate) fn sparkline(values: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let (Some(&lo), Some(&hi)) = (values.iter().min(), values.iter().max()) else {
        return String::new();
    };
    values
        .iter()
        .map(|&v| {
            if hi == lo {
                BARS[0]
            } else {
                BARS[((v - lo) as u128 * 7 / (hi - lo) as u128) as usize]
            }
        })
        .collect()
}

/// The command for a column `max` wide: as is if it fits; else without the interpreter's
/// name (the Python column says which); else with paths cut to file names; else cut.
pub(crate) fn fit_command(command: &str, max: usize) -> String {
    if width(command) <= max {
        return command.to_string();
    }
    let mut words: Vec<&str> = command.split(' ').collect();
    if words.len() > 1 && is_python_executable_name(words[0]) {
        words.remove(0);
        let joined = words.join(" ");
        if width(&joined) <= max {
            return joined;
        }
    }
    let short: Vec<&str> = words
        .iter()
        .map(|w| {
            if w.starts_with('-') {
                w
            } else {
                w.rsplit('/').next().unwrap_or(w)
            }
        })
        .collect();
    truncate(&short.join(" "), max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(percent(99.5), "99.5%");
        assert_eq!(percent(250.0), "250%");
    }

    #[test]
    fn truncation() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        assert_eq!(truncate("héllo wörld", 6), "héllo…");
    }

    #[test]
    fn labels_use_the_room_there_is() {
        let f = "/usr/lib/python3.11/json/decoder.py";
        let join = |(a, b): (String, String)| a + &b;
        assert_eq!(
            join(function_label("decode", f, 337, 80)),
            "decode (/usr/lib/python3.11/json/decoder.py:337)"
        );
        assert_eq!(
            join(function_label("decode", f, 337, 30)),
            "decode (json/decoder.py:337)"
        );
        assert_eq!(
            join(function_label("decode", f, 337, 26)),
            "decode (decoder.py:337)"
        );
        let tight = join(function_label("a_rather_long_function_name", f, 337, 30));
        assert!(width(&tight) <= 30, "{tight}");
        assert!(tight.ends_with("(decoder.py:337)"), "{tight}");
        assert_eq!(
            join(function_label("main", "app.py", 0, 40)),
            "main (app.py)"
        );
        assert!(width(&join(function_label("x", f, 1, 3))) <= 3);
    }

    #[test]
    fn sparklines() {
        assert_eq!(sparkline(&[]), "");
        assert_eq!(sparkline(&[5, 5, 5]), "▁▁▁");
        assert_eq!(sparkline(&[0, 50, 100]), "▁▄█");
    }

    #[test]
    fn commands_fit_their_column() {
        let c = "python3.12 /work/app/scripts/top_target.py --fast";
        assert_eq!(fit_command(c, 60), c);
        assert_eq!(fit_command(c, 40), "/work/app/scripts/top_target.py --fast");
        assert_eq!(fit_command(c, 20), "top_target.py --fast");
        assert_eq!(fit_command(c, 10), "top_targe…");
        assert_eq!(
            fit_command("uwsgi --ini /etc/app.ini", 16),
            "uwsgi --ini app…"
        );
    }
}
