//! Keys and other secrets as the API carries them: lower-case hex.

/// A key from its 64 hex digits, or `None` if it is not exactly that.
pub fn parse_key(hex: &str) -> Option<[u8; 32]> {
    parse_hex(hex)
}

/// `N` bytes from exactly `2 * N` hex digits (a media key: 32), or `None`.
pub fn parse_hex<const N: usize>(hex: &str) -> Option<[u8; N]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 2 * N || !bytes.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut key = [0u8; N];
    for (k, pair) in key.iter_mut().zip(bytes.chunks_exact(2)) {
        let digits = std::str::from_utf8(pair).ok()?;
        *k = u8::from_str_radix(digits, 16).ok()?;
    }
    Some(key)
}

/// The 64 hex digits of a key.
pub fn format_key(key: &[u8; 32]) -> String {
    format_hex(key)
}

/// Lower-case hex of `bytes`, two digits a byte. Every heartbeat answer carries a key per
/// member and backup: one allocation per key, not one per byte as `format!` would make.
pub fn format_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}
