//! Reading a body as JSON for filters, in one pass: the whole body is checked (RFC 8259, what
//! `JSON.parse` accepts, nesting at most [`MAX_DEPTH`] deep), and only the parts some filter
//! reads are written, to one flat tape; strings without escapes borrow from the body.
//!
//! serde_json, which this replaces here, builds through a visitor per value and checks each
//! skipped value as it goes; this reader checks skipped strings eight bytes at a time and
//! writes nothing for them, which makes reading a 2 KiB webhook about three times faster.

use std::fmt;

use crate::node::{Node, Num, ParsedBody, Text};
use crate::reads::Shape;

/// How deeply arrays and objects may nest, as deep as serde_json reads into a `Value` (what a
/// job's `request.json()` does): deeper is an error, not a stack overflow.
pub(crate) const MAX_DEPTH: usize = 127;

/// Why a body is not JSON, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyError {
    what: &'static str,
    line: usize,
    column: usize,
}

impl BodyError {
    /// What is wrong, without where: `expected value`.
    pub fn what(&self) -> &'static str {
        self.what
    }

    /// The line of the offending byte, from 1.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The column (in bytes) of the offending byte, from 1.
    pub fn column(&self) -> usize {
        self.column
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at line {} column {}",
            self.what, self.line, self.column
        )
    }
}

impl std::error::Error for BodyError {}

/// The reader stopped at an error, whose text is in [`Reader::failure`] (a small error keeps
/// every step's result in registers).
struct Stop;

type Step<T = ()> = Result<T, Stop>;

/// Reads `body`, keeping what `shape` reaches.
pub(crate) fn read<'a>(body: &'a [u8], shape: &Shape) -> Result<ParsedBody<'a>, BodyError> {
    // The tape holds offsets as u32.
    if u32::try_from(body.len()).is_err() {
        return Err(error_at(
            body,
            0,
            "a body over 4 GiB is not read for filters",
        ));
    }
    let text = match std::str::from_utf8(body) {
        Ok(text) => text,
        Err(error) => return Err(error_at(body, error.valid_up_to(), "invalid UTF-8")),
    };
    let mut reader = Reader {
        text,
        bytes: body,
        pos: 0,
        // About one entry per 40 bytes is kept of a typical webhook.
        tape: Vec::with_capacity(16 + body.len() / 40),
        escaped: Vec::new(),
        failure: "",
    };
    match reader.top(shape) {
        Ok(()) => Ok(ParsedBody {
            text,
            tape: reader.tape,
            escaped: reader.escaped,
        }),
        Err(Stop) => Err(error_at(body, reader.pos, reader.failure)),
    }
}

fn error_at(bytes: &[u8], pos: usize, what: &'static str) -> BodyError {
    let before = &bytes[..pos.min(bytes.len())];
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    BodyError {
        what,
        line: 1 + before.iter().filter(|&&b| b == b'\n').count(),
        column: 1 + pos - line_start,
    }
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    tape: Vec<Node>,
    escaped: Vec<String>,
    /// What is wrong at `pos`, once a step returned [`Stop`].
    failure: &'static str,
}

/// A string's contents, between its quotes.
struct Span {
    start: usize,
    end: usize,
    escaped: bool,
}

impl<'a> Reader<'a> {
    fn top(&mut self, shape: &Shape) -> Step {
        self.whitespace();
        self.keep(shape, MAX_DEPTH)?;
        self.whitespace();
        if self.pos < self.bytes.len() {
            return self.fail("trailing characters");
        }
        Ok(())
    }

    #[cold]
    fn fail<T>(&mut self, what: &'static str) -> Step<T> {
        self.failure = what;
        Err(Stop)
    }

    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    #[inline(always)]
    fn whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Reads one value onto the tape, with only the fields `shape` names of objects.
    fn keep(&mut self, shape: &Shape, depth: usize) -> Step {
        match self.peek() {
            Some(b'{') => self.object(shape, depth),
            Some(b'[') => self.array(shape, depth),
            _ => self.scalar(true),
        }
    }

