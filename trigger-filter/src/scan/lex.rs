//! The tokens of JSON, each read from a position and returning the position after it: plain
//! functions over the bytes, so that the position stays in a register. [`skip`] checks a whole
//! value this way without writing anything.

/// What is wrong, and at which byte: eight bytes, so that a [`Step`] comes back in two
/// registers.
#[derive(Clone, Copy, Debug)]
pub(super) struct Fail {
    pub(super) what: What,
    at: u32,
}

impl Fail {
    /// The offending byte's offset.
    pub(super) fn at(self) -> usize {
        self.at as usize
    }
}

pub(super) type Step<T = usize> = Result<T, Fail>;

/// `at` is within a body, which is under 4 GiB.
#[cold]
pub(super) fn fail<T>(what: What, at: usize) -> Step<T> {
    Err(Fail {
        what,
        at: u32::try_from(at).unwrap_or(u32::MAX),
    })
}

/// Why a body is not JSON, worded as serde_json words it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum What {
    ExpectedValue,
    EofValue,
    Recursion,
    Control,
    EofString,
    InvalidEscape,
    InvalidNumber,
    KeyNotString,
    EofObject,
    ExpectedColon,
    ExpectedCommaOrBracket,
    ExpectedCommaOrBrace,
    Trailing,
}

impl What {
    pub(super) fn text(self) -> &'static str {
        match self {
            Self::ExpectedValue => "expected value",
            Self::EofValue => "EOF while parsing a value",
            Self::Recursion => "recursion limit exceeded",
            Self::Control => "control character (\\u0000-\\u001F) found while parsing a string",
            Self::EofString => "EOF while parsing a string",
            Self::InvalidEscape => "invalid escape",
            Self::InvalidNumber => "invalid number",
            Self::KeyNotString => "key must be a string",
            Self::EofObject => "EOF while parsing an object",
            Self::ExpectedColon => "expected `:`",
            Self::ExpectedCommaOrBracket => "expected `,` or `]`",
            Self::ExpectedCommaOrBrace => "expected `,` or `}`",
            Self::Trailing => "trailing characters",
        }
    }
}

/// After the whitespace at `p`.
#[inline(always)]
pub(super) fn ws(b: &[u8], mut p: usize) -> usize {
    // Most senders write none: one test for them.
    if b.get(p).is_some_and(|&c| c > b' ') {
        return p;
    }
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(p) {
        p += 1;
    }
    p
}

/// A string, number, boolean or null.
#[derive(Clone, Copy, Debug)]
pub(super) enum Scalar {
    /// A string; whether it has escapes.
    String {
        escaped: bool,
    },
    /// A number; whether it is an integer (no fraction, no exponent).
    Number {
        integer: bool,
    },
    True,
    False,
    Null,
}

/// The scalar at `p`, and the position after it.
#[inline(always)]
pub(super) fn scalar(b: &[u8], p: usize) -> Step<(usize, Scalar)> {
    match b.get(p) {
        Some(b'"') => string(b, p).map(|(end, escaped)| (end, Scalar::String { escaped })),
        Some(b'-' | b'0'..=b'9') => {
            number(b, p).map(|(end, integer)| (end, Scalar::Number { integer }))
        }
        Some(b't') => literal(b, p, "true").map(|end| (end, Scalar::True)),
        Some(b'f') => literal(b, p, "false").map(|end| (end, Scalar::False)),
        Some(b'n') => literal(b, p, "null").map(|end| (end, Scalar::Null)),
        Some(_) => fail(What::ExpectedValue, p),
        None => fail(What::EofValue, p),
    }
}

fn literal(b: &[u8], p: usize, word: &'static str) -> Step {
    if b.get(p..p + word.len()) == Some(word.as_bytes()) {
        Ok(p + word.len())
    } else {
        fail(What::ExpectedValue, p)
    }
}

