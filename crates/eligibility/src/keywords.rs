//! Keyword matching (spec "Text matching"): a keyword matches when a word of the text starts
//! with it, case-insensitively; a keyword of several words matches those words in a row, the
//! last by prefix.
//!
//! ASCII text, the usual, is not walked here: the narration's literal search finds where
//! each keyword's first word occurs, and [`KeywordMatcher::keyword_at`] checks the keyword
//! there (`CompiledPolicy::scan_ascii_narration`). The walk below serves other text.
//!
//! Matching can only start at a word start, so the text is never passed over byte by byte
//! with an automaton: a pattern is found exactly when it is a prefix of the text's word
//! normal form from a word on, which is the spec's rule (whole earlier words, last word by
//! prefix). All keywords of the three lists, in word normal form ("pocket money"), are
//! indexed by their first two bytes ([`Openings`]): a word whose first two bytes open no
//! keyword (most words) is passed over after one bit test, and one that does is compared
//! with the few keywords that open so, a one-word keyword of up to 16 bytes as one or two
//! masked 8-byte words. When many keywords share an opening, the word walks ONE
//! Aho-Corasick automaton built for anchored search and ASCII case-insensitivity instead,
//! until it dies. ASCII text is read as it stands, its word starts found 8 bytes at a time
//! (`text::ascii_word_starts`) and a run of separators taken as one space: no lowercased
//! copy. Text with any non-ASCII byte is first rewritten into its word normal form
//! (`text::push_normalized`) and read the same way.

use std::ops::ControlFlow;

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::{dfa, nfa::contiguous, Anchored, MatchKind, StartKind};

use super::model::Keywords;
use super::policy::EligibilitySettings;
use super::text::{ascii_word_starts, normalize_phrase, push_normalized};

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

/// The word starts of the narration that may open a sender form (`NIP/`, `TRF`,
/// `TRANSFER`, `FRM`), in order, gathered by the one search of ASCII text
/// (`CompiledPolicy::scan_ascii_narration`: where a marker begins) or by the keyword walk
/// (a word starting with `n`, `t` or `f`), so the sender is found without walking the
/// narration again ([`crate::text::sender_at`]).
#[derive(Debug, Default)]
pub(crate) struct SenderStarts {
    /// Starts at or past this byte (the narration's length) are not gathered.
    pub limit: usize,
    pub starts: Vec<u32>,
    /// Whether `starts` holds every such start: the text was ASCII and walked.
    pub complete: bool,
}

#[derive(Debug)]
pub(crate) struct KeywordMatcher {
    /// Pattern `i` is `keywords[i]` in word normal form; `None` when every list is empty.
    automaton: Option<KeywordAutomaton>,
    /// Keyword `i` in word normal form.
    phrases: Vec<Box<[u8]>>,
    keywords: Vec<Keyword>,
    /// Reported spellings in report order: business, personal, refund, configured order.
    spellings: Vec<String>,
}

#[derive(Debug)]
struct KeywordAutomaton {
    kind: AutomatonKind,
    /// Each text form's bytes as the normal form has them.
    ascii_map: ByteMap,
    normal_map: ByteMap,
    openings: Openings,
}

#[derive(Debug)]
enum AutomatonKind {
    Dfa(dfa::DFA),
    Nfa(contiguous::NFA),
}

#[derive(Debug)]
struct Keyword {
    lists: u8,
    /// Whether the keyword has several words.
    several_words: bool,
    /// Per list, the index of its configured spelling in `spellings`.
    spelling: [u32; 3],
}

