//! SIP messages on the wire: parse bytes into `rsip` types plus the handful of
//! header facts every element relies on, and print responses.
//!
//! `rsip` (from `rsipstack`) tokenises leniently: it ignores lines without a
//! colon, reads a broken Content-Length as 0 and knows only fourteen methods.
//! So the head is scanned here first, strictly (RFC 3261 §7, §25), and the
//! result is built from rsip's header types. A message that fails comes back as
//! a [`Reject`] that carries what is needed to answer it with 400 when the
//! headers for a response survived.

use std::fmt::Write as _;
use std::net::SocketAddr;

use rsipstack::sip::headers::{Headers, make_header};
use rsipstack::sip::{self as rsip, HasHeaders};

/// A request method: one rsip knows, or any other token (answered 501).
pub type Method = rsip::Method;

/// Why a message was refused, and how to answer it if it can be answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// Status to answer a request with (400, 416, 501, 505); `None` for responses.
    pub status: Option<u16>,
    /// One line for the log and the Warning header.
    pub reason: String,
    /// The headers a response needs, when they could be read.
    pub reply: Option<Box<ReplyContext>>,
}

/// The header values copied from a request into its responses (RFC 3261 §8.2.6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyContext {
    /// Every Via entry, top first, one entry per element (comma-joined ones split).
    pub vias: Vec<String>,
    /// The From header value.
    pub from: String,
    /// The To header value.
    pub to: String,
    /// The Call-ID value.
    pub call_id: String,
    /// The CSeq value.
    pub cseq: String,
}

/// What the top Via says about the sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopVia {
    /// Transport token, upper-case (`UDP`, `TCP`, `TLS`, `WS`, ...).
    pub transport: String,
    /// sent-by host.
    pub host: String,
    /// sent-by port.
    pub port: Option<u16>,
    /// The branch parameter.
    pub branch: Option<String>,
    /// `Some(None)` for a bare `rport`, `Some(Some(p))` with a value.
    pub rport: Option<Option<u16>>,
}

impl TopVia {
    /// `host:port` as the transaction key uses it (RFC 3261 §17.2.3).
    pub fn sent_by(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{}", self.host.to_ascii_lowercase(), p),
            None => self.host.to_ascii_lowercase(),
        }
    }
    /// True for an RFC 3261 branch (magic cookie).
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch
            .as_deref()
            .is_some_and(|b| b.len() > 7 && b[..7].eq_ignore_ascii_case("z9hG4bK"))
    }
}

/// The header facts every element relies on, read once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Core {
    /// The top Via.
    pub top_via: TopVia,
    /// Call-ID.
    pub call_id: String,
    /// CSeq number.
    pub cseq: u32,
    /// CSeq method token.
    pub cseq_method: String,
    /// From tag.
    pub from_tag: Option<String>,
    /// To tag.
    pub to_tag: Option<String>,
    /// Headers to copy into responses.
    pub reply: ReplyContext,
}

/// A parsed message.
#[derive(Debug, Clone)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

/// A request that passed the checks.
#[derive(Debug, Clone)]
pub struct Request {
    /// The rsip request (method, URI, headers, body).
    pub inner: rsip::Request,
    /// Facts read from the headers.
    pub core: Core,
}

/// A response that passed the checks.
#[derive(Debug, Clone)]
pub struct Response {
    /// The rsip response.
    pub inner: rsip::Response,
    /// Facts read from the headers.
    pub core: Core,
}

impl Request {
    /// The method.
    pub fn method(&self) -> Method {
        self.inner.method
    }
    /// The first value of a header by name (compact forms already expanded).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_value(&self.inner.headers, name)
    }
    /// Every value of a header, comma-joined values split.
    pub fn header_list(&self, name: &str) -> Vec<String> {
        header_list(&self.inner.headers, name)
    }
}

