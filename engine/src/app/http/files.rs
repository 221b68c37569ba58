//! Files carried by an HTTP transaction, as Suricata tracks them: the response body is one
//! file (named by the response's `Content-Disposition`, else the URI path); the request
//! body is one file per multipart/form-data part that has a filename, else one file named
//! after the URI path. Each file keeps what the file keywords need and only what a loaded
//! rule asks for ([`FileNeeds`]): libmagic's description of its first bytes and MD5/SHA-1/
//! SHA-256 digests computed as the bytes arrive.

use md5::Digest as _;

/// Which file facts loaded rules read; nothing is computed that no rule reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileNeeds {
    /// `file.magic` / `filemagic`.
    pub magic: bool,
    /// `filemd5`.
    pub md5: bool,
    /// `filesha1`.
    pub sha1: bool,
    /// `filesha256`.
    pub sha256: bool,
}

impl FileNeeds {
    fn hashes(self) -> bool {
        self.md5 || self.sha1 || self.sha256
    }
}

/// Bytes libmagic looks at once a file has that many (Suricata's `FILEMAGIC_MIN_SIZE`);
/// a shorter file is described when it completes.
pub const MAGIC_MIN_SIZE: usize = 512;
/// Bytes handed to libmagic at most.
const MAGIC_MAX_SIZE: usize = 64 << 10;

/// Incremental digests of one file.
#[derive(Clone, Default)]
struct Hashers {
    md5: Option<md5::Md5>,
    sha1: Option<sha1::Sha1>,
    sha256: Option<sha2::Sha256>,
}

/// What detection knows of one file besides its bytes.
#[derive(Clone, Default)]
pub(crate) struct FileMeta {
    hashers: Option<Box<Hashers>>,
    /// libmagic's description, once known.
    pub magic: Option<Vec<u8>>,
    pub md5: Option<[u8; 16]>,
    pub sha1: Option<[u8; 20]>,
    pub sha256: Option<[u8; 32]>,
    /// Bytes were lost (gap) or not hashed: digests would be wrong, so there are none.
    pub broken: bool,
    finished: bool,
}

impl std::fmt::Debug for FileMeta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileMeta")
            .field("magic", &self.magic.as_deref().map(String::from_utf8_lossy))
            .field("finished", &self.finished)
            .finish()
    }
}

impl FileMeta {
    /// Feeds file bytes to the digests the rules need.
    pub fn update(&mut self, needs: FileNeeds, d: &[u8]) {
        if !needs.hashes() || self.finished || d.is_empty() {
            return;
        }
        let h = self.hashers.get_or_insert_with(|| {
            Box::new(Hashers {
                md5: needs.md5.then(md5::Md5::new),
                sha1: needs.sha1.then(sha1::Sha1::new),
                sha256: needs.sha256.then(sha2::Sha256::new),
            })
        });
        if let Some(x) = h.md5.as_mut() {
            x.update(d);
        }
        if let Some(x) = h.sha1.as_mut() {
            x.update(d);
        }
        if let Some(x) = h.sha256.as_mut() {
            x.update(d);
        }
    }

    /// Describes the file once `kept` (its first bytes) is long enough or the file ended.
    pub fn describe(&mut self, needs: FileNeeds, kept: &[u8], done: bool) {
        if needs.magic
            && self.magic.is_none()
            && !kept.is_empty()
            && (done || kept.len() >= MAGIC_MIN_SIZE)
        {
            let n = kept.len().min(MAGIC_MAX_SIZE);
            self.magic = Some(describe(&kept[..n]).into_bytes());
        }
    }

    /// The file ended: digests are final (none when bytes were lost).
    pub fn finish(&mut self, needs: FileNeeds, kept: &[u8]) {
        self.describe(needs, kept, true);
        if self.finished {
            return;
        }
        self.finished = true;
        let Some(h) = self.hashers.take() else {
            if needs.hashes() && kept.is_empty() {
                // An empty file still has digests.
                self.finish_empty(needs);
            }
            return;
        };
        if self.broken {
            return;
        }
        self.md5 = h.md5.map(|x| x.finalize().into());
        self.sha1 = h.sha1.map(|x| x.finalize().into());
        self.sha256 = h.sha256.map(|x| x.finalize().into());
    }

