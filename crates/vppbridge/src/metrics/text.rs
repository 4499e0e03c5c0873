//! The two exposition formats `GET /metrics` serves, and which one a scraper asked for.
//!
//! prometheus-client encodes OpenMetrics 1.0 only (its Prometheus-format encoder is an open
//! proposal, prometheus/client_rust#293). Prometheus itself asks for OpenMetrics first, but
//! `promtool check metrics`, `curl` and many agents read the Prometheus text format 0.0.4, which
//! differs from OpenMetrics in a few lines only; [`to_prometheus_text`] rewrites them:
//!
//! - no `# EOF` terminator and no `# UNIT` lines (0.0.4 has neither);
//! - a counter's `# HELP`/`# TYPE` name is the sample name, `<name>_total` (OpenMetrics names the
//!   family without the suffix); `<name>_created` samples are dropped (0.0.4 has no place for
//!   them under a counter);
//! - `info` becomes a `gauge` named `<name>_info`, `unknown` becomes `untyped`, `stateset` and
//!   `gaugehistogram` become `gauge` and `histogram`;
//! - `\"` in `# HELP` text (escaped in OpenMetrics, literal in 0.0.4) becomes `"`.
//!
//! Exemplars are not converted: vppbridge records none.

/// `Content-Type` of the OpenMetrics exposition.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// `Content-Type` of the Prometheus text exposition.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One of the two exposition formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 text (`application/openmetrics-text`).
    OpenMetrics,
    /// Prometheus text format 0.0.4 (`text/plain; version=0.0.4`).
    Prometheus,
}

impl Format {
    /// The format an `Accept` header asks for: OpenMetrics when it names
    /// `application/openmetrics-text` with a quality at least that of `text/plain`, otherwise
    /// (no header, `*/*`, `text/plain`) the Prometheus text format.
    pub fn from_accept(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Prometheus;
        };
        let (mut openmetrics, mut plain) = (0.0_f32, 0.0_f32);
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            match media.as_str() {
                "application/openmetrics-text" => openmetrics = openmetrics.max(q),
                "text/plain" => plain = plain.max(q),
                _ => {}
            }
        }
        if openmetrics > 0.0 && openmetrics >= plain {
            Format::OpenMetrics
        } else {
            Format::Prometheus
        }
    }

    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Format::Prometheus => PROMETHEUS_CONTENT_TYPE,
        }
    }
}