impl KeywordMatcher {
    pub(crate) fn build(settings: &EligibilitySettings) -> KeywordMatcher {
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
                        keywords.push(Keyword {
                            lists: 0,
                            several_words: phrase.contains(' '),
                            spelling: [NO_SPELLING; 3],
                        });
                        phrases.push(phrase);
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
            phrases: phrases.iter().map(|p| p.as_bytes().into()).collect(),
            keywords,
            spellings,
        }
    }

    /// Scans `text` (narration, description and tags joined by single spaces). Spelling
    /// indexes of the keywords that fired are appended to `found`; `buf` receives the word
    /// normal form when the text is not ASCII.
    #[cfg(test)]
    pub(crate) fn scan(&self, text: &str, buf: &mut String, found: &mut Vec<u32>) -> KeywordHits {
        let ascii = super::text::is_ascii(text);
        self.scan_marking(text, ascii, buf, found, &mut SenderStarts::default())
    }

    /// [`Self::scan`] of a text known to be ASCII or not (`ascii`), also gathering into
    /// `senders` the word starts before `senders.limit` that may open a sender form, when
    /// the walk sees them all.
    pub(crate) fn scan_marking(
        &self,
        text: &str,
        ascii: bool,
        buf: &mut String,
        found: &mut Vec<u32>,
        senders: &mut SenderStarts,
    ) -> KeywordHits {
        let mut hits = KeywordHits::default();
        senders.starts.clear();
        senders.complete = false;
        let mut on_match = |pattern: usize| {
            if let Some(keyword) = self.keywords.get(pattern) {
                hits.lists |= keyword.lists;
                found.extend(keyword.spelling.iter().copied().filter(|&s| s != NO_SPELLING));
            }
        };
        let Some(automaton) = &self.automaton else {
            return hits;
        };
        if ascii {
            automaton.scan(text.as_bytes(), Form::Ascii, &mut on_match, senders);
            senders.complete = true;
        } else {
            buf.clear();
            push_normalized(text, buf);
            automaton.scan(buf.as_bytes(), Form::Normal, &mut on_match, senders);
        }
        hits
    }

    /// The first word of every keyword in normal form, by keyword number: in ASCII text a
    /// keyword can only start where its first word occurs (see [`Self::keyword_at`]).
    pub(crate) fn first_words(&self) -> impl Iterator<Item = &[u8]> {
        self.phrases
            .iter()
            .map(|phrase| phrase.split(|&b| b == b' ').next().unwrap_or_default())
    }

    /// When keyword `number` matches ASCII `text` at `at` (a word start there, the keyword
    /// a prefix of the text's normal form from it), appends its spelling indexes to
    /// `found` and returns its list bits; else 0.
    #[inline]
    pub(crate) fn keyword_at(&self, text: &[u8], at: usize, number: usize, found: &mut Vec<u32>) -> u8 {
        let within_word = at > 0 && text.get(at - 1).is_some_and(u8::is_ascii_alphanumeric);
        let Some(keyword) = self.keywords.get(number).filter(|_| !within_word) else {
            return 0;
        };
        // The first word is there: a one-word keyword is all there.
        if keyword.several_words {
            let (Some(phrase), Some(automaton)) = (self.phrases.get(number), &self.automaton) else {
                return 0;
            };
            if !phrase_at(&automaton.ascii_map, text, at, phrase) {
                return 0;
            }
        }
        // Pushed one by one: a call to `extend` costs more than the one to three pushes.
        for &spelling in &keyword.spelling {
            if spelling != NO_SPELLING {
                found.push(spelling);
            }
        }
        keyword.lists
    }

    /// The spellings of `found`, in report order, without repeats. Sorts and dedups
    /// `found`.
    pub(crate) fn spellings_of(&self, found: &mut Vec<u32>) -> Keywords<'_> {
        match found[..] {
            [] => return Keywords::EMPTY,
            // One keyword in one list, the usual.
            [index] if (index as usize) < self.spellings.len() => {
                return Keywords::from_indexes(&self.spellings, std::iter::once(index));
            }
            _ => {}
        }
        found.sort_unstable();
        found.dedup();
        let known = found.partition_point(|&index| (index as usize) < self.spellings.len());
        Keywords::from_indexes(&self.spellings, found.iter().take(known).copied())
    }
}

/// Which text a scan walks.
#[derive(Debug, Clone, Copy)]
enum Form {
    /// ASCII text as received: any non-alphanumeric byte separates.
    Ascii,
    /// Word normal form: only the single space separates (lowercasing can yield
    /// non-letters inside a word).
    Normal,
}

/// A byte as the word normal form has it: ASCII-lowercased, or a space for a separator.
type ByteMap = [u8; 256];

fn byte_map(form: Form) -> ByteMap {
    let mut map = [b' '; 256];
    for (byte, mapped) in (0..=u8::MAX).zip(map.iter_mut()) {
        let separates = match form {
            Form::Ascii => !byte.is_ascii_alphanumeric(),
            Form::Normal => byte == b' ',
        };
        if !separates {
            *mapped = byte.to_ascii_lowercase();
        }
    }
    map
}

const OPENING_WORDS: usize = (1 << 16) / 64;

/// Past this many keywords sharing their first two bytes, a word that opens with them
/// walks the automaton rather than comparing each keyword in turn.
const MAX_COMPARED: usize = 8;