impl Response {
    /// The status code.
    pub fn code(&self) -> u16 {
        self.inner.status_code.code()
    }
    /// The first value of a header by name.
    pub fn header(&self, name: &str) -> Option<&str> {
        header_value(&self.inner.headers, name)
    }
    /// Every value of a header, comma-joined values split.
    pub fn header_list(&self, name: &str) -> Vec<String> {
        header_list(&self.inner.headers, name)
    }
    /// Every header line of that name, unsplit (challenges have commas inside).
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.inner
            .headers
            .iter()
            .filter(|h| h.name().eq_ignore_ascii_case(name))
            .map(|h| h.value())
            .collect()
    }
}

impl Message {
    /// Facts read from the headers.
    pub fn core(&self) -> &Core {
        match self {
            Message::Request(r) => &r.core,
            Message::Response(r) => &r.core,
        }
    }
}

fn header_value<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| h.name().eq_ignore_ascii_case(name))
        .map(|h| h.value())
}

fn header_list(headers: &Headers, name: &str) -> Vec<String> {
    headers
        .iter()
        .filter(|h| h.name().eq_ignore_ascii_case(name))
        .flat_map(|h| split_list(h.value()))
        .collect()
}

/// Splits a comma-joined header value into its elements, respecting quotes
/// and angle brackets (Via, Contact, Route, Record-Route, Allow, ...).
pub fn split_list(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut in_quote, mut in_angle, mut escaped) = (false, false, false);
    for c in value.chars() {
        if escaped {
            escaped = false;
            cur.push(c);
            continue;
        }
        match c {
            '\\' if in_quote => escaped = true,
            '"' => in_quote = !in_quote,
            '<' if !in_quote => in_angle = true,
            '>' if !in_quote => in_angle = false,
            ',' if !in_quote && !in_angle => {
                let t = cur.trim();
                if !t.is_empty() {
                    out.push(t.to_string());
                }
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    let t = cur.trim();
    if !t.is_empty() {
        out.push(t.to_string());
    }
    out
}

/// Where the head ends: the index of the first body byte.
pub(crate) fn head_end(data: &[u8]) -> Option<usize> {
    // The first empty line: a line feed followed by CRLF or by another LF.
    let mut from = 0;
    while let Some(i) = data[from..].iter().position(|&b| b == b'\n') {
        let lf = from + i;
        match data.get(lf + 1..) {
            Some([b'\n', ..]) => return Some(lf + 2),
            Some([b'\r', b'\n', ..]) => return Some(lf + 3),
            _ => from = lf + 1,
        }
    }
    None
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_token_char)
}

/// A header line as read: name (expanded from a compact form) and value.
struct RawHeader<'a> {
    name: &'a str,
    value: String,
}

struct RawHead<'a> {
    start: &'a str,
    headers: Vec<RawHeader<'a>>,
}

fn compact_name(name: &str) -> &str {
    if name.len() != 1 {
        return name;
    }
    match name.to_ascii_lowercase().as_str() {
        "i" => "Call-ID",
        "m" => "Contact",
        "e" => "Content-Encoding",
        "l" => "Content-Length",
        "c" => "Content-Type",
        "f" => "From",
        "s" => "Subject",
        "k" => "Supported",
        "t" => "To",
        "v" => "Via",
        "o" => "Event",
        "r" => "Refer-To",
        "b" => "Referred-By",
        "u" => "Allow-Events",
        "x" => "Session-Expires",
        "a" => "Accept-Contact",
        "j" => "Reject-Contact",
        "d" => "Request-Disposition",
        "y" => "Identity",
        _ => name,
    }
}

