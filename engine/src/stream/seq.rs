//! TCP sequence numbers: 32-bit values on a circle, compared by signed distance (RFC 793's
//! modulo arithmetic, as `before()`/`after()` in Linux), so that a stream crossing 2^32 keeps
//! its order.

use std::cmp::Ordering;
use std::ops::{Add, Sub};

/// A TCP sequence or acknowledgment number; ordered by wrapping distance, never by raw value.
///
/// The order is only meaningful between numbers less than 2^31 apart (what TCP windows
/// guarantee), which is why this type is `PartialOrd` and not `Ord`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// The raw 32-bit value, as carried in the TCP header.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl From<u32> for SeqNumber {
    fn from(v: u32) -> Self {
        SeqNumber(v)
    }
}

impl Add<u32> for SeqNumber {
    type Output = SeqNumber;
    /// Advances by `n` sequence numbers, wrapping at 2^32.
    fn add(self, n: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(n))
    }
}

impl Sub for SeqNumber {
    type Output = i32;
    /// Signed distance `self - rhs` on the circle: positive when `self` is after `rhs`.
    fn sub(self, rhs: SeqNumber) -> i32 {
        // Reinterpreting the wrapped difference as i32 is the definition of TCP sequence
        // comparison, not an overflow.
        self.0.wrapping_sub(rhs.0) as i32
    }
}

impl PartialOrd for SeqNumber {
    fn partial_cmp(&self, other: &SeqNumber) -> Option<Ordering> {
        Some((*self - *other).cmp(&0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_distance_wrap_around_2_32() {
        let a = SeqNumber(0xffff_fff0);
        let b = a + 0x20;
        assert_eq!(b, SeqNumber(0x10));
        assert!(a < b);
        assert!(b > a);
        // Raw values order the other way: only wrapping comparison gets this right.
        assert!(a.get() > b.get());
        assert_eq!(b - a, 0x20);
        assert_eq!(a - b, -0x20);
        assert_eq!(SeqNumber(5) - SeqNumber(5), 0);
        // Half the circle away is "before": the sign bit decides, as in Linux's before().
        assert!(SeqNumber(0x8000_0000) < SeqNumber(0));
    }
}