/// The string whose opening quote is at `p`: the position after its closing quote, and
/// whether it has escapes.
#[inline(always)]
pub(super) fn string(b: &[u8], mut p: usize) -> Step<(usize, bool)> {
    p += 1;
    let mut escaped = false;
    loop {
        p += plain_len(b.get(p..).unwrap_or_default());
        match b.get(p) {
            Some(b'"') => return Ok((p + 1, escaped)),
            Some(b'\\') => {
                escaped = true;
                p = escape(b, p)?;
            }
            Some(_) => {
                return fail(What::Control, p);
            }
            None => return fail(What::EofString, p),
        }
    }
}

/// The escape whose `\` is at `p`, checked: the position after it.
fn escape(b: &[u8], p: usize) -> Step {
    match b.get(p + 1) {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(p + 2),
        Some(b'u') => {
            for at in p + 2..p + 6 {
                match b.get(at) {
                    Some(d) if d.is_ascii_hexdigit() => {}
                    Some(_) => return fail(What::InvalidEscape, at),
                    None => return fail(What::EofString, at),
                }
            }
            Ok(p + 6)
        }
        Some(_) => fail(What::InvalidEscape, p + 1),
        None => fail(What::EofString, p + 1),
    }
}

/// The number at `p`, checked: the position after it, and whether it is an integer.
fn number(b: &[u8], p: usize) -> Step<(usize, bool)> {
    let mut q = p + usize::from(b.get(p) == Some(&b'-'));
    match b.get(q) {
        Some(b'0') => q += 1,
        Some(b'1'..=b'9') => q = digits(b, q + 1),
        _ => return fail(What::InvalidNumber, q),
    }
    let mut integer = true;
    if b.get(q) == Some(&b'.') {
        q = some_digits(b, q + 1)?;
        integer = false;
    }
    if let Some(b'e' | b'E') = b.get(q) {
        q += 1;
        if let Some(b'+' | b'-') = b.get(q) {
            q += 1;
        }
        q = some_digits(b, q)?;
        integer = false;
    }
    Ok((q, integer))
}

fn digits(b: &[u8], mut p: usize) -> usize {
    while let Some(b'0'..=b'9') = b.get(p) {
        p += 1;
    }
    p
}

fn some_digits(b: &[u8], p: usize) -> Step {
    match b.get(p) {
        Some(b'0'..=b'9') => Ok(digits(b, p + 1)),
        _ => fail(What::InvalidNumber, p),
    }
}

/// An object's key, checked with its `:`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Key {
    /// Where its contents start and end, between its quotes.
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) escaped: bool,
    /// Where its value starts.
    pub(super) value: usize,
}

/// The key at `p`.
#[inline(always)]
pub(super) fn key(b: &[u8], p: usize) -> Step<Key> {
    match b.get(p) {
        Some(b'"') => {}
        Some(_) => return fail(What::KeyNotString, p),
        None => return fail(What::EofObject, p),
    }
    let (after, escaped) = string(b, p)?;
    let colon = ws(b, after);
    if b.get(colon) != Some(&b':') {
        return fail(What::ExpectedColon, colon);
    }
    Ok(Key {
        start: p + 1,
        end: after - 1,
        escaped,
        value: ws(b, colon + 1),
    })
}

/// Checks the value at `p`, nested at most `depth` deep, without keeping anything: a loop
/// over its tokens, with the containers open around the current one as a stack of bits
/// (1: an object). Returns the position after it.
pub(super) fn skip(b: &[u8], mut p: usize, depth: usize) -> Step {
    let mut open: u128 = 0;
    let mut level = 0;
    loop {
        match b.get(p) {
            Some(&c @ (b'{' | b'[')) => {
                if level == depth {
                    return fail(What::Recursion, p);
                }
                let object = c == b'{';
                p = ws(b, p + 1);
                if b.get(p) == Some(if object { &b'}' } else { &b']' }) {
                    p += 1;
                } else {
                    // `depth` is at most MAX_DEPTH, so the stack holds every level.
                    open = (open << 1) | u128::from(object);
                    level += 1;
                    if object {
                        p = key(b, p)?.value;
                    }
                    continue;
                }
            }
            _ => p = scalar(b, p)?.0,
        }
        // After a value: the next one, or the ends of the containers it closes.
        loop {
            if level == 0 {
                return Ok(p);
            }
            p = ws(b, p);
            let object = open & 1 == 1;
            match (b.get(p), object) {
                (Some(b','), _) => {
                    p = ws(b, p + 1);
                    if object {
                        p = key(b, p)?.value;
                    }
                    break;
                }
                (Some(b'}'), true) | (Some(b']'), false) => {
                    p += 1;
                    level -= 1;
                    open >>= 1;
                }
                (Some(_), true) => return fail(What::ExpectedCommaOrBrace, p),
                (Some(_), false) => return fail(What::ExpectedCommaOrBracket, p),
                (None, _) => return fail(What::EofValue, p),
            }
        }
    }
}