fn scan_head(head: &[u8]) -> Result<RawHead<'_>, String> {
    let text = std::str::from_utf8(head).map_err(|_| "head is not UTF-8".to_string())?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let start = lines.next().ok_or("empty message")?;
    let mut headers: Vec<RawHeader<'_>> = Vec::with_capacity(16);
    for line in lines {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            let last = headers
                .last_mut()
                .ok_or("continuation line before any header")?;
            last.value.push(' ');
            last.value.push_str(line.trim());
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("header line without a colon: {:.40}", line))?;
        let name = name.trim_end_matches([' ', '\t']);
        if !is_token(name) {
            return Err(format!("bad header name {:.40}", name));
        }
        headers.push(RawHeader {
            name: compact_name(name),
            value: value.trim().to_string(),
        });
    }
    Ok(RawHead { start, headers })
}

fn raw_all<'a, 'n>(h: &'a [RawHeader<'_>], name: &'n str) -> impl Iterator<Item = &'a str> + 'n
where
    'a: 'n,
{
    h.iter()
        .filter(move |x| x.name.eq_ignore_ascii_case(name))
        .map(|x| x.value.as_str())
}

fn raw_one<'a>(h: &'a [RawHeader<'_>], name: &str) -> Result<&'a str, String> {
    let mut it = raw_all(h, name);
    let v = it.next().ok_or_else(|| format!("missing {name}"))?;
    if it.next().is_some() {
        return Err(format!("more than one {name}"));
    }
    Ok(v)
}

/// Reads the response headers out of a head, even if the rest is broken.
fn reply_context(h: &[RawHeader<'_>]) -> Option<ReplyContext> {
    let vias: Vec<String> = raw_all(h, "Via").flat_map(split_list).collect();
    if vias.is_empty() {
        return None;
    }
    // Missing ones stay empty and are left out of the answer (RFC 4475 §3.1.2.18).
    let first = |name: &str| raw_all(h, name).next().unwrap_or("").to_string();
    Some(ReplyContext {
        vias,
        from: first("From"),
        to: first("To"),
        call_id: first("Call-ID"),
        cseq: first("CSeq"),
    })
}

/// Parses a Content-Length value: digits only.
fn content_length(h: &[RawHeader<'_>]) -> Result<Option<usize>, String> {
    let mut it = raw_all(h, "Content-Length");
    let Some(v) = it.next() else { return Ok(None) };
    if it.next().is_some() {
        return Err("more than one Content-Length".into());
    }
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) || v.len() > 9 {
        return Err(format!("bad Content-Length {v:.20}"));
    }
    Ok(Some(v.parse().expect("nine digits fit usize")))
}

/// Parses one Via entry (`SIP/2.0/UDP host:port;params`).
pub fn parse_via(entry: &str) -> Result<TopVia, String> {
    let mut parts = entry.splitn(3, '/');
    let proto = parts.next().unwrap_or("").trim();
    let ver = parts.next().unwrap_or("").trim();
    let rest = parts.next().ok_or("Via without transport")?.trim();
    if !proto.eq_ignore_ascii_case("SIP") || ver != "2.0" {
        return Err(format!("Via protocol {proto}/{ver} is not SIP/2.0"));
    }
    // rsip wants no whitespace around ';' and '=' in the parameters.
    let mut tidy = String::with_capacity(rest.len());
    for (i, seg) in rest.split(';').enumerate() {
        if i > 0 {
            tidy.push(';');
        }
        let seg = seg.trim();
        match seg.split_once('=') {
            Some((k, v)) if i > 0 => {
                tidy.push_str(k.trim());
                tidy.push('=');
                tidy.push_str(v.trim());
            }
            _ => tidy.push_str(seg),
        }
    }
    // The transport token is ours to read (rsip knows only a fixed set);
    // rsip reads sent-by and the parameters.
    let (transport, sent_by) = tidy
        .split_once(char::is_whitespace)
        .ok_or("Via without sent-by")?;
    let transport = transport.to_ascii_uppercase();
    if !is_token(&transport) {
        return Err("bad Via transport".into());
    }
    let typed = rsip::typed::Via::parse(&format!("SIP/2.0/UDP {}", sent_by.trim()))
        .map_err(|e| e.to_string())?;
    let host = typed.sent_by().host.to_string();
    if host.is_empty() {
        return Err("Via without host".into());
    }
    let mut branch = None;
    let mut rport = None;
    for p in &typed.params {
        match p {
            rsip::Param::Branch(b) => branch = Some(b.to_string()),
            rsip::Param::Rport(r) => rport = Some(*r),
            rsip::Param::Received(r) => {
                // RFC 3261: received is an IP address.
                r.parse()
                    .map_err(|_| format!("Via received= is not an IP: {r}"))?;
            }
            _ => {}
        }
    }
    Ok(TopVia {
        transport,
        host,
        port: typed.sent_by().port.as_ref().map(|p| p.value()),
        branch,
        rport,
    })
}

fn quotes_balanced(s: &str) -> bool {
    let mut in_q = false;
    let mut esc = false;
    for c in s.chars() {
        if esc {
            esc = false;
        } else if c == '\\' && in_q {
            esc = true;
        } else if c == '"' {
            in_q = !in_q;
        }
    }
    !in_q
}

/// Reads a From/To value: checks its URI and returns its tag.
fn name_addr_tag(what: &str, v: &str) -> Result<Option<String>, String> {
    if !quotes_balanced(v) {
        return Err(format!("unbalanced quotes in {what}"));
    }
    // addr-spec without <> must not contain a comma, ? or ; inside the URI part
    let (uri_part, params) = if let Some(lt) = find_unquoted(v, '<') {
        let gt = v[lt..]
            .find('>')
            .ok_or_else(|| format!("{what}: '<' without '>'"))?
            + lt;
        let display = v[..lt].trim();
        if !display.is_empty()
            && !display.starts_with('"')
            && !display.split_whitespace().all(is_token)
        {
            return Err(format!("{what}: bad display name"));
        }
        let inner = &v[lt + 1..gt];
        if inner.trim() != inner {
            return Err(format!("{what}: whitespace inside <>"));
        }
        (inner, &v[gt + 1..])
    } else {
        match v.find(';') {
            Some(i) => (&v[..i], &v[i..]),
            None => (v, ""),
        }
    };
    let uri = uri_part.trim();
    if uri.contains(char::is_whitespace) {
        return Err(format!("{what}: whitespace in URI"));
    }
    let parsed = rsip::parse_uri(uri).map_err(|e| format!("{what}: {e}"))?;
    if parsed.scheme.is_none() {
        return Err(format!("{what}: URI without scheme"));
    }
    Ok(tag_param(params).map(str::to_string))
}

/// The `tag` parameter among a From/To value's header parameters (the last one wins).
fn tag_param(params: &str) -> Option<&str> {
    let mut tag = None;
    for p in params.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, val) = p.split_once('=').unwrap_or((p, ""));
        if k.trim().eq_ignore_ascii_case("tag") {
            tag = Some(val.trim());
        }
    }
    tag
}

