//! Text primitives of the eligibility contract (spec "Text matching"): the word normal form
//! that keyword matching runs on, reference candidates, the sender forms of a narration,
//! and the case-insensitive comparisons used by rules. Everything here borrows or writes
//! into a buffer the caller owns, so the hot path allocates nothing.

use std::ops::ControlFlow;

/// A word character: a Unicode letter or digit. A word is a maximal run of them.
#[inline]
pub fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

/// `str::trim`, without decoding chars when both ends are ASCII and not whitespace, as
/// they usually are.
#[inline]
pub(crate) fn trim(text: &str) -> &str {
    // ASCII and not `char::is_whitespace` (`\t` to `\r`, space), printable ones first.
    let plain = |b: u8| (b'!'..=0x7f).contains(&b) || (b < b' ' && !(b'\t'..=b'\r').contains(&b));
    match text.as_bytes() {
        [first, .., last] if plain(*first) && plain(*last) => text,
        [only] if plain(*only) => text,
        _ => text.trim(),
    }
}

/// Whether `text` is ASCII: `str::is_ascii` with fewer branches on the short texts bank
/// transactions have (8 bytes at a time, the last 8 overlapping).
#[inline]
pub(crate) fn is_ascii(text: &str) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let bytes = text.as_bytes();
    let word = |chunk: &[u8]| {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        u64::from_le_bytes(word)
    };
    if bytes.len() < 8 {
        return bytes.iter().fold(0, |acc, &b| acc | b) < 0x80;
    }
    let chunks = bytes.chunks_exact(8);
    let last = word(&bytes[bytes.len() - 8..]);
    chunks.fold(last, |acc, chunk| acc | word(chunk)) & HIGH == 0
}

/// Calls `at_word` with the start of every word of an ASCII text, in order, until it
/// breaks (for other text: every maximal run of ASCII letters and digits). Words are found
/// 64 bytes at a time as bit masks of alphanumeric bytes, computed 8 bytes per step with
/// word arithmetic: no branch per byte or per word.
#[inline(always)]
pub(crate) fn ascii_word_starts<B>(
    text: &[u8],
    mut at_word: impl FnMut(usize) -> ControlFlow<B>,
) -> Option<B> {
    // Whether the byte before the chunk is alphanumeric.
    let mut carry = 0u64;
    for (chunk_number, chunk) in text.chunks(64).enumerate() {
        let mut alnum = 0u64;
        let steps = chunk.chunks_exact(8);
        let rest = steps.remainder();
        let full = steps.len() * 8;
        for (step, bytes) in steps.enumerate() {
            let mut word = [0u8; 8];
            word.copy_from_slice(bytes);
            alnum |= ascii_alnum_bits(u64::from_le_bytes(word)) << (step * 8);
        }
        if !rest.is_empty() {
            let word = rest
                .iter()
                .rev()
                .fold(0u64, |word, &byte| word << 8 | u64::from(byte));
            alnum |= ascii_alnum_bits(word) << full;
        }
        let mut starts = alnum & !(alnum << 1 | carry);
        carry = alnum >> 63;
        while starts != 0 {
            let bit = starts.trailing_zeros() as usize;
            starts &= starts - 1;
            if let ControlFlow::Break(found) = at_word(chunk_number * 64 + bit) {
                return Some(found);
            }
        }
    }
    None
}

/// Bit `i` set when byte `i` (little-endian) of `word` is an ASCII letter or digit.
#[inline(always)]
fn ascii_alnum_bits(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Per byte, high bit set when the byte's low seven bits are at least `low`: no carry
    // crosses into the next byte.
    let low7 = word & !HIGH;
    let at_least = |bytes: u64, low: u8| (bytes + (0x80 - u64::from(low)) * ONES) & HIGH;
    let lower = low7 | (0x20 * ONES);
    let letter = at_least(lower, b'a') & !at_least(lower, b'z' + 1);
    let digit = at_least(low7, b'0') & !at_least(low7, b'9' + 1);
    // Bytes with the high bit set are not ASCII.
    let alnum = (letter | digit) & !word;
    // Gathers the eight high bits into the low byte.
    (alnum >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56
}

/// Appends the word normal form of `text` to `out`: every word lowercased, words separated
/// by exactly one space, nothing else. Keyword matching then becomes a substring search that
/// starts at a word start, whatever separators the bank used ("POCKET/MONEY", "pocket  money").
///
/// Words are cut on the original text and lowercased afterwards, so a lowercase mapping that
/// yields a non-letter (`İ` -> `i̇`) cannot split a word. A separator is written before the
/// first word when `out` is not empty, so successive calls join texts as separate words.
pub fn push_normalized(text: &str, out: &mut String) {
    let bytes = text.as_bytes();
    let mut in_word = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x80 {
            // ASCII fast path: the common Nigerian narration never leaves it.
            if b.is_ascii_alphanumeric() {
                if !in_word && !out.is_empty() {
                    out.push(' ');
                }
                in_word = true;
                out.push(char::from(b.to_ascii_lowercase()));
            } else {
                in_word = false;
            }
            i += 1;
            continue;
        }
        // `i` is always on a char boundary: we only ever step by whole chars.
        let Some(c) = text.get(i..).and_then(|rest| rest.chars().next()) else {
            break;
        };
        if is_word_char(c) {
            if !in_word && !out.is_empty() {
                out.push(' ');
            }
            in_word = true;
            out.extend(c.to_lowercase());
        } else {
            in_word = false;
        }
        i += c.len_utf8();
    }
}

