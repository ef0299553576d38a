//! The canonical request target: the one spelling of a request's path that route matching,
//! `/authz`, the reverse proxy and the sandbox all decide on, and that the reverse proxy forwards
//! unchanged (a decision is made on exactly the bytes that act; there is no second normaliser).
//!
//! [`canonicalize_target`] follows RFC 3986 §6.2.2 (syntax-based normalisation) and refuses what
//! §5.2.4 (dot-segment removal) would change, taking Envoy's strictest path normalisation as a
//! floor and going further. The rules:
//!
//! - **One spelling.** Escapes of unreserved characters (`ALPHA DIGIT - . _ ~`) are decoded
//!   (`%41` → `A`, `%7e` → `~`); every other escape keeps its encoding with upper-case hex
//!   (`%3b` → `%3B`). Raw bytes outside ASCII are percent-encoded (upper-case hex) when the whole
//!   decoded path is valid UTF-8, and raw ASCII characters outside RFC 3986 `pchar` that no
//!   reader treats as a separator (`"` `<` `>` `[` `]` `^` `` ` `` `{` `|` `}`) are
//!   percent-encoded. Everything else (sub-delims, `:`, `@`, encoded reserved characters) keeps
//!   the spelling it was sent with.
//! - **Refuse, never fix, what depends on the reader.** Dot segments (`.`, `..`, and any segment
//!   made only of dots, raw or encoded: `%2e`, `.%2E`, ...); encoded `/` or `\` (`%2F`, `%5C`);
//!   raw `\`; NUL, control characters and space, raw or encoded (space only raw: `%20` is a
//!   legitimate character); invalid UTF-8 after decoding (overlong `%C0%AE` included); a segment
//!   whose decoded text before its first `;` is empty or only dots (Tomcat-style `..;x`, `;x`);
//!   a fragment (`#`, never sent by a conforming client); asterisk-form and authority-form;
//!   anything not starting with `/` except absolute-form `http(s)://host/...`, and absolute-form
//!   with userinfo, an empty or invalid host; targets longer than [`MAX_TARGET_LEN`].
//! - **Empty segments are refused, not merged.** `//` anywhere (a leading `//host` is read as an
//!   authority by some parsers) changes meaning between readers that merge slashes and readers
//!   that do not, so it is refused; a single trailing `/` (`/a/`) is not an empty segment.
//! - **Decode once, and refuse what a second decoding would change.** `%25` keeps its escape,
//!   but `%25` followed by two hex digits (`%252e`, `%25%32%65`) is refused: a stack that
//!   decodes twice (a proxy, then a framework) reads `%252e%252e` as `..`, a single decoder as
//!   text. A `%25` followed by anything else (`%25zz`, `%25` at the end) is plain text.
//! - **The query is kept byte for byte** and never matched (a control character, space or `#`
//!   in it refuses the whole target; it must be UTF-8).
//!
//! The output is idempotent and never holds a dot segment, `//`, `%2F`, `%5C`, `\`, a control
//! character or lower-case hex; it is always ASCII. [`canonical_host`] does the same for a host.

use std::fmt;
use std::net::Ipv6Addr;

use serde::{Serialize, Serializer};

/// The 400 error code clients see for every refused target.
pub const INVALID_REQUEST_TARGET: &str = "invalid_request_target";

/// The longest request target accepted, in bytes (before and after canonicalisation).
pub const MAX_TARGET_LEN: usize = 8 * 1024;

/// The longest host accepted, in bytes (a DNS name is at most 253, plus a port and brackets).
const MAX_HOST_LEN: usize = 300;