/// How many bytes `bytes` starts with that JSON writes as they are in a string: up to the
/// first `"`, `\` or control character, found sixteen bytes at a time on x86_64 (SSE2), then
/// eight at a time, then byte by byte.
#[inline(always)]
pub(crate) fn plain_len(bytes: &[u8]) -> usize {
    let mut len = 0;
    #[cfg(target_arch = "x86_64")]
    for chunk in bytes.chunks_exact(16) {
        let found = sse2::special(chunk.try_into().unwrap_or(&[0; 16]));
        if found != 0 {
            return len + found.trailing_zeros() as usize;
        }
        len += 16;
    }
    for chunk in bytes[len..].chunks_exact(8) {
        let word = u64::from_le_bytes([
            chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
        ]);
        let found = special(word);
        if found != 0 {
            return len + (found.trailing_zeros() / 8) as usize;
        }
        len += 8;
    }
    while let Some(&b) = bytes.get(len) {
        if b == b'"' || b == b'\\' || b < 0x20 {
            break;
        }
        len += 1;
    }
    len
}

/// A word whose bytes have their high bit set where `word` has a `"`, a `\` or a control
/// character: the lowest such bit is exact (the others may be false, and are not used).
#[inline(always)]
fn special(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x;
    let quote = zero(word ^ (ONES * u64::from(b'"')));
    let backslash = zero(word ^ (ONES * u64::from(b'\\')));
    let control = word.wrapping_sub(ONES * 0x20) & !word;
    (quote | backslash | control) & HIGH
}

/// Sixteen bytes compared at once, with the instructions every x86_64 processor has.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod sse2 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };

    /// Bit `i` is set where `chunk[i]` is a `"`, a `\` or a control character.
    #[inline(always)]
    pub(super) fn special(chunk: &[u8; 16]) -> u32 {
        // SAFETY: SSE2 is part of the x86_64 baseline, enabled for every x86_64 target, so
        // these instructions exist wherever this code runs; the unaligned load reads the 16
        // bytes of `chunk` and nothing else.
        unsafe {
            let v = _mm_loadu_si128(chunk.as_ptr().cast());
            let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
            let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
            // Unsigned: a byte below 0x20 is its own minimum with 0x1F.
            let control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
            let found = _mm_or_si128(_mm_or_si128(quote, backslash), control);
            _mm_movemask_epi8(found) as u32
        }
    }
}

/// Decodes the escapes of a checked string's contents. A lone surrogate (`"\ud800"`), which
/// `JSON.parse` accepts but UTF-8 cannot hold, becomes U+FFFD.
pub(super) fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let escape = &rest[i + 1..];
        let (decoded, used) = match escape.as_bytes().first() {
            Some(b'b') => ('\u{8}', 1),
            Some(b'f') => ('\u{c}', 1),
            Some(b'n') => ('\n', 1),
            Some(b'r') => ('\r', 1),
            Some(b't') => ('\t', 1),
            Some(b'u') => unicode(escape),
            // `"`, `\` and `/` stand for themselves.
            Some(&b) => (char::from(b), 1),
            None => break,
        };
        out.push(decoded);
        rest = &escape[used..];
    }
    out.push_str(rest);
    out
}

