//! What the fuzz targets share: cutting one fuzz input into the pieces of a two-way stream.

/// Splits `data` into stream pieces: each piece starts with one header byte whose top bit is
/// the direction (set: to the server) and whose low 7 bits are the piece's length; the last
/// piece takes what is left. A mutated input thus also mutates how the stream is segmented
/// and interleaved, which is where incremental parsers break.
pub fn pieces(mut data: &[u8]) -> impl Iterator<Item = (bool, &[u8])> {
    std::iter::from_fn(move || {
        let (&head, rest) = data.split_first()?;
        let n = usize::from(head & 0x7f).min(rest.len());
        let (piece, tail) = rest.split_at(n);
        data = tail;
        Some((head & 0x80 != 0, piece))
    })
}