/// True when a From/To value (already checked by [`name_addr_tag`]) has a tag.
fn has_tag(v: &str) -> bool {
    let params = match find_unquoted(v, '<') {
        Some(lt) => v[lt..].find('>').map_or("", |gt| &v[lt + gt + 1..]),
        None => v.find(';').map_or("", |i| &v[i..]),
    };
    tag_param(params).is_some()
}

fn find_unquoted(s: &str, ch: char) -> Option<usize> {
    let (mut in_q, mut esc) = (false, false);
    for (i, c) in s.char_indices() {
        if esc {
            esc = false;
        } else if c == '\\' && in_q {
            esc = true;
        } else if c == '"' {
            in_q = !in_q;
        } else if c == ch && !in_q {
            return Some(i);
        }
    }
    None
}

fn core(h: &[RawHeader<'_>], reply: ReplyContext) -> Result<Core, String> {
    let top_via = parse_via(&reply.vias[0])?;
    for v in &reply.vias[1..] {
        parse_via(v)?;
    }
    let call_id = raw_one(h, "Call-ID")?.to_string();
    if call_id.is_empty() || call_id.contains(char::is_whitespace) {
        return Err("bad Call-ID".into());
    }
    let cseq_v = raw_one(h, "CSeq")?;
    let mut it = cseq_v.split_whitespace();
    let num = it.next().ok_or("empty CSeq")?;
    let cseq_method = it.next().ok_or("CSeq without method")?.to_string();
    if it.next().is_some() || !num.bytes().all(|b| b.is_ascii_digit()) || num.len() > 10 {
        return Err(format!("bad CSeq {cseq_v:.30}"));
    }
    let cseq: u64 = num.parse().map_err(|_| "bad CSeq number")?;
    if cseq >= 1 << 31 {
        return Err("CSeq number too large".into());
    }
    if !is_token(&cseq_method) {
        return Err("bad CSeq method".into());
    }
    let from_tag = name_addr_tag("From", raw_one(h, "From")?)?;
    let to_tag = name_addr_tag("To", raw_one(h, "To")?)?;
    if let Some(mf) = raw_all(h, "Max-Forwards").next()
        && (mf.is_empty()
            || mf.len() > 10
            || !mf.bytes().all(|b| b.is_ascii_digit())
            || mf.parse::<u64>().map_or(true, |n| n > 255))
    {
        return Err(format!("bad Max-Forwards {mf:.10}"));
    }
    for name in ["Expires", "Min-Expires"] {
        if let Some(v) = raw_all(h, name).next()
            && (v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) || v.len() > 10)
        {
            return Err(format!("bad {name} {v:.20}"));
        }
    }
    if raw_all(h, "Content-Type").any(|ct| !ct.contains('/')) {
        return Err("bad Content-Type".into());
    }
    Ok(Core {
        top_via,
        call_id,
        cseq: cseq as u32,
        cseq_method,
        from_tag,
        to_tag,
        reply,
    })
}

