//! The sync cursor: where the next sync of an account resumes.
//!
//! Mono lists transactions newest first, page by page, and new ones can arrive between two
//! page requests. New arrivals only push older items to later positions, so walking forward
//! never skips one; at worst an item is read twice, which the ledger's unique key turns into a
//! duplicate. A pass walks a date window starting at `start`; when it ends, the next pass
//! starts a little before the newest date seen (`high_water`), so late postings dated a day
//! or two back are still picked up.
//!
//! The position is an `offset` into the window, not a page number, so a sync resumes at the
//! right transaction whatever page size the next call uses: the offset becomes Mono's
//! `page`/`limit` for each call, and the items of that page before the offset are dropped.
//!
//! Text form, opaque to clients: `v2.<start>.<offset>.<high_water>` with dates as YYYYMMDD and
//! `-` for none, e.g. `v2.-.300.20250530`. A `v1.<start>.<page>.<high_water>` cursor of an
//! earlier version (whose page size was not recorded) resumes its window from offset 0: the
//! window is read again and the ledger drops what was already decided, so nothing is lost.

use chrono::{Days, NaiveDate};

/// Days re-read before the newest date seen, for transactions posted late.
pub const OVERLAP_DAYS: u64 = 2;
/// How far past today (UTC) a transaction date may move the high-water mark.
pub const FUTURE_SLACK_DAYS: u64 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cursor {
    /// First day of the window; None = the whole history.
    pub start: Option<NaiveDate>,
    /// Items of the window already walked in this pass.
    pub offset: u64,
    /// Newest transaction date seen so far, never past today plus [`FUTURE_SLACK_DAYS`].
    pub high_water: Option<NaiveDate>,
}

/// Where to ask Mono for the page that holds `offset`, with a given page size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// 1-based Mono page.
    pub page: u32,
    pub limit: u32,
    /// Items at the top of that page already walked.
    pub skip: usize,
    /// The window offset of the page's first item.
    pub page_start: u64,
}

impl Cursor {
    pub fn initial() -> Self {
        Cursor::default()
    }

    /// The Mono page holding this cursor's position under `page_size`.
    pub fn page_request(&self, page_size: u32) -> PageRequest {
        let size = u64::from(page_size.max(1));
        let index = self.offset / size;
        PageRequest {
            page: u32::try_from(index + 1).unwrap_or(u32::MAX),
            limit: page_size.max(1),
            skip: (self.offset % size) as usize,
            page_start: index * size,
        }
    }

    /// After items up to window offset `walked_to` were stored: same pass, further on.
    pub fn advance(self, walked_to: u64, newest: Option<NaiveDate>, today: NaiveDate) -> Self {
        Cursor {
            offset: walked_to.max(self.offset),
            high_water: clamp(max_date(self.high_water, newest), today),
            ..self
        }
    }

    /// After the last page of a pass: a new pass from just before the newest date seen.
    pub fn pass_done(self, newest: Option<NaiveDate>, today: NaiveDate) -> Self {
        let high_water = clamp(max_date(self.high_water, newest), today);
        Cursor {
            start: high_water
                .map(|d| d.checked_sub_days(Days::new(OVERLAP_DAYS)).unwrap_or(d))
                .or(self.start),
            offset: 0,
            high_water,
        }
    }

    pub fn encode(&self) -> String {
        format!(
            "v2.{}.{}.{}",
            fmt_date(self.start),
            self.offset,
            fmt_date(self.high_water)
        )
    }

    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().split('.');
        let version = parts.next()?;
        let start = parse_date(parts.next()?)?;
        let position = parts.next()?;
        let high_water = parse_date(parts.next()?)?;
        if parts.next().is_some() {
            return None;
        }
        let offset = match version {
            // Bounded so that no client-supplied offset can overflow a page computation.
            "v2" => position
                .parse::<u64>()
                .ok()
                .filter(|o| *o <= u64::from(u32::MAX))?,
            // A page number whose page size is unknown: re-read the window from its start.
            "v1" => {
                position.parse::<u32>().ok().filter(|p| *p >= 1)?;
                0
            }
            _ => return None,
        };
        Some(Cursor {
            start,
            offset,
            high_water,
        })
    }
}

fn clamp(date: Option<NaiveDate>, today: NaiveDate) -> Option<NaiveDate> {
    let limit = today
        .checked_add_days(Days::new(FUTURE_SLACK_DAYS))
        .unwrap_or(today);
    date.map(|d| d.min(limit))
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

    const TODAY: &str = "2025-06-01";

    #[test]
    fn round_trips_through_text() {
        for c in [
            Cursor::initial(),
            Cursor {
                start: Some(d("2025-05-28")),
                offset: 700,
                high_water: Some(d("2025-05-30")),
            },
        ] {
            assert_eq!(Cursor::parse(&c.encode()), Some(c));
        }
        assert_eq!(Cursor::initial().encode(), "v2.-.0.-");
    }

    #[test]
    fn rejects_anything_else() {
        for bad in [
            "",
            "v3.-.1.-",
            "v1.-.0.-",
            "v1.x.1.-",
            "v2.-.1",
            "v2.-.-1.-",
            "v2.-.1.-.9",
            "v2.20251340.1.-",
            "v2.-.99999999999999999999.-",
            "v2.-.18446744073709551615.-",
        ] {
            assert_eq!(Cursor::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_old_page_cursor_re_reads_its_window() {
        let c = Cursor::parse("v1.20250528.7.20250530").unwrap();
        assert_eq!(c.start, Some(d("2025-05-28")));
        assert_eq!(c.offset, 0);
        assert_eq!(c.high_water, Some(d("2025-05-30")));
    }

    #[test]
    fn the_offset_maps_onto_any_page_size() {
        let c = Cursor {
            offset: 120,
            ..Cursor::initial()
        };
        let small = c.page_request(20);
        assert_eq!((small.page, small.skip, small.page_start), (7, 0, 120));
        let large = c.page_request(100);
        assert_eq!((large.page, large.skip, large.page_start), (2, 20, 100));
        let huge = c.page_request(500);
        assert_eq!((huge.page, huge.skip, huge.page_start), (1, 120, 0));
    }

    #[test]
    fn a_pass_ends_with_a_window_overlapping_the_newest_date() {
        let today = d(TODAY);
        let c = Cursor::initial()
            .advance(100, Some(d("2025-05-30")), today)
            .advance(200, Some(d("2025-04-01")), today);
        assert_eq!(c.offset, 200);
        let done = c.pass_done(None, today);
        assert_eq!(done.offset, 0);
        assert_eq!(done.high_water, Some(d("2025-05-30")));
        assert_eq!(done.start, Some(d("2025-05-28")));
        // An empty pass keeps its window.
        assert_eq!(done.pass_done(None, today).start, Some(d("2025-05-28")));
    }

    #[test]
    fn a_forward_dated_transaction_does_not_move_the_window_into_the_future() {
        let today = d(TODAY);
        let done = Cursor::initial().pass_done(Some(d("2031-01-01")), today);
        assert_eq!(done.high_water, Some(d("2025-06-02")));
        assert_eq!(done.start, Some(d("2025-05-31")));
    }

    #[test]
    fn the_offset_never_moves_back() {
        let today = d(TODAY);
        let c = Cursor {
            offset: 50,
            ..Cursor::initial()
        };
        assert_eq!(c.advance(10, None, today).offset, 50);
    }
}