/// The word normal form of a keyword ("Pocket  Money" -> "pocket money"); empty when the
/// keyword has no letter or digit, which validation refuses.
pub fn normalize_phrase(phrase: &str) -> String {
    let mut out = String::with_capacity(phrase.len());
    push_normalized(phrase, &mut out);
    out
}

/// Splits narration or description into reference candidates: tokens separated by
/// whitespace and `/ , ; |`, empty tokens dropped.
pub fn reference_tokens(text: &str) -> impl Iterator<Item = &str> {
    let ascii = is_ascii(text);
    let bytewise = ascii.then_some(AsciiTokens { text, at: 0 });
    let general = (!ascii).then(|| {
        text.split(|c: char| c.is_whitespace() || matches!(c, '/' | ',' | ';' | '|'))
            .filter(|token| !token.is_empty())
    });
    bytewise
        .into_iter()
        .flatten()
        .chain(general.into_iter().flatten())
}

/// The [`reference_tokens`] of `text` that hold `literal` (ASCII, lowercase)
/// ASCII-case-insensitively, in order, found by searching for the literal rather than
/// cutting every token; `None` when `text` is not ASCII or `literal` is empty (then any
/// token may be a candidate).
pub(crate) fn reference_tokens_holding<'t>(text: &'t str, literal: &'t [u8]) -> Option<TokensHolding<'t>> {
    if literal.is_empty() || !is_ascii(text) {
        return None;
    }
    // A literal holding a separator is in no token: the search starts at the end.
    let at = if literal.iter().any(|&b| separates(b)) {
        text.len()
    } else {
        0
    };
    Some(TokensHolding { text, literal, at })
}

/// The [`reference_tokens`] of ASCII `text` around the byte positions `starts` (in order),
/// each once: the candidates holding a literal that starts there.
pub(crate) fn tokens_around(text: &str, starts: impl Iterator<Item = usize>) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    // The end of the last token given.
    let mut given = None;
    starts.filter_map(move |at| {
        if given.is_some_and(|end| at < end) {
            return None;
        }
        let start = bytes
            .get(..at)?
            .iter()
            .rposition(|&b| separates(b))
            .map_or(0, |j| j + 1);
        let end = bytes
            .get(at..)?
            .iter()
            .position(|&b| separates(b))
            .map_or(bytes.len(), |j| at + j);
        given = Some(end);
        text.get(start..end)
    })
}

/// A reference candidate separator (`char::is_whitespace` on ASCII, and `/ , ; |`).
#[inline]
pub(crate) fn separates(b: u8) -> bool {
    matches!(
        b,
        b'\t' | b'\n' | b'\x0B' | b'\x0C' | b'\r' | b' ' | b'/' | b',' | b';' | b'|'
    )
}

/// [`reference_tokens_holding`] of an ASCII text.
pub(crate) struct TokensHolding<'t> {
    text: &'t str,
    literal: &'t [u8],
    /// Where the search goes on: the end of the last token given.
    at: usize,
}

impl<'t> Iterator for TokensHolding<'t> {
    type Item = &'t str;

