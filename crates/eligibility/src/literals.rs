//! Literal search for rules: [`LiteralSet`] finds every occurrence of a few byte strings in a
//! text, ASCII-case-insensitively, and [`required_literal`] names a literal that every match
//! of a simple regex contains, so a regex whose literal is absent is never run.
//!
//! Most texts match no rule. A general automaton pays a dependent table walk per byte to
//! say so; [`LiteralSet`] instead looks the trigram at every other position up in a bit
//! table holding a few chosen trigrams per pattern, with no dependency from one lookup to
//! the next, and compares whole patterns only where a chosen trigram occurs.

/// ASCII lowercase of every byte; other bytes unchanged.
static FOLD: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = (i as u8).to_ascii_lowercase();
        i += 1;
    }
    table
};

/// Bits of a trigram index: five per byte.
const TRIGRAM_BITS: u32 = 15;
const TRIGRAM_WORDS: usize = (1 << TRIGRAM_BITS) / 64;

/// The widest stride between looked-up positions.
const MAX_STRIDE: usize = 4;

/// The trigram index of three bytes: the low five bits of each. ASCII letters keep their
/// identity and lose their case; other bytes share indexes with some letters, which only
/// makes a few more candidates.
#[inline(always)]
fn trigram(a: u8, b: u8, c: u8) -> usize {
    usize::from(a & 31) << 10 | usize::from(b & 31) << 5 | usize::from(c & 31)
}

/// Several byte strings searched at once, ASCII-case-insensitively (a pattern byte that is
/// an ASCII letter matches either case; every other byte matches itself).
///
/// Only every `stride`-th text position (0, s, 2s, ...) is looked up, in a bit table, by
/// the trigram index of the three bytes there (past the end, zero bytes). The stride is
/// the shortest pattern's length, from 2 up to 4 (one-byte patterns are instead compared
/// with every byte). An occurrence of a pattern may start at any position, so each
/// pattern sets the trigrams of `stride` adjacent offsets of it, one of which always falls
/// on a looked-up position: offsets inside the pattern, chosen to be rare in bank
/// narrations, and for a pattern shorter than `stride + 2` also the offset one byte before
/// it or the one ending one byte after it (that byte any). Only where a bit is set are the
/// patterns of that index compared. So no occurrence is missed, and with one table lookup
/// per `stride` bytes and trigrams that are rare, most texts are answered without a
/// single comparison.
#[derive(Debug)]
pub(crate) struct LiteralSet {
    /// ASCII-lowercased patterns, by pattern number.
    patterns: Vec<Box<[u8]>>,
    /// Distance between looked-up positions.
    stride: usize,
    /// Bit `trigram(a, b, c)`: some pattern has that trigram index at a chosen offset.
    table: Box<[u64; TRIGRAM_WORDS]>,
    /// Per word of `table`, how many bits the words before it have set: the rank of a set
    /// bit numbers its trigram index among the set ones.
    ranks: Box<[u32; TRIGRAM_WORDS]>,
    /// Per set trigram index, in index order, where its anchors start in `anchors` (one
    /// more entry at the end).
    groups: Vec<u32>,
    /// The patterns by the trigram indexes they set, grouped by index.
    anchors: Vec<Anchor>,
    /// One-byte patterns: `(byte, pattern)`.
    singles: Vec<(u8, u32)>,
}

/// A pattern as seen from a trigram index it set, with its first (up to) eight bytes
/// packed for a one-word comparison.
#[derive(Debug)]
struct Anchor {
    pattern: u32,
    /// Where the trigram starts in the pattern, plus one (a trigram may start one byte
    /// before a short pattern).
    shift: u32,
    /// Whether the pattern is longer than its head.
    long: bool,
    /// The pattern's first bytes, little-endian, zero past `head_mask`.
    head: u64,
    /// `0xff` per byte of `head`.
    head_mask: u64,
    /// `0x20` per byte of `head` that is an ASCII letter: or-ed into the text, it makes
    /// either case of the letter equal the lowercase one, and nothing else.
    head_case: u64,
}

impl Anchor {
    fn new(pattern: u32, shift: u32, bytes: &[u8]) -> Anchor {
        let mut head = [0u8; 8];
        let mut mask = [0u8; 8];
        let mut case = [0u8; 8];
        for (i, &byte) in bytes.iter().take(8).enumerate() {
            head[i] = byte;
            mask[i] = 0xff;
            if byte.is_ascii_lowercase() {
                case[i] = 0x20;
            }
        }
        Anchor {
            pattern,
            shift,
            long: bytes.len() > 8,
            head: u64::from_le_bytes(head),
            head_mask: u64::from_le_bytes(mask),
            head_case: u64::from_le_bytes(case),
        }
    }
}

