//! Keyword matching (spec "Text matching"): a keyword matches when a word of the text starts
//! with it, case-insensitively; a keyword of several words matches those words in a row, the
//! last by prefix. All keywords of the three lists share one Aho-Corasick automaton.
//!
//! How: the automaton holds the distinct FIRST words of the keywords (word normal form) and
//! runs ASCII-case-insensitive, leftmost-longest, straight over ASCII text: no lowercased
//! copy. A hit counts only at a word start; the keywords whose first word is a prefix of the
//! hit are then checked word by word. Leftmost-longest loses nothing: patterns are single
//! words, so a match never spans a separator and cannot hide one that starts a later word,
//! and every pattern matching at the same start is a prefix of the longest. Text with any
//! non-ASCII byte is first rewritten into the word normal form (`text::push_normalized`:
//! lowercased words, single spaces) and scanned the same way, separators being spaces.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use super::policy::Settings;
use super::text::{normalize_phrase, push_normalized};

/// Bits of [`KeywordHits::lists`].
pub(crate) const BUSINESS: u8 = 1;
pub(crate) const PERSONAL: u8 = 2;
pub(crate) const REFUND: u8 = 4;

const NO_SPELLING: u32 = u32::MAX;

/// What a scan found.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct KeywordHits {
    /// Which lists fired ([`BUSINESS`], [`PERSONAL`], [`REFUND`] bits).
    pub lists: u8,
}

#[derive(Debug)]
pub(crate) struct KeywordMatcher {
    /// Distinct first words; `None` when every list is empty.
    automaton: Option<AhoCorasick>,
    /// Per automaton pattern: the keywords whose first word is a prefix of it.
    candidates: Vec<Vec<u32>>,
    keywords: Vec<Keyword>,
    /// Reported spellings in report order: business, personal, refund, configured order.
    spellings: Vec<String>,
}

#[derive(Debug)]
struct Keyword {
    /// Word normal form, split into words.
    words: Vec<String>,
    lists: u8,
    /// Per list, the index of its configured spelling in `spellings`.
    spelling: [u32; 3],
}