/// `u` and four hex digits, or a surrogate pair of two such escapes: the character and the
/// bytes used.
fn unicode(escape: &str) -> (char, usize) {
    let hex = |s: &str| s.get(1..5).and_then(|h| u32::from_str_radix(h, 16).ok());
    let Some(first) = hex(escape) else {
        return (char::REPLACEMENT_CHARACTER, 1);
    };
    if (0xD800..0xDC00).contains(&first) {
        let low = escape
            .get(5..)
            .filter(|s| s.starts_with("\\u"))
            .and_then(|s| hex(&s[1..]))
            .filter(|low| (0xDC00..0xE000).contains(low));
        if let Some(low) = low {
            let code = 0x10000 + ((first - 0xD800) << 10) + (low - 0xDC00);
            return (
                char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER),
                11,
            );
        }
    }
    (
        char::from_u32(first).unwrap_or(char::REPLACEMENT_CHARACTER),
        5,
    )
}

#[cfg(test)]
mod tests {
    use super::{plain_len, special, unescape};

    #[test]
    fn special_finds_the_first_quote_backslash_or_control_character() {
        let first = |bytes: &[u8; 8]| {
            let found = special(u64::from_le_bytes(*bytes));
            (found != 0).then(|| found.trailing_zeros() / 8)
        };
        assert_eq!(first(b"abcdefgh"), None);
        assert_eq!(first(b"abc\"efgh"), Some(3));
        assert_eq!(first(b"\\bcdefgh"), Some(0));
        assert_eq!(first(b"abcdefg\n"), Some(7));
        assert_eq!(first(b"ab\x1fd\"fgh"), Some(2));
        assert_eq!(
            first(&[0xC3, 0xA9, b'a', 0x7f, b' ', b'~', 0xff, 0x80]),
            None
        );
        assert_eq!(first(&[0x00, b'"', 0, 0, 0, 0, 0, 0]), Some(0));
        assert_eq!(first(&[0x21, 0x01, b'"', 0, 0, 0, 0, 0]), Some(1));
    }

    #[test]
    fn plain_len_stops_at_what_json_escapes() {
        assert_eq!(plain_len(b""), 0);
        assert_eq!(plain_len(b"abc"), 3);
        assert_eq!(plain_len(b"abcdefghijklmnop\"q"), 16);
        assert_eq!(plain_len(b"abcdefghij\\"), 10);
        // Bytes, not characters: é and ö take two each.
        assert_eq!(
            plain_len("h\u{e9}llo w\u{f6}rld, caf\u{e9}\n".as_bytes()),
            20
        );
        assert_eq!(plain_len(b"\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x1f"), 9);
    }

    #[test]
    fn plain_len_finds_each_special_byte_wherever_it_is() {
        // Across the sixteen- and eight-byte steps and the tail, with bytes above 0x7F
        // (which a signed comparison would take for control characters) around it.
        for len in 0..48 {
            for at in 0..=len {
                for special in [b'"', b'\\', 0x00, 0x1f] {
                    let mut bytes: Vec<u8> =
                        (0..len).map(|i| [b'a', 0xC3, 0x7f, b' '][i % 4]).collect();
                    if at < len {
                        bytes[at] = special;
                    }
                    assert_eq!(plain_len(&bytes), at, "{bytes:?}");
                }
            }
        }
    }

    #[test]
    fn escapes_decode() {
        assert_eq!(
            unescape(r#"a\"b\\c\/d\b\f\n\r\t"#),
            "a\"b\\c/d\u{8}\u{c}\n\r\t"
        );
        assert_eq!(unescape(r"\u00e9\u0041"), "éA");
        assert_eq!(unescape(r"\ud83d\ude00!"), "😀!");
        assert_eq!(unescape(r"\ud800x"), "\u{fffd}x");
        assert_eq!(unescape(r"\udc00\ud800\u0041"), "\u{fffd}\u{fffd}A");
    }
}