/// The keywords by their first two bytes in normal form (a one-byte keyword under every
/// second byte): a word whose first two bytes open no keyword is passed over at the cost
/// of one bit test, and one that does is compared with the few keywords that open so.
#[derive(Debug)]
struct Openings {
    /// Bit `a << 8 | b`: some keyword opens with `a b`.
    bits: Box<[u64; OPENING_WORDS]>,
    /// Per word of `bits`, how many bits the words before it have set.
    ranks: Box<[u32; OPENING_WORDS]>,
    /// Per opening, in order, where its keywords start in `compared` (one more entry at
    /// the end); an opening shared by more than [`MAX_COMPARED`] keywords has none there
    /// and is in `walked`.
    groups: Vec<u32>,
    compared: Vec<Compared>,
    /// Per opening: whether its words walk the automaton.
    walked: Vec<bool>,
}

/// A keyword compared directly with the text.
#[derive(Debug)]
struct Compared {
    pattern: u32,
    /// The keyword in normal form.
    phrase: Box<[u8]>,
    /// For a one-word keyword of at most 16 bytes, its bytes as two little-endian words
    /// (zero past the end), `0xff` per keyword byte, and `0x20` per ASCII letter: or-ed
    /// into the text, that makes either case of the letter equal the lowercase one.
    packed: Option<Packed>,
}

#[derive(Debug)]
struct Packed {
    words: [u64; 2],
    masks: [u64; 2],
    cases: [u64; 2],
}

impl Packed {
    fn new(phrase: &[u8]) -> Option<Packed> {
        if phrase.len() > 16 || phrase.contains(&b' ') {
            return None;
        }
        let mut bytes = [[0u8; 8]; 2];
        let mut masks = [[0u8; 8]; 2];
        let mut cases = [[0u8; 8]; 2];
        for (i, &byte) in phrase.iter().enumerate() {
            let (word, at) = (i / 8, i % 8);
            bytes[word][at] = byte;
            masks[word][at] = 0xff;
            if byte.is_ascii_lowercase() {
                cases[word][at] = 0x20;
            }
        }
        Some(Packed {
            words: bytes.map(u64::from_le_bytes),
            masks: masks.map(u64::from_le_bytes),
            cases: cases.map(u64::from_le_bytes),
        })
    }

    /// Whether the keyword is at `at` in `text`, when 8 or 16 bytes are left there to
    /// compare as words; `None` when fewer are.
    #[inline]
    fn matches(&self, text: &[u8], at: usize) -> Option<bool> {
        let word = |i: usize| {
            let window = text.get(at + 8 * i..at + 8 * i + 8)?;
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(window);
            Some((u64::from_le_bytes(bytes) | self.cases[i]) & self.masks[i] == self.words[i])
        };
        let first = word(0)?;
        if self.masks[1] == 0 || !first {
            return Some(first);
        }
        word(1)
    }
}

impl Openings {
    fn build(phrases: &[String]) -> Openings {
        let mut keyed: Vec<(usize, u32)> = Vec::new();
        for (number, phrase) in (0u32..).zip(phrases) {
            match *phrase.as_bytes() {
                [a] => keyed.extend((0..256).map(|b| (usize::from(a) << 8 | b, number))),
                [a, b, ..] => keyed.push((usize::from(a) << 8 | usize::from(b), number)),
                [] => {}
            }
        }
        keyed.sort_unstable();
        let mut bits = Box::new([0u64; OPENING_WORDS]);
        let mut groups = Vec::new();
        let mut compared = Vec::new();
        let mut walked = Vec::new();
        for run in keyed.chunk_by(|a, b| a.0 == b.0) {
            let key = run[0].0;
            bits[key >> 6] |= 1 << (key & 63);
            groups.push(compared.len() as u32);
            let walk = run.len() > MAX_COMPARED;
            walked.push(walk);
            if !walk {
                for &(_, number) in run {
                    let phrase = phrases.get(number as usize).map_or(&[][..], |p| p.as_bytes());
                    compared.push(Compared {
                        pattern: number,
                        phrase: phrase.into(),
                        packed: Packed::new(phrase),
                    });
                }
            }
        }
        groups.push(compared.len() as u32);
        let mut ranks = Box::new([0u32; OPENING_WORDS]);
        let mut below = 0;
        for (rank, word) in ranks.iter_mut().zip(bits.iter()) {
            *rank = below;
            below += word.count_ones();
        }
        Openings {
            bits,
            ranks,
            groups,
            compared,
            walked,
        }
    }

