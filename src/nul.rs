//! JSON text PostgreSQL cannot store: a NUL (`\u0000`) in a string or a key. Bodies are
//! checked for it where they arrive, so the field can be named in a 400 rather than failing
//! at the database.

/// JSON can only carry NUL as the escape `\u0000`.
pub fn contains_escaped_nul(bytes: &[u8]) -> bool {
    bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000"))
}

/// The path (`customer.name`, `tags[2]`) of the first string or key holding a NUL.
pub fn nul_path(value: &serde_json::Value, at: String) -> Option<String> {
    use serde_json::Value;
    let join = |key: &str| {
        if at.is_empty() {
            key.to_string()
        } else {
            format!("{at}.{key}")
        }
    };
    match value {
        Value::String(s) if s.contains('\0') => Some(if at.is_empty() { "body".into() } else { at }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_path(v, format!("{at}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                Some(join(&k.replace('\0', "")))
            } else {
                nul_path(v, join(k))
            }
        }),
        _ => None,
    }
}