    fn finish_empty(&mut self, needs: FileNeeds) {
        self.md5 = needs.md5.then(|| md5::Md5::new().finalize().into());
        self.sha1 = needs.sha1.then(|| sha1::Sha1::new().finalize().into());
        self.sha256 = needs.sha256.then(|| sha2::Sha256::new().finalize().into());
    }

    /// Hashes a whole file at once (a multipart part, known complete when seen).
    pub fn finish_with(&mut self, needs: FileNeeds, data: &[u8], complete_data: bool) {
        if !complete_data {
            self.broken = true;
        }
        self.update(needs, data);
        self.finish(needs, data);
    }
}

/// libmagic's description of `data` (empty when libmagic is unavailable or fails). One
/// cookie per thread: a cookie is not thread-safe, and loading the database once per
/// worker keeps the per-file cost to the lookup itself.
pub fn describe(data: &[u8]) -> String {
    thread_local! {
        static COOKIE: Option<magic::Cookie<magic::cookie::Load>> = magic::Cookie::open(
            magic::cookie::Flags::ERROR,
        )
        .ok()
        .and_then(|c| c.load(&Default::default()).ok());
    }
    COOKIE.with(|c| {
        c.as_ref()
            .and_then(|c| c.buffer(data).ok())
            .unwrap_or_default()
    })
}

/// The boundary of a `multipart/form-data` Content-Type, if it is one.
pub(crate) fn multipart_boundary(content_type: &[u8]) -> Option<Vec<u8>> {
    let ct = String::from_utf8_lossy(content_type);
    let mut parts = ct.split(';');
    let kind = parts.next()?.trim();
    if !kind.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let v = v.trim().trim_matches('"');
        (!v.is_empty() && v.len() <= 200).then(|| v.as_bytes().to_vec())
    })
}

/// One part of a multipart body that is a file.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    pub name: Vec<u8>,
    /// Its bytes in the kept request body.
    pub start: usize,
    pub end: usize,
    pub complete: bool,
    pub meta: FileMeta,
}

/// The file parts of a multipart/form-data request body, parsed as the body grows.
#[derive(Debug, Clone)]
pub(crate) struct Multipart {
    /// `--` and the boundary.
    delim: Vec<u8>,
    /// Complete file parts, then at most one still growing.
    pub parts: Vec<Part>,
    /// Where parsing resumes: the delimiter line of the first part not yet complete.
    resume: usize,
    /// The closing delimiter was seen.
    closed: bool,
}

/// Parts kept per request: a bound on the work a body of thousands of tiny parts causes.
const MAX_PARTS: usize = 64;

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    memchr::memmem::find(hay.get(from..)?, needle).map(|p| p + from)
}

fn line_end(hay: &[u8], from: usize) -> Option<usize> {
    memchr::memchr(b'\n', hay.get(from..)?).map(|p| p + from + 1)
}

impl Multipart {
    /// A parser for parts separated by `boundary`.
    pub fn new(boundary: &[u8]) -> Self {
        let mut delim = b"--".to_vec();
        delim.extend_from_slice(boundary);
        Multipart {
            delim,
            parts: Vec::new(),
            resume: 0,
            closed: false,
        }
    }

