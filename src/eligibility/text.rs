//! Text primitives of the eligibility contract (spec "Text matching"): the word normal form
//! that keyword matching runs on, reference candidates, the sender forms of a narration,
//! and the case-insensitive comparisons used by rules. Everything here borrows or writes
//! into a buffer the caller owns, so the hot path allocates nothing.

/// A word character: a Unicode letter or digit. A word is a maximal run of them.
#[inline]
pub fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
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
    text.split(|c: char| c.is_whitespace() || matches!(c, '/' | ',' | ';' | '|'))
        .filter(|token| !token.is_empty())
}

/// The sender named by a narration in one of the spec's forms, case-insensitively:
/// `NIP/<bank>/<name>/...`, `TRF FROM <name>`, `TRANSFER FROM <name>`, `FRM <name>`.
///
/// A marker counts only at the start of a word. For the NIP form the name is the third
/// segment. For the others the name runs to the next `/ , ; |`, a standalone word `TO`
/// ("TRF FROM JOHN DOE TO ACME") or the end, trimmed; an empty name does not count.
/// The first marker that yields a name wins.
pub fn narration_sender(narration: &str) -> Option<&str> {
    let bytes = narration.as_bytes();
    for start in 0..bytes.len() {
        let b = bytes[start].to_ascii_lowercase();
        if !matches!(b, b'n' | b't' | b'f') || !boundary_before(narration, start) {
            continue;
        }
        // `start` holds an ASCII byte, so it is a char boundary.
        let rest = &narration[start..];
        let name = match b {
            b'n' => nip_sender(rest),
            b't' => strip_marker(rest, "trf")
                .or_else(|| strip_marker(rest, "transfer"))
                .and_then(|after| strip_marker(after, "from"))
                .and_then(free_name),
            _ => strip_marker(rest, "frm").and_then(free_name),
        };
        if name.is_some() {
            return name;
        }
    }
    None
}

/// Whether the char before byte `at` is not a word char (or there is none).
fn boundary_before(text: &str, at: usize) -> bool {
    text.get(..at)
        .and_then(|head| head.chars().next_back())
        .is_none_or(|c| !is_word_char(c))
}

/// `NIP/<bank>/<name>[/...]` at the start of `rest`.
fn nip_sender(rest: &str) -> Option<&str> {
    let head = rest.get(..4)?;
    if !head.eq_ignore_ascii_case("nip/") {
        return None;
    }
    let mut segments = rest[4..].splitn(3, '/');
    let bank = segments.next()?.trim();
    let name = segments.next()?.trim();
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
    let trimmed = after.trim_start();
    (trimmed.len() < after.len()).then_some(trimmed)
}

/// The free-form name after `TRF FROM` / `TRANSFER FROM` / `FRM`.
fn free_name(text: &str) -> Option<&str> {
    let mut end = text.find(['/', ',', ';', '|']).unwrap_or(text.len());
    let mut offset = 0;
    for word in text[..end].split_whitespace() {
        // split_whitespace yields subslices of the text, so their offsets are exact.
        let at = word.as_ptr() as usize - text.as_ptr() as usize;
        if offset > 0 && word.eq_ignore_ascii_case("to") {
            end = at;
            break;
        }
        offset = at + word.len();
    }
    let name = text[..end].trim();
    (!name.is_empty()).then_some(name)
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
    fn lowercasing() {
        let mut buf = String::new();
        assert_eq!(lowercase_into("ACME Ltd", &mut buf), "acme ltd");
        assert_eq!(lowercase_into("ÀCME Ltd", &mut buf), "àcme ltd");
        // The Kelvin sign lowercases to an ASCII k.
        assert_eq!(lowercase_into("\u{212A}OBO", &mut buf), "kobo");
    }
}
