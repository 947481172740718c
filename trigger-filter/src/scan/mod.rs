//! Reading a body as JSON for filters, in one pass: the whole body is checked (RFC 8259, what
//! `JSON.parse` accepts, nesting at most [`MAX_DEPTH`] deep), and only the parts some filter
//! reads are written, to one flat tape; strings without escapes borrow from the body.
//!
//! serde_json, which this replaces here, builds through a visitor per value and checks each
//! skipped value as it goes; this reader checks skipped strings sixteen bytes at a time and
//! writes nothing for them, which makes reading a 2 KiB webhook about three times faster.

use std::fmt;

use self::lex::{Scalar, Step, What, fail, ws};
use crate::names::UNNAMED;
use crate::node::{Node, ParsedBody, Text};
use crate::reads::Shape;

mod lex;

pub(crate) use self::lex::plain_len;

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
    let mut writer = Writer {
        text,
        b: body,
        // About one entry per 40 bytes is kept of a typical webhook.
        tape: Vec::with_capacity(16 + body.len() / 40),
        escaped: Vec::new(),
    };
    match writer.top(shape) {
        Ok(()) => Ok(ParsedBody {
            text,
            tape: writer.tape,
            escaped: writer.escaped,
        }),
        Err(failed) => Err(error_at(body, failed.at(), failed.what.text())),
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

/// Writes the tape of a body: the values `shape` reaches, the rest checked by [`lex::skip`].
/// Each step takes the position of a value and returns the position after it.
struct Writer<'a> {
    text: &'a str,
    b: &'a [u8],
    tape: Vec<Node>,
    escaped: Vec<String>,
}

