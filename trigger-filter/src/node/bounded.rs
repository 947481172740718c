//! JSON text written with a length limit, for describing values in reasons.

use std::fmt::Write as _;

use super::*;

/// JSON text appended to `text` as it comes, stopping once more than `stop` bytes are there;
/// [`Bounded::finish`] then cuts it to its limit in characters. Plain pushes, and one test per
/// element: a value shown in a reason is mostly short ASCII.
pub(super) struct Bounded<'o> {
    text: &'o mut String,
    /// Where the value starts in `text`.
    start: usize,
    /// The most characters shown.
    max: usize,
    /// The length of `text` past which writing stops, so that what stops is sure to be
    /// cut: one byte per character shown while all is ASCII, then four.
    stop: usize,
    ascii: bool,
}

/// Enough is written: the value will be cut.
pub(super) struct Full;

impl<'o> Bounded<'o> {
    pub(super) fn new(text: &'o mut String, max: usize) -> Self {
        let start = text.len();
        Self {
            text,
            start,
            max,
            stop: start + max,
            ascii: true,
        }
    }

    fn check(&self) -> Result<(), Full> {
        if self.text.len() > self.stop {
            Err(Full)
        } else {
            Ok(())
        }
    }

    /// Cuts what was written to its first `max - 3` characters and `...` when it has more
    /// than `max`.
    pub(super) fn finish(self) {
        super::cut(self.text, self.start, self.max);
    }

    /// A string, escaped as serde_json escapes it; a long one only until past `stop`.
    fn string(&mut self, s: &str) -> Result<(), Full> {
        if self.ascii && !s.is_ascii() {
            self.ascii = false;
            self.stop = self.start + self.max.saturating_mul(4);
        }
        let room = (self.stop + 1).saturating_sub(self.text.len());
        let (s, cut) = if s.len() > room {
            // The end of the character at `room` (MSRV 1.85 has no `ceil_char_boundary`).
            let end = (room..s.len())
                .find(|&i| s.is_char_boundary(i))
                .unwrap_or(s.len());
            (&s[..end], true)
        } else {
            (s, false)
        };
        self.text.push('"');
        let mut rest = s;
        loop {
            let i = crate::scan::plain_len(rest.as_bytes());
            self.text.push_str(&rest[..i]);
            let Some(&special) = rest.as_bytes().get(i) else {
                break;
            };
            match special {
                b'"' => self.text.push_str("\\\""),
                b'\\' => self.text.push_str("\\\\"),
                b'\n' => self.text.push_str("\\n"),
                b'\r' => self.text.push_str("\\r"),
                b'\t' => self.text.push_str("\\t"),
                0x08 => self.text.push_str("\\b"),
                0x0c => self.text.push_str("\\f"),
                control => {
                    let _ = write!(self.text, "\\u{control:04x}");
                }
            }
            rest = &rest[i + 1..];
        }
        if cut {
            return Err(Full);
        }
        self.text.push('"');
        self.check()
    }

    pub(super) fn value(&mut self, at: At<'_, '_>) -> Result<(), Full> {
        match at.node() {
            Node::Null | Node::Key(..) | Node::Shadowed => self.text.push_str("null"),
            Node::Bool(b) => self.text.push_str(if b { "true" } else { "false" }),
            Node::Int(_) | Node::UInt(_) | Node::Float(_) => {
                if let Some(number) = at.as_num() {
                    let _ = write!(self.text, "{number}");
                }
            }
            Node::String(text) => return self.string(at.body.text(text)),
            Node::Array { end } => {
                self.text.push('[');
                for (i, item) in at.children(end).enumerate() {
                    if i > 0 {
                        self.text.push(',');
                    }
                    self.value(item)?;
                }
                self.text.push(']');
            }
            Node::Object { .. } => {
                self.text.push('{');
                for (i, (key, value)) in at.fields().into_iter().flatten().enumerate() {
                    if i > 0 {
                        self.text.push(',');
                    }
                    self.string(key)?;
                    self.text.push(':');
                    self.value(value)?;
                }
                self.text.push('}');
            }
        }
        self.check()
    }
}