    /// Checks one value without keeping it: a loop over its tokens, with the containers open
    /// around it as a stack of bits (1: an object), at most `depth` deep.
    fn skip(&mut self, depth: usize) -> Step {
        let mut open: u128 = 0;
        let mut level = 0;
        loop {
            match self.peek() {
                Some(b @ (b'{' | b'[')) => {
                    if level == depth {
                        return self.fail("recursion limit exceeded");
                    }
                    let object = b == b'{';
                    self.pos += 1;
                    self.whitespace();
                    let close = if object { b'}' } else { b']' };
                    if self.peek() != Some(close) {
                        // `depth` is at most MAX_DEPTH, so the stack holds every level.
                        open = (open << 1) | u128::from(object);
                        level += 1;
                        if object {
                            self.key()?;
                        }
                        continue;
                    }
                    self.pos += 1;
                }
                _ => self.scalar(false)?,
            }
            // After a value: the next one, or the ends of the containers it closes.
            loop {
                if level == 0 {
                    return Ok(());
                }
                self.whitespace();
                let object = open & 1 == 1;
                match (self.peek(), object) {
                    (Some(b','), _) => {
                        self.pos += 1;
                        self.whitespace();
                        if object {
                            self.key()?;
                        }
                        break;
                    }
                    (Some(b'}'), true) | (Some(b']'), false) => {
                        self.pos += 1;
                        level -= 1;
                        open >>= 1;
                    }
                    (Some(_), true) => return self.fail("expected `,` or `}`"),
                    (Some(_), false) => return self.fail("expected `,` or `]`"),
                    (None, _) => return self.fail("EOF while parsing a value"),
                }
            }
        }
    }

    /// A string, number, boolean or null; onto the tape when `keep`.
    #[inline(always)]
    fn scalar(&mut self, keep: bool) -> Step {
        match self.peek() {
            Some(b'"') => {
                let span = self.string()?;
                if keep {
                    let text = self.text_of(&span);
                    self.tape.push(Node::String(text));
                }
                Ok(())
            }
            Some(b'-' | b'0'..=b'9') => {
                let number = self.number(keep)?;
                self.tape.extend(number.map(|n| match n {
                    Num::Int(i) => Node::Int(i),
                    Num::UInt(u) => Node::UInt(u),
                    Num::Float(f) => Node::Float(f),
                }));
                Ok(())
            }
            Some(b't') => self.literal("true", keep.then_some(Node::Bool(true))),
            Some(b'f') => self.literal("false", keep.then_some(Node::Bool(false))),
            Some(b'n') => self.literal("null", keep.then_some(Node::Null)),
            Some(_) => self.fail("expected value"),
            None => self.fail("EOF while parsing a value"),
        }
    }

    fn literal(&mut self, word: &'static str, node: Option<Node>) -> Step {
        if !self.bytes[self.pos..].starts_with(word.as_bytes()) {
            return self.fail("expected value");
        }
        self.pos += word.len();
        self.tape.extend(node);
        Ok(())
    }

    /// Opens a kept container at the current byte: the index of its tape entry.
    fn open(&mut self, depth: usize, node: Node) -> Step<usize> {
        if depth == 0 {
            return self.fail("recursion limit exceeded");
        }
        self.pos += 1;
        self.whitespace();
        self.tape.push(node);
        Ok(self.tape.len() - 1)
    }

