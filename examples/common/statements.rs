//! The service's own statements, read from the source of the `src/db` function that issues
//! each (the string literal of its `sqlx::query*!`), for the examples that EXPLAIN them: the
//! plans are those of what the service sends, not of copies that could drift. sqlx's column
//! annotations (`AS "rows!"`, `AS "address: Json<Address>"`) are quoted names to PostgreSQL.

/// The `src/db` files whose statements the examples read, as the service is built from them.
const SOURCES: [(&str, &str); 7] = [
    ("invoices", include_str!("../../src/db/invoices.rs")),
    ("dlq", include_str!("../../src/db/dlq.rs")),
    ("events", include_str!("../../src/db/events.rs")),
    ("buyers", include_str!("../../src/db/buyers.rs")),
    ("accounts", include_str!("../../src/db/accounts.rs")),
    ("queue", include_str!("../../src/db/queue.rs")),
    ("retention", include_str!("../../src/db/retention.rs")),
];

/// The statement of `db::<file>::<fn>` (its first query), or of `db::<file>::<fn>#<n>` (its
/// query `n`, counted from 0 in the order of the source, for a function that issues one of
/// several by a `match`). Panics naming the source when the function or its query is not there.
pub fn statement_of(source: &str) -> &'static str {
    let (path, nth) = match source.split_once('#') {
        Some((path, n)) => (
            path,
            n.parse::<usize>().unwrap_or_else(|_| panic!("{source}: #n")),
        ),
        None => (source, 0),
    };
    let mut parts = path.split("::");
    let (Some("db"), Some(file), Some(function), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        panic!("{source}: not db::<file>::<fn>");
    };
    let text = SOURCES
        .iter()
        .find(|(f, _)| *f == file)
        .unwrap_or_else(|| panic!("{source}: src/db/{file}.rs is not in SOURCES"))
        .1;
    let start = text
        .find(&format!("pub async fn {function}("))
        .unwrap_or_else(|| panic!("{source}: no such function"));
    let body = &text[start..];
    // The function ends at its closing brace, the first at the left margin.
    let body = &body[..body.find("\n}\n").unwrap_or(body.len())];
    let mut call = body;
    for _ in 0..=nth {
        let at = call
            .find("sqlx::query")
            .unwrap_or_else(|| panic!("{source}: no query {nth}"));
        call = &call[at + "sqlx::query".len()..];
    }
    let quote = call.find('"').unwrap_or_else(|| panic!("{source}: no statement"));
    let sql = &call[quote + 1..];
    if call[..quote].ends_with("r#") {
        &sql[..sql
            .find("\"#")
            .unwrap_or_else(|| panic!("{source}: unterminated statement"))]
    } else {
        let end = sql
            .find('"')
            .unwrap_or_else(|| panic!("{source}: unterminated statement"));
        assert!(!sql[..end].contains('\\'), "{source}: an escaped statement");
        &sql[..end]
    }
}

/// The highest `$n` of a statement: how many parameters it takes.
pub fn highest_parameter(sql: &str) -> usize {
    sql.split('$')
        .skip(1)
        .filter_map(|rest| {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            rest[..digits].parse().ok()
        })
        .max()
        .unwrap_or(0)
}