impl LiteralSet {
    /// The widest stride a search can have: a pattern at least this long never narrows
    /// the stride of the search it joins.
    pub(crate) const MAX_STRIDE: usize = MAX_STRIDE;

    /// The patterns, ASCII-lowercased, by number.
    pub(crate) fn patterns(&self) -> impl Iterator<Item = &[u8]> {
        self.patterns.iter().map(|pattern| &pattern[..])
    }

    /// Patterns are numbered in the order given. Empty patterns never match.
    pub(crate) fn new<P: AsRef<[u8]>>(patterns: impl IntoIterator<Item = P>) -> LiteralSet {
        let patterns: Vec<Box<[u8]>> = patterns
            .into_iter()
            .map(|p| p.as_ref().iter().map(|&b| FOLD[usize::from(b)]).collect())
            .collect();
        let stride = patterns
            .iter()
            .map(|p| p.len())
            .filter(|&len| len >= 2)
            .min()
            .map_or(2, |len| len.clamp(2, MAX_STRIDE));
        // (trigram index, pattern, shift)
        let mut keyed: Vec<(usize, u32, u32)> = Vec::new();
        let mut singles = Vec::new();
        for (number, pattern) in (0u32..).zip(&patterns) {
            let len = pattern.len();
            match len {
                0 => continue,
                1 => {
                    singles.push((pattern[0], number));
                    continue;
                }
                _ => {}
            }
            // The first of `stride` adjacent offsets, from one byte before the pattern to
            // the one ending one byte after it (`stride <= len`): the rarest bytes, with as
            // few offsets reaching outside the pattern as its length allows.
            let last_first = len as isize - 1 - stride as isize;
            let first = (-1..=last_first)
                .min_by_key(|&first| {
                    let outside = (first..first + stride as isize)
                        .filter(|&o| o == -1 || o == len as isize - 2)
                        .count() as u32;
                    let from = first.max(0) as usize;
                    let to = ((first + stride as isize + 2) as usize).min(len);
                    (outside, commonness(&pattern[from..to]), first)
                })
                .unwrap_or(-1);
            for offset in first..first + stride as isize {
                let shift = (offset + 1) as u32;
                let mut set = |index: usize| keyed.push((index, number, shift));
                if offset == -1 {
                    for any in 0..32u8 {
                        set(trigram(any, pattern[0], pattern[1]));
                    }
                } else if offset as usize + 2 == len {
                    let at = offset as usize;
                    for any in 0..32u8 {
                        set(trigram(pattern[at], pattern[at + 1], any));
                    }
                } else {
                    let at = offset as usize;
                    set(trigram(pattern[at], pattern[at + 1], pattern[at + 2]));
                }
            }
        }
        keyed.sort_unstable();
        keyed.dedup();
        let mut table = Box::new([0u64; TRIGRAM_WORDS]);
        let mut groups = Vec::new();
        let mut last = None;
        for (at, &(index, _, _)) in keyed.iter().enumerate() {
            if last != Some(index) {
                last = Some(index);
                table[index >> 6] |= 1 << (index & 63);
                groups.push(at as u32);
            }
        }
        groups.push(keyed.len() as u32);
        let mut ranks = Box::new([0u32; TRIGRAM_WORDS]);
        let mut below = 0;
        for (rank, word) in ranks.iter_mut().zip(table.iter()) {
            *rank = below;
            below += word.count_ones();
        }
        let anchors = keyed
            .into_iter()
            .map(|(_, number, shift)| {
                let bytes = patterns.get(number as usize).map_or(&[][..], |p| &p[..]);
                Anchor::new(number, shift, bytes)
            })
            .collect();
        LiteralSet {
            patterns,
            stride,
            table,
            ranks,
            groups,
            anchors,
            singles,
        }
    }