    /// After a container's element: `true` at its end, `false` before the next element.
    fn next_or_close(&mut self, close: u8, expected: &'static str) -> Step<bool> {
        self.whitespace();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                self.whitespace();
                Ok(false)
            }
            Some(b) if b == close => {
                self.pos += 1;
                Ok(true)
            }
            Some(_) => self.fail(expected),
            None => self.fail("EOF while parsing a value"),
        }
    }

    /// Closes a kept container: its entry learns where its contents end.
    fn close(&mut self, entry: usize) {
        // At most one entry per byte of the body, which is under 4 GiB.
        let len = self.tape.len() as u32;
        if let Some(Node::Array { end } | Node::Object { end }) = self.tape.get_mut(entry) {
            *end = len;
        }
    }

    fn array(&mut self, shape: &Shape, depth: usize) -> Step {
        let entry = self.open(depth, Node::Array { end: 0 })?;
        if self.peek() == Some(b']') {
            self.pos += 1;
        } else {
            loop {
                // An array is read with the shape of its elements: filters look into each.
                self.keep(shape, depth - 1)?;
                if self.next_or_close(b']', "expected `,` or `]`")? {
                    break;
                }
            }
        }
        self.close(entry);
        Ok(())
    }

    fn object(&mut self, shape: &Shape, depth: usize) -> Step {
        let entry = self.open(depth, Node::Object { end: 0 })?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
        } else {
            loop {
                let key = self.key()?;
                match self.kept(shape, &key) {
                    Some(inner) => self.keep(inner, depth - 1)?,
                    // Most skipped values are strings and numbers: no call for those.
                    None if !matches!(self.peek(), Some(b'{' | b'[')) => self.scalar(false)?,
                    None => self.skip(depth - 1)?,
                }
                if self.next_or_close(b'}', "expected `,` or `}`")? {
                    break;
                }
            }
        }
        self.close(entry);
        Ok(())
    }

    /// An object's key and its `:`, up to its value.
    #[inline(always)]
    fn key(&mut self) -> Step<Span> {
        match self.peek() {
            Some(b'"') => {}
            Some(_) => return self.fail("key must be a string"),
            None => return self.fail("EOF while parsing an object"),
        }
        let key = self.string()?;
        self.whitespace();
        if self.peek() != Some(b':') {
            return self.fail("expected `:`");
        }
        self.pos += 1;
        self.whitespace();
        Ok(key)
    }

    /// The shape of the value of `key` when `shape` reads it; then its key is on the tape.
    fn kept<'s>(&mut self, shape: &'s Shape, key: &Span) -> Option<&'s Shape> {
        let inner = match shape {
            Shape::Whole => shape,
            Shape::Fields(fields) => {
                let raw = &self.text[key.start..key.end];
                if key.escaped {
                    fields.get(unescape(raw).as_bytes())?
                } else {
                    fields.get(raw.as_bytes())?
                }
            }
        };
        let text = self.text_of(key);
        self.tape.push(Node::Key(text));
        Some(inner)
    }

    /// A string at the current byte (a `"`): where its contents are, checked.
    #[inline(always)]
    fn string(&mut self) -> Step<Span> {
        self.pos += 1;
        let start = self.pos;
        let mut escaped = false;
        loop {
            self.skip_plain();
            match self.peek() {
                Some(b'"') => {
                    let end = self.pos;
                    self.pos += 1;
                    return Ok(Span {
                        start,
                        end,
                        escaped,
                    });
                }
                Some(b'\\') => {
                    escaped = true;
                    self.escape()?;
                }
                Some(_) => {
                    return self
                        .fail("control character (\\u0000-\\u001F) found while parsing a string");
                }
                None => return self.fail("EOF while parsing a string"),
            }
        }
    }

    /// Moves to the next `"`, `\` or control character.
    #[inline(always)]
    fn skip_plain(&mut self) {
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        self.pos += plain_len(rest);
    }

    /// Checks the escape at the current byte (a `\`) and moves past it.
    fn escape(&mut self) -> Step {
        self.pos += 1;
        match self.peek() {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                self.pos += 1;
                Ok(())
            }
            Some(b'u') => {
                self.pos += 1;
                for _ in 0..4 {
                    match self.peek() {
                        Some(b) if b.is_ascii_hexdigit() => self.pos += 1,
                        Some(_) => return self.fail("invalid escape"),
                        None => return self.fail("EOF while parsing a string"),
                    }
                }
                Ok(())
            }
            Some(_) => self.fail("invalid escape"),
            None => self.fail("EOF while parsing a string"),
        }
    }

    /// Where a checked string's text is: in the body, or decoded when it has escapes.
    #[inline(always)]
    fn text_of(&mut self, span: &Span) -> Text {
        // Offsets fit: the body is under 4 GiB, and has more bytes than escaped strings.
        if span.escaped {
            self.escaped
                .push(unescape(&self.text[span.start..span.end]));
            Text::Escaped(self.escaped.len() as u32 - 1)
        } else {
            Text::Raw {
                start: span.start as u32,
                len: (span.end - span.start) as u32,
            }
        }
    }

    /// A number at the current byte; its value when `keep`.
    fn number(&mut self, keep: bool) -> Step<Option<Num>> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return self.fail("invalid number"),
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.some_digits()?;
            integer = false;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.some_digits()?;
            integer = false;
        }
        if !keep {
            return Ok(None);
        }
        let text = &self.text[start..self.pos];
        let int = integer.then(|| {
            (text.parse().map(Num::Int).ok()).or_else(|| text.parse().map(Num::UInt).ok())
        });
        // Checked above, so Rust parses it (to infinity when it is too large, as JavaScript).
        let float = || Num::Float(text.parse().unwrap_or(f64::NAN));
        Ok(Some(int.flatten().unwrap_or_else(float)))
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    fn some_digits(&mut self) -> Step {
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return self.fail("invalid number");
        }
        self.digits();
        Ok(())
    }
}

/// How many bytes `bytes` starts with that JSON writes as they are in a string: up to the
/// first `"`, `\` or control character, found eight bytes at a time.
#[inline(always)]
pub(crate) fn plain_len(bytes: &[u8]) -> usize {
    let mut len = 0;
    while let Some(chunk) = bytes.get(len..).and_then(<[u8]>::first_chunk) {
        let found = special(u64::from_le_bytes(*chunk));
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

/// Decodes the escapes of a checked string's contents. A lone surrogate (`"\ud800"`), which
/// `JSON.parse` accepts but UTF-8 cannot hold, becomes U+FFFD.
fn unescape(raw: &str) -> String {
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