/// Why a request target (or a host) was refused. Clients only ever see
/// [`INVALID_REQUEST_TARGET`]; [`TargetError::code`] is for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Nothing was sent.
    #[error("the request target is empty")]
    Empty,
    /// Longer than [`MAX_TARGET_LEN`] (or the host longer than a host can be).
    #[error("the request target is longer than {MAX_TARGET_LEN} bytes")]
    TooLong,
    /// Neither origin-form (`/path`) nor absolute-form `http(s)://host/path`.
    #[error("the request target must start with / (or be an absolute http(s) URL)")]
    NotOriginForm,
    /// `*` (OPTIONS asterisk-form): it names no resource a route could match.
    #[error("asterisk-form targets (*) are not accepted")]
    AsteriskForm,
    /// `host:port` (CONNECT authority-form): a gateway never tunnels.
    #[error("authority-form targets (host:port) are not accepted")]
    AuthorityForm,
    /// A `#` anywhere: a fragment is never sent by a conforming client.
    #[error("the request target holds a fragment (#)")]
    Fragment,
    /// A `.` or `..` segment (or one made only of dots), raw or percent-encoded.
    #[error("the path holds a dot segment (. or ..), raw or percent-encoded")]
    DotSegment,
    /// A segment whose text before its first `;` is only dots (`..;x`).
    #[error("the path holds a dot segment hidden behind a ; parameter")]
    ParameterDotSegment,
    /// A segment whose text before its first `;` is empty (`/;x/`), read as `//` by lenient readers.
    #[error("the path holds an empty segment hidden behind a ; parameter")]
    ParameterEmptySegment,
    /// `//` in the path (an empty segment).
    #[error("the path holds an empty segment (//)")]
    EmptySegment,
    /// `%2F` or `%5C`: an encoded separator.
    #[error("the path holds an encoded / or \\ (%2F, %5C)")]
    EncodedSeparator,
    /// A raw `\`.
    #[error("the path holds a backslash")]
    Backslash,
    /// An encoded escape (`%25` followed by two hex digits): one reader decodes it twice.
    #[error("the path holds a double-encoded escape (%25 followed by two hex digits)")]
    DoubleEncoding,
    /// NUL, another control character (0x00–0x1F, 0x7F) raw or encoded, or a raw space.
    #[error("the request target holds a control character or a space")]
    ControlCharacter,
    /// `%` not followed by two hex digits.
    #[error("the path holds a % not followed by two hex digits")]
    InvalidPercentEncoding,
    /// The decoded path (or the query) is not valid UTF-8.
    #[error("the decoded path or the query is not valid UTF-8")]
    InvalidUtf8,
    /// A character a host may not hold.
    #[error("the host holds a character a host name may not hold")]
    InvalidCharacter,
    /// Userinfo (`user@`) in an absolute-form target or a host.
    #[error("userinfo (user@) is not accepted in a request target or a host")]
    UserInfo,
    /// An empty host.
    #[error("the host is empty")]
    EmptyHost,
    /// A malformed host: an empty label, unbalanced brackets, an invalid IPv6 literal.
    #[error("the host is malformed (empty label, brackets or IPv6 literal)")]
    InvalidHost,
    /// A port that is empty, not digits, or above 65535.
    #[error("the port is empty, not digits or above 65535")]
    InvalidPort,
    /// A `?` in a bare path (route definitions and the sandbox `path` hold no query).
    #[error("a query (?) is not allowed here")]
    UnexpectedQuery,
}

impl TargetError {
    /// A snake_case reason for logs and metrics (never sent to clients, who see
    /// [`INVALID_REQUEST_TARGET`]).
    pub fn code(&self) -> &'static str {
        match self {
            TargetError::Empty => "empty",
            TargetError::TooLong => "too_long",
            TargetError::NotOriginForm => "not_origin_form",
            TargetError::AsteriskForm => "asterisk_form",
            TargetError::AuthorityForm => "authority_form",
            TargetError::Fragment => "fragment",
            TargetError::DotSegment => "dot_segment",
            TargetError::ParameterDotSegment => "parameter_dot_segment",
            TargetError::ParameterEmptySegment => "parameter_empty_segment",
            TargetError::EmptySegment => "empty_segment",
            TargetError::EncodedSeparator => "encoded_separator",
            TargetError::Backslash => "backslash",
            TargetError::DoubleEncoding => "double_encoding",
            TargetError::ControlCharacter => "control_character",
            TargetError::InvalidPercentEncoding => "invalid_percent_encoding",
            TargetError::InvalidUtf8 => "invalid_utf8",
            TargetError::InvalidCharacter => "invalid_character",
            TargetError::UserInfo => "userinfo",
            TargetError::EmptyHost => "empty_host",
            TargetError::InvalidHost => "invalid_host",
            TargetError::InvalidPort => "invalid_port",
            TargetError::UnexpectedQuery => "unexpected_query",
        }
    }
}

