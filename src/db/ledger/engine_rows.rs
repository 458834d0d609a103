//! The rule preview's read of the ledger: one `COPY (SELECT ...) TO STDOUT (FORMAT binary)` of
//! the fields the engine reads, framed into batches of whole rows as it streams in, and a
//! parser of those rows that borrows every value from the bytes PostgreSQL sent (no allocation
//! per row). Decoding rows this way costs a fraction of decoding them as query results, and
//! the batches are parsed on the preview's deciders, one per core, not on the connection's task.
//!
//! COPY takes no parameters, so the statement is written here from values whose spelling is
//! safe: an environment's id (a UUID), page numbers, instants (RFC 3339), and an account id
//! quoted as PostgreSQL's `quote_literal` quotes (one holding a NUL is refused).

use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

/// The columns of every row, in the statement's order ([`EngineRow`]'s fields).
const COLUMNS: i16 = 13;

/// The start of a binary COPY's data (PostgreSQL's `BinarySignature`).
const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// Which stored transactions a preview reads: the environment's, optionally of one account,
/// within transaction dates `[from, to)`, and within the table's pages `[start, end)`.
pub struct Scan<'a> {
    pub env_id: Uuid,
    pub account_id: Option<&'a str>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub pages: Option<std::ops::Range<u32>>,
}

/// The account id given is not one a statement can hold.
#[derive(Debug, thiserror::Error)]
#[error("an account id holding a NUL character")]
pub struct NotSpellable;

impl Scan<'_> {
    /// The COPY statement that streams the scan's rows, binary, in the table's page order
    /// when it reads pages (a TID range scan) or the whole environment (a sequential scan).
    /// A stored transaction's JSON is made text only for a row without the engine's fields.
    pub fn copy_statement(&self) -> Result<String, NotSpellable> {
        let mut filter = String::new();
        if let Some(pages) = &self.pages {
            filter.push_str(&format!(
                "ctid >= '({},0)'::tid AND ctid < '({},0)'::tid AND ",
                pages.start, pages.end
            ));
        }
        filter.push_str(&format!("env_id = '{}'", self.env_id));
        if let Some(account) = self.account_id {
            filter.push_str(&format!(" AND account_id = {}", quote_literal(account)?));
        }
        let instant = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
        if let Some(from) = self.from {
            filter.push_str(&format!(" AND tx_date >= '{}'::timestamptz", instant(from)));
        }
        if let Some(to) = self.to {
            filter.push_str(&format!(" AND tx_date < '{}'::timestamptz", instant(to)));
        }
        Ok(format!(
            "COPY (SELECT account_id, transaction_id, transaction IS NOT NULL, credit, amount, currency, \
             narration, description, reference, counterparty_name, counterparty_account, counterparty_bank, \
             CASE WHEN credit IS NULL THEN transaction::text END \
             FROM mono_transactions WHERE {filter}) TO STDOUT (FORMAT binary)"
        ))
    }
}

