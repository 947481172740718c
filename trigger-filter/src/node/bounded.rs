//! JSON text written with a length limit, for describing values in reasons.

use super::*;

/// JSON text written until it has `room` more characters; then every write is refused.
pub(super) struct Bounded<'o> {
    pub(super) text: &'o mut String,
    pub(super) room: usize,
    /// The length of `text` when three characters of room were left: where to cut for `...`.
    pub(super) mark: usize,
}

/// The text is full.
pub(super) struct Full;

impl Bounded<'_> {
    fn push(&mut self, c: char) -> Result<(), Full> {
        if self.room == 3 {
            self.mark = self.text.len();
        }
        self.room = self.room.checked_sub(1).ok_or(Full)?;
        self.text.push(c);
        Ok(())
    }

    fn push_str(&mut self, s: &str) -> Result<(), Full> {
        // ASCII, where a byte is a character, is the common case: as much as there is room
        // for, at once.
        if s.is_ascii() {
            let taken = s.len().min(self.room);
            if self.room >= 3 && self.room - taken <= 3 {
                self.mark = self.text.len() + (self.room - 3);
            }
            self.room -= taken;
            self.text.push_str(&s[..taken]);
            return if taken == s.len() { Ok(()) } else { Err(Full) };
        }
        s.chars().try_for_each(|c| self.push(c))
    }

    /// A string, escaped as serde_json escapes it.
    fn string(&mut self, s: &str) -> Result<(), Full> {
        self.push('"')?;
        let mut rest = s;
        loop {
            let i = crate::scan::plain_len(rest.as_bytes());
            if i == rest.len() {
                break;
            }
            self.push_str(&rest[..i])?;
            match rest.as_bytes()[i] {
                b'"' => self.push_str("\\\"")?,
                b'\\' => self.push_str("\\\\")?,
                b'\n' => self.push_str("\\n")?,
                b'\r' => self.push_str("\\r")?,
                b'\t' => self.push_str("\\t")?,
                0x08 => self.push_str("\\b")?,
                0x0c => self.push_str("\\f")?,
                control => self.push_str(&format!("\\u{control:04x}"))?,
            }
            rest = &rest[i + 1..];
        }
        self.push_str(rest)?;
        self.push('"')
    }

    pub(super) fn value(&mut self, at: At<'_, '_>) -> Result<(), Full> {
        match at.node() {
            Node::Null | Node::Key(..) | Node::Shadowed => self.push_str("null"),
            Node::Bool(b) => self.push_str(if b { "true" } else { "false" }),
            Node::Int(_) | Node::UInt(_) | Node::Float(_) => {
                let number = at.as_num().map(|n| n.to_string()).unwrap_or_default();
                self.push_str(&number)
            }
            Node::String(text) => self.string(at.body.text(text)),
            Node::Array { end } => {
                self.push('[')?;
                for (i, item) in at.children(end).enumerate() {
                    if i > 0 {
                        self.push(',')?;
                    }
                    self.value(item)?;
                }
                self.push(']')
            }
            Node::Object { .. } => {
                self.push('{')?;
                for (i, (key, value)) in at.fields().into_iter().flatten().enumerate() {
                    if i > 0 {
                        self.push(',')?;
                    }
                    self.string(key)?;
                    self.push(':')?;
                    self.value(value)?;
                }
                self.push('}')
            }
        }
    }
}