/// A canonical request target: only [`canonicalize_target`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestTarget {
    path: String,
    query: Option<String>,
    authority: Option<String>,
}

impl RequestTarget {
    /// The canonical path: starts with `/`, ASCII only, the module's rules hold.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The query (after `?`), byte for byte as received: never normalised, never matched.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// The authority as sent, for absolute-form targets only (`http://Host:8080/x` →
    /// `Host:8080`); the caller compares [`canonical_host`] of it with the `Host`.
    pub fn authority(&self) -> Option<&str> {
        self.authority.as_deref()
    }

    /// The path and the query (`?` + query when present): exactly what the reverse proxy forwards.
    pub fn path_and_query(&self) -> String {
        match &self.query {
            Some(query) => format!("{}?{query}", self.path),
            None => self.path.clone(),
        }
    }
}

impl fmt::Display for RequestTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)?;
        if let Some(query) = &self.query {
            write!(f, "?{query}")?;
        }
        Ok(())
    }
}

/// Serialised as its path and query (what the upstream receives).
impl Serialize for RequestTarget {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A canonical host for route matching: ASCII lower case, no port, no trailing dot; IPv6
/// literals in brackets, in their RFC 5952 text form (`[::1]`). Only [`canonical_host`] makes one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Host(String);

impl Host {
    /// The canonical text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Serialised as its canonical text.
impl Serialize for Host {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// Canonicalises an origin-form (`/a/b?q`) or absolute-form (`http(s)://host/a?q`) request
/// target, or says precisely why it is refused (see the module documentation for the rules).
pub fn canonicalize_target(raw: &[u8]) -> Result<RequestTarget, TargetError> {
    check_whole(raw)?;
    let (authority, rest) = split_form(raw)?;
    // A `?` ends the path (a `#` was refused above); the query is not looked into further.
    let (path_raw, query_raw) = match rest.iter().position(|&b| b == b'?') {
        Some(q) => (&rest[..q], Some(&rest[q + 1..])),
        None => (rest, None),
    };
    // Absolute-form with an empty path (`http://host` or `http://host?q`) means `/` (RFC 9112 §3.2.2).
    let path = if path_raw.is_empty() {
        "/".to_owned()
    } else {
        canonical_path(path_raw)?
    };
    // The query must be text to be forwarded as it came; its bytes are otherwise untouched.
    let query = query_raw
        .map(|q| std::str::from_utf8(q).map(str::to_owned))
        .transpose()
        .map_err(|_| TargetError::InvalidUtf8)?;
    // Percent-encoding can grow the path; the bound holds for the output too, so the output is
    // always accepted again (idempotence).
    if path.len() + query.as_ref().map_or(0, |q| q.len() + 1) > MAX_TARGET_LEN {
        return Err(TargetError::TooLong);
    }
    Ok(RequestTarget {
        path,
        query,
        authority: authority.map(str::to_owned),
    })
}

/// Canonicalises a bare path (no query, no fragment): used for route definitions and the
/// sandbox `path` field. Same rules as [`canonicalize_target`]'s path.
pub fn canonicalize_path(raw: &str) -> Result<String, TargetError> {
    let bytes = raw.as_bytes();
    check_whole(bytes)?;
    if bytes.contains(&b'?') {
        return Err(TargetError::UnexpectedQuery);
    }
    if bytes[0] != b'/' {
        return Err(TargetError::NotOriginForm);
    }
    let path = canonical_path(bytes)?;
    if path.len() > MAX_TARGET_LEN {
        return Err(TargetError::TooLong);
    }
    Ok(path)
}

/// Checks that hold for every byte of a target, path and query alike.
fn check_whole(raw: &[u8]) -> Result<(), TargetError> {
    if raw.is_empty() {
        return Err(TargetError::Empty);
    }
    if raw.len() > MAX_TARGET_LEN {
        return Err(TargetError::TooLong);
    }
    for &b in raw {
        // A fragment is client-side only; in a target it can only be an attempt to make two
        // readers disagree about where the path ends.
        if b == b'#' {
            return Err(TargetError::Fragment);
        }
        // Control characters and space end or split a request line for some readers.
        if is_control_or_space(b) {
            return Err(TargetError::ControlCharacter);
        }
    }
    Ok(())
}

/// Splits the request-target form: origin-form passes through; absolute-form gives its
/// authority (validated) and the rest; everything else is refused.
fn split_form(raw: &[u8]) -> Result<(Option<&str>, &[u8]), TargetError> {
    if raw[0] == b'/' {
        return Ok((None, raw));
    }
    if raw[0] == b'*' {
        return Err(TargetError::AsteriskForm);
    }
    let Some(after) = strip_http_scheme(raw) else {
        // `host:port` with no path is CONNECT's authority-form; anything else is not a target.
        return Err(if !raw.contains(&b'/') && raw.contains(&b':') {
            TargetError::AuthorityForm
        } else {
            TargetError::NotOriginForm
        });
    };
    let end = after
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(after.len());
    let authority = &after[..end];
    // Userinfo in a target is a phishing and confusion vector (RFC 9110 §4.2.4 deprecates it).
    if authority.contains(&b'@') {
        return Err(TargetError::UserInfo);
    }
    if authority.is_empty() {
        return Err(TargetError::EmptyHost);
    }
    let authority = std::str::from_utf8(authority).map_err(|_| TargetError::InvalidCharacter)?;
    canonical_host(authority)?;
    Ok((Some(authority), &after[end..]))
}

/// The rest of an absolute-form target after `http://` or `https://` (scheme case-insensitive,
/// RFC 3986 §3.1); `None` for any other scheme or none.
fn strip_http_scheme(raw: &[u8]) -> Option<&[u8]> {
    ["http://", "https://"].iter().find_map(|scheme| {
        let n = scheme.len();
        (raw.len() >= n && raw[..n].eq_ignore_ascii_case(scheme.as_bytes())).then(|| &raw[n..])
    })
}

/// Canonicalises a path that starts with `/` (checked by the callers).
fn canonical_path(raw: &[u8]) -> Result<String, TargetError> {
    let mut out = String::with_capacity(raw.len() + 8);
    // The decoded bytes of the current segment, for the dot-segment and `;` checks.
    let mut decoded: Vec<u8> = Vec::with_capacity(32);
    let mut non_ascii = false;
    let body = raw.get(1..).unwrap_or_default();
    let count = body.split(|&b| b == b'/').count();
    for (index, segment) in body.split(|&b| b == b'/').enumerate() {
        out.push('/');
        if segment.is_empty() {
            // Only the last segment may be empty: `/` and a trailing slash `/a/`. Anywhere else
            // it is `//`, which readers that merge slashes and readers that do not see apart.
            if index + 1 == count {
                continue;
            }
            return Err(TargetError::EmptySegment);
        }
        decoded.clear();
        let mut i = 0;
        while i < segment.len() {
            let b = segment[i];
            if b == b'%' {
                let v = hex_pair(segment.get(i + 1..i + 3))?;
                i += 3;
                decoded.push(v);
                if is_unreserved(v) {
                    // RFC 3986 §6.2.2.2: escapes of unreserved characters are equivalent to
                    // the characters; decoding them leaves one spelling.
                    out.push(char::from(v));
                } else if v == b'/' || v == b'\\' {
                    // A reader that decodes before splitting sees a separator we did not.
                    return Err(TargetError::EncodedSeparator);
                } else if is_control(v) {
                    // Encoded NUL and controls truncate or split paths in some readers.
                    return Err(TargetError::ControlCharacter);
                } else {
                    // Every other escape keeps its encoding (decoding a reserved character
                    // changes meaning, §2.2); hex case is normalised (§6.2.2.1).
                    non_ascii |= !v.is_ascii();
                    push_escape(&mut out, v);
                }
                continue;
            }
            i += 1;
            if b == b'\\' {
                // Windows servers and some frameworks read `\` as `/`.
                return Err(TargetError::Backslash);
            }
            if is_control_or_space(b) {
                // Reached only through canonicalize_path callers that skipped check_whole.
                return Err(TargetError::ControlCharacter);
            }
            decoded.push(b);
            if !b.is_ascii() {
                // Raw UTF-8 and its escaped form are the same text: one spelling, escaped
                // (validity of the whole decoded path is checked below).
                non_ascii = true;
                push_escape(&mut out, b);
            } else if needs_escape(b) {
                // Not allowed raw by RFC 3986 and no reader's separator: escape, one spelling.
                push_escape(&mut out, b);
            } else {
                out.push(char::from(b));
            }
        }
        // RFC 3986 §5.2.4 would remove `.`/`..`; a reader that does so after our decision
        // serves another path. Segments made only of dots are refused too (Windows trims
        // trailing dots, so `...` may read as `..`).
        if only_dots(&decoded) {
            return Err(TargetError::DotSegment);
        }
        // `%25` followed by two hex digits is an escape once decoded: a stack that decodes twice
        // (a proxy, then a framework) reads `%252e%252e` as `..` while a single decoder reads
        // text. Its meaning depends on the reader, so it is refused like the other ambiguities.
        if decoded
            .windows(3)
            .any(|w| w[0] == b'%' && hex_value(w[1]).is_some() && hex_value(w[2]).is_some())
        {
            return Err(TargetError::DoubleEncoding);
        }
        // Tomcat, Jetty and Spring drop `;` parameters before normalising: `..;x` is `..` and
        // `;x` leaves an empty segment to them.
        if let Some(semi) = decoded.iter().position(|&b| b == b';') {
            let name = &decoded[..semi];
            if name.is_empty() {
                return Err(TargetError::ParameterEmptySegment);
            }
            if only_dots(name) {
                return Err(TargetError::ParameterDotSegment);
            }
        }
    }
    // Readers disagree about invalid UTF-8 (replacement, Latin-1, refusal), and overlong forms
    // such as `%C0%AE` decode to `.` for some: the fully decoded path must be valid UTF-8.
    if non_ascii && std::str::from_utf8(&percent_decode(out.as_bytes())).is_err() {
        return Err(TargetError::InvalidUtf8);
    }
    Ok(out)
}

/// The value of two hex digits after a `%`.
fn hex_pair(pair: Option<&[u8]>) -> Result<u8, TargetError> {
    match pair {
        Some(&[hi, lo]) => match (hex_value(hi), hex_value(lo)) {
            (Some(hi), Some(lo)) => Ok(hi << 4 | lo),
            _ => Err(TargetError::InvalidPercentEncoding),
        },
        _ => Err(TargetError::InvalidPercentEncoding),
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn push_escape(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 0x0F)]));
}

/// Decodes every escape (the input is a canonical path, so every `%` starts a valid escape).
fn percent_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%'
            && let Ok(v) = hex_pair(s.get(i + 1..i + 3))
        {
            out.push(v);
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

/// RFC 3986 §2.3 unreserved characters.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// ASCII characters RFC 3986 does not allow raw in a path that no reader treats as a separator.
fn needs_escape(b: u8) -> bool {
    matches!(
        b,
        b'"' | b'<' | b'>' | b'[' | b']' | b'^' | b'`' | b'{' | b'|' | b'}'
    )
}

fn is_control(b: u8) -> bool {
    b < 0x20 || b == 0x7F
}

fn is_control_or_space(b: u8) -> bool {
    is_control(b) || b == b' '
}

fn only_dots(text: &[u8]) -> bool {
    !text.is_empty() && text.iter().all(|&b| b == b'.')
}

/// Canonicalises a host (a `Host` header, an absolute-form authority or a route's `host`):
/// ASCII lower case, port removed (digits, at most 65535), one trailing dot removed, IPv6
/// literals in brackets in RFC 5952 form. Refused: empty, userinfo, whitespace or control
/// characters, characters outside `A-Z a-z 0-9 - . _`, empty labels, unbalanced brackets, an
/// invalid IPv6 literal (zone ids included), `host:` with an empty or invalid port.
pub fn canonical_host(raw: &str) -> Result<Host, TargetError> {
    if raw.is_empty() {
        return Err(TargetError::EmptyHost);
    }
    if raw.len() > MAX_HOST_LEN {
        return Err(TargetError::TooLong);
    }
    for b in raw.bytes() {
        if is_control_or_space(b) {
            return Err(TargetError::ControlCharacter);
        }
        // `user@host`: the part a reader takes for the host depends on the reader.
        if b == b'@' {
            return Err(TargetError::UserInfo);
        }
    }
    if let Some(literal) = raw.strip_prefix('[') {
        let (inner, rest) = literal.split_once(']').ok_or(TargetError::InvalidHost)?;
        check_port(rest)?;
        // One text form per address (`[0:0::1]` and `[::1]` are one host); zone ids and
        // IPvFuture are refused by the parser.
        let address: Ipv6Addr = inner.parse().map_err(|_| TargetError::InvalidHost)?;
        return Ok(Host(format!("[{address}]")));
    }
    if raw.contains(['[', ']']) {
        return Err(TargetError::InvalidHost);
    }
    let (name, rest) = match raw.find(':') {
        Some(colon) => raw.split_at(colon),
        None => (raw, ""),
    };
    check_port(rest)?;
    // `example.com.` is the same name as `example.com` (fully qualified).
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return Err(TargetError::EmptyHost);
    }
    // Percent-encoded and raw non-ASCII names are refused: IDNs come as punycode.
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        return Err(TargetError::InvalidCharacter);
    }
    if name.split('.').any(str::is_empty) {
        return Err(TargetError::InvalidHost);
    }
    Ok(Host(name.to_ascii_lowercase()))
}

