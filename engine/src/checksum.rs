//! CRC32C checksums as stored on disk.
//!
//! Stored checksums are *masked* (as in LevelDB): computing the CRC of a string that itself
//! contains embedded CRCs is problematic, so we rotate and add a constant. The mask is part of
//! the on-disk format and must never change.

/// The constant added by [`mask`]. Part of the on-disk format.
const MASK_DELTA: u32 = 0xa282_ead8;

/// CRC32C of `data`.
#[inline]
pub fn crc32c(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
}

/// CRC32C of the concatenation of the bytes already summed into `crc` and `data`.
#[inline]
pub fn extend(crc: u32, data: &[u8]) -> u32 {
    crc32c::crc32c_append(crc, data)
}

/// The stored form of a CRC.
#[inline]
pub fn mask(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(MASK_DELTA)
}

/// Inverse of [`mask`].
#[inline]
pub fn unmask(masked: u32) -> u32 {
    masked.wrapping_sub(MASK_DELTA).rotate_left(15)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_value() {
        // RFC 3720 test vector: 32 bytes of zeros.
        assert_eq!(crc32c(&[0u8; 32]), 0x8a91_36aa);
        assert_eq!(extend(crc32c(b"hello "), b"world"), crc32c(b"hello world"));
    }

    #[test]
    fn mask_roundtrip_and_differs() {
        for v in [0u32, 1, 0xdead_beef, u32::MAX] {
            assert_eq!(unmask(mask(v)), v);
            assert_ne!(mask(v), v);
        }
    }
}