impl KeywordMatcher {
    pub(crate) fn build(settings: &Settings) -> KeywordMatcher {
        let mut keywords: Vec<Keyword> = Vec::new();
        let mut spellings: Vec<String> = Vec::new();
        let lists = [
            (BUSINESS, &settings.business_keywords),
            (PERSONAL, &settings.personal_keywords),
            (REFUND, &settings.refund_keywords),
        ];
        for (slot, (bit, list)) in lists.into_iter().enumerate() {
            for configured in list.iter() {
                let spelling = configured.trim();
                let phrase = normalize_phrase(spelling);
                let words: Vec<String> = phrase.split(' ').map(str::to_owned).collect();
                if phrase.is_empty() {
                    continue; // validation refuses these; never match rather than misbehave
                }
                let at = match keywords.iter().position(|k| k.words == words) {
                    Some(at) => at,
                    None => {
                        keywords.push(Keyword {
                            words,
                            lists: 0,
                            spelling: [NO_SPELLING; 3],
                        });
                        keywords.len() - 1
                    }
                };
                let keyword = &mut keywords[at];
                if keyword.lists & bit == 0 {
                    keyword.lists |= bit;
                    // One report per distinct spelling, even across lists.
                    let index = spellings.iter().position(|s| s == spelling).unwrap_or_else(|| {
                        spellings.push(spelling.to_owned());
                        spellings.len() - 1
                    });
                    keyword.spelling[slot] = index as u32;
                }
            }
        }

        let mut firsts: Vec<&str> = keywords.iter().map(|k| k.words[0].as_str()).collect();
        firsts.sort_unstable();
        firsts.dedup();
        let candidates = firsts
            .iter()
            .map(|first| {
                (0..keywords.len() as u32)
                    .filter(|&k| first.starts_with(keywords[k as usize].words[0].as_str()))
                    .collect()
            })
            .collect();
        let automaton = if firsts.is_empty() {
            None
        } else {
            AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostLongest)
                .ascii_case_insensitive(true)
                .build(&firsts)
                .ok()
        };
        KeywordMatcher {
            automaton,
            candidates,
            keywords,
            spellings,
        }
    }

    /// Scans `text` (narration, description and tags joined by single spaces). Spelling
    /// indexes of the keywords that fired are appended to `found`; `buf` holds the word
    /// normal form when the text is not ASCII.
    pub(crate) fn scan(&self, text: &str, buf: &mut String, found: &mut Vec<u32>) -> KeywordHits {
        let Some(automaton) = &self.automaton else {
            return KeywordHits::default();
        };
        if text.is_ascii() {
            self.scan_with(automaton, text.as_bytes(), |b| !b.is_ascii_alphanumeric(), found)
        } else {
            buf.clear();
            push_normalized(text, buf);
            self.scan_with(automaton, buf.as_bytes(), |b| b == b' ', found)
        }
    }

    /// `is_separator` tells word separators: any non-alphanumeric byte in ASCII text, the
    /// single space in normal-form text (where no separator is anything but a space).
    fn scan_with(
        &self,
        automaton: &AhoCorasick,
        text: &[u8],
        is_separator: impl Fn(u8) -> bool + Copy,
        found: &mut Vec<u32>,
    ) -> KeywordHits {
        let mut hits = KeywordHits::default();
        for m in automaton.find_iter(text) {
            let start = m.start();
            if start > 0 && !text.get(start - 1).copied().is_some_and(is_separator) {
                continue;
            }
            let Some(candidates) = self.candidates.get(m.pattern().as_usize()) else {
                continue;
            };
            for &k in candidates {
                let Some(keyword) = self.keywords.get(k as usize) else {
                    continue;
                };
                if words_match(text, start, &keyword.words, is_separator) {
                    hits.lists |= keyword.lists;
                    found.extend(keyword.spelling.iter().copied().filter(|&s| s != NO_SPELLING));
                }
            }
        }
        hits
    }

    /// The spellings of `found`, in report order, without repeats. Sorts `found`.
    pub(crate) fn spellings_of(&self, found: &mut [u32]) -> Vec<String> {
        if found.is_empty() {
            return Vec::new();
        }
        found.sort_unstable();
        let mut out: Vec<String> = Vec::with_capacity(found.len());
        let mut last = NO_SPELLING;
        for &index in found.iter() {
            if index != last {
                last = index;
                if let Some(spelling) = self.spellings.get(index as usize) {
                    out.push(spelling.clone());
                }
            }
        }
        out
    }
}

