//! Hand-written DER for SNMP and Kerberos 5 messages (RFC 3416/3412/3414, RFC 4120), for the
//! engine's parser tests and the replay and netns tests: each builder's output is checked by
//! the rusticata parser crates the engine uses, so a builder mistake fails the tests that use
//! it rather than testing against a wrong encoding.
#![allow(dead_code)]

/// One TLV with a definite length (short form below 128, long form above).
pub fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    let n = body.len();
    if n < 0x80 {
        v.push(n as u8);
    } else {
        let be = (n as u32).to_be_bytes();
        let skip = be.iter().take_while(|b| **b == 0).count();
        v.push(0x80 | (4 - skip) as u8);
        v.extend_from_slice(&be[skip..]);
    }
    v.extend_from_slice(body);
    v
}

/// A constructed element of the parts, concatenated.
pub fn cons(tag: u8, parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(tag, &parts.concat())
}

/// A SEQUENCE.
pub fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    cons(0x30, parts)
}

/// An INTEGER in the fewest bytes (two's complement).
pub fn int(v: i64) -> Vec<u8> {
    let be = v.to_be_bytes();
    let mut start = 0;
    while start < 7 {
        let (b, next) = (be[start], be[start + 1]);
        if (b == 0 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    tlv(0x02, &be[start..])
}

/// An OCTET STRING.
pub fn octets(b: &[u8]) -> Vec<u8> {
    tlv(0x04, b)
}

/// `[n]` EXPLICIT (context-specific, constructed).
pub fn ctx(n: u8, inner: Vec<u8>) -> Vec<u8> {
    tlv(0xa0 | n, &inner)
}

/// `sysDescr.0` (1.3.6.1.2.1.1.1.0) bound to NULL: a GetRequest's one variable.
fn sys_descr_null() -> Vec<u8> {
    seq(&[seq(&[
        tlv(0x06, &[0x2b, 6, 1, 2, 1, 1, 1, 0]),
        tlv(0x05, &[]),
    ])])
}

/// A PDU of `pdu_type` (0 GetRequest, 2 Response, 3 SetRequest, ...), request id 0x1234.
pub fn snmp_pdu(pdu_type: u8) -> Vec<u8> {
    cons(
        0xa0 | pdu_type,
        &[int(0x1234), int(0), int(0), sys_descr_null()],
    )
}

/// An SNMPv1 (`version` 0) or v2c (1) message with `community`.
pub fn snmp_v12(version: i64, community: &[u8], pdu_type: u8) -> Vec<u8> {
    seq(&[int(version), octets(community), snmp_pdu(pdu_type)])
}

/// An SNMPv3 message with USM user `user`; `encrypted`: the scoped PDU is an encrypted
/// OCTET STRING (privacy flag set), else a plaintext scoped PDU of `pdu_type`.
pub fn snmp_v3(user: &[u8], encrypted: bool, pdu_type: u8) -> Vec<u8> {
    let flags: u8 = if encrypted { 0x07 } else { 0x04 };
    let header = seq(&[int(0x4321), int(65507), octets(&[flags]), int(3)]);
    let usm = seq(&[
        octets(b"\x80\x00\x1f\x88\x04engine"),
        int(1),
        int(100),
        octets(user),
        octets(if encrypted { &[0u8; 12] } else { &[] }),
        octets(if encrypted { &[0u8; 8] } else { &[] }),
    ]);
    let data = if encrypted {
        octets(&[0x5a; 40])
    } else {
        seq(&[
            octets(b"\x80\x00\x1f\x88\x04engine"),
            octets(b""),
            snmp_pdu(pdu_type),
        ])
    };
    seq(&[int(3), header, octets(&usm), data])
}

/// A GeneralString (KerberosString).
fn kstr(s: &str) -> Vec<u8> {
    tlv(0x1b, s.as_bytes())
}

/// A PrincipalName of `parts` (name-type 1, NT-PRINCIPAL).
pub fn principal(parts: &[&str]) -> Vec<u8> {
    let names: Vec<Vec<u8>> = parts.iter().map(|p| kstr(p)).collect();
    seq(&[ctx(0, int(1)), ctx(1, seq(&names))])
}

fn ktime(s: &str) -> Vec<u8> {
    tlv(0x18, s.as_bytes())
}

/// A KDC-REQ body for `cname` (absent when empty) at `realm` asking for `sname`.
fn req_body(cname: &[&str], realm: &str, sname: &[&str], etypes: &[i64]) -> Vec<u8> {
    let mut parts = vec![ctx(0, tlv(0x03, &[0, 0x40, 0x81, 0, 0x10]))];
    if !cname.is_empty() {
        parts.push(ctx(1, principal(cname)));
    }
    parts.push(ctx(2, kstr(realm)));
    parts.push(ctx(3, principal(sname)));
    parts.push(ctx(5, ktime("20370913024805Z")));
    parts.push(ctx(7, int(0x1a2b3c4d)));
    let et: Vec<Vec<u8>> = etypes.iter().map(|&e| int(e)).collect();
    parts.push(ctx(8, seq(&et)));
    seq(&parts)
}

/// An AS-REQ (`app` 10) or TGS-REQ (12) from `cname` for `sname`.
pub fn krb_kdc_req(app: u8, cname: &[&str], realm: &str, sname: &[&str]) -> Vec<u8> {
    let body = req_body(cname, realm, sname, &[18, 17, 23]);
    let kdc_req = seq(&[ctx(1, int(5)), ctx(2, int(i64::from(app))), ctx(4, body)]);
    tlv(0x60 | app, &kdc_req)
}

/// EncryptedData of `etype`.
fn enc_data(etype: i64) -> Vec<u8> {
    seq(&[ctx(0, int(etype)), ctx(2, octets(&[0xc3; 24]))])
}

/// An AS-REP (`app` 11) or TGS-REP (13) to `cname` with a ticket for `sname`, its
/// enc-part in `etype`.
pub fn krb_kdc_rep(app: u8, cname: &[&str], realm: &str, sname: &[&str], etype: i64) -> Vec<u8> {
    let ticket = tlv(
        0x61,
        &seq(&[
            ctx(0, int(5)),
            ctx(1, kstr(realm)),
            ctx(2, principal(sname)),
            ctx(3, enc_data(18)),
        ]),
    );
    let rep = seq(&[
        ctx(0, int(5)),
        ctx(1, int(i64::from(app))),
        ctx(3, kstr(realm)),
        ctx(4, principal(cname)),
        ctx(5, ticket),
        ctx(6, enc_data(etype)),
    ]);
    tlv(0x60 | app, &rep)
}

/// A KRB-ERROR with `code` about `sname` at `realm`.
pub fn krb_error(code: i64, realm: &str, sname: &[&str]) -> Vec<u8> {
    let err = seq(&[
        ctx(0, int(5)),
        ctx(1, int(30)),
        ctx(4, ktime("20251201120000Z")),
        ctx(5, int(0)),
        ctx(6, int(code)),
        ctx(9, kstr(realm)),
        ctx(10, principal(sname)),
    ]);
    tlv(0x7e, &err)
}

/// A Kerberos message framed for TCP (RFC 4120 section 7.2.2: a 4-byte length).
pub fn krb_tcp(msg: &[u8]) -> Vec<u8> {
    let mut v = (msg.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(msg);
    v
}
