//! hyper answers a request it cannot parse (a control character in a header value,
//! conflicting `Content-Length`s, an over-long URI or header section) by itself,
//! before any of our code runs, with an empty body, and closes the connection. The
//! contract promises the JSON error body on every 4xx, so each connection's writer
//! recognises exactly that answer (one of those statuses, `content-length: 0`, no
//! `content-type`: none of our handlers answers so) and adds the body.
//!
//! Parsing stays strict on purpose: ignoring malformed header lines instead would
//! let a proxy in front of us and this server disagree about a request's framing.

use super::error::{ErrorBody, ErrorCode};
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection whose protocol-level error answers carry the JSON error body.
pub struct JsonProtocolErrors<IO> {
    inner: IO,
    /// A rewritten answer still to be written, and how much of it is.
    pending: Vec<u8>,
    written: usize,
}

impl<IO> JsonProtocolErrors<IO> {
    pub fn new(inner: IO) -> Self {
        Self {
            inner,
            pending: Vec::new(),
            written: 0,
        }
    }
}

impl<IO: AsyncWrite + Unpin> JsonProtocolErrors<IO> {
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n =
                ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for JsonProtocolErrors<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for JsonProtocolErrors<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        if let Some(answer) = with_json_body(buf) {
            this.pending = answer;
            // The whole of hyper's answer is taken; what the socket does not take
            // now goes out on the next write, flush or shutdown.
            if let Poll::Ready(Err(e)) = this.drain(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

const EMPTY_LENGTH: &[u8] = b"\r\ncontent-length: 0\r\n";

/// hyper's automatic answer to an unparsable request, with the JSON body added;
/// `None` for anything else.
fn with_json_body(buf: &[u8]) -> Option<Vec<u8>> {
    let code = match buf.get(..13)? {
        b"HTTP/1.1 400 " | b"HTTP/1.0 400 " => ErrorCode::MalformedRequest,
        b"HTTP/1.1 414 " | b"HTTP/1.0 414 " => ErrorCode::UriTooLong,
        b"HTTP/1.1 431 " | b"HTTP/1.0 431 " => ErrorCode::HeadersTooLarge,
        _ => return None,
    };
    // Exactly one head and nothing after it.
    let head_end = find(buf, b"\r\n\r\n")?;
    if head_end + 4 != buf.len() {
        return None;
    }
    let head = &buf[..head_end + 2];
    let lower = head.to_ascii_lowercase();
    let at = find(&lower, EMPTY_LENGTH)?;
    if find(&lower, b"\r\ncontent-type:").is_some() {
        return None;
    }
    let (_, error, message) = code.describe();
    let body = serde_json::to_vec(&ErrorBody {
        message: message.to_string(),
        error: error.to_string(),
        errors: None,
    })
    .ok()?;
    let mut answer = Vec::with_capacity(buf.len() + body.len() + 64);
    answer.extend_from_slice(&head[..at]);
    answer.extend_from_slice(b"\r\ncontent-type: application/json");
    answer.extend_from_slice(format!("\r\ncontent-length: {}\r\n", body.len()).as_bytes());
    answer.extend_from_slice(&head[at + EMPTY_LENGTH.len()..]);
    answer.extend_from_slice(b"\r\n");
    answer.extend_from_slice(&body);
    Some(answer)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(answer: &[u8]) -> (String, serde_json::Value) {
        let at = find(answer, b"\r\n\r\n").expect("a head");
        (
            String::from_utf8(answer[..at].to_vec()).expect("ascii head"),
            serde_json::from_slice(&answer[at + 4..]).expect("a JSON body"),
        )
    }

    #[test]
    fn hypers_parse_error_answer_gets_the_json_body() {
        let hyper = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\ndate: Tue, 01 Dec 2026 11:39:03 GMT\r\n\r\n";
        let answer = with_json_body(hyper).expect("rewritten");
        let (head, body) = split(&answer);
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
        assert!(head.contains("\r\nconnection: close"), "{head}");
        assert!(
            head.contains("\r\ncontent-type: application/json"),
            "{head}"
        );
        assert!(head.contains("\r\ndate: "), "{head}");
        let length = format!("\r\ncontent-length: {}", answer.len() - head.len() - 4);
        assert!(head.contains(&length), "{head}");
        assert_eq!(body["error"], "malformed_request");
        assert!(body["message"].is_string());
        let too_large =
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n";
        let (_, body) = split(&with_json_body(too_large).expect("rewritten"));
        assert_eq!(body["error"], "headers_too_large");
    }

    #[test]
    fn every_other_write_passes_unchanged() {
        for other in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nHTTP/1.1 200 OK\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            b"{\"message\":\"HTTP/1.1 400 \"}",
            b"HTTP/1.1 4",
        ] {
            assert!(
                with_json_body(other).is_none(),
                "{}",
                String::from_utf8_lossy(other)
            );
        }
    }
}