    fn next(&mut self) -> Option<&'t str> {
        let bytes = self.text.as_bytes();
        let (&first, rest) = self.literal.split_first()?;
        let last_start = bytes.len().checked_sub(self.literal.len())?;
        let mut i = self.at;
        while i <= last_start {
            let Some(found) = find_folded(bytes.get(i..=last_start)?, first) else {
                break;
            };
            i += found;
            if bytes
                .get(i + 1..i + self.literal.len())
                .is_some_and(|tail| tail.eq_ignore_ascii_case(rest))
            {
                let start = bytes
                    .get(self.at..i)?
                    .iter()
                    .rposition(|&b| separates(b))
                    .map_or(self.at, |j| self.at + j + 1);
                let end = bytes
                    .get(i..)?
                    .iter()
                    .position(|&b| separates(b))
                    .map_or(bytes.len(), |j| i + j);
                self.at = end;
                return self.text.get(start..end);
            }
            i += 1;
        }
        self.at = bytes.len();
        None
    }
}

/// The first index of `haystack` (ASCII) whose byte, ASCII-lowercased, is `needle` (ASCII
/// lowercase): 8 bytes at a time, with word arithmetic.
#[inline]
fn find_folded(haystack: &[u8], needle: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // `| 0x20` lowercases a letter and makes no other byte equal a lowercase letter.
    let fold = if needle.is_ascii_lowercase() {
        0x20 * ONES
    } else {
        0
    };
    let target = u64::from(needle) * ONES;
    let mut chunks = haystack.chunks_exact(8);
    let mut at = 0;
    for chunk in chunks.by_ref() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let diff = (u64::from_le_bytes(word) | fold) ^ target;
        // High bit set in a byte that is zero, and possibly in bytes after one that is:
        // the first set bit is the first zero byte.
        let zero = diff.wrapping_sub(ONES) & !diff & HIGH;
        if zero != 0 {
            return Some(at + zero.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    let fold = fold as u8;
    chunks
        .remainder()
        .iter()
        .position(|&b| b | fold == needle)
        .map(|i| at + i)
}

/// [`reference_tokens`] of an ASCII text, byte by byte.
struct AsciiTokens<'t> {
    text: &'t str,
    at: usize,
}

impl<'t> Iterator for AsciiTokens<'t> {
    type Item = &'t str;

    fn next(&mut self) -> Option<&'t str> {
        // `char::is_whitespace` on ASCII, and the spec's separators.
        let separates = |b: &u8| {
            matches!(
                b,
                b'\t' | b'\n' | b'\x0B' | b'\x0C' | b'\r' | b' ' | b'/' | b',' | b';' | b'|'
            )
        };
        let bytes = self.text.as_bytes();
        let start = self.at + bytes.get(self.at..)?.iter().position(|b| !separates(b))?;
        let end = bytes
            .get(start..)?
            .iter()
            .position(separates)
            .map_or(bytes.len(), |len| start + len);
        self.at = end;
        self.text.get(start..end)
    }
}

/// The sender named by a narration in one of the spec's forms, case-insensitively:
/// `NIP/<bank>/<name>/...`, `TRF FROM <name>`, `TRANSFER FROM <name>`, `FRM <name>`.
///
/// A marker counts only at the start of a word. For the NIP form the name is the third
/// segment. For the others the name runs to the next `/ , ; |`, a standalone word `TO`
/// ("TRF FROM JOHN DOE TO ACME") or the end, trimmed; an empty name does not count.
/// The first marker that yields a name wins.
pub fn narration_sender(narration: &str) -> Option<&str> {
    if is_ascii(narration) {
        // Only word starts can hold a marker.
        let bytes = narration.as_bytes();
        return ascii_word_starts(bytes, |start| {
            // Most words start with no marker letter: answered here, without a call.
            let marker = bytes.get(start).map(u8::to_ascii_lowercase);
            match marker.and_then(|m| matches!(m, b'n' | b't' | b'f').then_some(m)) {
                Some(_) => sender_at(narration, start).map_or(ControlFlow::Continue(()), ControlFlow::Break),
                None => ControlFlow::Continue(()),
            }
        });
    }
    // Whether the char before the current one is a word char.
    let mut after_word = false;
    for (start, c) in narration.char_indices() {
        if !after_word {
            if let Some(name) = sender_at(narration, start) {
                return Some(name);
            }
        }
        after_word = is_word_char(c);
    }
    None
}

/// What a narration holds where [`sender_at`] can find a sender: one of these, ASCII-case-
/// insensitively, at the word start it is given.
pub(crate) const SENDER_MARKERS: [&str; 4] = ["nip/", "trf", "transfer", "frm"];