    /// The opening number of `a b`, when some keyword opens so.
    #[inline]
    fn find(&self, a: u8, b: u8) -> Option<usize> {
        let key = usize::from(a) << 8 | usize::from(b);
        let word = self.bits[key >> 6];
        let bit = key & 63;
        if word & (1 << bit) == 0 {
            return None;
        }
        Some(self.ranks[key >> 6] as usize + (word & ((1 << bit) - 1)).count_ones() as usize)
    }
}

impl KeywordAutomaton {
    fn scan(&self, text: &[u8], form: Form, on_match: &mut impl FnMut(usize), senders: &mut SenderStarts) {
        match &self.kind {
            AutomatonKind::Dfa(aut) => self.scan_with(aut, text, form, on_match, senders),
            AutomatonKind::Nfa(aut) => self.scan_with(aut, text, form, on_match, senders),
        }
    }

    /// Walks the word starts of `text`; on ASCII text as it stands, also gathers the sender
    /// starts.
    fn scan_with<A: Automaton>(
        &self,
        aut: &A,
        text: &[u8],
        form: Form,
        on_match: &mut impl FnMut(usize),
        senders: &mut SenderStarts,
    ) {
        let Ok(start) = aut.start_state(Anchored::Yes) else {
            return;
        };
        let map = match form {
            Form::Ascii => &self.ascii_map,
            Form::Normal => &self.normal_map,
        };
        let mut word_at = |at: usize| self.word_at(aut, start, map, text, at, on_match);
        match form {
            Form::Ascii => {
                let SenderStarts { limit, starts, .. } = senders;
                ascii_word_starts(text, |at| {
                    // `| 0x20` lowercases a letter; no other byte becomes `n`, `t` or `f`.
                    if at < *limit && matches!(text.get(at).map(|b| b | 0x20), Some(b'n' | b't' | b'f')) {
                        starts.push(at as u32);
                    }
                    word_at(at);
                    ControlFlow::<()>::Continue(())
                });
            }
            Form::Normal => {
                let mut after_space = true;
                for (at, &byte) in text.iter().enumerate() {
                    if after_space && byte != b' ' {
                        word_at(at);
                    }
                    after_space = byte == b' ';
                }
            }
        }
    }
}

impl KeywordAutomaton {
    /// Reports the keywords found at the word start `at`.
    #[inline(always)]
    fn word_at<A: Automaton>(
        &self,
        aut: &A,
        start: StateID,
        map: &ByteMap,
        text: &[u8],
        at: usize,
        on_match: &mut impl FnMut(usize),
    ) {
        let (Some(&a), b) = (text.get(at), text.get(at + 1).copied()) else {
            return;
        };
        // Past the end, a space: only a one-byte keyword can match there.
        let b = b.map_or(b' ', |b| map[usize::from(b)]);
        let Some(opening) = self.openings.find(map[usize::from(a)], b) else {
            return;
        };
        if self.openings.walked.get(opening).copied().unwrap_or(true) {
            walk(aut, start, map, text, at, on_match);
            return;
        }
        let (Some(&from), Some(&to)) = (
            self.openings.groups.get(opening),
            self.openings.groups.get(opening + 1),
        ) else {
            return;
        };
        for keyword in self
            .openings
            .compared
            .get(from as usize..to as usize)
            .unwrap_or_default()
        {
            let found = match keyword.packed.as_ref().and_then(|p| p.matches(text, at)) {
                Some(found) => found,
                None => phrase_at(map, text, at, &keyword.phrase),
            };
            if found {
                on_match(keyword.pattern as usize);
            }
        }
    }
}

/// Whether `phrase` (normal form) is a prefix of the normal form of `text` from `at`.
fn phrase_at(map: &ByteMap, text: &[u8], at: usize, phrase: &[u8]) -> bool {
    let mut i = at;
    for &expected in phrase {
        if expected == b' ' {
            // One space of the phrase is a run of separators in the text, followed by
            // more text.
            let run = i;
            while text.get(i).is_some_and(|&b| map[usize::from(b)] == b' ') {
                i += 1;
            }
            if i == run || i == text.len() {
                return false;
            }
        } else {
            if text.get(i).map(|&b| map[usize::from(b)]) != Some(expected) {
                return false;
            }
            i += 1;
        }
    }
    true
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
    Some(KeywordAutomaton {
        kind,
        ascii_map: byte_map(Form::Ascii),
        normal_map: byte_map(Form::Normal),
        openings: Openings::build(phrases),
    })
}