impl Writer<'_> {
    fn top(&mut self, shape: &Shape) -> Step<()> {
        let p = ws(self.b, 0);
        let p = ws(self.b, self.keep(shape, p, MAX_DEPTH)?);
        if p < self.b.len() {
            return fail(What::Trailing, p);
        }
        Ok(())
    }

    /// Reads the value at `p` onto the tape, with only the fields `shape` names of objects.
    fn keep(&mut self, shape: &Shape, p: usize, depth: usize) -> Step {
        match self.b.get(p) {
            Some(b'{') => self.object(shape, p, depth),
            Some(b'[') => self.array(shape, p, depth),
            _ => {
                let (end, scalar) = lex::scalar(self.b, p)?;
                let node = match scalar {
                    Scalar::String { escaped } => {
                        Node::String(self.text_of(p + 1, end - 1, escaped))
                    }
                    Scalar::Number { integer } => number(&self.text[p..end], integer),
                    Scalar::True => Node::Bool(true),
                    Scalar::False => Node::Bool(false),
                    Scalar::Null => Node::Null,
                };
                self.tape.push(node);
                Ok(end)
            }
        }
    }

    /// Opens a container at `p`: the index of its tape entry, and where its contents start.
    fn open(&mut self, p: usize, depth: usize, node: Node) -> Step<(usize, usize)> {
        if depth == 0 {
            return fail(What::Recursion, p);
        }
        self.tape.push(node);
        Ok((self.tape.len() - 1, ws(self.b, p + 1)))
    }

    /// After an element at `p`: `Ok(Err(end))` past the container's `close`, or
    /// `Ok(Ok(next))` at its next element.
    fn next_or_close(&self, p: usize, close: u8, expected: What) -> Step<Result<usize, usize>> {
        let p = ws(self.b, p);
        match self.b.get(p) {
            Some(b',') => Ok(Ok(ws(self.b, p + 1))),
            Some(&b) if b == close => Ok(Err(p + 1)),
            Some(_) => fail(expected, p),
            None => fail(What::EofValue, p),
        }
    }

    /// Closes a kept container: its entry learns where its contents end.
    fn close(&mut self, entry: usize) {
        // At most one entry per byte of the body, which is under 4 GiB.
        let len = self.tape.len() as u32;
        if let Some(Node::Array { end } | Node::Object { end, .. }) = self.tape.get_mut(entry) {
            *end = len;
        }
    }

    fn array(&mut self, shape: &Shape, p: usize, depth: usize) -> Step {
        let (entry, mut p) = self.open(p, depth, Node::Array { end: 0 })?;
        if self.b.get(p) == Some(&b']') {
            self.close(entry);
            return Ok(p + 1);
        }
        loop {
            // An array is read with the shape of its elements: filters look into each.
            p = self.keep(shape, p, depth - 1)?;
            match self.next_or_close(p, b']', What::ExpectedCommaOrBracket)? {
                Ok(next) => p = next,
                Err(end) => {
                    self.close(entry);
                    return Ok(end);
                }
            }
        }
    }

    fn object(&mut self, shape: &Shape, p: usize, depth: usize) -> Step {
        let unique = matches!(shape, Shape::Fields(_));
        let (entry, mut p) = self.open(p, depth, Node::Object { end: 0, unique })?;
        if self.b.get(p) == Some(&b'}') {
            self.close(entry);
            return Ok(p + 1);
        }
        // The fields of `shape` met so far, as bits of their indexes (the 64th and later share
        // the last bit).
        let mut seen = 0u64;
        loop {
            let key = lex::key(self.b, p)?;
            p = match self.kept(shape, &key) {
                Some((inner, index)) => {
                    let bit = index.map_or(0, |i| 1 << i.min(63));
                    if seen & bit != 0 {
                        self.shadow(entry);
                    }
                    seen |= bit;
                    self.keep(inner, key.value, depth - 1)?
                }
                // Most skipped values are strings and numbers: no call for those.
                None => match self.b.get(key.value) {
                    Some(b'{' | b'[') => lex::skip(self.b, key.value, depth - 1)?,
                    _ => lex::scalar(self.b, key.value)?.0,
                },
            };
            match self.next_or_close(p, b'}', What::ExpectedCommaOrBrace)? {
                Ok(next) => p = next,
                Err(end) => {
                    self.close(entry);
                    return Ok(end);
                }
            }
        }
    }

    /// The shape of the value of `key` when `shape` reads it, with the index of the field in
    /// `shape` (none when it is kept whole); then its key is on the tape.
    fn kept<'s>(&mut self, shape: &'s Shape, key: &lex::Key) -> Option<(&'s Shape, Option<usize>)> {
        let (inner, index, id) = match shape {
            Shape::Whole => (shape, None, UNNAMED),
            Shape::Fields(fields) => {
                let (index, id, inner) = if key.escaped {
                    let raw = &self.text[key.start..key.end];
                    fields.get(lex::unescape(raw).as_bytes())?
                } else {
                    fields.get(self.b.get(key.start..key.end).unwrap_or_default())?
                };
                (inner, Some(index), id)
            }
        };
        let text = self.text_of(key.start, key.end, key.escaped);
        self.tape.push(Node::Key(text, id));
        Some((inner, index))
    }

    /// Marks the earlier keys of the object at `entry` with the name of its last key (just
    /// written) as shadowed: the object stays unique.
    #[cold]
    fn shadow(&mut self, entry: usize) {
        let Some(&Node::Key(last, _)) = self.tape.last() else {
            return;
        };
        let name = crate::node::text_of(self.text, &self.escaped, last).to_owned();
        let mut next = entry + 1;
        while next + 1 < self.tape.len() {
            let value = next + 1;
            let after = match self.tape[value] {
                Node::Array { end } | Node::Object { end, .. } => end as usize,
                _ => value + 1,
            };
            if let Node::Key(key, _) = self.tape[next] {
                if crate::node::text_of(self.text, &self.escaped, key) == name {
                    self.tape[next] = Node::Shadowed;
                }
            }
            next = after;
        }
    }

    /// Where the text of a checked string is: in the body, or decoded when it has escapes.
    fn text_of(&mut self, start: usize, end: usize, escaped: bool) -> Text {
        // Offsets fit: the body is under 4 GiB, and has more bytes than escaped strings.
        if escaped {
            self.escaped.push(lex::unescape(&self.text[start..end]));
            Text::Escaped(self.escaped.len() as u32 - 1)
        } else {
            Text::Raw {
                start: start as u32,
                len: (end - start) as u32,
            }
        }
    }
}

/// The value of a checked number: an integer exactly when it fits, else the nearest float (to
/// infinity when too large, as in JavaScript).
fn number(text: &str, integer: bool) -> Node {
    if integer {
        if let Ok(i) = text.parse() {
            return Node::Int(i);
        }
        if let Ok(u) = text.parse() {
            return Node::UInt(u);
        }
    }
    // Checked, so Rust parses it.
    Node::Float(text.parse().unwrap_or(f64::NAN))
}