/// Rewrites an OpenMetrics text exposition as Prometheus text format 0.0.4 (see the module
/// documentation for what changes).
pub fn to_prometheus_text(openmetrics: &str) -> String {
    // Counter families (OpenMetrics names, without `_total`), found first: their `# HELP` line
    // comes before their `# TYPE` line.
    let mut counters = std::collections::HashSet::new();
    let mut infos = std::collections::HashSet::new();
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut words = rest.split_whitespace();
            match (words.next(), words.next()) {
                (Some(name), Some("counter")) => {
                    counters.insert(name.to_owned());
                }
                (Some(name), Some("info")) => {
                    infos.insert(name.to_owned());
                }
                _ => {}
            }
        }
    }
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            let help = help.replace("\\\"", "\"");
            out.push_str(&format!(
                "# HELP {} {help}\n",
                renamed(name, &counters, &infos)
            ));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut words = rest.split_whitespace();
            let name = words.next().unwrap_or("");
            let kind = match words.next().unwrap_or("untyped") {
                "info" | "stateset" => "gauge",
                "gaugehistogram" => "histogram",
                "unknown" => "untyped",
                other => other,
            };
            out.push_str(&format!(
                "# TYPE {} {kind}\n",
                renamed(name, &counters, &infos)
            ));
        } else if line.starts_with('#') {
            out.push_str(line);
            out.push('\n');
        } else {
            let name_end = line.find(['{', ' ']).unwrap_or(line.len());
            let sample = &line[..name_end];
            let created = sample
                .strip_suffix("_created")
                .is_some_and(|family| counters.contains(family));
            if !created {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// The 0.0.4 name of an OpenMetrics family.
fn renamed(
    name: &str,
    counters: &std::collections::HashSet<String>,
    infos: &std::collections::HashSet<String>,
) -> String {
    if counters.contains(name) {
        format!("{name}_total")
    } else if infos.contains(name) {
        format!("{name}_info")
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENMETRICS: &str = "\
# HELP app_requests Requests \\\"served\\\".
# TYPE app_requests counter
app_requests_total{path=\"/a\"} 3
app_requests_created{path=\"/a\"} 1700000000.0
# HELP app_latency_seconds Latency.
# TYPE app_latency_seconds histogram
# UNIT app_latency_seconds seconds
app_latency_seconds_sum 0.5
app_latency_seconds_count 2
app_latency_seconds_bucket{le=\"0.1\"} 1
app_latency_seconds_bucket{le=\"+Inf\"} 2
# HELP app_up Up.
# TYPE app_up gauge
app_up 1
# HELP app_build Build.
# TYPE app_build info
app_build_info{version=\"1\"} 1
# HELP app_thing Thing.
# TYPE app_thing unknown
app_thing 7
# EOF
";

    #[test]
    fn openmetrics_becomes_prometheus_text() {
        let expected = "\
# HELP app_requests_total Requests \"served\".
# TYPE app_requests_total counter
app_requests_total{path=\"/a\"} 3
# HELP app_latency_seconds Latency.
# TYPE app_latency_seconds histogram
app_latency_seconds_sum 0.5
app_latency_seconds_count 2
app_latency_seconds_bucket{le=\"0.1\"} 1
app_latency_seconds_bucket{le=\"+Inf\"} 2
# HELP app_up Up.
# TYPE app_up gauge
app_up 1
# HELP app_build_info Build.
# TYPE app_build_info gauge
app_build_info{version=\"1\"} 1
# HELP app_thing Thing.
# TYPE app_thing untyped
app_thing 7
";
        assert_eq!(to_prometheus_text(OPENMETRICS), expected);
    }

    #[test]
    fn a_gauge_named_like_a_counter_sample_is_left_alone() {
        let om = "# HELP x_created A gauge.\n# TYPE x_created gauge\nx_created 5\n# EOF\n";
        assert_eq!(
            to_prometheus_text(om),
            "# HELP x_created A gauge.\n# TYPE x_created gauge\nx_created 5\n"
        );
    }

    #[test]
    fn accept_headers_choose_the_format() {
        let cases = [
            (None, Format::Prometheus),
            (Some("*/*"), Format::Prometheus),
            (Some("text/plain;version=0.0.4"), Format::Prometheus),
            (
                Some("text/plain; version=0.0.4; charset=utf-8"),
                Format::Prometheus,
            ),
            (Some("application/openmetrics-text"), Format::OpenMetrics),
            // What Prometheus 2.x sends: OpenMetrics preferred.
            (
                Some(
                    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
                ),
                Format::OpenMetrics,
            ),
            (
                Some("text/plain;version=0.0.4;q=0.9,application/openmetrics-text;q=0.5"),
                Format::Prometheus,
            ),
            (Some("application/openmetrics-text;q=0"), Format::Prometheus),
            (Some("APPLICATION/OpenMetrics-Text"), Format::OpenMetrics),
        ];
        for (accept, expected) in cases {
            assert_eq!(Format::from_accept(accept), expected, "{accept:?}");
        }
    }
}

/// `promtool check metrics` on vppbridge's own exposition, when promtool is installed
/// (`scripts/install-test-tools` puts it in `.tools/prometheus/bin`).
#[cfg(test)]
mod promtool {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};

    /// The promtool to use: `PROMTOOL`, the project's `.tools`, or the `PATH`.
    pub(crate) fn find() -> Option<std::path::PathBuf> {
        let local = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../.tools/prometheus/bin/promtool");
        std::env::var_os("PROMTOOL")
            .map(Into::into)
            .into_iter()
            .chain([local, "promtool".into()])
            .find(|p| Command::new(p).arg("--version").output().is_ok())
    }

    #[test]
    fn promtool_accepts_the_prometheus_text() {
        let Some(promtool) = find() else {
            eprintln!("SKIPPED: promtool not found; run scripts/install-test-tools");
            return;
        };
        let m = crate::metrics::Metrics::for_locations(["school"]);
        m.publish_duration.observe(0.01);
        let text = m.encode_as(Format::Prometheus);
        let mut child = Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run promtool");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write to promtool");
        let out = child.wait_with_output().expect("promtool output");
        assert!(
            out.status.success(),
            "promtool check metrics refused:\n{}{}\n{text}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
