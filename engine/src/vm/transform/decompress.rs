//! `gunzip` and `zlib_deflate`: the buffer decompressed into at most `max_size` bytes. The
//! decoder stops once the bound is reached, so a compression bomb costs the bound in
//! memory and the bound's worth of inflate work, whatever it claims to expand to.

use std::io::Read;

/// The compressed formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// RFC 1952 (gzip header, deflate, CRC trailer).
    Gzip,
    /// RFC 1950 (zlib header, deflate, Adler-32 trailer).
    Zlib,
}

/// The first `max_size` decompressed bytes; empty when the data is not in `format` or
/// breaks before the bound (as Suricata, which empties the buffer on a decoder error).
pub fn decompress(b: &[u8], format: Format, max_size: u32) -> Vec<u8> {
    let limit = u64::from(max_size);
    let mut out = Vec::new();
    let r = match format {
        Format::Gzip => flate2::bufread::GzDecoder::new(b)
            .take(limit)
            .read_to_end(&mut out),
        Format::Zlib => flate2::bufread::ZlibDecoder::new(b)
            .take(limit)
            .read_to_end(&mut out),
    };
    match r {
        Ok(_) => out,
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::{GzEncoder, ZlibEncoder};
    use flate2::Compression;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn decompresses_up_to_the_bound() {
        let text = b"This is compressed then base64-encoded\n";
        assert_eq!(decompress(&gz(text), Format::Gzip, 1024), text);
        assert_eq!(decompress(&gz(text), Format::Gzip, 8), b"This is ");
        assert_eq!(decompress(&zlib(text), Format::Zlib, 1024), text);
        assert_eq!(decompress(&zlib(text), Format::Zlib, 8), b"This is ");
        // The wrong format, garbage and a truncated stream decode to nothing.
        assert_eq!(decompress(&zlib(text), Format::Gzip, 1024), b"");
        assert_eq!(decompress(&gz(text), Format::Zlib, 1024), b"");
        assert_eq!(decompress(b"plain text", Format::Gzip, 1024), b"");
        let z = gz(text);
        assert_eq!(decompress(&z[..z.len() - 4], Format::Gzip, 1024), b"");
    }

    #[test]
    fn a_bomb_costs_the_bound() {
        // 64 MiB of zeros compress to about 64 KiB; only the bound comes out.
        let mut e = GzEncoder::new(Vec::new(), Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            e.write_all(&zeros).unwrap();
        }
        let bomb = e.finish().unwrap();
        let out = decompress(&bomb, Format::Gzip, 4096);
        assert_eq!(out.len(), 4096);
        assert!(out.capacity() < 1 << 16, "{}", out.capacity());
    }
}