    /// Re-reads the body from the first incomplete part; `done`: the body ended.
    /// New complete parts get their digests and descriptions.
    pub fn update(&mut self, body: &[u8], done: bool, needs: FileNeeds, truncated: bool) {
        if self.closed {
            return;
        }
        if self.parts.last().is_some_and(|p| !p.complete) {
            self.parts.pop();
        }
        let mut at = self.resume;
        while self.parts.len() < MAX_PARTS {
            let Some(d) = find(body, &self.delim, at) else {
                break;
            };
            let after = d + self.delim.len();
            if body.get(after..after + 2) == Some(b"--") {
                self.closed = true;
                break;
            }
            let Some(hstart) = line_end(body, after) else {
                break;
            };
            // Headers end at an empty line.
            let mut p = hstart;
            let mut filename: Option<Vec<u8>> = None;
            let data_start = loop {
                let Some(e) = line_end(body, p) else {
                    break None;
                };
                let line = body[p..e].strip_suffix(b"\n").unwrap_or(&body[p..e]);
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.is_empty() {
                    break Some(e);
                }
                if let Some(colon) = memchr::memchr(b':', line) {
                    if line[..colon]
                        .trim_ascii()
                        .eq_ignore_ascii_case(b"content-disposition")
                    {
                        filename = super::headers::disposition_filename(&line[colon + 1..])
                            .map(<[u8]>::to_vec);
                    }
                }
                p = e;
            };
            let Some(ds) = data_start else {
                self.resume = d;
                break;
            };
            // The data ends before the CRLF that precedes the next delimiter.
            let next = find(body, &self.delim, ds);
            let (end, complete) = match next {
                Some(n) => {
                    let mut e = n;
                    if e > ds && body[e - 1] == b'\n' {
                        e -= 1;
                        if e > ds && body[e - 1] == b'\r' {
                            e -= 1;
                        }
                    }
                    (e, true)
                }
                // A body that ended without the next delimiter ends the part with it.
                None if done => (body.len(), true),
                // Hold back what could be the start of the delimiter.
                None => (
                    body.len().saturating_sub(self.delim.len() + 2).max(ds),
                    false,
                ),
            };
            if let Some(name) = filename.filter(|n| !n.is_empty()) {
                let mut meta = FileMeta::default();
                if complete {
                    meta.finish_with(needs, &body[ds..end], !(truncated && next.is_none()));
                } else {
                    meta.describe(needs, &body[ds..end], false);
                }
                self.parts.push(Part {
                    name,
                    start: ds,
                    end,
                    complete,
                    meta,
                });
            }
            match next {
                Some(n) if complete => {
                    at = n;
                    self.resume = n;
                }
                _ => {
                    self.resume = d;
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nfield\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"f1\"; filename=\"titi.txt\"\r\n\
Content-Type: text/plain\r\n\r\nTiti a vu un gros minet.\n\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"f2\"; filename=\"toto.txt\"\r\n\r\n\
toto est dans un bateau\n\r\n--XyZ--\r\n";

    #[test]
    fn boundary_from_content_type() {
        assert_eq!(
            multipart_boundary(b"multipart/form-data; boundary=\"XyZ\""),
            Some(b"XyZ".to_vec())
        );
        assert_eq!(
            multipart_boundary(b"Multipart/Form-Data;charset=x; Boundary=ab"),
            Some(b"ab".to_vec())
        );
        assert_eq!(multipart_boundary(b"text/plain; boundary=x"), None);
        assert_eq!(multipart_boundary(b"multipart/form-data"), None);
    }

    #[test]
    fn parts_whole_and_split_anywhere() {
        let needs = FileNeeds {
            md5: true,
            ..Default::default()
        };
        let names = |m: &Multipart| -> Vec<(Vec<u8>, Vec<u8>, bool)> {
            m.parts
                .iter()
                .map(|p| (p.name.clone(), BODY[p.start..p.end].to_vec(), p.complete))
                .collect()
        };
        let mut whole = Multipart::new(b"XyZ");
        whole.update(BODY, true, needs, false);
        let want = vec![
            (
                b"titi.txt".to_vec(),
                b"Titi a vu un gros minet.\n".to_vec(),
                true,
            ),
            (
                b"toto.txt".to_vec(),
                b"toto est dans un bateau\n".to_vec(),
                true,
            ),
        ];
        assert_eq!(names(&whole), want);
        // md5("Titi a vu un gros minet.\n")
        assert!(whole.parts[0].meta.md5.is_some());
        for cut in 1..BODY.len() {
            let mut m = Multipart::new(b"XyZ");
            m.update(&BODY[..cut], false, needs, false);
            for p in &m.parts {
                assert!(p.end <= cut && p.start <= p.end, "cut {cut}");
            }
            m.update(BODY, true, needs, false);
            assert_eq!(names(&m), want, "cut {cut}");
            assert_eq!(m.parts[1].meta.md5, whole.parts[1].meta.md5);
        }
    }

    #[test]
    fn digests_and_magic() {
        let needs = FileNeeds {
            magic: true,
            md5: true,
            sha1: true,
            sha256: true,
        };
        let mut m = FileMeta::default();
        m.update(needs, b"ab");
        m.update(needs, b"c");
        m.finish(needs, b"abc");
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(hex(&m.md5.unwrap()), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            hex(&m.sha1.unwrap()),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert!(m.sha256.is_some());
        let pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n";
        assert!(describe(pdf).starts_with("PDF document, version 1.4"));
        let mut broken = FileMeta {
            broken: true,
            ..Default::default()
        };
        broken.update(needs, b"x");
        broken.finish(needs, b"x");
        assert_eq!(broken.md5, None);
    }
}
