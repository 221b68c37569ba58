//! Anomalies the HTTP parser raises, named like Suricata's `app-layer-event:http.*` events
//! where Suricata has one (so rules and EVE consumers keep their names).

/// One anomaly seen while parsing a transaction or the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HttpEvent {
    /// A request line or header line longer than `field_limit` (raised as soon as that
    /// much of it arrived), or a head cut at `max_header_bytes`.
    RequestFieldTooLong,
    /// A status line or header line longer than `field_limit`, or a head cut at
    /// `max_header_bytes`.
    ResponseFieldTooLong,
    /// A request header line without a colon (kept as a header with an empty name).
    RequestFieldMissingColon,
    /// A response header line without a colon (kept as a header with an empty name).
    ResponseFieldMissingColon,
    /// A request header name that is not a token (spaces before the colon, NUL, ...).
    RequestHeaderInvalid,
    /// A response header name that is not a token (spaces before the colon, NUL, ...).
    ResponseHeaderInvalid,
    /// A continuation (obs-fold) line in the request headers with nothing to continue.
    InvalidRequestFieldFolding,
    /// A continuation (obs-fold) line in the response headers with nothing to continue.
    InvalidResponseFieldFolding,
    /// A request chunk-size line that is not a hex number.
    InvalidRequestChunkLen,
    /// A response chunk-size line that is not a hex number; the body is read to close.
    InvalidResponseChunkLen,
    /// Request `Transfer-Encoding` other than exactly `chunked`.
    InvalidTransferEncodingValueInRequest,
    /// Response `Transfer-Encoding` that contains `chunked` but is not exactly `chunked`.
    ResponseAbnormalTransferEncoding,
    /// Request `Content-Length` that is not a (list of equal) decimal number(s).
    InvalidContentLengthFieldInRequest,
    /// Response `Content-Length` that is not a (list of equal) decimal number(s).
    InvalidContentLengthFieldInResponse,
    /// More than one request `Content-Length`.
    DuplicateContentLengthFieldInRequest,
    /// More than one response `Content-Length`.
    DuplicateContentLengthFieldInResponse,
    /// A second `100 Continue` for the same transaction.
    ContinueAlreadySeen,
    /// A response arrived with no request waiting for it.
    UnableToMatchResponseToRequest,
    /// A request line that does not have the `METHOD URI PROTOCOL` shape.
    RequestLineInvalid,
    /// Whitespace before the request method.
    RequestLineLeadingWhitespace,
    /// A request line without protocol (HTTP/0.9 style): no headers follow.
    RequestLineMissingProtocol,
    /// A status line with an unparseable protocol.
    ResponseInvalidProtocol,
    /// A status line whose code is not a number in 100..=999.
    ResponseInvalidStatus,
    /// Both `Transfer-Encoding: chunked` and `Content-Length` (request smuggling shape);
    /// chunked wins (RFC 9112 §6.3).
    RequestSmuggling,
    /// `Transfer-Encoding: chunked` on an HTTP/1.0 (or older) response.
    ResponseChunkedOldProto,
    /// A `Content-Encoding` value with tokens other than gzip/deflate/identity.
    AbnormalCeHeader,
    /// More `Content-Encoding` tokens (libhtp counts every token, `identity` too) or
    /// compressed layers than `max_decompress_layers`; further layers are not decoded.
    TooManyEncodingLayers,
    /// A body failed to decompress; the undecodable bytes are inspected as they are.
    GzipDecompressionFailed,
    /// Decompressed output exceeded `max_decompressed_bytes`; decoding stopped.
    CompressionBomb,
    /// Bytes after a complete response that do not look like a status line; appended to
    /// the previous response body (what browsers do).
    UnexpectedResponseBody,
    /// Lines before the status line that do not look like one; skipped.
    ResponseJunkBeforeStatusLine,
    /// The message was not strict HTTP/1.1 (LF-only or bare-CR line ends, obs-fold, spaces
    /// before the colon, ...); it was parsed leniently. (verdict-specific)
    LenientParse,
    /// Stream bytes were lost inside this transaction; its buffers are incomplete.
    /// (verdict-specific)
    StreamGap,
    /// The connection closed before the declared body length was received. (verdict-specific)
    TruncatedBody,
    /// An `Authorization` header whose scheme is not Basic, Digest or Bearer (libhtp's
    /// `HTP_AUTH_UNRECOGNIZED`).
    RequestAuthUnrecognized,
}

