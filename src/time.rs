//! Time as the API writes it.

/// Now, as RFC 3339 UTC with milliseconds: the envelope's `timestamp`.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