    /// Calls `found` with the number and the start of every occurrence of a pattern in
    /// `text`, once or more each, in no particular order.
    #[inline]
    pub(crate) fn for_each_match(&self, text: &[u8], mut found: impl FnMut(usize, usize)) {
        for &(single, number) in &self.singles {
            for (at, &byte) in text.iter().enumerate() {
                if FOLD[usize::from(byte)] == single {
                    found(number as usize, at);
                }
            }
        }
        let mut at = match self.stride {
            2 => self.scan_blocks::<2>(text, &mut found),
            3 => self.scan_blocks::<3>(text, &mut found),
            _ => self.scan_blocks::<4>(text, &mut found),
        };
        // The last looked-up positions, padded with zero bytes past the end.
        let byte = |i: usize| text.get(i).copied().unwrap_or(0);
        while at < text.len() {
            let index = trigram(byte(at), byte(at + 1), byte(at + 2));
            if self.table[index >> 6] & (1 << (index & 63)) != 0 {
                self.verify(text, at, index, &mut found);
            }
            at += self.stride;
        }
    }

    /// Looks up positions 0, S, 2S, ... while S bytes and at least three are left there,
    /// in blocks of 64: the table is looked up with no call and no branch, the hits
    /// gathered as bits, and only then verified. Returns the first position not looked up.
    #[inline(always)]
    fn scan_blocks<const S: usize>(&self, text: &[u8], found: &mut impl FnMut(usize, usize)) -> usize {
        let table = &*self.table;
        let bit = |index: usize| table[index >> 6] >> (index & 63) & 1;
        let mut at = 0;
        loop {
            let rest = text.get(at..).unwrap_or_default();
            let mut hits = 0u64;
            let looked = if S == 2 {
                // A position's three bytes overlap the next one's.
                let block = rest.get(..rest.len().min(2 * 64 + 1)).unwrap_or_default();
                for (k, w) in block.windows(3).step_by(2).enumerate() {
                    hits |= bit(trigram(w[0], w[1], w[2])) << k;
                }
                block.len().saturating_sub(1) / 2
            } else {
                let block = rest.get(..rest.len().min(S * 64)).unwrap_or_default();
                for (k, c) in block.chunks_exact(S).enumerate() {
                    hits |= bit(trigram(c[0], c[1], c[2])) << k;
                }
                block.len() / S
            };
            while hits != 0 {
                let pos = at + S * hits.trailing_zeros() as usize;
                hits &= hits - 1;
                if let Some(w) = text.get(pos..pos + 3) {
                    self.verify(text, pos, trigram(w[0], w[1], w[2]), found);
                }
            }
            at += S * looked;
            if looked < 64 {
                return at;
            }
        }
    }

    /// The patterns that set trigram index `index` and that, aligned on the trigram
    /// starting at byte `at`, occur in `text`.
    #[inline(never)]
    fn verify(&self, text: &[u8], at: usize, index: usize, found: &mut impl FnMut(usize, usize)) {
        let word = self.table[index >> 6];
        let below = (word & ((1 << (index & 63)) - 1)).count_ones() as usize;
        let group = self.ranks[index >> 6] as usize + below;
        let (Some(&start), Some(&end)) = (self.groups.get(group), self.groups.get(group + 1)) else {
            return;
        };
        for anchor in self.anchors.get(start as usize..end as usize).unwrap_or_default() {
            let Some(begin) = (at + 1).checked_sub(anchor.shift as usize) else {
                continue;
            };
            // The pattern's bytes only for what its head cannot answer.
            let pattern = || {
                self.patterns
                    .get(anchor.pattern as usize)
                    .map_or(&[][..], |p| &p[..])
            };
            let matched = match text.get(begin..begin + 8) {
                Some(window) => {
                    let mut bytes = [0u8; 8];
                    bytes.copy_from_slice(window);
                    let word = u64::from_le_bytes(bytes);
                    // The head is the whole of a pattern of up to 8 bytes.
                    (word | anchor.head_case) & anchor.head_mask == anchor.head
                        && (!anchor.long || {
                            let pattern = pattern();
                            text.get(begin + 8..begin + pattern.len())
                                .is_some_and(|rest| rest.eq_ignore_ascii_case(&pattern[8..]))
                        })
                }
                // Near the end of the text.
                None => {
                    let pattern = pattern();
                    text.get(begin..begin + pattern.len())
                        .is_some_and(|window| window.eq_ignore_ascii_case(pattern))
                }
            };
            if matched {
                found(anchor.pattern as usize, begin);
            }
        }
    }
}

/// How often a folded string is expected in bank narrations, roughly: the frequency ranks
/// of its bytes, and a penalty for pairs in it that are frequent in English or in
/// narrations ("inv", "app", "pos", "trf", amounts and dates).
fn commonness(bytes: &[u8]) -> u32 {
    let singles: u32 = bytes.iter().map(|&b| byte_commonness(b)).sum();
    let pairs: u32 = bytes.windows(2).map(|w| pair_penalty(w[0], w[1])).sum();
    singles + pairs
}