/// Whether `words` (lowercase) match the text's words from byte `start` (a word start) on:
/// all but the last whole, the last by prefix.
fn words_match(text: &[u8], start: usize, words: &[String], is_separator: impl Fn(u8) -> bool) -> bool {
    let mut at = start;
    for (i, word) in words.iter().enumerate() {
        let word = word.as_bytes();
        let end = at + word.len();
        match text.get(at..end) {
            Some(piece) if piece.eq_ignore_ascii_case(word) => {}
            _ => return false,
        }
        if i + 1 == words.len() {
            return true;
        }
        // A word before the last must end here, and another word must follow.
        match text.get(end) {
            Some(&b) if is_separator(b) => {}
            _ => return false,
        }
        at = end;
        while text.get(at).copied().is_some_and(&is_separator) {
            at += 1;
        }
        if at == text.len() {
            return false;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(business: &[&str], personal: &[&str], refund: &[&str]) -> KeywordMatcher {
        let owned = |list: &[&str]| list.iter().map(|k| (*k).to_owned()).collect();
        KeywordMatcher::build(&Settings {
            business_keywords: owned(business),
            personal_keywords: owned(personal),
            refund_keywords: owned(refund),
            ..Settings::default()
        })
    }

    fn scan(matcher: &KeywordMatcher, text: &str) -> (u8, Vec<String>) {
        let mut found = Vec::new();
        let hits = matcher.scan(text, &mut String::new(), &mut found);
        (hits.lists, matcher.spellings_of(&mut found))
    }

    #[test]
    fn keywords_match_word_prefixes_only() {
        let m = KeywordMatcher::build(&Settings::default());
        assert_eq!(scan(&m, "PAYMENTS received"), (BUSINESS, vec!["payment".into()]));
        assert_eq!(scan(&m, "prepayment for goods").0, 0);
        assert_eq!(scan(&m, "POCKET MONEY for June").0, PERSONAL);
        assert_eq!(scan(&m, "pocket/money").0, PERSONAL);
        assert_eq!(scan(&m, "pocket -- moneys").0, PERSONAL);
        assert_eq!(scan(&m, "pocket knife").0, 0);
        assert_eq!(scan(&m, "pockets money").0, 0);
        assert_eq!(scan(&m, "pocketmoney").0, 0);
        assert_eq!(scan(&m, "money pocket").0, 0);
        assert_eq!(scan(&m, "pocket").0, 0);
        assert_eq!(scan(&m, "pocket ").0, 0);
        assert_eq!(
            scan(&m, "Loan-repayment INVOICE"),
            (BUSINESS | PERSONAL, vec!["invoice".into(), "loan".into()])
        );
        assert_eq!(scan(&m, "NIP/GTB/JOHN DOE/school fees").0, PERSONAL);
        assert_eq!(scan(&m, "REVERSAL").0, REFUND);
        assert_eq!(scan(&m, "").0, 0);
    }

    #[test]
    fn keywords_match_unicode_words() {
        let m = matcher(&["Paiement", "école"], &["подарок"], &[]);
        assert_eq!(scan(&m, "PAIEMENTS facture").0, BUSINESS);
        assert_eq!(scan(&m, "ÉCOLE privée"), (BUSINESS, vec!["école".into()]));
        assert_eq!(scan(&m, "préécole").0, 0);
        assert_eq!(scan(&m, "ПОДАРОК маме").0, PERSONAL);
        // Non-ASCII elsewhere in the text moves the scan to the normal form: same answers.
        assert_eq!(scan(&m, "paiement reçu").0, BUSINESS);
        assert_eq!(scan(&m, "prépaiement").0, 0);
        assert_eq!(scan(&m, "é paiement").0, BUSINESS);
    }

    #[test]
    fn non_ascii_separators_and_letters() {
        let m = KeywordMatcher::build(&Settings::default());
        // A non-ASCII letter glued to the front makes it another word.
        assert_eq!(scan(&m, "ÉPAYMENT").0, 0);
        // A non-ASCII separator separates.
        assert_eq!(scan(&m, "pocket—money").0, PERSONAL);
        assert_eq!(scan(&m, "«gift»").0, PERSONAL);
        assert_eq!(scan(&m, "pocket ñ money").0, 0);
    }

    #[test]
    fn shared_prefix_keywords_all_fire() {
        let m = matcher(
            &["pay", "payment", "Pay", "school"],
            &["payment", "school fees"],
            &[],
        );
        assert_eq!(
            scan(&m, "payments"),
            (BUSINESS | PERSONAL, vec!["pay".into(), "payment".into()])
        );
        assert_eq!(
            scan(&m, "SCHOOL FEES"),
            (BUSINESS | PERSONAL, vec!["school".into(), "school fees".into()])
        );
        assert_eq!(scan(&m, "schoolfees"), (BUSINESS, vec!["school".into()]));
    }

    #[test]
    fn empty_lists_match_nothing() {
        let m = matcher(&[], &[], &[]);
        assert_eq!(scan(&m, "invoice payment"), (0, Vec::new()));
    }
}
