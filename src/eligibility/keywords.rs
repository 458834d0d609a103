//! Keyword matching (spec "Text matching"): a keyword matches when a word of the text starts
//! with it, case-insensitively; a keyword of several words matches those words in a row, the
//! last by prefix.
//!
//! All keywords of the three lists go, in word normal form ("pocket money"), into ONE
//! Aho-Corasick automaton built for anchored search and ASCII case-insensitivity. Matching
//! can only start at a word start, so instead of an unanchored pass over every byte, the
//! automaton is walked from each word start until it dies (usually after a byte or two):
//! a pattern is found exactly when it is a prefix of the text's word normal form from that
//! word on, which is the spec's rule (whole earlier words, last word by prefix). ASCII text
//! is walked as it stands, a run of separators fed as one space: no lowercased copy. Text
//! with any non-ASCII byte is first rewritten into its word normal form
//! (`text::push_normalized`) and walked the same way.

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::{dfa, nfa::contiguous, Anchored, MatchKind, StartKind};

use super::policy::Settings;
use super::text::{normalize_phrase, push_normalized};

/// Bits of [`KeywordHits::lists`].
pub(crate) const BUSINESS: u8 = 1;
pub(crate) const PERSONAL: u8 = 2;
pub(crate) const REFUND: u8 = 4;

const NO_SPELLING: u32 = u32::MAX;

/// Past this many pattern bytes the dense DFA (fastest, but one row of transitions per
/// state) gives way to the compact contiguous NFA, bounding memory for huge keyword lists.
const DFA_MAX_PATTERN_BYTES: usize = 4096;

/// What a scan found.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct KeywordHits {
    /// Which lists fired ([`BUSINESS`], [`PERSONAL`], [`REFUND`] bits).
    pub lists: u8,
}

#[derive(Debug)]
pub(crate) struct KeywordMatcher {
    /// Pattern `i` is `keywords[i]` in word normal form; `None` when every list is empty.
    automaton: Option<KeywordAutomaton>,
    keywords: Vec<Keyword>,
    /// Reported spellings in report order: business, personal, refund, configured order.
    spellings: Vec<String>,
}

#[derive(Debug)]
struct KeywordAutomaton {
    kind: AutomatonKind,
    /// Byte classes for each text form; words whose first byte starts no keyword are
    /// skipped without walking.
    ascii_classes: [u8; 256],
    normal_classes: [u8; 256],
}

#[derive(Debug)]
enum AutomatonKind {
    Dfa(dfa::DFA),
    Nfa(contiguous::NFA),
}

#[derive(Debug)]
struct Keyword {
    lists: u8,
    /// Per list, the index of its configured spelling in `spellings`.
    spelling: [u32; 3],
}