/// The sender named by a marker at byte `start` of `narration`, a word start.
#[inline]
pub(crate) fn sender_at(narration: &str, start: usize) -> Option<&str> {
    let marker = narration.as_bytes().get(start)?.to_ascii_lowercase();
    if !matches!(marker, b'n' | b't' | b'f') {
        return None;
    }
    // `start` holds an ASCII byte, so it is a char boundary.
    let rest = narration.get(start..)?;
    match marker {
        b'n' => nip_sender(rest),
        b't' => strip_marker(rest, "trf")
            .or_else(|| strip_marker(rest, "transfer"))
            .and_then(|after| strip_marker(after, "from"))
            .and_then(free_name),
        _ => strip_marker(rest, "frm").and_then(free_name),
    }
}

/// `NIP/<bank>/<name>[/...]` at the start of `rest`.
fn nip_sender(rest: &str) -> Option<&str> {
    let head = rest.get(..4)?;
    if !head.eq_ignore_ascii_case("nip/") {
        return None;
    }
    // `/` is ASCII, so the byte positions are char boundaries.
    let body = rest.get(4..)?;
    let slash = body.bytes().position(|b| b == b'/')?;
    let bank = trim(body.get(..slash)?);
    let after = body.get(slash + 1..)?;
    let name = trim(after.get(..after.bytes().position(|b| b == b'/').unwrap_or(after.len()))?);
    (!bank.is_empty() && !name.is_empty()).then_some(name)
}

/// When `text` starts with the word `marker` (ASCII, case-insensitive) followed by
/// whitespace, returns what follows the whitespace.
fn strip_marker<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let head = text.get(..marker.len())?;
    if !head.eq_ignore_ascii_case(marker) {
        return None;
    }
    let after = &text[marker.len()..];
    // Most markers are followed by one ASCII space and a name: no char decoding then.
    let trimmed = match after.as_bytes() {
        [b' ', next, ..] if next.is_ascii() && !(*next as char).is_whitespace() => &after[1..],
        _ => after.trim_start(),
    };
    (trimmed.len() < after.len()).then_some(trimmed)
}

/// The free-form name after `TRF FROM` / `TRANSFER FROM` / `FRM`.
fn free_name(text: &str) -> Option<&str> {
    let end = if is_ascii(text) {
        ascii_name_end(text.as_bytes())
    } else {
        name_end(text)
    };
    let name = trim(text.get(..end)?);
    (!name.is_empty()).then_some(name)
}

/// Where the free-form name at the start of `text` ends.
fn name_end(text: &str) -> usize {
    let end = text.find(['/', ',', ';', '|']).unwrap_or(text.len());
    let mut offset = 0;
    for word in text[..end].split_whitespace() {
        // split_whitespace yields subslices of the text, so their offsets are exact.
        let at = word.as_ptr() as usize - text.as_ptr() as usize;
        if offset > 0 && word.eq_ignore_ascii_case("to") {
            return at;
        }
        offset = at + word.len();
    }
    end
}

/// What [`ascii_name_end`] sees in a byte.
const NAME_PLAIN: u8 = 0;
const NAME_DELIMITER: u8 = 1;
const NAME_SPACE: u8 = 2;
/// `t` or `T`: may start the word `to`.
const NAME_T: u8 = 3;

static NAME_BYTES: [u8; 256] = {
    let mut table = [NAME_PLAIN; 256];
    table[b'/' as usize] = NAME_DELIMITER;
    table[b',' as usize] = NAME_DELIMITER;
    table[b';' as usize] = NAME_DELIMITER;
    table[b'|' as usize] = NAME_DELIMITER;
    // `char::is_whitespace` on ASCII.
    table[b'\t' as usize] = NAME_SPACE;
    table[b'\n' as usize] = NAME_SPACE;
    table[0x0B] = NAME_SPACE;
    table[0x0C] = NAME_SPACE;
    table[b'\r' as usize] = NAME_SPACE;
    table[b' ' as usize] = NAME_SPACE;
    table[b't' as usize] = NAME_T;
    table[b'T' as usize] = NAME_T;
    table
};