/// A penalty for a pair of folded bytes frequent in English or in narrations.
fn pair_penalty(a: u8, b: u8) -> u32 {
    const FREQUENT: &[&[u8; 2]] = &[
        b"th", b"he", b"in", b"er", b"an", b"re", b"on", b"at", b"en", b"nd", b"ti", b"es", b"or", b"te",
        b"of", b"ed", b"is", b"it", b"al", b"ar", b"st", b"to", b"nt", b"ng", b"se", b"ha", b"as", b"ou",
        b"io", b"le", b"ve", b"co", b"me", b"de", b"hi", b"ri", b"ro", b"ic", b"ne", b"ea", b"ra", b"ce",
        b"li", b"ch", b"ll", b"be", b"ma", b"si", b"om", b"ur", b"nv", b"pp", b"ap", b"tr", b"rf", b"ni",
        b"ip", b"po", b"os", b"pa", b"ay", b"ym", b"fr", b"ef", b"mo", b"ob", b"us", b"ss", b"sd", b"nk",
        b"ba",
    ];
    if a.is_ascii_digit() && b.is_ascii_digit() {
        40
    } else if FREQUENT.iter().any(|pair| **pair == [a, b]) {
        30
    } else {
        0
    }
}

/// How often a folded byte is expected in bank narrations, roughly: letters by English
/// frequency, then digits, space and the usual separators.
fn byte_commonness(byte: u8) -> u32 {
    const BY_FREQUENCY: &[u8] = b" etaoinsrhldcumfpgwybvkxjqz";
    match byte {
        b'0'..=b'9' => 15,
        b'/' | b'-' | b'.' | b',' => 10,
        _ => match BY_FREQUENCY.iter().position(|&b| b == byte) {
            Some(rank) => (BY_FREQUENCY.len() - rank) as u32,
            None => 0,
        },
    }
}

/// Literals a regex's matches must have, ASCII-lowercased; empty when there is none.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct RegexLiterals {
    /// What the text starts with: the pattern starts with `^` then these characters.
    pub prefix: String,
    /// What the text ends with: the pattern ends with these characters then `$`.
    pub suffix: String,
    /// The longest run of characters every match contains.
    pub longest: String,
}

impl RegexLiterals {
    /// Whether `text`, an ASCII text, starts with the prefix and ends with the suffix,
    /// ASCII-case-insensitively.
    #[inline]
    pub(crate) fn anchors_hold(&self, text: &[u8]) -> bool {
        let (prefix, suffix) = (self.prefix.as_bytes(), self.suffix.as_bytes());
        if prefix.len().max(suffix.len()) > text.len() {
            return false;
        }
        let (head, tail) = (&text[..prefix.len()], &text[text.len() - suffix.len()..]);
        head.eq_ignore_ascii_case(prefix) && tail.eq_ignore_ascii_case(suffix)
    }

    /// Whether the regex these literals belong to may match `text`: always for non-ASCII
    /// text, and for ASCII text only when the literals are there.
    pub(crate) fn may_match(&self, text: &str) -> bool {
        let bytes = text.as_bytes();
        if !text.is_ascii() {
            return true;
        }
        let longest = self.longest.as_bytes();
        self.anchors_hold(bytes)
            && (longest.is_empty()
                || bytes
                    .windows(longest.len())
                    .any(|window| window.eq_ignore_ascii_case(longest)))
    }
}

