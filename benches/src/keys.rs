//! Keys as RocksDB's `db_bench` makes them (`GenerateKeyFromInt` with no prefix): the key
//! number big-endian in the first 8 bytes, so numeric order is byte order and `fillseq`
//! writes in key order, then `'0'` padding up to `--key_size`.
//!
//! Keys shorter than 8 bytes keep the number's low-order bytes (RocksDB keeps the high ones,
//! which makes every small key number collide); they are unique for numbers below
//! `256^key_size`.

/// Writes the key for number `n` into `key` (its length is the key size).
pub fn fill_key(n: u64, key: &mut [u8]) {
    let be = n.to_be_bytes();
    if key.len() >= 8 {
        let (head, pad) = key.split_at_mut(8);
        head.copy_from_slice(&be);
        pad.fill(b'0');
    } else {
        let skip = 8 - key.len();
        for (dst, src) in key.iter_mut().zip(be.iter().skip(skip)) {
            *dst = *src;
        }
    }
}

/// The key for number `n`, `size` bytes long.
pub fn make_key(n: u64, size: usize) -> Vec<u8> {
    let mut k = vec![0u8; size];
    fill_key(n, &mut k);
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_big_endian_number_then_ascii_zero_padding() {
        assert_eq!(make_key(0x0102, 12), b"\0\0\0\0\0\0\x01\x020000".to_vec());
        assert_eq!(make_key(7, 8), vec![0, 0, 0, 0, 0, 0, 0, 7]);
    }

    #[test]
    fn byte_order_follows_numeric_order() {
        let keys: Vec<Vec<u8>> = [0u64, 1, 255, 256, 65_535, 1 << 40].iter().map(|&n| make_key(n, 16)).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn short_keys_keep_low_order_bytes() {
        assert_eq!(make_key(0x0a0b0c, 2), vec![0x0b, 0x0c]);
        assert_ne!(make_key(1, 4), make_key(2, 4));
    }
}