/// Walks the anchored automaton from the word start `from`, calling `on_match` with each
/// pattern that is a prefix of the text's word normal form from there.
fn walk<A: Automaton>(
    aut: &A,
    start: StateID,
    map: &ByteMap,
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
        let byte = map[usize::from(text[at])];
        if byte == b' ' {
            // A run of separators is one space in the normal form.
            while at < len && map[usize::from(text[at])] == b' ' {
                at += 1;
            }
            if at == len {
                return; // trailing separators: no pattern ends in a space
            }
        } else {
            at += 1;
        }
        state = aut.next_state(Anchored::Yes, state, byte);
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
        KeywordMatcher::build(&EligibilitySettings {
            business_keywords: owned(business),
            personal_keywords: owned(personal),
            refund_keywords: owned(refund),
            ..EligibilitySettings::default()
        })
    }

    fn scan(matcher: &KeywordMatcher, text: &str) -> (u8, Vec<String>) {
        let mut found = Vec::new();
        let hits = matcher.scan(text, &mut String::new(), &mut found);
        (hits.lists, matcher.spellings_of(&mut found).to_vec())
    }

    #[test]
    fn keywords_match_word_prefixes_only() {
        let m = KeywordMatcher::build(&EligibilitySettings::default());
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
        let m = KeywordMatcher::build(&EligibilitySettings::default());
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

    #[test]
    fn compared_keywords_near_the_end_of_the_text_and_of_every_length() {
        let keywords = [
            "pay",
            "payment12",
            "subscriptions123",
            "settlementsettlement",
            "x",
        ];
        let m = matcher(&keywords, &[], &[]);
        let found = |text: &str| scan(&m, text).1;
        // Fewer than 8 or 16 bytes left after the word start, or plenty.
        assert_eq!(found("pay"), ["pay"]);
        assert_eq!(found("zz PAY"), ["pay"]);
        assert_eq!(found("PAYMENT12"), ["pay", "payment12"]);
        assert_eq!(found("PAYMENT12 and more text"), ["pay", "payment12"]);
        assert_eq!(found("PAYMENT1"), ["pay"]);
        assert_eq!(found("payment1-2"), ["pay"]);
        assert_eq!(found("SUBSCRIPTIONS1234"), ["subscriptions123"]);
        assert_eq!(found("a SUBSCRIPTIONS123"), ["subscriptions123"]);
        assert_eq!(found("subscriptions12"), Vec::<String>::new());
        assert_eq!(found("subscriptions12 3 and more"), Vec::<String>::new());
        assert_eq!(found("SettlementSettlements!"), ["settlementsettlement"]);
        assert_eq!(found("settlementsettlemen"), Vec::<String>::new());
        assert_eq!(found("X"), ["x"]);
        assert_eq!(found("yx x1"), ["x"]);
        // Non-ASCII text goes through the normal form, with the same answers.
        assert_eq!(found("é PAYMENT12"), ["pay", "payment12"]);
        assert_eq!(found("é SUBSCRIPTIONS1234 x"), ["subscriptions123", "x"]);
        assert_eq!(found("éx"), Vec::<String>::new());
    }

    #[test]
    fn crowded_openings_walk_the_automaton() {
        // More keywords than are compared one by one open with "pa".
        let many: Vec<String> = (0..12).map(|i| format!("pa{}", "y".repeat(i))).collect();
        let mut refs: Vec<&str> = many.iter().map(String::as_str).collect();
        refs.push("pocket money");
        let m = matcher(&refs, &[], &[]);
        assert!(matches!(
            m.automaton,
            Some(KeywordAutomaton {
                kind: AutomatonKind::Dfa(_),
                ..
            })
        ));
        assert_eq!(scan(&m, "PAYYY").1, ["pa", "pay", "payy", "payyy"]);
        assert_eq!(scan(&m, "x PA").1, ["pa"]);
        assert_eq!(scan(&m, "pocket / money").1, ["pocket money"]);
        assert_eq!(scan(&m, "papa").1, ["pa"]);
        assert_eq!(scan(&m, "apa").1, Vec::<String>::new());
    }

    #[test]
    fn one_letter_and_several_word_keywords_open_every_way() {
        let m = matcher(&["a", "a b", "ab"], &["b"], &[]);
        assert_eq!(scan(&m, "A").1, ["a"]);
        assert_eq!(scan(&m, "x a").1, ["a"]);
        assert_eq!(scan(&m, "a-b").1, ["a", "a b", "b"]);
        assert_eq!(scan(&m, "ab").1, ["a", "ab"]);
        assert_eq!(scan(&m, "a ").1, ["a"]);
        assert_eq!(scan(&m, "a b").1, ["a", "a b", "b"]);
        assert_eq!(scan(&m, "ba").1, ["b"]);
    }
}