/// Literals that every match of `pattern` has, ASCII-lowercased: a match of the regex in
/// an ASCII text implies the text starts with `prefix`, ends with `suffix` and contains
/// `longest`, ASCII-case-insensitively. `None` when the pattern is beyond the simple
/// subset this reads (then the regex must always run).
///
/// The subset: an optional leading `(?i)`, then, at the top level, literal ASCII characters,
/// escaped punctuation, `.`, `^`, `$`, the escapes `\d \D \w \W \s \S \b \B \A \z`,
/// bracket classes and groups (both taken as opaque), each possibly repeated by `* + ? {n}
/// {n,} {n,m}` (lazy or not). Any other flag or group syntax (`(?`), top-level
/// alternation, other escapes or non-ASCII characters give `None`. A run of literal
/// characters at the top level, each not made optional by a repetition, is contained in
/// every match; the run right after a leading `^` starts the text and the run right before
/// a final `$` ends it (no flag can make them line anchors).
///
/// For ASCII texts only: under `(?i)` a regex letter also matches non-ASCII case variants
/// (`k` matches the Kelvin sign), which an ASCII text cannot contain.
pub(crate) fn required_literals(pattern: &str) -> Option<RegexLiterals> {
    let body = pattern.strip_prefix("(?i)").unwrap_or(pattern);
    if body.contains("(?") {
        return None;
    }
    let chars: Vec<char> = body.chars().collect();
    let mut found = RegexLiterals::default();
    let mut run = String::new();
    // Whether the last atom was a literal character, the last of `run`.
    let mut last_literal = false;
    // Whether `run` started right after a leading `^`.
    let mut run_is_prefix = false;
    let end_run = |run: &mut String, run_is_prefix: &mut bool, found: &mut RegexLiterals| {
        if std::mem::take(run_is_prefix) {
            found.prefix.clone_from(run);
        }
        if run.len() > found.longest.len() {
            std::mem::swap(run, &mut found.longest);
        }
        run.clear();
    };
    let mut at = 0;
    while let Some(&c) = chars.get(at) {
        let mut literal = None;
        match c {
            '\\' => {
                let escaped = *chars.get(at + 1)?;
                if escaped.is_ascii_punctuation() && !matches!(escaped, '<' | '>') {
                    literal = Some(escaped);
                } else if matches!(escaped, 'd' | 'D' | 'w' | 'W' | 's' | 'S' | 'A' | 'z')
                    || (matches!(escaped, 'b' | 'B') && chars.get(at + 2) != Some(&'{'))
                {
                    // A class or an assertion: opaque.
                } else {
                    return None;
                }
                at += 2;
            }
            '[' => at = skip_class(&chars, at)?,
            '(' => at = skip_group(&chars, at)?,
            '^' if at == 0 => {
                at += 1;
                // The run that follows, if any, starts the text.
                last_literal = false;
                run_is_prefix = true;
                continue;
            }
            '$' if at + 1 == chars.len() => {
                if last_literal {
                    found.suffix.clone_from(&run);
                }
                at += 1;
            }
            '.' | '^' | '$' => at += 1,
            '*' | '?' | '+' | '{' => {
                let (min, next) = repetition(&chars, at)?;
                if min == 0 && last_literal {
                    run.pop();
                }
                // Repeated, the atom may occur more than once: the run ends with it.
                end_run(&mut run, &mut run_is_prefix, &mut found);
                last_literal = false;
                at = next;
                continue;
            }
            '|' | ')' | ']' | '}' => return None,
            c if c.is_ascii() => {
                literal = Some(c);
                at += 1;
            }
            _ => return None,
        }
        match literal {
            Some(c) => run.push(c.to_ascii_lowercase()),
            None => end_run(&mut run, &mut run_is_prefix, &mut found),
        }
        last_literal = literal.is_some();
    }
    end_run(&mut run, &mut run_is_prefix, &mut found);
    Some(found)
}

/// The minimum count of the repetition operator at `at`, and the index after it (and after
/// its lazy `?`, if any).
fn repetition(chars: &[char], at: usize) -> Option<(u32, usize)> {
    let (min, mut next) = match chars.get(at)? {
        '*' | '?' => (0, at + 1),
        '+' => (1, at + 1),
        '{' => {
            let close = at + chars.get(at..)?.iter().position(|&c| c == '}')?;
            let inside: String = chars.get(at + 1..close)?.iter().collect();
            let (low, high) = inside.split_once(',').unwrap_or((&inside, "0"));
            let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            if !digits(low) || !(high.is_empty() || digits(high)) {
                return None;
            }
            (low.parse().ok()?, close + 1)
        }
        _ => return None,
    };
    if chars.get(next) == Some(&'?') {
        next += 1;
    }
    Some((min, next))
}

/// The index after the bracket class opening at `at`. Nested classes are followed; a `]`
/// right after the opening `[` or `[^` is a literal member.
fn skip_class(chars: &[char], at: usize) -> Option<usize> {
    let mut i = at + 1;
    if chars.get(i) == Some(&'^') {
        i += 1;
    }
    if chars.get(i) == Some(&']') {
        i += 1;
    }
    loop {
        match chars.get(i)? {
            '\\' => i += 2,
            '[' => i = skip_class(chars, i)?,
            ']' => return Some(i + 1),
            _ => i += 1,
        }
    }
}