/// `""` (no port) or `:` followed by 1–5 digits whose value is at most 65535.
fn check_port(rest: &str) -> Result<(), TargetError> {
    if rest.is_empty() {
        return Ok(());
    }
    let digits = rest.strip_prefix(':').ok_or(TargetError::InvalidHost)?;
    if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TargetError::InvalidPort);
    }
    match digits.parse::<u32>() {
        Ok(port) if port <= 65_535 => Ok(()),
        _ => Err(TargetError::InvalidPort),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basics() {
        let t = canonicalize_target(b"/docs/%2e%2e/orders/1").unwrap_err();
        assert_eq!(t, TargetError::DotSegment);
        let t = canonicalize_target(b"HTTP://Api.Example.com:8080/a%7e%3b?x=%2f").unwrap();
        assert_eq!(t.path(), "/a~%3B");
        assert_eq!(t.query(), Some("x=%2f"));
        assert_eq!(t.authority(), Some("Api.Example.com:8080"));
        assert_eq!(t.path_and_query(), "/a~%3B?x=%2f");
        assert_eq!(
            canonical_host("API.Example.com.:8443").unwrap().as_str(),
            "api.example.com"
        );
        assert_eq!(canonical_host("[0:0::1]:80").unwrap().as_str(), "[::1]");
        assert_eq!(canonical_host("h:"), Err(TargetError::InvalidPort));
        assert_eq!(canonicalize_path("/a?b"), Err(TargetError::UnexpectedQuery));
    }
}
