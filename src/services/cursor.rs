//! The sync cursor: where the next sync of an account resumes.
//!
//! Mono lists transactions newest first, page by page, and new ones can arrive between two
//! page requests. New arrivals only push older items onto later pages, so walking pages
//! forward never skips one; at worst a page repeats items, which the ledger's unique key
//! turns into duplicates. A pass walks every page of a date window starting at `start`;
//! when it ends, the next pass starts a little before the newest date seen (`high_water`),
//! so late postings dated a day or two back are still picked up.
//!
//! Text form, opaque to clients: `v1.<start>.<page>.<high_water>` with dates as YYYYMMDD
//! and `-` for none, e.g. `v1.-.3.20250530` (third page of the first full pass).

use chrono::{Days, NaiveDate};

/// Days re-read before the newest date seen, for transactions posted late.
pub const OVERLAP_DAYS: u64 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cursor {
    /// First day of the window; None = the whole history.
    pub start: Option<NaiveDate>,
    /// Next page to fetch (1-based).
    pub page: u32,
    /// Newest transaction date seen so far.
    pub high_water: Option<NaiveDate>,
}

impl Cursor {
    pub fn initial() -> Self {
        Cursor {
            start: None,
            page: 1,
            high_water: None,
        }
    }

    /// After a page was stored: the next page of the same pass.
    pub fn next_page(self, page_newest: Option<NaiveDate>) -> Self {
        Cursor {
            page: self.page + 1,
            high_water: max_date(self.high_water, page_newest),
            ..self
        }
    }

    /// After the last page of a pass: a new pass from just before the newest date seen.
    pub fn pass_done(self, page_newest: Option<NaiveDate>) -> Self {
        let high_water = max_date(self.high_water, page_newest);
        Cursor {
            start: high_water
                .map(|d| d.checked_sub_days(Days::new(OVERLAP_DAYS)).unwrap_or(d))
                .or(self.start),
            page: 1,
            high_water,
        }
    }

    pub fn encode(&self) -> String {
        format!(
            "v1.{}.{}.{}",
            fmt_date(self.start),
            self.page,
            fmt_date(self.high_water)
        )
    }

    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().split('.');
        if parts.next()? != "v1" {
            return None;
        }
        let start = parse_date(parts.next()?)?;
        let page: u32 = parts.next()?.parse().ok().filter(|p| *p >= 1)?;
        let high_water = parse_date(parts.next()?)?;
        if parts.next().is_some() {
            return None;
        }
        Some(Cursor {
            start,
            page,
            high_water,
        })
    }
}

fn max_date(a: Option<NaiveDate>, b: Option<NaiveDate>) -> Option<NaiveDate> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn fmt_date(d: Option<NaiveDate>) -> String {
    d.map(|d| d.format("%Y%m%d").to_string())
        .unwrap_or_else(|| "-".into())
}

/// `-` is None; anything else must be a YYYYMMDD date.
fn parse_date(s: &str) -> Option<Option<NaiveDate>> {
    if s == "-" {
        return Some(None);
    }
    NaiveDate::parse_from_str(s, "%Y%m%d").ok().map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn round_trips_through_text() {
        for c in [
            Cursor::initial(),
            Cursor {
                start: Some(d("2025-05-28")),
                page: 7,
                high_water: Some(d("2025-05-30")),
            },
        ] {
            assert_eq!(Cursor::parse(&c.encode()), Some(c));
        }
        assert_eq!(Cursor::initial().encode(), "v1.-.1.-");
    }

    #[test]
    fn rejects_anything_else() {
        for bad in [
            "",
            "v2.-.1.-",
            "v1.-.0.-",
            "v1.x.1.-",
            "v1.-.1",
            "v1.-.1.-.9",
            "v1.20251340.1.-",
        ] {
            assert_eq!(Cursor::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_pass_ends_with_a_window_overlapping_the_newest_date() {
        let c = Cursor::initial()
            .next_page(Some(d("2025-05-30")))
            .next_page(Some(d("2025-04-01")));
        assert_eq!(c.page, 3);
        let done = c.pass_done(None);
        assert_eq!(done.page, 1);
        assert_eq!(done.high_water, Some(d("2025-05-30")));
        assert_eq!(done.start, Some(d("2025-05-28")));
        // An empty pass keeps its window.
        assert_eq!(done.pass_done(None).start, Some(d("2025-05-28")));
    }
}