/// `text` as a string literal that means `text` whatever `standard_conforming_strings` says
/// (PostgreSQL's `quote_literal`: quotes doubled, and with a backslash an `E''` literal with
/// backslashes doubled).
pub fn quote_literal(text: &str) -> Result<String, NotSpellable> {
    if text.contains('\0') {
        return Err(NotSpellable);
    }
    let mut out = String::with_capacity(text.len() + 3);
    if text.contains('\\') {
        out.push('E');
    }
    out.push('\'');
    for c in text.chars() {
        if c == '\'' || c == '\\' {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    Ok(out)
}

/// One stored transaction as the preview reads it: its account, and either the fields the
/// engine reads (`credit` set) or Mono's JSON (`raw`; None for a row whose JSON the ledger no
/// longer holds). Every value borrows the COPY data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineRow<'a> {
    pub account_id: &'a str,
    pub transaction_id: &'a str,
    /// False when the ledger holds no JSON for the row: nothing to decide.
    pub kept: bool,
    /// Set when the fields below are: the transaction decoded when it was stored.
    pub credit: Option<bool>,
    pub amount: Option<i64>,
    pub currency: Option<&'a str>,
    pub narration: Option<&'a str>,
    pub description: Option<&'a str>,
    pub reference: Option<&'a str>,
    pub counterparty_name: Option<&'a str>,
    pub counterparty_account: Option<&'a str>,
    pub counterparty_bank: Option<&'a str>,
    /// Mono's JSON, only for a kept row without the fields.
    pub raw: Option<&'a str>,
}

/// COPY data that is not what the statement sends.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the ledger's COPY data is malformed at byte {at}: {what}")]
pub struct Malformed {
    pub at: usize,
    pub what: &'static str,
}

/// Collects the COPY data as it streams in and hands it out in batches of whole rows: the
/// header checked and left out, and the end of the data noticed. Only the fields' lengths are
/// read here; [`rows`] reads the rest.
#[derive(Default)]
pub struct Framer {
    held: Vec<u8>,
    /// Bytes of `held` that are whole rows.
    framed: usize,
    /// Bytes of the stream before `held` (for the position of an error).
    passed: usize,
    header: bool,
    ended: bool,
}

impl Framer {
    /// Adds the next bytes of the stream.
    pub fn push(&mut self, data: &[u8]) -> Result<(), Malformed> {
        self.held.extend_from_slice(data);
        self.frame()
    }

    /// Bytes of whole rows held, ready for [`Framer::take`].
    pub fn ready(&self) -> usize {
        self.framed
    }

    /// The whole rows held, as one batch for [`rows`].
    pub fn take(&mut self) -> Vec<u8> {
        let rest = self.held.split_off(self.framed);
        self.passed += self.framed;
        self.framed = 0;
        std::mem::replace(&mut self.held, rest)
    }

    /// Checks that the stream ended where the data says it ends.
    pub fn finish(&self) -> Result<(), Malformed> {
        if !self.ended || self.held.len() > self.framed {
            return Err(self.malformed(self.held.len(), "the data ends inside a row"));
        }
        Ok(())
    }

    fn malformed(&self, at: usize, what: &'static str) -> Malformed {
        Malformed {
            at: self.passed + at,
            what,
        }
    }

    fn frame(&mut self) -> Result<(), Malformed> {
        if !self.header {
            // The signature, the flags (no OIDs) and the header extension's length.
            if self.held.len() < SIGNATURE.len() + 8 {
                return Ok(());
            }
            let (flags, extension) = (be_i32(&self.held[11..15]), be_i32(&self.held[15..19]));
            if &self.held[..11] != SIGNATURE || flags & (1 << 16) != 0 || extension < 0 {
                return Err(self.malformed(0, "not the binary COPY header"));
            }
            let skip = 19 + extension as usize;
            if self.held.len() < skip {
                return Ok(());
            }
            self.held.drain(..skip);
            self.passed += skip;
            self.header = true;
        }
        loop {
            let at = self.framed;
            let rest = &self.held[at..];
            if rest.len() < 2 {
                return Ok(());
            }
            if self.ended {
                return Err(self.malformed(at, "data after the end"));
            }
            let count = i16::from_be_bytes([rest[0], rest[1]]);
            if count == -1 {
                let after = rest.len() > 2;
                self.ended = true;
                self.held.truncate(at);
                if after {
                    return Err(self.malformed(at + 2, "data after the end"));
                }
                return Ok(());
            }
            if count != COLUMNS {
                return Err(self.malformed(at, "a row of another number of columns"));
            }
            let mut end = 2;
            for _ in 0..COLUMNS {
                let Some(length) = rest.get(end..end + 4) else {
                    return Ok(());
                };
                let length = be_i32(length);
                end += 4;
                if length > 0 {
                    end += length as usize;
                } else if length < -1 {
                    return Err(self.malformed(at + end - 4, "a negative length"));
                }
            }
            if rest.len() < end {
                return Ok(());
            }
            self.framed += end;
        }
    }
}

fn be_i32(b: &[u8]) -> i32 {
    i32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// The rows of a batch [`Framer::take`] handed out, in order.
pub fn rows(batch: &[u8]) -> Rows<'_> {
    Rows { batch, at: 0 }
}

pub struct Rows<'a> {
    batch: &'a [u8],
    at: usize,
}