/// [`name_end`] for ASCII text, in one pass: the first delimiter, or the word `to` after
/// the first word, whichever comes first.
fn ascii_name_end(bytes: &[u8]) -> usize {
    let class = |at: usize| bytes.get(at).map_or(NAME_SPACE, |&b| NAME_BYTES[usize::from(b)]);
    // Whether a word has been seen before `at`.
    let mut seen_word = false;
    for (at, &byte) in bytes.iter().enumerate() {
        match NAME_BYTES[usize::from(byte)] {
            NAME_PLAIN => seen_word = true,
            NAME_SPACE => {}
            NAME_DELIMITER => return at,
            _ => {
                // `to` as a whole word (the end, a space or a delimiter after it) after
                // the first word; a delimiter right after it ends the name there too.
                let word_start = at == 0 || class(at - 1) == NAME_SPACE;
                let o = bytes.get(at + 1).is_some_and(|b| b.eq_ignore_ascii_case(&b'o'));
                let after = class(at + 2);
                if seen_word && word_start && o && matches!(after, NAME_SPACE | NAME_DELIMITER) {
                    return at;
                }
                seen_word = true;
            }
        }
    }
    bytes.len()
}

/// Writes the Unicode lowercase form of `text` into `buf` and returns it. Case-insensitive
/// in this engine means "equal after `char::to_lowercase`".
pub fn lowercase_into<'b>(text: &str, buf: &'b mut String) -> &'b str {
    buf.clear();
    if text.is_ascii() {
        buf.push_str(text);
        buf.make_ascii_lowercase();
    } else {
        for c in text.chars() {
            buf.extend(c.to_lowercase());
        }
    }
    buf.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(text: &str) -> String {
        normalize_phrase(text)
    }

    #[test]
    fn words_are_runs_of_letters_or_digits() {
        assert_eq!(norm("NIP/FCMB/ACME LTD/INV-1042"), "nip fcmb acme ltd inv 1042");
        assert_eq!(norm("  --  "), "");
        assert_eq!(norm("pocket  MONEY\tfor/june"), "pocket money for june");
    }

    #[test]
    fn unicode_words_are_lowercased_without_splitting() {
        assert_eq!(norm("ÉCOLE Fées"), "école fées");
        // Lowercasing İ yields a combining mark, which must not cut the word in two.
        assert_eq!(norm("İSTANBUL ltd"), "i\u{307}stanbul ltd");
        assert_eq!(norm("ПЛАТЁЖ№5"), "платёж 5");
    }

    #[test]
    fn successive_texts_are_separate_words() {
        let mut out = String::new();
        push_normalized("pocket", &mut out);
        push_normalized("", &mut out);
        push_normalized("money", &mut out);
        assert_eq!(out, "pocket money");
    }

    #[test]
    fn reference_tokens_split_on_spec_separators() {
        let tokens: Vec<_> = reference_tokens("NIP/ZENITH/ACME LTD/INV-1042, part;two|x\tINV-7").collect();
        assert_eq!(
            tokens,
            ["NIP", "ZENITH", "ACME", "LTD", "INV-1042", "part", "two", "x", "INV-7"]
        );
        assert_eq!(reference_tokens(" // ,, ").count(), 0);
        assert_eq!(reference_tokens("").count(), 0);
        // The ASCII path and the general one agree.
        for text in ["a", " a", "a ", "a\x0Bb\x0Cc\rd", "x|y;z,w/v", "INV-7  INV-8 "] {
            let general: Vec<&str> = text
                .split(|c: char| c.is_whitespace() || matches!(c, '/' | ',' | ';' | '|'))
                .filter(|t| !t.is_empty())
                .collect();
            assert_eq!(reference_tokens(text).collect::<Vec<_>>(), general, "{text:?}");
        }
        let tokens: Vec<_> = reference_tokens("Réf\u{a0}INV-9/é").collect();
        assert_eq!(tokens, ["Réf", "INV-9", "é"]);
    }

    #[test]
    fn sender_forms() {
        assert_eq!(narration_sender("NIP/FCMB/ACME LTD/INV-1042"), Some("ACME LTD"));
        assert_eq!(narration_sender("nip/gtb/John Doe"), Some("John Doe"));
        assert_eq!(
            narration_sender("TRF FROM BOLA YUSUFF subscription"),
            Some("BOLA YUSUFF subscription")
        );
        assert_eq!(
            narration_sender("Mobile transfer from  Ada Obi/ref 9"),
            Some("Ada Obi")
        );
        assert_eq!(
            narration_sender("TRF FROM JOHN DOE TO ACME LTD"),
            Some("JOHN DOE")
        );
        assert_eq!(narration_sender("FRM OLU ADE payment"), Some("OLU ADE payment"));
        assert_eq!(narration_sender("frm tolu"), Some("tolu"));
    }

    #[test]
    fn the_ascii_name_end_is_the_general_one() {
        // Every string of up to five bytes over the bytes that matter, and longer ones.
        let alphabet = [
            b't', b'T', b'o', b'O', b' ', b'\t', b'/', b',', b'|', b';', b'x', b'a',
        ];
        let mut texts: Vec<Vec<u8>> = vec![Vec::new()];
        for _ in 0..5 {
            let longer: Vec<Vec<u8>> = texts
                .iter()
                .filter(|t| t.len() == texts.last().map_or(0, Vec::len))
                .flat_map(|t| {
                    alphabet.iter().map(move |&b| {
                        let mut t = t.clone();
                        t.push(b);
                        t
                    })
                })
                .collect();
            texts.extend(longer);
        }
        for text in [
            "JOHN DOE TO ACME",
            "JOHN to",
            "to JOHN to",
            "JOHN tom to/x",
            "JOHN\x0bTO\x0cx",
            "JOHN  To, x",
            "JOHN DOE",
            " to x",
            "x toto to",
        ] {
            texts.push(text.as_bytes().to_vec());
        }
        for text in &texts {
            let text = std::str::from_utf8(text).expect("ASCII");
            assert_eq!(ascii_name_end(text.as_bytes()), name_end(text), "{text:?}");
        }
    }

    #[test]
    fn sender_markers_must_start_a_word_and_name_someone() {
        assert_eq!(narration_sender("SNIP/GTB/JOHN/x"), None);
        assert_eq!(narration_sender("NIP//JOHN/x"), None);
        assert_eq!(narration_sender("NIP/GTB/ /x"), None);
        assert_eq!(narration_sender("FIRM payment"), None);
        assert_eq!(narration_sender("FRMX payment"), None);
        assert_eq!(narration_sender("TRF FROM "), None);
        assert_eq!(narration_sender("TRF FROMAGE"), None);
        assert_eq!(narration_sender("transfer"), None);
        assert_eq!(narration_sender("ÉFRM x"), None);
        assert_eq!(narration_sender(""), None);
        // A later marker still counts when an earlier one names nobody.
        assert_eq!(narration_sender("FRM / TRF FROM ADA"), Some("ADA"));
    }

    #[test]
    fn trimming() {
        for text in [
            "",
            " ",
            "a",
            " a",
            "a ",
            " a b ",
            "ab",
            "\u{a0}a",
            "a\u{2003}",
            "\x0Bx\x0B",
        ] {
            assert_eq!(trim(text), text.trim(), "{text:?}");
        }
    }

    #[test]
    fn trimming_agrees_with_str_trim_at_every_ascii_byte() {
        for byte in 0..0x80u8 {
            let c = char::from(byte);
            for text in [
                format!("{c}"),
                format!("{c}a{c}"),
                format!("a{c}"),
                format!("{c}a"),
            ] {
                assert_eq!(trim(&text), text.trim(), "{text:?}");
            }
        }
    }

    #[test]
    fn folded_byte_search_agrees_with_a_byte_by_byte_one() {
        let texts = [
            "",
            "i",
            "I",
            "xI",
            "abcdefgh",
            "abcdefgI",
            "abcdefghI",
            "NIP/GTB/ACME/INV-1",
            "--------/-",
        ];
        for text in texts {
            for needle in [b'i', b'/', b'-', b'a', b'z'] {
                let naive = text.bytes().position(|b| b.to_ascii_lowercase() == needle);
                assert_eq!(find_folded(text.as_bytes(), needle), naive, "{text:?} {needle}");
            }
        }
    }

    #[test]
    fn ascii_texts() {
        for text in ["", "a", "abcdefg", "abcdefgh", "abcdefghi", &"x".repeat(70)] {
            assert!(is_ascii(text), "{text}");
        }
        for text in [
            "é",
            "abcdefé",
            "abcdefghé",
            "éabcdefghijklmnop",
            "abcdefghijklmnéop",
        ] {
            assert!(!is_ascii(text), "{text}");
        }
    }

    #[test]
    fn lowercasing() {
        let mut buf = String::new();
        assert_eq!(lowercase_into("ACME Ltd", &mut buf), "acme ltd");
        assert_eq!(lowercase_into("ÀCME Ltd", &mut buf), "àcme ltd");
        // The Kelvin sign lowercases to an ASCII k.
        assert_eq!(lowercase_into("\u{212A}OBO", &mut buf), "kobo");
    }
}