fn rsip_headers(h: Vec<RawHeader<'_>>) -> Headers {
    let mut out = Headers::default();
    for RawHeader { name, value } in h {
        out.push(make_header(name, value));
    }
    out
}

/// Parses one datagram or one frame cut from a stream by [`crate::sip::framing`].
pub fn parse(data: &[u8]) -> Result<Message, Reject> {
    let reject = |status: Option<u16>, reason: String, reply: Option<ReplyContext>| Reject {
        status,
        reason,
        reply: reply.map(Box::new),
    };
    let end = head_end(data).ok_or_else(|| reject(None, "no end of headers".into(), None))?;
    let head = scan_head(&data[..end]).map_err(|e| reject(None, e, None))?;
    let is_response = head.start.starts_with("SIP/");
    let reply = if is_response {
        None
    } else {
        reply_context(&head.headers)
    };
    let fail = |status: u16, reason: String| {
        reject(Some(status).filter(|_| !is_response), reason, reply.clone())
    };

    let body_avail = &data[end..];
    let body = match content_length(&head.headers).map_err(|e| fail(400, e))? {
        Some(n) if n > body_avail.len() => {
            return Err(fail(
                400,
                format!(
                    "Content-Length {n} but only {} body bytes",
                    body_avail.len()
                ),
            ));
        }
        Some(n) => body_avail[..n].to_vec(),
        None => body_avail.to_vec(),
    };

    if is_response {
        let mut parts = head.start.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        let code = parts.next().unwrap_or("");
        if version != "SIP/2.0" {
            return Err(fail(505, format!("version {version:.12}")));
        }
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) || code.starts_with('0') {
            return Err(fail(400, format!("bad status code {code:.12}")));
        }
        let code: u16 = code.parse().expect("three digits");
        let rc = reply_context(&head.headers)
            .ok_or_else(|| fail(400, "response without Via/From/To/Call-ID/CSeq".into()))?;
        let core = core(&head.headers, rc).map_err(|e| fail(400, e))?;
        let reason = parts.next().unwrap_or("").trim();
        let inner = rsip::Response {
            status_code: rsip::StatusCode::try_from((code, reason))
                .map_err(|e| fail(400, e.to_string()))?,
            wire_reason: None,
            version: rsip::Version::V2,
            headers: rsip_headers(head.headers),
            body,
        };
        return Ok(Message::Response(Response { inner, core }));
    }

    // Request-Line: Method SP Request-URI SP SIP-Version, single spaces.
    let parts: Vec<&str> = head.start.split(' ').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty() || p.contains('\t')) {
        return Err(fail(
            400,
            format!("malformed request line {:.60}", head.start),
        ));
    }
    let (method_s, uri_s, version) = (parts[0], parts[1], parts[2]);
    if !is_token(method_s) {
        return Err(fail(400, "bad method token".into()));
    }
    let Some(rc) = reply.clone() else {
        return Err(fail(400, "request without Via".into()));
    };
    if version != "SIP/2.0" {
        return Err(fail(505, format!("version {version:.12}")));
    }
    let core = core(&head.headers, rc).map_err(|e| fail(400, e))?;
    if !core.cseq_method.eq(method_s) {
        return Err(fail(
            400,
            "CSeq method does not match the request method".into(),
        ));
    }
    if uri_s.contains(['<', '>', '"']) {
        return Err(fail(400, "Request-URI in angle brackets or quotes".into()));
    }
    if uri_s[uri_s.rfind('@').unwrap_or(0)..].contains('?') {
        // RFC 3261 §19.1.5: headers are not allowed in a Request-URI.
        return Err(fail(400, "Request-URI carries URI headers".into()));
    }
    let scheme = uri_s.split(':').next().unwrap_or("").to_ascii_lowercase();
    if !matches!(scheme.as_str(), "sip" | "sips" | "tel") {
        return Err(fail(416, format!("unsupported URI scheme {scheme:.10}")));
    }
    let uri = rsip::parse_uri(uri_s).map_err(|e| fail(400, format!("Request-URI: {e}")))?;
    let method: Method = match method_s.parse() {
        Ok(m) if method_s.bytes().all(|b| b.is_ascii_uppercase()) => m,
        _ => return Err(fail(501, format!("method {method_s:.20} not implemented"))),
    };
    let inner = rsip::Request {
        method,
        uri,
        version: rsip::Version::V2,
        headers: rsip_headers(head.headers),
        body,
    };
    Ok(Message::Request(Request { inner, core }))
}