impl HttpEvent {
    /// Every event, in declaration order.
    pub const ALL: &'static [HttpEvent] = &[
        HttpEvent::RequestFieldTooLong,
        HttpEvent::ResponseFieldTooLong,
        HttpEvent::RequestFieldMissingColon,
        HttpEvent::ResponseFieldMissingColon,
        HttpEvent::RequestHeaderInvalid,
        HttpEvent::ResponseHeaderInvalid,
        HttpEvent::InvalidRequestFieldFolding,
        HttpEvent::InvalidResponseFieldFolding,
        HttpEvent::InvalidRequestChunkLen,
        HttpEvent::InvalidResponseChunkLen,
        HttpEvent::InvalidTransferEncodingValueInRequest,
        HttpEvent::ResponseAbnormalTransferEncoding,
        HttpEvent::InvalidContentLengthFieldInRequest,
        HttpEvent::InvalidContentLengthFieldInResponse,
        HttpEvent::DuplicateContentLengthFieldInRequest,
        HttpEvent::DuplicateContentLengthFieldInResponse,
        HttpEvent::ContinueAlreadySeen,
        HttpEvent::UnableToMatchResponseToRequest,
        HttpEvent::RequestLineInvalid,
        HttpEvent::RequestLineLeadingWhitespace,
        HttpEvent::RequestLineMissingProtocol,
        HttpEvent::ResponseInvalidProtocol,
        HttpEvent::ResponseInvalidStatus,
        HttpEvent::RequestSmuggling,
        HttpEvent::ResponseChunkedOldProto,
        HttpEvent::AbnormalCeHeader,
        HttpEvent::TooManyEncodingLayers,
        HttpEvent::GzipDecompressionFailed,
        HttpEvent::CompressionBomb,
        HttpEvent::UnexpectedResponseBody,
        HttpEvent::ResponseJunkBeforeStatusLine,
        HttpEvent::LenientParse,
        HttpEvent::StreamGap,
        HttpEvent::TruncatedBody,
        HttpEvent::RequestAuthUnrecognized,
    ];

    /// The rule-facing name (`app-layer-event:<name>`); Suricata's where it has one.
    pub fn name(self) -> &'static str {
        use HttpEvent::*;
        match self {
            RequestFieldTooLong => "http.request_field_too_long",
            ResponseFieldTooLong => "http.response_field_too_long",
            RequestFieldMissingColon => "http.request_field_missing_colon",
            ResponseFieldMissingColon => "http.response_field_missing_colon",
            RequestHeaderInvalid => "http.request_header_invalid",
            ResponseHeaderInvalid => "http.response_header_invalid",
            InvalidRequestFieldFolding => "http.invalid_request_field_folding",
            InvalidResponseFieldFolding => "http.invalid_response_field_folding",
            InvalidRequestChunkLen => "http.invalid_request_chunk_len",
            InvalidResponseChunkLen => "http.invalid_response_chunk_len",
            InvalidTransferEncodingValueInRequest => {
                "http.invalid_transfer_encoding_value_in_request"
            }
            ResponseAbnormalTransferEncoding => "http.response_abnormal_transfer_encoding",
            InvalidContentLengthFieldInRequest => "http.invalid_content_length_field_in_request",
            InvalidContentLengthFieldInResponse => "http.invalid_content_length_field_in_response",
            DuplicateContentLengthFieldInRequest => {
                "http.duplicate_content_length_field_in_request"
            }
            DuplicateContentLengthFieldInResponse => {
                "http.duplicate_content_length_field_in_response"
            }
            ContinueAlreadySeen => "http.100_continue_already_seen",
            UnableToMatchResponseToRequest => "http.unable_to_match_response_to_request",
            RequestLineInvalid => "http.request_line_invalid",
            RequestLineLeadingWhitespace => "http.request_line_leading_whitespace",
            RequestLineMissingProtocol => "http.request_line_missing_protocol",
            ResponseInvalidProtocol => "http.response_invalid_protocol",
            ResponseInvalidStatus => "http.response_invalid_status",
            RequestSmuggling => "http.request_smuggling",
            ResponseChunkedOldProto => "http.response_chunked_old_proto",
            AbnormalCeHeader => "http.abnormal_ce_header",
            TooManyEncodingLayers => "http.too_many_encoding_layers",
            GzipDecompressionFailed => "http.gzip_decompression_failed",
            CompressionBomb => "http.compression_bomb",
            UnexpectedResponseBody => "http.unexpected_response_body",
            ResponseJunkBeforeStatusLine => "http.response_junk_before_status_line",
            LenientParse => "http.lenient_parse",
            StreamGap => "http.stream_gap",
            TruncatedBody => "http.truncated_body",
            RequestAuthUnrecognized => "http.request_auth_unrecognized",
        }
    }
}

impl std::fmt::Display for HttpEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A small set of events: each kind at most once, in the order first seen, so a hostile
/// peer cannot grow it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventSet(Vec<HttpEvent>);

impl EventSet {
    /// Adds `e` unless present; returns whether it was new.
    pub(crate) fn add(&mut self, e: HttpEvent) -> bool {
        if self.0.contains(&e) {
            return false;
        }
        self.0.push(e);
        true
    }

    /// Whether `e` was raised.
    pub fn contains(&self, e: HttpEvent) -> bool {
        self.0.contains(&e)
    }

    /// The events in the order first raised.
    pub fn iter(&self) -> impl Iterator<Item = HttpEvent> + '_ {
        self.0.iter().copied()
    }

    /// Whether no event was raised.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