impl<'a> Rows<'a> {
    fn malformed(&self, what: &'static str) -> Malformed {
        Malformed { at: self.at, what }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        let out = self
            .batch
            .get(self.at..self.at + n)
            .ok_or_else(|| self.malformed("a row cut short"))?;
        self.at += n;
        Ok(out)
    }

    /// The next field's bytes; None for NULL.
    fn field(&mut self) -> Result<Option<&'a [u8]>, Malformed> {
        let length = be_i32(self.take(4)?);
        if length == -1 {
            return Ok(None);
        }
        let length = usize::try_from(length).map_err(|_| self.malformed("a negative length"))?;
        self.take(length).map(Some)
    }

    fn text(&mut self) -> Result<Option<&'a str>, Malformed> {
        match self.field()? {
            None => Ok(None),
            Some(bytes) => std::str::from_utf8(bytes)
                .map(Some)
                .map_err(|_| self.malformed("text that is not UTF-8")),
        }
    }

    fn required_text(&mut self) -> Result<&'a str, Malformed> {
        self.text()?
            .ok_or_else(|| self.malformed("NULL where the ledger has none"))
    }

    fn boolean(&mut self) -> Result<Option<bool>, Malformed> {
        match self.field()? {
            None => Ok(None),
            Some([b]) => Ok(Some(*b != 0)),
            Some(_) => Err(self.malformed("a boolean not one byte long")),
        }
    }

    fn int8(&mut self) -> Result<Option<i64>, Malformed> {
        match self.field()? {
            None => Ok(None),
            Some(bytes) => <[u8; 8]>::try_from(bytes)
                .map(|b| Some(i64::from_be_bytes(b)))
                .map_err(|_| self.malformed("a bigint not eight bytes long")),
        }
    }

    fn row(&mut self) -> Result<EngineRow<'a>, Malformed> {
        let count = self.take(2)?;
        if i16::from_be_bytes([count[0], count[1]]) != COLUMNS {
            return Err(self.malformed("a row of another number of columns"));
        }
        Ok(EngineRow {
            account_id: self.required_text()?,
            transaction_id: self.required_text()?,
            kept: self
                .boolean()?
                .ok_or_else(|| self.malformed("NULL where the ledger has none"))?,
            credit: self.boolean()?,
            amount: self.int8()?,
            currency: self.text()?,
            narration: self.text()?,
            description: self.text()?,
            reference: self.text()?,
            counterparty_name: self.text()?,
            counterparty_account: self.text()?,
            counterparty_bank: self.text()?,
            raw: self.text()?,
        })
    }
}

impl<'a> Iterator for Rows<'a> {
    type Item = Result<EngineRow<'a>, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.batch.len() {
            return None;
        }
        let row = self.row();
        if row.is_err() {
            // Nothing after a malformed row can be read.
            self.at = self.batch.len();
        }
        Some(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_mean_the_text_under_either_string_setting() {
        assert_eq!(quote_literal("acc_1").unwrap(), "'acc_1'");
        assert_eq!(quote_literal("o'brien").unwrap(), "'o''brien'");
        assert_eq!(quote_literal(r"a\'b").unwrap(), r"E'a\\''b'");
        assert_eq!(quote_literal("").unwrap(), "''");
        assert!(quote_literal("a\0b").is_err());
    }

    #[test]
    fn the_statement_names_only_what_the_scan_gives() {
        let env_id = Uuid::nil();
        let whole = Scan {
            env_id,
            account_id: None,
            from: None,
            to: None,
            pages: None,
        };
        let statement = whole.copy_statement().unwrap();
        assert!(statement
            .ends_with("WHERE env_id = '00000000-0000-0000-0000-000000000000') TO STDOUT (FORMAT binary)"));
        let from = "2026-01-02T03:04:05Z".parse().unwrap();
        let narrow = Scan {
            env_id,
            account_id: Some("a'b"),
            from: Some(from),
            to: None,
            pages: Some(3..u32::MAX),
        };
        let statement = narrow.copy_statement().unwrap();
        assert!(statement.contains(&format!(
            "WHERE ctid >= '(3,0)'::tid AND ctid < '({},0)'::tid AND env_id = '{env_id}' AND account_id = 'a''b' \
             AND tx_date >= '2026-01-02T03:04:05Z'::timestamptz)",
            u32::MAX
        )));
    }
}
