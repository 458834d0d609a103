//! Reading the service's Prometheus text (`GET /metrics`).

use reqwest::Method;

use super::{raw, TestApp};

/// The sum of the samples of `name` (with or without labels) whose labels include every one
/// of `labels`, in a `/metrics` text; 0 when there is none.
pub fn metric(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter(|l| labels.iter().all(|label| l.contains(label)))
        .map(|l| {
            let value = l.rsplit(' ').next().unwrap_or_default();
            value
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("not a sample: {l}"))
        })
        .sum()
}

/// [`metric`] read from the app's `/metrics` now.
pub async fn metric_of(app: &TestApp, name: &str, labels: &[&str]) -> f64 {
    let resp = raw(Method::GET, &app.url("/metrics"), &[], "").await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    metric(&resp.text(), name, labels)
}