/// Builds a response to a request from its [`ReplyContext`].
///
/// `source` is where the request came from: the top Via gets `received` and,
/// when the client asked with `rport`, the port (RFC 3581).
pub struct ResponseBuilder<'a> {
    ctx: &'a ReplyContext,
    code: u16,
    to_tag: Option<&'a str>,
    source: Option<SocketAddr>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl<'a> ResponseBuilder<'a> {
    /// A response with `code` to the request whose headers are `ctx`.
    pub fn new(ctx: &'a ReplyContext, code: u16) -> Self {
        ResponseBuilder {
            ctx,
            code,
            to_tag: None,
            source: None,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
    /// Adds our To tag when the request's To has none.
    pub fn to_tag(mut self, tag: &'a str) -> Self {
        self.to_tag = Some(tag);
        self
    }
    /// Records the request's real source in the top Via.
    pub fn source(mut self, src: SocketAddr) -> Self {
        self.source = Some(src);
        self
    }
    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }
    /// Sets the body (Content-Type is the caller's to add).
    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }

    /// Prints the response (and counts it for `/metrics`).
    pub fn build(self) -> Vec<u8> {
        super::stats::RESPONSES.count(self.code);
        // Written straight into one buffer: the header values are already
        // text, and going through rsip's typed headers and `fmt` cost an
        // eighth of the registrar's CPU at full load.
        let extra: usize = self
            .headers
            .iter()
            .map(|(n, v)| n.len() + v.len() + 4)
            .sum();
        let mut out = Vec::with_capacity(256 + extra + self.body.len());
        let line = |out: &mut Vec<u8>, name: &str, value: &str| {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        };
        let status = rsip::StatusCode::from(self.code);
        out.extend_from_slice(b"SIP/2.0 ");
        out.extend_from_slice(self.code.to_string().as_bytes());
        out.push(b' ');
        out.extend_from_slice(status.text().as_bytes());
        out.extend_from_slice(b"\r\n");
        for (i, via) in self.ctx.vias.iter().enumerate() {
            if i == 0 && self.source.is_some() {
                line(&mut out, "Via", &stamp_via(via, self.source));
            } else {
                line(&mut out, "Via", via);
            }
        }
        if !self.ctx.from.is_empty() {
            line(&mut out, "From", &self.ctx.from);
        }
        if !self.ctx.to.is_empty() {
            out.extend_from_slice(b"To: ");
            out.extend_from_slice(self.ctx.to.as_bytes());
            if let Some(tag) = self.to_tag
                && self.code > 100
                && !has_tag(&self.ctx.to)
            {
                out.extend_from_slice(b";tag=");
                out.extend_from_slice(tag.as_bytes());
            }
            out.extend_from_slice(b"\r\n");
        }
        if !self.ctx.call_id.is_empty() {
            line(&mut out, "Call-ID", &self.ctx.call_id);
        }
        if !self.ctx.cseq.is_empty() {
            line(&mut out, "CSeq", &self.ctx.cseq);
        }
        for (n, v) in &self.headers {
            line(&mut out, n, v);
        }
        line(&mut out, "Server", SERVER);
        line(&mut out, "Content-Length", &self.body.len().to_string());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

/// Our Server / User-Agent header value.
pub const SERVER: &str = concat!("dialroom/", env!("CARGO_PKG_VERSION"));

/// Adds `received` (and `rport` when asked) to a Via entry (RFC 3261 §18.2.1, RFC 3581).
fn stamp_via(via: &str, source: Option<SocketAddr>) -> String {
    let Some(src) = source else {
        return via.to_string();
    };
    // The request passed `parse_via`: the entry is `SIP/2.0/T sent-by;params`.
    let mut segs = via.split(';');
    let head = segs.next().unwrap_or("").trim_end();
    let param_key = |s: &str| s.split('=').next().unwrap_or("").trim().to_string();
    let rport = via
        .split(';')
        .skip(1)
        .any(|s| param_key(s).eq_ignore_ascii_case("rport"));
    let mut out = String::with_capacity(via.len() + 40);
    out.push_str(head);
    // Drop any received/rport the request carried; write ours.
    for s in segs {
        let k = param_key(s);
        if k.eq_ignore_ascii_case("received") || k.eq_ignore_ascii_case("rport") {
            continue;
        }
        out.push(';');
        out.push_str(s.trim());
    }
    let ip = src.ip().to_string();
    if rport || sent_by_host(head) != ip {
        let _ = write!(out, ";received={ip}");
    }
    if rport {
        let _ = write!(out, ";rport={}", src.port());
    }
    out
}

/// The host of a Via entry's `SIP/2.0/T host[:port]` part, brackets removed.
fn sent_by_host(head: &str) -> &str {
    let sent_by = head
        .split_once(char::is_whitespace)
        .map_or("", |(_, s)| s.trim());
    if let Some(v6) = sent_by.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    sent_by.split(':').next().unwrap_or("")
}

/// The bytes a request's Request-URI user part and host hold.
pub fn uri_user_host(uri: &rsip::Uri) -> (Option<String>, String) {
    (
        uri.user().map(str::to_string),
        uri.host_with_port.host.to_string().to_ascii_lowercase(),
    )
}

/// Reads a header from any rsip message (for code that holds rsip types).
pub fn rsip_header<'a, M: HasHeaders>(m: &'a M, name: &str) -> Option<&'a str> {
    header_value(m.headers(), name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REG: &str = "REGISTER sip:example.com SIP/2.0\r\n\
v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport, SIP/2.0/TCP proxy.example.com\r\n\
f: <sip:alice@example.com>;tag=a1\r\n\
t: <sip:alice@example.com>\r\n\
i: call-1\r\n\
CSeq: 7 REGISTER\r\n\
m: <sip:alice@10.0.0.1:5060>;expires=60, <sip:alice@10.0.0.2>\r\n\
Subject: folded\r\n  across lines\r\n\
l: 0\r\n\r\n";

    fn req(s: &str) -> Request {
        match parse(s.as_bytes()).unwrap() {
            Message::Request(r) => r,
            Message::Response(_) => panic!("not a request"),
        }
    }

    #[test]
    fn compact_headers_and_folding_parse() {
        let r = req(REG);
        assert_eq!(r.core.call_id, "call-1");
        assert_eq!(r.core.cseq, 7);
        assert_eq!(r.core.from_tag.as_deref(), Some("a1"));
        assert_eq!(r.core.to_tag, None);
        assert_eq!(r.header("Subject"), Some("folded across lines"));
        assert_eq!(r.header_list("Contact").len(), 2);
    }

    #[test]
    fn comma_joined_vias_are_split_and_the_top_one_is_read() {
        let r = req(REG);
        assert_eq!(r.core.reply.vias.len(), 2);
        assert_eq!(r.core.top_via.sent_by(), "10.0.0.1:5060");
        assert_eq!(r.core.top_via.rport, Some(None));
        assert!(r.core.top_via.has_rfc3261_branch());
    }

    #[test]
    fn response_echoes_headers_and_stamps_received_and_rport() {
        let r = req(REG);
        let src: SocketAddr = "192.0.2.7:40000".parse().unwrap();
        let out = ResponseBuilder::new(&r.core.reply, 200)
            .to_tag("xyz")
            .source(src)
            .build();
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("SIP/2.0 200 OK\r\n"), "{s}");
        assert!(
            s.contains(
                "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;received=192.0.2.7;rport=40000\r\n"
            ),
            "{s}"
        );
        assert!(s.contains("Via: SIP/2.0/TCP proxy.example.com\r\n"), "{s}");
        assert!(s.contains("To: <sip:alice@example.com>;tag=xyz\r\n"), "{s}");
        assert!(s.ends_with("Content-Length: 0\r\n\r\n"), "{s}");
        // and what we print parses again
        assert!(matches!(parse(s.as_bytes()), Ok(Message::Response(_))));
    }

    #[test]
    fn content_length_longer_than_the_datagram_is_a_400() {
        let bad = REG.replace("l: 0", "l: 10");
        let e = parse(bad.as_bytes()).unwrap_err();
        assert_eq!(e.status, Some(400));
        assert!(e.reply.is_some());
    }

    #[test]
    fn extra_bytes_after_content_length_are_cut() {
        let s = REG.replace("l: 0", "l: 2").to_string() + "abcdef";
        assert_eq!(req(&s).inner.body, b"ab");
    }

    #[test]
    fn unknown_method_is_501_and_bad_version_505() {
        let s = REG
            .replace("REGISTER sip:", "FOO sip:")
            .replace("7 REGISTER", "7 FOO");
        assert_eq!(parse(s.as_bytes()).unwrap_err().status, Some(501));
        let s = REG.replace("SIP/2.0\r\nv:", "SIP/7.0\r\nv:");
        assert_eq!(parse(s.as_bytes()).unwrap_err().status, Some(505));
    }

    #[test]
    fn garbage_never_panics() {
        for g in [
            &b""[..],
            b"\r\n\r\n",
            b"\xff\xfe\r\n\r\n",
            b"INVITE\r\n\r\n",
            b"SIP/2.0 999\r\n\r\n",
            b"A B C\r\nVia\r\n\r\n",
        ] {
            assert!(parse(g).is_err());
        }
    }
}
