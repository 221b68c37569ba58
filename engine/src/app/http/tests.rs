//! Connection-level tests: buffers on literal messages, framing, decoding, splits.

use std::io::Write;

use proptest::prelude::*;
use verdict_compiler::ir::AppBuffer as A;

use super::*;

fn conn() -> HttpConn {
    HttpConn::new(&HttpConfig::default())
}

fn exchange(req: &[u8], resp: &[u8]) -> HttpConn {
    let mut c = conn();
    c.feed(Dir::ToServer, req);
    c.feed(Dir::ToClient, resp);
    c
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn response_with(headers: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\n{headers}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";

#[test]
fn request_buffers_hold_suricatas_bytes() {
    let req = b"GET /a/./b/../c%41?x=1 HTTP/1.1\r\nHost: WWW.Example.COM:8080\r\nUser-Agent: UA/1.0\r\n\
Accept: */*\r\nAccept-Encoding: gzip\r\nAccept-Language: en\r\nReferer: http://r/\r\nCookie: a=b\r\n\
Connection: keep-alive\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nTrue-Client-IP: 192.0.2.9\r\n\r\nbody";
    let mut c = conn();
    let up = c.feed(Dir::ToServer, req);
    let progress: Vec<Progress> = up.iter().map(|(_, p)| p).collect();
    assert_eq!(
        progress,
        [
            Progress::RequestLine,
            Progress::RequestHeaders,
            Progress::RequestBody,
            Progress::RequestComplete
        ]
    );
    let tx = c.tx(0).unwrap();
    let b = |x| tx.buffer(x);
    assert_eq!(b(A::HttpUri), Some(&b"/a/cA?x=1"[..]));
    assert_eq!(b(A::HttpRawUri), Some(&b"/a/./b/../c%41?x=1"[..]));
    assert_eq!(b(A::HttpMethod), Some(&b"GET"[..]));
    assert_eq!(
        b(A::HttpRequestLine),
        Some(&b"GET /a/./b/../c%41?x=1 HTTP/1.1"[..])
    );
    assert_eq!(b(A::HttpProtocol), Some(&b"HTTP/1.1"[..]));
    assert_eq!(b(A::HttpHost), Some(&b"www.example.com"[..]));
    assert_eq!(b(A::HttpRawHost), Some(&b"WWW.Example.COM:8080"[..]));
    assert_eq!(b(A::HttpUserAgent), Some(&b"UA/1.0"[..]));
    assert_eq!(b(A::HttpAccept), Some(&b"*/*"[..]));
    assert_eq!(b(A::HttpAcceptEnc), Some(&b"gzip"[..]));
    assert_eq!(b(A::HttpAcceptLang), Some(&b"en"[..]));
    assert_eq!(b(A::HttpReferer), Some(&b"http://r/"[..]));
    assert_eq!(b(A::HttpCookie), Some(&b"a=b"[..]));
    assert_eq!(b(A::HttpRawCookie), Some(&b"a=b"[..]));
    assert_eq!(b(A::HttpConnection), Some(&b"keep-alive"[..]));
    assert_eq!(b(A::HttpContentType), Some(&b"text/plain"[..]));
    assert_eq!(b(A::HttpContentLen), Some(&b"4"[..]));
    assert_eq!(b(A::HttpTrueIp), Some(&b"192.0.2.9"[..]));
    assert_eq!(b(A::HttpClientBody), Some(&b"body"[..]));
    assert_eq!(tx.file_data(Dir::ToServer), Some(&b"body"[..]));
    let header = b"Host: WWW.Example.COM:8080\r\nUser-Agent: UA/1.0\r\nAccept: */*\r\nAccept-Encoding: gzip\r\n\
Accept-Language: en\r\nReferer: http://r/\r\nConnection: keep-alive\r\nContent-Type: text/plain\r\n\
Content-Length: 4\r\nTrue-Client-IP: 192.0.2.9\r\n";
    assert_eq!(
        b(A::HttpHeader),
        Some(&header[..]),
        "cookie excluded, CRLF after each field"
    );
    let head_end = req.len() - 4;
    let first = req.iter().position(|&x| x == b'\n').unwrap() + 1;
    assert_eq!(
        b(A::HttpRawHeader),
        Some(&req[first..head_end]),
        "raw lines, final empty line included"
    );
    assert_eq!(
        b(A::HttpHeaderNames),
        Some(
            &b"\r\nHost\r\nUser-Agent\r\nAccept\r\nAccept-Encoding\r\nAccept-Language\r\nReferer\r\nCookie\r\n\
Connection\r\nContent-Type\r\nContent-Length\r\nTrue-Client-IP\r\n\r\n"[..]
        )
    );
    let start = b(A::HttpStart).unwrap();
    assert!(start.starts_with(b"GET /a/./b/../c%41?x=1 HTTP/1.1\r\nHost: WWW.Example.COM:8080\r\n"));
    assert!(start.ends_with(b"True-Client-IP: 192.0.2.9\r\n\r\n"));
    // Response-only and non-HTTP buffers.
    assert_eq!(b(A::HttpStatCode), None);
    assert_eq!(b(A::HttpServerBody), None);
    assert_eq!(b(A::DnsQuery), None);
    assert!(tx.events().is_empty(), "{:?}", tx.events());
    assert_eq!(tx.hostname(), Some(&b"www.example.com"[..]));
    assert_eq!(tx.url(), Some(&b"/a/./b/../c%41?x=1"[..]));
}

#[test]
fn response_buffers_hold_suricatas_bytes() {
    let resp = b"HTTP/1.1 404 Not Found\r\nServer: nginx\r\nLocation: /x\r\nSet-Cookie: s=1\r\n\
Content-Type: text/html\r\nContent-Length: 3\r\n\r\nabc";
    let mut c = conn();
    c.feed(Dir::ToServer, GET);
    let up = c.feed(Dir::ToClient, &resp[..30]);
    assert_eq!(up.iter().collect::<Vec<_>>(), [(0, Progress::ResponseLine)]);
    assert_eq!(c.tx(0).unwrap().buffer(A::HttpStatCode), Some(&b"404"[..]));
    assert_eq!(
        c.tx(0).unwrap().buffer_in(A::HttpHeader, Dir::ToClient),
        None,
        "not before the head completes"
    );
    c.feed(Dir::ToClient, &resp[30..]);
    let tx = c.tx(0).unwrap();
    let r = |x| tx.buffer_in(x, Dir::ToClient);
    assert_eq!(r(A::HttpStatCode), Some(&b"404"[..]));
    assert_eq!(r(A::HttpStatMsg), Some(&b"Not Found"[..]));
    assert_eq!(r(A::HttpResponseLine), Some(&b"HTTP/1.1 404 Not Found"[..]));
    assert_eq!(r(A::HttpProtocol), Some(&b"HTTP/1.1"[..]));
    assert_eq!(r(A::HttpServer), Some(&b"nginx"[..]));
    assert_eq!(r(A::HttpLocation), Some(&b"/x"[..]));
    assert_eq!(r(A::HttpCookie), Some(&b"s=1"[..]));
    assert_eq!(r(A::HttpContentType), Some(&b"text/html"[..]));
    assert_eq!(r(A::HttpContentLen), Some(&b"3"[..]));
    assert_eq!(
        r(A::HttpHeader),
        Some(
            &b"Server: nginx\r\nLocation: /x\r\nContent-Type: text/html\r\nContent-Length: 3\r\n"[..]
        )
    );
    assert_eq!(
        r(A::HttpHeaderNames),
        Some(
            &b"\r\nServer\r\nLocation\r\nSet-Cookie\r\nContent-Type\r\nContent-Length\r\n\r\n"[..]
        )
    );
    assert!(r(A::HttpStart)
        .unwrap()
        .starts_with(b"HTTP/1.1 404 Not Found\r\nServer: nginx\r\n"));
    assert_eq!(r(A::HttpServerBody), Some(&b"abc"[..]));
    assert_eq!(tx.file_data(Dir::ToClient), Some(&b"abc"[..]));
    // The request side of two-direction buffers is still the request's.
    assert_eq!(tx.buffer(A::HttpHeader), Some(&b"Host: h\r\n"[..]));
    assert_eq!(
        (tx.status(), tx.response_len(), tx.content_type()),
        (Some(404), 3, Some(&b"text/html"[..]))
    );
    assert_eq!(tx.filename(), Some(&b"/"[..]));
    assert!(tx.request_complete() && tx.response_complete());
}

#[test]
fn pipelined_requests_match_responses_in_order() {
    let mut c = conn();
    let up = c.feed(Dir::ToServer, b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nPOST /2 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\n\r\n");
    assert_eq!(up.tx_ids(), [0, 1, 2]);
    let mut resp = response_with("", b"one");
    resp.extend_from_slice(&response_with("", b"two"));
    resp.extend_from_slice(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nthree\r\n0\r\n\r\n",
    );
    c.feed(Dir::ToClient, &resp);
    let bodies: Vec<_> = c
        .txs()
        .map(|t| t.buffer(A::HttpServerBody).unwrap().to_vec())
        .collect();
    assert_eq!(
        bodies,
        [b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
    );
    assert_eq!(
        c.tx(1).unwrap().buffer(A::HttpClientBody),
        Some(&b"abc"[..])
    );
    assert!(c
        .txs()
        .all(|t| t.request_complete() && t.response_complete()));
}

#[test]
fn chunked_bodies_with_extensions_and_trailers() {
    let c = exchange(
        b"POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n1 ; ext\r\n!\r\n0\r\nTrailer: x\r\n\r\n",
    );
    let tx = c.tx(0).unwrap();
    assert_eq!(tx.buffer(A::HttpClientBody), Some(&b"abcde"[..]));
    assert_eq!(tx.buffer(A::HttpServerBody), Some(&b"0123456789!"[..]));
    assert_eq!(tx.response_len(), 11);
    assert!(tx.response_complete());
}

#[test]
fn bad_chunk_size_reads_the_body_to_close() {
    let mut c = exchange(
        GET,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nnot chunked at all",
    );
    c.close(Dir::ToClient);
    let tx = c.tx(0).unwrap();
    assert_eq!(
        tx.buffer(A::HttpServerBody),
        Some(&b"not chunked at all"[..])
    );
    assert!(tx.events().contains(HttpEvent::InvalidResponseChunkLen));
}

#[test]
fn content_encodings_and_layers() {
    let text = b"<html>the decoded page, the decoded page</html>".repeat(10);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("gzip", gzip(&text)),
        ("x-gzip", gzip(&text)),
        ("deflate", zlib(&text)),
        ("deflate", deflate(&text)),
        ("gzip, deflate", zlib(&gzip(&text))),
        ("gzip, gzip, gzip", gzip(&gzip(&gzip(&text)))),
        ("deflate", text.clone()), // declared but not compressed: inspected as sent
    ];
    for (ce, body) in cases {
        let c = exchange(
            GET,
            &response_with(&format!("Content-Encoding: {ce}\r\n"), &body),
        );
        let tx = c.tx(0).unwrap();
        assert_eq!(tx.buffer(A::HttpServerBody), Some(&text[..]), "{ce}");
        assert_eq!(tx.file_data(Dir::ToClient), Some(&text[..]), "{ce}");
        assert_eq!(tx.response_len(), body.len() as u64);
    }
    // A fourth layer is over Suricata's limit of 3: not decoded, and an event.
    let four = gzip(&gzip(&gzip(&gzip(&text))));
    let c = exchange(
        GET,
        &response_with("Content-Encoding: gzip, gzip, gzip, gzip\r\n", &four),
    );
    let tx = c.tx(0).unwrap();
    assert!(tx.events().contains(HttpEvent::TooManyEncodingLayers));
    assert_eq!(tx.buffer(A::HttpServerBody), Some(&gzip(&text)[..]));
}

#[test]
fn decompression_bomb_costs_a_counter_not_memory() {
    // Decoding also stops quietly once the kept body is full; the bomb bound is for output
    // that is not kept (inner layers), so make it the smaller one here.
    let cfg = HttpConfig {
        max_decompressed_bytes: 1 << 20,
        response_body_limit: 4 << 20,
        ..Default::default()
    };
    let bomb = gzip(&gzip(&vec![0u8; 64 << 20]));
    let mut c = HttpConn::new(&cfg);
    c.feed(Dir::ToServer, GET);
    for part in response_with("Content-Encoding: gzip, gzip\r\n", &bomb).chunks(4096) {
        c.feed(Dir::ToClient, part);
    }
    let tx = c.tx(0).unwrap();
    assert_eq!(c.counters().decompression_bombs, 1);
    assert!(tx.events().contains(HttpEvent::CompressionBomb));
    assert!(tx.buffer(A::HttpServerBody).unwrap().len() <= 1 << 20);
    assert!(tx.response_complete());
}

#[test]
fn responses_without_body() {
    // HEAD: the Content-Length describes the entity that was not sent.
    let mut c = conn();
    c.feed(
        Dir::ToServer,
        b"HEAD /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n",
    );
    c.feed(
        Dir::ToClient,
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
    );
    c.feed(Dir::ToClient, &response_with("", b"b-body"));
    assert_eq!(c.tx(0).unwrap().buffer(A::HttpServerBody), None);
    assert!(c.tx(0).unwrap().response_complete());
    assert_eq!(
        c.tx(1).unwrap().buffer(A::HttpServerBody),
        Some(&b"b-body"[..])
    );
    // 204 and 304 likewise.
    for status in ["204 No Content", "304 Not Modified"] {
        let mut c = conn();
        c.feed(
            Dir::ToServer,
            b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n",
        );
        c.feed(
            Dir::ToClient,
            format!("HTTP/1.1 {status}\r\nContent-Length: 5\r\n\r\n").as_bytes(),
        );
        c.feed(Dir::ToClient, &response_with("", b"b-body"));
        assert_eq!(c.tx(0).unwrap().buffer(A::HttpServerBody), None, "{status}");
        assert_eq!(
            c.tx(1).unwrap().buffer(A::HttpServerBody),
            Some(&b"b-body"[..]),
            "{status}"
        );
    }
}

#[test]
fn interim_1xx_then_final_response() {
    let c = exchange(
        b"POST /u HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
    );
    assert_eq!(c.txs().count(), 1);
    let tx = c.tx(0).unwrap();
    assert_eq!(tx.buffer(A::HttpStatCode), Some(&b"201"[..]));
    assert_eq!(tx.buffer(A::HttpServerBody), Some(&b"ok"[..]));
    assert_eq!(tx.buffer(A::HttpClientBody), Some(&b"hi"[..]));
}

#[test]
fn connect_tunnels_or_not() {
    let mut c = conn();
    c.feed(
        Dir::ToServer,
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01 tls bytes",
    );
    c.feed(
        Dir::ToClient,
        b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03 more tls",
    );
    c.feed(Dir::ToServer, b"GET /not-http HTTP/1.1\r\n\r\n");
    assert_eq!(c.txs().count(), 1, "tunnel bytes are not HTTP");
    let tx = c.tx(0).unwrap();
    assert_eq!(tx.buffer(A::HttpUri), Some(&b"example.com:443"[..]));
    assert_eq!(tx.buffer(A::HttpHost), Some(&b"example.com"[..]));
    // Refused: what the client sent meanwhile is parsed as HTTP.
    let mut c = conn();
    c.feed(
        Dir::ToServer,
        b"CONNECT example.com:443 HTTP/1.1\r\n\r\nGET /next HTTP/1.1\r\n\r\n",
    );
    c.feed(
        Dir::ToClient,
        b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(
        c.tx(1).and_then(|t| t.buffer(A::HttpUri)),
        Some(&b"/next"[..])
    );
}

#[test]
fn te_and_cl_together_chunked_wins_with_event() {
    let c = exchange(
        b"POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nA\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    );
    let tx = c.tx(0).unwrap();
    assert_eq!(tx.buffer(A::HttpClientBody), Some(&b"A"[..]));
    assert_eq!(tx.buffer(A::HttpServerBody), Some(&b"ok"[..]));
    assert!(tx.events().contains(HttpEvent::RequestSmuggling));
    assert!(c.txs().count() == 1);
    // `xchunked` still means chunked (libhtp and browsers), with an event.
    let c = exchange(
        GET,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    );
    let tx = c.tx(0).unwrap();
    assert_eq!(tx.buffer(A::HttpServerBody), Some(&b"ok"[..]));
    assert!(tx
        .events()
        .contains(HttpEvent::ResponseAbnormalTransferEncoding));
    // Conflicting duplicated Content-Length: event, body read to close.
    let mut c = exchange(
        GET,
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\nhello",
    );
    c.close(Dir::ToClient);
    let tx = c.tx(0).unwrap();
    assert!(tx
        .events()
        .contains(HttpEvent::DuplicateContentLengthFieldInResponse));
    assert_eq!(
        tx.buffer_in(A::HttpContentLen, Dir::ToClient),
        Some(&b"2"[..])
    );
    assert_eq!(tx.buffer(A::HttpServerBody), Some(&b"hello"[..]));
}

#[test]
fn body_delimited_by_close() {
    let mut c = exchange(GET, b"HTTP/1.0 200 OK\r\n\r\npart one, ");
    c.feed(Dir::ToClient, b"part two");
    assert!(!c.tx(0).unwrap().response_complete());
    let up = c.close(Dir::ToClient);
    assert_eq!(
        up.iter().collect::<Vec<_>>(),
        [(0, Progress::ResponseComplete)]
    );
    assert_eq!(
        c.tx(0).unwrap().buffer(A::HttpServerBody),
        Some(&b"part one, part two"[..])
    );
    assert!(
        c.feed(Dir::ToClient, b"HTTP/1.1 200 OK\r\n\r\n").is_empty(),
        "nothing after FIN"
    );
}

#[test]
fn lenient_heads_get_an_event_strict_ones_do_not() {
    let c = exchange(
        b"GET / HTTP/1.1\nHost: h\n\n",
        b"HTTP/1.1 200 ok\nContent-Length : 2\n\nok",
    );
    let tx = c.tx(0).unwrap();
    assert_eq!(tx.buffer(A::HttpServerBody), Some(&b"ok"[..]));
    assert!(tx.events().contains(HttpEvent::LenientParse));
    assert_eq!(c.counters().lenient_parses, 2);
    let c = exchange(GET, &response_with("", b"ok"));
    assert!(c.tx(0).unwrap().events().is_empty());
    // HTTP/0.9: no headers, the response is a bare body.
    let mut c = exchange(b"GET /old\r\n", b"<html>hi</html>");
    c.close(Dir::ToClient);
    let tx = c.tx(0).unwrap();
    assert_eq!(tx.buffer(A::HttpServerBody), Some(&b"<html>hi</html>"[..]));
    assert_eq!(tx.buffer(A::HttpProtocol), None);
    assert!(tx.events().contains(HttpEvent::RequestLineMissingProtocol));
}

#[test]
fn a_missing_protocol_with_headers_in_the_same_chunk_is_not_http09() {
    // libhtp: more than whitespace after a protocol-less line means headers follow.
    let c = exchange(
        b"GET /x\r\nUser-Agent: u\r\nHost: h\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    );
    let tx = c.tx(0).unwrap();
    assert_eq!(tx.buffer(A::HttpUserAgent), Some(&b"u"[..]));
    assert_eq!(tx.buffer(A::HttpStatCode), Some(&b"200"[..]));
    assert_eq!(tx.buffer(A::HttpServerBody), Some(&b"ok"[..]));
    assert!(tx.events().contains(HttpEvent::RequestLineMissingProtocol));
    // The same line alone in its chunk is HTTP/0.9.
    let mut c = conn();
    c.feed(Dir::ToServer, b"GET /x\r\n");
    c.feed(Dir::ToServer, b"User-Agent: u\r\n\r\n");
    c.feed(Dir::ToClient, b"HTTP/1.1 200 OK\r\n\r\n");
    assert_eq!(c.tx(0).unwrap().buffer(A::HttpUserAgent), None);
}

#[test]
fn gaps_skip_known_lengths_and_resync_otherwise() {
    let mut c = conn();
    c.feed(Dir::ToServer, GET);
    c.feed(
        Dir::ToClient,
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab",
    );
    c.gap(Dir::ToClient, 4);
    c.feed(Dir::ToClient, b"ghij");
    let tx = c.tx(0).unwrap();
    assert_eq!(tx.buffer(A::HttpServerBody), Some(&b"abghij"[..]));
    assert!(tx.response_complete() && tx.body_truncated(Dir::ToClient));
    assert!(tx.events().contains(HttpEvent::StreamGap));
    // A gap that ends exactly with the body: the next response parses.
    let mut c = conn();
    c.feed(
        Dir::ToServer,
        b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n",
    );
    c.feed(
        Dir::ToClient,
        b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab",
    );
    c.gap(Dir::ToClient, 2);
    c.feed(Dir::ToClient, &response_with("", b"second"));
    assert!(c.tx(0).unwrap().response_complete());
    assert_eq!(
        c.tx(1).unwrap().buffer(A::HttpServerBody),
        Some(&b"second"[..])
    );
    // A gap inside a head: that request is given up, the next one parses.
    let mut c = conn();
    c.feed(Dir::ToServer, b"GET /lost HTTP/1.1\r\nHost: ");
    c.gap(Dir::ToServer, 100);
    c.feed(
        Dir::ToServer,
        b"rest of a line\r\n\r\nGET /next HTTP/1.1\r\n\r\n",
    );
    assert_eq!(
        c.tx(1).and_then(|t| t.buffer(A::HttpUri)),
        Some(&b"/next"[..])
    );
    assert!(c.tx(0).unwrap().request_complete());
}

#[test]
fn limits_cut_and_report() {
    let cfg = HttpConfig {
        max_header_bytes: 256,
        request_body_limit: 8,
        ..Default::default()
    };
    let mut c = HttpConn::new(&cfg);
    let mut req = b"GET / HTTP/1.1\r\nX-Long: ".to_vec();
    req.extend_from_slice(&[b'a'; 1000]);
    req.extend_from_slice(b"\r\n\r\n");
    c.feed(Dir::ToServer, &req);
    let tx = c.tx(0).unwrap();
    assert!(tx.events().contains(HttpEvent::RequestFieldTooLong));
    assert!(tx.buffer(A::HttpRawHeader).unwrap().len() <= 256);
    assert_eq!(c.counters().header_limit_hits, 1);
    c.feed(
        Dir::ToServer,
        b"POST / HTTP/1.1\r\nContent-Length: 20\r\n\r\n01234567890123456789",
    );
    let tx = c.tx(1).unwrap();
    assert_eq!(tx.buffer(A::HttpClientBody), Some(&b"01234567"[..]));
    assert!(tx.body_truncated(Dir::ToServer) && tx.request_complete());
    assert_eq!(c.counters().body_limit_hits, 1);
    c.feed(Dir::ToServer, b"GET\r\n");
    assert!(c
        .tx(2)
        .unwrap()
        .events()
        .contains(HttpEvent::RequestLineInvalid));
    // Transactions kept are bounded.
    let cfg = HttpConfig {
        max_txs: 4,
        ..Default::default()
    };
    let mut c = HttpConn::new(&cfg);
    for _ in 0..10 {
        c.feed(Dir::ToServer, GET);
    }
    assert_eq!(c.txs().count(), 4);
    assert_eq!(c.txs().next().map(Tx::id), Some(6));
    assert_eq!(c.counters().txs_evicted, 6);
    // Finished transactions are freed when the next request starts, not kept to the bound:
    // a long keep-alive connection holds one body, not `max_txs` of them.
    let mut c = HttpConn::new(&HttpConfig::default());
    let resp = response_with("", &[b'x'; 4096]);
    for _ in 0..50 {
        c.feed(Dir::ToServer, GET);
        c.feed(Dir::ToClient, &resp);
    }
    assert_eq!(c.txs().count(), 1);
    assert_eq!(c.txs().next().map(Tx::id), Some(49));
    assert_eq!(c.counters().txs_evicted, 0);
    // An unanswered request is kept however many follow it (pipelining).
    c.feed(Dir::ToServer, GET);
    c.feed(Dir::ToServer, GET);
    assert_eq!(c.txs().map(Tx::id).collect::<Vec<_>>(), vec![50, 51]);
}

/// Everything observable about a transaction, for split-invariance checks.
fn snapshot(c: &HttpConn) -> Vec<String> {
    const ALL: &[A] = &[
        A::HttpUri,
        A::HttpRawUri,
        A::HttpMethod,
        A::HttpHeader,
        A::HttpRawHeader,
        A::HttpCookie,
        A::HttpClientBody,
        A::HttpServerBody,
        A::HttpStatCode,
        A::HttpStatMsg,
        A::HttpUserAgent,
        A::HttpHost,
        A::HttpRawHost,
        A::HttpAccept,
        A::HttpAcceptLang,
        A::HttpAcceptEnc,
        A::HttpReferer,
        A::HttpContentType,
        A::HttpContentLen,
        A::HttpConnection,
        A::HttpProtocol,
        A::HttpRequestLine,
        A::HttpResponseLine,
        A::HttpStart,
        A::HttpLocation,
        A::HttpServer,
        A::HttpHeaderNames,
        A::HttpTrueIp,
    ];
    c.txs()
        .map(|t| {
            let mut s = format!(
                "tx {} done {} {} events {:?} file {:?}",
                t.id(),
                t.request_complete(),
                t.response_complete(),
                t.events(),
                t.filename()
            );
            for &b in ALL {
                for d in [Dir::ToServer, Dir::ToClient] {
                    s.push_str(&format!(" {b:?}/{d:?}={:?}", t.buffer_in(b, d)));
                }
            }
            s
        })
        .collect()
}

fn corpus() -> Vec<(Vec<u8>, Vec<u8>)> {
    let text = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*".repeat(3);
    let mut gz =
        b"HTTP/1.1 200 ok\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for part in gzip(&text).chunks(7) {
        gz.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        gz.extend_from_slice(part);
        gz.extend_from_slice(b"\r\n");
    }
    gz.extend_from_slice(b"0\r\n\r\n");
    gz.extend_from_slice(&response_with(
        "Content-Encoding: deflate, gzip\r\n",
        &gzip(&deflate(&text)),
    ));
    vec![
        (
            b"GET /a%2f..%2fb HTTP/1.1\r\nHost: A:1\r\nCookie: c\r\n\r\nGET /2 HTTP/1.1\r\n\r\n".to_vec(),
            gz,
        ),
        (
            b"POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n".to_vec(),
            b"\r\nfoobar\r\nHTTP/1.1 200 ok\rContent-Disposition: attachment; filename=\"x.bin\"\rTransfer-Encoding: \r\n chunked\n \n4\r\nbody\r\n0\r\n\r\njunk after".to_vec(),
        ),
        (
            b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n".to_vec(),
            b"HTTP/1.1 200 ok\r\nA: b\r\n\r\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nHTTP/1.1 200 ok\r\nContent-Length: 3\n\r\r\nabc\r\n \nnot a head".to_vec(),
        ),
        (
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 ok\r\nContent-Length: 34 68\r\n\r\nplain body until close\r\r\n".to_vec(),
        ),
    ]
}

fn run_split(req: &[u8], resp: &[u8], cuts: &[usize]) -> HttpConn {
    let mut c = conn();
    for (data, dir) in [(req, Dir::ToServer), (resp, Dir::ToClient)] {
        let mut rest = data;
        let mut i = 0;
        while !rest.is_empty() {
            let n = cuts[i % cuts.len()].clamp(1, rest.len());
            c.feed(dir, &rest[..n]);
            rest = &rest[n..];
            i += 1;
        }
    }
    c.close(Dir::ToServer);
    c.close(Dir::ToClient);
    c
}

proptest! {
    #[test]
    fn any_split_gives_the_same_transactions(case in 0usize..4, cuts in prop::collection::vec(1usize..40, 1..16)) {
        let (req, resp) = &corpus()[case];
        let whole = snapshot(&run_split(req, resp, &[usize::MAX]));
        let split = snapshot(&run_split(req, resp, &cuts));
        prop_assert_eq!(whole, split);
    }

    #[test]
    fn garbage_never_panics_and_stays_bounded(
        chunks in prop::collection::vec((any::<bool>(), prop::collection::vec(any::<u8>(), 0..300)), 0..24),
        gaps in prop::collection::vec(any::<u16>(), 0..3),
    ) {
        let cfg = HttpConfig { max_header_bytes: 512, request_body_limit: 1024, response_body_limit: 1024, max_txs: 8, ..Default::default() };
        let mut c = HttpConn::new(&cfg);
        for (i, (to_server, data)) in chunks.iter().enumerate() {
            let dir = if *to_server { Dir::ToServer } else { Dir::ToClient };
            // Bias towards HTTP-looking input so deeper states are reached.
            let prefix: &[u8] = match i % 4 { 0 if *to_server => b"GET /x HTTP/1.1\r\n", 0 => b"HTTP/1.1 200 ok\r\nTransfer-Encoding: chunked\r\n", _ => b"" };
            c.feed(dir, prefix);
            c.feed(dir, data);
            if let Some(g) = gaps.get(i) {
                c.gap(dir, u64::from(*g));
            }
        }
        c.close(Dir::ToClient);
        c.close(Dir::ToServer);
        prop_assert!(c.txs().count() <= 8);
        for t in c.txs() {
            for d in [Dir::ToServer, Dir::ToClient] {
                prop_assert!(t.buffer_in(A::HttpRawHeader, d).map_or(0, <[u8]>::len) <= 512);
                prop_assert!(t.file_data(d).map_or(0, <[u8]>::len) <= 1024);
            }
        }
    }
}

#[test]
fn parser_state_can_move_between_worker_threads() {
    fn assert_send<T: Send + 'static>() {}
    assert_send::<HttpConn>();
    assert_send::<Tx>();
}

#[test]
fn long_headerless_response_is_body_not_lost() {
    let cfg = HttpConfig {
        max_header_bytes: 256,
        ..Default::default()
    };
    let mut body = b"no status line here ".to_vec();
    body.extend_from_slice(&[b'x'; 5000]);
    body.extend_from_slice(b"EICAR at the end");
    for step in [7usize, 100, 10_000] {
        let mut c = HttpConn::new(&cfg);
        c.feed(Dir::ToServer, GET);
        for part in body.chunks(step) {
            c.feed(Dir::ToClient, part);
        }
        c.close(Dir::ToClient);
        assert_eq!(
            c.tx(0).unwrap().buffer(A::HttpServerBody),
            Some(&body[..]),
            "step {step}"
        );
    }
}

#[test]
fn cr_only_lines_end_the_head_unless_a_field_follows() {
    // A field follows: the stray line is skipped and the chunked coding applies.
    let c = exchange(
        GET,
        b"HTTP/1.1 200 ok\r\nA: b\r\n\r\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    );
    assert_eq!(c.tx(0).unwrap().buffer(A::HttpServerBody), Some(&b"ok"[..]));
    // Body bytes follow: the head ended there.
    let text = b"compressed text compressed text";
    let mut resp = format!(
        "HTTP/1.1 200 ok\r\nContent-Encoding: gzip\r\nContent-Length: {}\n\r\r\n",
        gzip(text).len()
    )
    .into_bytes();
    resp.extend_from_slice(&gzip(text));
    for step in [1usize, 3, 1000] {
        let mut c = conn();
        c.feed(Dir::ToServer, GET);
        for part in resp.chunks(step) {
            c.feed(Dir::ToClient, part);
        }
        c.close(Dir::ToClient);
        assert_eq!(
            c.tx(0).unwrap().buffer(A::HttpServerBody),
            Some(&text[..]),
            "step {step}"
        );
    }
}

#[test]
fn a_close_ends_a_head_that_never_got_its_blank_line() {
    let mut c = conn();
    c.feed(Dir::ToServer, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    c.feed(Dir::ToClient, b"HTTP/1.0 200 OK\r\nServer:ng1nx\r\n");
    assert_eq!(
        c.tx(0)
            .and_then(|t| t.buffer_in(verdict_compiler::ir::AppBuffer::HttpServer, Dir::ToClient)),
        None
    );
    let up = c.close(Dir::ToClient);
    assert!(up
        .iter()
        .any(|(id, p)| id == 0 && p == Progress::ResponseHeaders));
    let tx = c.tx(0).expect("tx");
    assert_eq!(
        tx.buffer_in(verdict_compiler::ir::AppBuffer::HttpServer, Dir::ToClient),
        Some(&b"ng1nx"[..])
    );
}
