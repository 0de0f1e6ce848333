//! The players' side of HTTP: reading a request head, short answers, and one connection's TS
//! stream. `--output http://ADDR` and the gateway ([`super::gateway`]) both use it.
//!
//! A stream is raw MPEG-TS over HTTP/1.1 with neither a length nor chunked encoding: the
//! answer says `Connection: close` and the stream ends when the connection does, which every
//! player (VLC, mpv, ffmpeg, Kodi) reads as a live stream.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

/// Longest time a player may take to send its request head (a slow sender holds a thread).
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head read.
const MAX_HEAD: usize = 8192;
/// Most header lines parsed.
const MAX_HEADERS: usize = 32;
/// How often a quiet stream checks that its player is still connected.
const ALIVE_CHECK: Duration = Duration::from_millis(250);

/// A player's request, as far as the client cares.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Request {
    /// `GET`, `HEAD`, …
    pub(super) method: String,
    /// The path, without the query.
    pub(super) path: String,
    /// The `Host` header, if any.
    pub(super) host: Option<String>,
}

/// Why no request could be read.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum HeadError {
    /// The connection closed or timed out first: nobody to answer.
    Gone,
    /// Not HTTP, or a head too large: answer 400.
    Bad(&'static str),
}

/// Reads the request head from `conn` (bounded in size and time) and parses it.
pub(super) fn read_request(conn: &mut TcpStream) -> Result<Request, HeadError> {
    conn.set_read_timeout(Some(HEAD_TIMEOUT))
        .map_err(|_| HeadError::Gone)?;
    let mut head = vec![0u8; MAX_HEAD];
    let mut got = 0;
    loop {
        match conn.read(&mut head[got..]) {
            Ok(0) | Err(_) => return Err(HeadError::Gone),
            Ok(n) => got += n,
        }
        match parse(&head[..got]) {
            Ok(Some(r)) => return Ok(r),
            Ok(None) if got < head.len() => {}
            Ok(None) => return Err(HeadError::Bad("request head too large")),
            Err(e) => return Err(e),
        }
    }
}

/// Parses a request head; `None` while it is incomplete.
fn parse(bytes: &[u8]) -> Result<Option<Request>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(bytes) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(HeadError::Bad("not an HTTP/1 request")),
    }
    let (Some(method), Some(target)) = (req.method, req.path) else {
        return Err(HeadError::Bad("not an HTTP/1 request"));
    };
    let path = target.split(['?', '#']).next().unwrap_or_default();
    let host = req
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("host"))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .map(str::to_owned);
    Ok(Some(Request {
        method: method.to_owned(),
        path: path.to_owned(),
        host,
    }))
}

/// Answers with a short body and closes (errors are ignored: the player may be gone).
pub(super) fn reply(conn: &mut TcpStream, status: u16, content_type: &str, body: &str) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-cache\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn
        .write_all(head.as_bytes())
        .and_then(|()| conn.write_all(body.as_bytes()));
}

/// Answers with an error message as plain text.
pub(super) fn refuse(conn: &mut TcpStream, status: u16, message: &str) {
    reply(
        conn,
        status,
        "text/plain; charset=utf-8",
        &format!("{message}\n"),
    );
}

/// Sends the stream's head, then (unless `head_only`) every chunk queued on `rx` until the
/// player goes away or the queue's sender does; says how many TS bytes went out.
pub(super) fn stream(mut conn: TcpStream, rx: &Receiver<Arc<[u8]>>, head_only: bool) -> u64 {
    let head = b"HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n";
    let mut sent = 0;
    if conn.write_all(head).is_err() || head_only {
        return sent;
    }
    loop {
        match rx.recv_timeout(ALIVE_CHECK) {
            Ok(chunk) => {
                if conn.write_all(&chunk).is_err() {
                    return sent;
                }
                sent += chunk.len() as u64;
            }
            Err(RecvTimeoutError::Timeout) if closed(&conn) => return sent,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return sent,
        }
    }
}

/// True when the player closed its side (seen before any write fails, e.g. while the
/// stream waits for its first random access point).
fn closed(conn: &TcpStream) -> bool {
    if conn.set_nonblocking(true).is_err() {
        return true;
    }
    let mut byte = [0u8; 1];
    let gone = match conn.peek(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != ErrorKind::WouldBlock,
    };
    gone || conn.set_nonblocking(false).is_err()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_head_is_parsed_without_its_query() {
        let r = parse(b"GET /channel/news?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8090\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/channel/news");
        assert_eq!(r.host.as_deref(), Some("127.0.0.1:8090"));
    }

    #[test]
    fn an_incomplete_head_waits_and_garbage_is_refused() {
        assert_eq!(parse(b"GET /playlist.m3u HTTP/1.1\r\nHo").unwrap(), None);
        assert!(matches!(
            parse(b"\x16\x03\x01 binary"),
            Err(HeadError::Bad(_))
        ));
    }
}
