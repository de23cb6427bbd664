//! One window as a Pyroscope ingest request: `POST {url}/ingest?name=...&from=...&until=...
//! &format=pprof&sampleRate=...&spyName=pyprobe`, the body a `multipart/form-data` form with
//! the gzip-compressed pprof `profile` (the same encoder as `record -f pprof`, see
//! [`crate::output::pprof`]) and a `sample_type_config` that tells Pyroscope the units of
//! pyprobe's sample types (it knows only the usual ones otherwise). Labels travel in the
//! application name: `service{pid=1234,command=...,host=...}`
//! (<https://grafana.com/docs/pyroscope/latest/configure-server/about-server-api/>).
use std::io::Write;
use std::time::UNIX_EPOCH;

use super::http::query_escape;
use super::{Labels, Request, WindowInfo};
use crate::output::OutputOptions;
use crate::profile::Profile;

/// Units and aggregation of the sample types, for Pyroscope (`wall` is left out: `samples`
/// already counts time).
const SAMPLE_TYPE_CONFIG: &str = r#"{"samples":{"units":"samples","aggregation":"sum","display-name":"samples"},"rss_growth":{"units":"bytes","aggregation":"sum","display-name":"rss_growth_bytes"},"rss_release":{"units":"bytes","aggregation":"sum","display-name":"rss_release_bytes"}}"#;

/// A label value as the name syntax allows it: no braces, commas or `=`, no control
/// characters, at most 120 characters.
fn label_value(text: &str) -> String {
    text.chars()
        .map(|c| {
            if "{},=".contains(c) || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .take(120)
        .collect()
}

/// The application name with its labels.
pub fn app_name(labels: &Labels) -> String {
    format!(
        "{}{{pid={},command={},host={}}}",
        label_value(&labels.service),
        labels.pid,
        label_value(&labels.command),
        label_value(&labels.host)
    )
}

/// The request of one window.
pub fn request(
    profile: &Profile,
    labels: &Labels,
    window: &WindowInfo,
    boundary: &str,
) -> anyhow::Result<Request> {
    let mut pprof = crate::output::pprof::build(profile, &OutputOptions::default())?;
    let from = window.from.duration_since(UNIX_EPOCH).unwrap_or_default();
    pprof.time_nanos = i64::try_from(from.as_nanos()).unwrap_or(0);
    let gz = crate::output::pprof::gzip(&pprof)?;
    let until = from + window.duration;
    let mut body = Vec::with_capacity(gz.len() + 1024);
    write!(
        body,
        "--{boundary}\r\nContent-Disposition: form-data; name=\"profile\"; filename=\"profile.pprof\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )?;
    body.extend_from_slice(&gz);
    write!(
        body,
        "\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"sample_type_config\"; filename=\"sample_type_config.json\"\r\nContent-Type: application/json\r\n\r\n{SAMPLE_TYPE_CONFIG}\r\n--{boundary}--\r\n"
    )?;
    let rate = (1.0 / profile.interval.as_secs_f64().max(1e-9)).round() as u64;
    Ok(Request {
        path_and_query: format!(
            "/ingest?name={}&from={}&until={}&format=pprof&sampleRate={rate}&spyName=pyprobe",
            query_escape(&app_name(labels)),
            from.as_secs(),
            until.as_secs().max(from.as_secs() + 1)
        ),
        content_type: format!("multipart/form-data; boundary={boundary}"),
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_labels() {
        let labels = Labels {
            service: "web".into(),
            pid: 42,
            command: "python app.py --opt={a,b}".into(),
            host: "box".into(),
        };
        assert_eq!(
            app_name(&labels),
            "web{pid=42,command=python app.py --opt__a_b_,host=box}"
        );
    }
}