/// The index after the group opening at `at` (no `(?` syntax: the caller refused it).
fn skip_group(chars: &[char], at: usize) -> Option<usize> {
    let mut i = at + 1;
    loop {
        match chars.get(i)? {
            '\\' => i += 2,
            '[' => i = skip_class(chars, i)?,
            '(' => i = skip_group(chars, i)?,
            ')' => return Some(i + 1),
            _ => i += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn matches(set: &LiteralSet, text: &str) -> Vec<usize> {
        let mut out = Vec::new();
        set.for_each_match(text.as_bytes(), |n, _| out.push(n));
        out.sort_unstable();
        out.dedup();
        out
    }

    #[test]
    fn finds_every_pattern_case_insensitively() {
        let set = LiteralSet::new(["betking", "acme", "x", "loan app", "é", "", "Kano V"]);
        assert_eq!(matches(&set, "NIP/GTB/ACME LTD/BETKING"), [0, 1]);
        assert_eq!(matches(&set, "xloan APP"), [2, 3]);
        assert_eq!(matches(&set, "école"), [4]);
        // Non-ASCII bytes match themselves only.
        assert_eq!(matches(&set, "École"), Vec::<usize>::new());
        assert_eq!(matches(&set, "kano ventures"), [6]);
        assert_eq!(matches(&set, ""), Vec::<usize>::new());
        assert_eq!(matches(&set, "a"), Vec::<usize>::new());
        // At both ends, overlapping, repeated.
        let set = LiteralSet::new(["aa", "aaa", "ab"]);
        let mut all = Vec::new();
        set.for_each_match(b"aaaab", |n, _| all.push(n));
        all.sort_unstable();
        assert_eq!(all, [0, 0, 0, 1, 1, 2]);
    }

    #[test]
    fn literals_of_simple_regexes() {
        let lit = |p: &str| required_literals(p).map(|l| l.longest).filter(|l| !l.is_empty());
        assert_eq!(lit(r"(?i)\bbet\w*\b").as_deref(), Some("bet"));
        assert_eq!(lit(r"(?i)atm\s+wd").as_deref(), Some("atm"));
        assert_eq!(lit(r"^NIP/[A-Z]+/[A-Z ]+ LTD/").as_deref(), Some(" ltd/"));
        assert_eq!(lit(r"^99\d{8}$").as_deref(), Some("99"));
        assert_eq!(lit(r"(?i)\bPO-\d{4,}\b").as_deref(), Some("po-"));
        assert_eq!(lit(r"^INV-0\d+$").as_deref(), Some("inv-0"));
        assert_eq!(lit(r"inv\-\d").as_deref(), Some("inv-"));
        // Optional characters leave the run; repeated ones end it.
        assert_eq!(lit("abcx?de").as_deref(), Some("abc"));
        assert_eq!(lit("abcx*de").as_deref(), Some("abc"));
        assert_eq!(lit("abx{0,3}").as_deref(), Some("ab"));
        assert_eq!(lit("ab{2}cd").as_deref(), Some("ab"));
        assert_eq!(lit("xy+?zzz").as_deref(), Some("zzz"));
        assert_eq!(lit("a(bcdef)?gh").as_deref(), Some("gh"));
        assert_eq!(lit("[)|(]+abc(x|[)]y)de").as_deref(), Some("abc"));
        assert_eq!(lit("[]abc]x[^]yz]").as_deref(), Some("x"));
        assert_eq!(lit("[[:alpha:]]ab").as_deref(), Some("ab"));
        assert_eq!(lit("a^bc$d").as_deref(), Some("bc"));
        // Nothing to require, or beyond the subset.
        for none in [".", "^$", r"\d{3}", ""] {
            assert_eq!(lit(none), None, "{none}");
        }
        for refused in [
            "gift|loan",
            "(?i:acme)",
            "a(?i)bc",
            "(?x)a b c",
            r"\x41bc",
            r"\pLabc",
            r"\babc\b{start}",
            r"\<abc",
            "école",
            "a{,2}",
            "a{x}",
            "abc]",
        ] {
            assert_eq!(required_literals(refused), None, "{refused}");
        }
    }

    #[test]
    fn anchored_literals() {
        let anchors = |p: &str| required_literals(p).map(|l| (l.prefix, l.suffix));
        let pair = |a: &str, b: &str| Some((a.to_owned(), b.to_owned()));
        assert_eq!(anchors(r"^99\d{8}$"), pair("99", ""));
        assert_eq!(anchors(r"(?i)\bplc$"), pair("", "plc"));
        assert_eq!(anchors(r"^INV-0\d+$"), pair("inv-0", ""));
        assert_eq!(anchors("^abc$"), pair("abc", "abc"));
        assert_eq!(anchors("^ab?c"), pair("a", ""));
        assert_eq!(anchors("^ab+c"), pair("ab", ""));
        assert_eq!(anchors("^*abc"), pair("", ""));
        assert_eq!(anchors("ab+$"), pair("", ""));
        assert_eq!(anchors(r"abc\$"), pair("", ""));
        assert_eq!(anchors("a$b"), pair("", ""));
        assert_eq!(anchors(r"^\d+x$"), pair("", "x"));
        assert_eq!(anchors("x^ab"), pair("", ""));
        let literals = required_literals(r"^NIP/[A-Z]+ LTD/$").expect("simple");
        assert!(literals.anchors_hold(b"nip/ACME LTD/"));
        assert!(!literals.anchors_hold(b"NIX/ACME LTD/"));
        assert!(!literals.anchors_hold(b"NIP/"));
    }

    #[test]
    fn short_patterns_at_every_alignment() {
        let set = LiteralSet::new(["x", "ab", "abc", "abcd", "abcde"]);
        for pad in 0..4 {
            for tail in 0..3 {
                let text = format!("{}ABCDE{}", "-".repeat(pad), "-".repeat(tail));
                assert_eq!(matches(&set, &text), [1, 2, 3, 4], "{text}");
                let text = format!("{}x{}", "-".repeat(pad), "-".repeat(tail));
                assert_eq!(matches(&set, &text), [0], "{text}");
            }
        }
        assert_eq!(matches(&set, "x"), [0]);
        assert_eq!(matches(&set, "ab"), [1]);
        assert_eq!(matches(&set, "Ab"), [1]);
        assert_eq!(matches(&set, "aB-"), [1]);
        // Longer than the packed head, with room after it or none.
        let set = LiteralSet::new(["kano ventures", "chargeback fee"]);
        assert_eq!(matches(&set, "KANO VENTURES LTD"), [0]);
        assert_eq!(matches(&set, "from Kano Ventures"), [0]);
        assert_eq!(matches(&set, "kano venturez and more"), Vec::<usize>::new());
        assert_eq!(matches(&set, "x chargeback fee"), [1]);
        assert_eq!(matches(&set, "chargeback fe"), Vec::<usize>::new());
    }

    #[test]
    fn patterns_across_the_blocks_of_a_long_text() {
        let set = LiteralSet::new(["x", "ab", "abc", "abcd", "abcde", "kano ventures"]);
        for len in [120, 125, 126, 127, 128, 129, 130, 131, 250, 255, 256, 257, 300] {
            for pattern in ["X", "AB", "ABC", "ABCD", "ABCDE", "KANO VENTURES"] {
                for at in (0..len - pattern.len()).step_by(7).chain([len - pattern.len()]) {
                    let text = format!(
                        "{}{pattern}{}",
                        "-".repeat(at),
                        "-".repeat(len - at - pattern.len())
                    );
                    let lowered: Vec<String> = ["x", "ab", "abc", "abcd", "abcde", "kano ventures"]
                        .iter()
                        .map(|p| (*p).to_owned())
                        .collect();
                    assert_eq!(
                        matches(&set, &text),
                        naive(&lowered, &text),
                        "{len} {pattern} at {at}"
                    );
                }
            }
        }
    }

    fn naive(patterns: &[String], text: &str) -> Vec<usize> {
        let text = text.as_bytes();
        (0..patterns.len())
            .filter(|&n| {
                let pattern = patterns[n].as_bytes();
                !pattern.is_empty()
                    && text
                        .windows(pattern.len())
                        .any(|w| w.eq_ignore_ascii_case(pattern))
            })
            .collect()
    }

    /// One regex atom and the texts it matches.
    const ATOMS: &[(&str, &[&str])] = &[
        ("a", &["a"]),
        ("b", &["b"]),
        ("A", &["A"]),
        ("1", &["1"]),
        (" ", &[" "]),
        ("/", &["/"]),
        ("-", &["-"]),
        (r"\-", &["-"]),
        (r"\.", &["."]),
        (".", &["x", "."]),
        (r"\d", &["7"]),
        (r"\w", &["q", "B"]),
        (r"\s", &[" "]),
        (r"\b", &[""]),
        ("[ab]", &["a", "b"]),
        ("[^a]", &["b", "-"]),
        ("(a|b1)", &["a", "b1"]),
        ("(?:ab)", &["ab"]),
        ("é", &["é"]),
    ];
    /// A repetition and how many times it may repeat its atom.
    const REPEATS: &[(&str, &[usize])] = &[
        ("", &[1]),
        ("", &[1]),
        ("", &[1]),
        ("?", &[0, 1]),
        ("*", &[0, 1, 2]),
        ("+", &[1, 2]),
        ("+?", &[1, 2]),
        ("{2}", &[2]),
        ("{0,2}", &[0, 2]),
    ];

    /// A regex from the subset `required_literals` reads (and a little beyond it), with a
    /// text built to match it: each atom instantiated, case flipped under `(?i)`, junk
    /// around it where no anchor forbids, then sometimes mangled.
    fn regex_and_text() -> impl Strategy<Value = (String, String)> {
        let piece = (0..ATOMS.len(), 0..REPEATS.len(), 0..3usize, 0..3usize);
        (
            any::<bool>(),
            any::<bool>(),
            proptest::collection::vec(piece, 0..7),
            any::<bool>(),
            "[aB1 -]{0,3}",
            "[aB1 -]{0,3}",
            prop_oneof![6 => Just(None), 1 => (0..20usize).prop_map(Some)],
        )
            .prop_map(|(insensitive, start, pieces, end, before, after, mangle)| {
                let mut pattern = String::from(if insensitive { "(?i)" } else { "" });
                let mut text = String::new();
                if start {
                    pattern.push('^');
                } else {
                    text.push_str(&before);
                }
                for (atom, repeat, which, times) in pieces {
                    let (atom, instances) = ATOMS[atom];
                    let (repeat, counts) = REPEATS[repeat];
                    pattern.push_str(atom);
                    pattern.push_str(repeat);
                    for _ in 0..counts[times % counts.len()] {
                        let instance = instances[which % instances.len()];
                        if insensitive && which % 2 == 1 {
                            text.push_str(&instance.to_ascii_uppercase());
                        } else {
                            text.push_str(instance);
                        }
                    }
                }
                if end {
                    pattern.push('$');
                } else {
                    text.push_str(&after);
                }
                if let Some(at) = mangle {
                    let at = at % (text.len() + 1);
                    if text.is_char_boundary(at) {
                        text.insert(at, 'b');
                    }
                }
                (pattern, text)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn literal_set_finds_exactly_the_patterns_that_occur(
            patterns in proptest::collection::vec("[abAB1 /é-]{1,11}", 1..12),
            text in "[abAB1 /é-]{0,40}|[abAB1 /-]{100,300}",
        ) {
            let set = LiteralSet::new(patterns.iter().map(|p| p.as_bytes()));
            let lowered: Vec<String> = patterns.iter().map(|p| p.to_ascii_lowercase()).collect();
            prop_assert_eq!(matches(&set, &text), naive(&lowered, &text));
        }

        #[test]
        fn literal_set_reports_every_occurrence_at_every_stride(
            shortest in 1..6usize,
            patterns in proptest::collection::vec("[abAB1 /é-]{1,11}", 1..12),
            text in "[abAB1 /é-]{0,40}|[abAB1 /-]{100,600}",
        ) {
            let patterns: Vec<String> =
                patterns.into_iter().filter(|p| p.len() >= shortest).collect();
            let set = LiteralSet::new(patterns.iter().map(|p| p.as_bytes()));
            let stride = patterns.iter().map(String::len).filter(|&l| l >= 2).min().map_or(2, |l| l.min(4));
            prop_assert_eq!(set.stride, stride);
            let mut found = Vec::new();
            set.for_each_match(text.as_bytes(), |n, at| found.push((n, at)));
            found.sort_unstable();
            found.dedup();
            let text = text.as_bytes();
            let mut expected = Vec::new();
            for (n, pattern) in patterns.iter().enumerate() {
                let pattern = pattern.as_bytes();
                for at in 0..(text.len() + 1).saturating_sub(pattern.len()) {
                    if text[at..at + pattern.len()].eq_ignore_ascii_case(pattern) {
                        expected.push((n, at));
                    }
                }
            }
            prop_assert_eq!(found, expected);
        }

        #[test]
        fn required_literals_hold_in_every_match((pattern, text) in regex_and_text()) {
            let Ok(regex) = regex::Regex::new(&pattern) else {
                return Ok(());
            };
            if let Some(literals) = required_literals(&pattern) {
                if regex.is_match(&text) {
                    prop_assert!(literals.may_match(&text), "{:?} {:?}", literals, text);
                }
            }
        }
    }
}