impl KeywordMatcher {
    pub(crate) fn build(settings: &Settings) -> KeywordMatcher {
        let mut phrases: Vec<String> = Vec::new();
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
                if phrase.is_empty() {
                    continue; // validation refuses these; never match rather than misbehave
                }
                let at = match phrases.iter().position(|p| *p == phrase) {
                    Some(at) => at,
                    None => {
                        phrases.push(phrase);
                        keywords.push(Keyword {
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
        KeywordMatcher {
            automaton: build_automaton(&phrases),
            keywords,
            spellings,
        }
    }

    /// Scans `text` (narration, description and tags joined by single spaces). Spelling
    /// indexes of the keywords that fired are appended to `found`; `buf` receives the word
    /// normal form when the text is not ASCII.
    pub(crate) fn scan(&self, text: &str, buf: &mut String, found: &mut Vec<u32>) -> KeywordHits {
        let mut hits = KeywordHits::default();
        let mut on_match = |pattern: usize| {
            if let Some(keyword) = self.keywords.get(pattern) {
                hits.lists |= keyword.lists;
                found.extend(keyword.spelling.iter().copied().filter(|&s| s != NO_SPELLING));
            }
        };
        let Some(automaton) = &self.automaton else {
            return hits;
        };
        if text.is_ascii() {
            automaton.scan(text.as_bytes(), Form::Ascii, &mut on_match);
        } else {
            buf.clear();
            push_normalized(text, buf);
            automaton.scan(buf.as_bytes(), Form::Normal, &mut on_match);
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

/// Byte classes of a scan: separators end words; a word byte may or may not start a keyword.
const SEPARATOR: u8 = 0;
const WORD: u8 = 1;
const START: u8 = 2;

/// Which text a scan walks.
#[derive(Debug, Clone, Copy)]
enum Form {
    /// ASCII text as received: any non-alphanumeric byte separates.
    Ascii,
    /// Word normal form: only the single space separates (lowercasing can yield
    /// non-letters inside a word).
    Normal,
}

impl KeywordAutomaton {
    fn scan(&self, text: &[u8], form: Form, on_match: &mut impl FnMut(usize)) {
        let classes = match form {
            Form::Ascii => &self.ascii_classes,
            Form::Normal => &self.normal_classes,
        };
        match &self.kind {
            AutomatonKind::Dfa(aut) => scan_words(aut, classes, text, on_match),
            AutomatonKind::Nfa(aut) => scan_words(aut, classes, text, on_match),
        }
    }
}

/// Per byte: its class, given the bytes some keyword starts with (either case).
fn byte_classes<A: Automaton>(aut: &A, form: Form) -> [u8; 256] {
    let start = aut.start_state(Anchored::Yes).ok();
    let mut classes = [SEPARATOR; 256];
    for (byte, class) in (0..=u8::MAX).zip(classes.iter_mut()) {
        let separates = match form {
            Form::Ascii => !byte.is_ascii_alphanumeric(),
            Form::Normal => byte == b' ',
        };
        let starts = start.is_some_and(|start| !aut.is_dead(aut.next_state(Anchored::Yes, start, byte)));
        *class = match (separates, starts) {
            (true, _) => SEPARATOR,
            (false, true) => START,
            (false, false) => WORD,
        };
    }
    classes
}

fn build_automaton(phrases: &[String]) -> Option<KeywordAutomaton> {
    if phrases.is_empty() {
        return None;
    }
    let total: usize = phrases.iter().map(String::len).sum();
    // Validated keywords cannot fail to build; if the library ever refused, match nothing
    // rather than fail every decision.
    let kind = if total <= DFA_MAX_PATTERN_BYTES {
        dfa::DFA::builder()
            .match_kind(MatchKind::Standard)
            .start_kind(StartKind::Anchored)
            .ascii_case_insensitive(true)
            .build(phrases)
            .map(AutomatonKind::Dfa)
            .ok()?
    } else {
        contiguous::NFA::builder()
            .match_kind(MatchKind::Standard)
            .ascii_case_insensitive(true)
            .build(phrases)
            .map(AutomatonKind::Nfa)
            .ok()?
    };
    let (ascii_classes, normal_classes) = match &kind {
        AutomatonKind::Dfa(aut) => (byte_classes(aut, Form::Ascii), byte_classes(aut, Form::Normal)),
        AutomatonKind::Nfa(aut) => (byte_classes(aut, Form::Ascii), byte_classes(aut, Form::Normal)),
    };
    Some(KeywordAutomaton {
        kind,
        ascii_classes,
        normal_classes,
    })
}

/// Walks the anchored automaton from every word start of `text` whose first byte can start
/// a keyword, calling `on_match` with each pattern that is a prefix of the text's word
/// normal form from there.
fn scan_words<A: Automaton>(aut: &A, classes: &[u8; 256], text: &[u8], on_match: &mut impl FnMut(usize)) {
    let Ok(start) = aut.start_state(Anchored::Yes) else {
        return;
    };
    let len = text.len();
    let mut at = 0;
    while at < len {
        let class = classes[usize::from(text[at])];
        if class == SEPARATOR {
            at += 1;
            continue;
        }
        if class == START {
            walk(aut, start, classes, text, at, on_match);
        }
        at += 1;
        while at < len && classes[usize::from(text[at])] != SEPARATOR {
            at += 1;
        }
    }
}

fn walk<A: Automaton>(
    aut: &A,
    start: StateID,
    classes: &[u8; 256],
    text: &[u8],
    from: usize,
    on_match: &mut impl FnMut(usize),
) {
    let len = text.len();
    let mut state = start;
    // Bytes fed so far: the length of the word-normal-form prefix walked.
    let mut depth = 0;
    let mut at = from;
    while at < len {
        let byte = text[at];
        if classes[usize::from(byte)] == SEPARATOR {
            // A run of separators is one space in the normal form.
            while at < len && classes[usize::from(text[at])] == SEPARATOR {
                at += 1;
            }
            if at == len {
                return; // trailing separators: no pattern ends in a space
            }
            state = aut.next_state(Anchored::Yes, state, b' ');
        } else {
            state = aut.next_state(Anchored::Yes, state, byte);
            at += 1;
        }
        depth += 1;
        if aut.is_special(state) {
            if aut.is_dead(state) {
                return;
            }
            if aut.is_match(state) {
                for index in 0..aut.match_len(state) {
                    let pattern = aut.match_pattern(state, index);
                    // Match states also list patterns that are proper suffixes of the
                    // path (unanchored bookkeeping); only whole-path ones start here.
                    if aut.pattern_len(pattern) == depth {
                        on_match(pattern.as_usize());
                    }
                }
            }
        }
    }
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
    fn suffix_matches_do_not_count() {
        // "xpayz" shares states with "pay"; walking "xpay" must not report "pay".
        let m = matcher(&["xpayz", "pay"], &[], &[]);
        assert_eq!(scan(&m, "xpay"), (0, Vec::new()));
        assert_eq!(scan(&m, "xpay pay"), (BUSINESS, vec!["pay".into()]));
        assert_eq!(scan(&m, "XPAYZED"), (BUSINESS, vec!["xpayz".into()]));
    }

    #[test]
    fn huge_keyword_lists_use_the_compact_automaton() {
        let many: Vec<String> = (0..150)
            .map(|i| format!("keyword{i:03}{}", "x".repeat(40)))
            .collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let m = matcher(&refs, &["pocket money"], &[]);
        assert!(matches!(
            m.automaton,
            Some(KeywordAutomaton {
                kind: AutomatonKind::Nfa(_),
                ..
            })
        ));
        assert_eq!(scan(&m, &format!("KEYWORD042{}S", "X".repeat(40))).0, BUSINESS);
        assert_eq!(scan(&m, "keyword042").0, 0);
        assert_eq!(scan(&m, "pocket/money").0, PERSONAL);
        assert_eq!(scan(&m, "xkeyword042").0, 0);
        let small = matcher(&["invoice"], &[], &[]);
        assert!(matches!(
            small.automaton,
            Some(KeywordAutomaton {
                kind: AutomatonKind::Dfa(_),
                ..
            })
        ));
    }

    #[test]
    fn empty_lists_match_nothing() {
        let m = matcher(&[], &[], &[]);
        assert_eq!(scan(&m, "invoice payment"), (0, Vec::new()));
    }
}
