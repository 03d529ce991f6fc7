//! A list page's JSON, written by hand into one buffer.
//!
//! Through serde, every key of every object is a string run through serde_json's
//! escaping, byte by byte, in three writes: a page of fifteen conversations is some
//! 750 strings, and writing them was a fifth of the server's instructions under the
//! list benchmark (BENCHMARKS.md, "The page's JSON"). Here a key and the punctuation
//! around it are one literal, and a value with nothing to escape is one copy.
//!
//! The serde derive of each type stays: it is the OpenAPI schema's source, serves
//! every other response, and is the oracle the tests compare this writer's output
//! with, byte for byte (`resources.rs`, `pagination.rs`).

use super::json::{json_response, INITIAL_CAPACITY};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A value that writes its own JSON, identical to what its serde derive writes.
pub trait WriteJson {
    fn write_json(&self, w: &mut JsonWriter);
}

/// The buffer a response body is written into.
pub struct JsonWriter {
    out: Vec<u8>,
}

impl JsonWriter {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            out: Vec::with_capacity(capacity),
        }
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.out
    }

    /// JSON text written as it is: punctuation and keys, e.g. `,"address":`.
    /// (`raw`, `str` and `int` are `#[inline]` for the benchmark's floor, which writes
    /// through them from another crate.)
    #[inline]
    pub fn raw(&mut self, text: &'static str) -> &mut Self {
        self.out.extend_from_slice(text.as_bytes());
        self
    }

    /// A JSON string. One copy when nothing needs escaping; otherwise serde_json
    /// escapes it, so both paths write what serde would.
    #[inline]
    pub fn str(&mut self, value: &str) -> &mut Self {
        // A fold without an early exit, so that the compiler checks many bytes at once.
        let needs_escape = value.bytes().fold(false, |any, b| {
            any | (b < 0x20) | (b == b'"') | (b == b'\\')
        });
        if !needs_escape {
            self.out.reserve(value.len() + 2);
            self.out.push(b'"');
            self.out.extend_from_slice(value.as_bytes());
            self.out.push(b'"');
        } else {
            self.serde(value);
        }
        self
    }

    pub fn opt_str(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            Some(value) => self.str(value),
            None => self.raw("null"),
        }
    }

    #[inline]
    pub fn int(&mut self, value: i64) -> &mut Self {
        self.out
            .extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
        self
    }

    pub fn opt_int(&mut self, value: Option<i64>) -> &mut Self {
        match value {
            Some(value) => self.int(value),
            None => self.raw("null"),
        }
    }

    pub fn bool(&mut self, value: bool) -> &mut Self {
        self.raw(if value { "true" } else { "false" })
    }

    pub fn opt_bool(&mut self, value: Option<bool>) -> &mut Self {
        match value {
            Some(value) => self.bool(value),
            None => self.raw("null"),
        }
    }

    /// `[a,b,...]` of values that write themselves.
    pub fn array<T: WriteJson>(&mut self, items: &[T]) -> &mut Self {
        self.out.push(b'[');
        for (k, item) in items.iter().enumerate() {
            if k > 0 {
                self.out.push(b',');
            }
            item.write_json(self);
        }
        self.out.push(b']');
        self
    }

    /// A value through its serde derive, for the parts that are rare (a blacklist
    /// entry on a conversation) or free-form (metadata).
    pub fn serde<T: Serialize + ?Sized>(&mut self, value: &T) -> &mut Self {
        if serde_json::to_writer(&mut self.out, value).is_err() {
            // Only maps with non-string keys fail to serialize; none are written here.
            self.out.extend_from_slice(b"null");
        }
        self
    }

    /// A nested value that writes itself.
    pub fn value<T: WriteJson>(&mut self, value: &T) -> &mut Self {
        value.write_json(self);
        self
    }
}

/// A response body written by `WriteJson`.
pub struct WrittenJson<T>(pub T);

impl<T: WriteJson> IntoResponse for WrittenJson<T> {
    fn into_response(self) -> Response {
        let mut w = JsonWriter::with_capacity(INITIAL_CAPACITY);
        self.0.write_json(&mut w);
        json_response(w.into_bytes())
    }
}

/// For tests: what `write_json` writes, and what serde writes, of `value`.
#[cfg(test)]
pub fn both_ways<T: WriteJson + Serialize>(value: &T) -> (String, String) {
    let mut w = JsonWriter::with_capacity(0);
    value.write_json(&mut w);
    let written = String::from_utf8(w.into_bytes()).expect("UTF-8");
    let serde = serde_json::to_string(value).expect("serializes");
    (written, serde)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_as_serde_escapes_them() {
        for value in [
            "",
            "plain",
            "Pınar Çağlar",
            "quote \" inside",
            "back\\slash",
            "line\nbreak\ttab\r",
            "\u{1}\u{1f}\u{7f}",
            "emoji 👋 and </script>",
        ] {
            let mut w = JsonWriter::with_capacity(0);
            w.str(value);
            let written = String::from_utf8(w.into_bytes()).expect("UTF-8");
            assert_eq!(
                written,
                serde_json::to_string(value).expect("serializes"),
                "{value:?}"
            );
        }
    }

    #[test]
    fn scalars_are_written_as_serde_writes_them() {
        let mut w = JsonWriter::with_capacity(0);
        w.raw("[")
            .int(i64::MIN)
            .raw(",")
            .int(0)
            .raw(",")
            .opt_int(None)
            .raw(",")
            .bool(true)
            .raw(",")
            .opt_bool(Some(false))
            .raw(",")
            .opt_bool(None)
            .raw(",")
            .opt_str(None)
            .raw(",")
            .serde(&serde_json::json!({"a": [1, "b"]}))
            .raw("]");
        let written = String::from_utf8(w.into_bytes()).expect("UTF-8");
        assert_eq!(
            written,
            format!(
                "[{},0,null,true,false,null,null,{{\"a\":[1,\"b\"]}}]",
                i64::MIN
            )
        );
    }
}
