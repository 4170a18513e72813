//! The allocator setting our programs share. They allocate with mimalloc (each binary's
//! `#[global_allocator]`: glibc's malloc cost a tablet server about 14% of its CPU);
//! [`keep_freed_memory`] makes mimalloc keep freed memory for [`PURGE_DELAY_MS`] before
//! returning it to the operating system, instead of its default of one second.
//!
//! Why: a tablet server frees a whole memtable (64 MiB) when it is flushed and allocates
//! the next one over the following seconds. With a one-second delay that memory had gone
//! back to the OS before it was reused, so every memtable byte was a fresh page: under 100-row
//! random writes the server took about 70,000 page faults in 8 s, and the kernel zeroing those
//! (huge) pages was 7.6% of all CPU. Kept for 10 s, the same run takes about 500. Ten seconds
//! is also jemalloc's default decay time. The cost: the process gives memory back up to 10 s
//! later than it would.
//!
//! `MIMALLOC_PURGE_DELAY` in the environment (milliseconds; `-1` never returns memory)
//! still wins over this default.

use std::ffi::{c_int, c_long};

/// How long freed memory stays with the process before it goes back to the OS.
pub const PURGE_DELAY_MS: i64 = 10_000;

/// `mi_option_purge_delay` in mimalloc's `mi_option_t` (the same index in its v2 and v3).
const MI_OPTION_PURGE_DELAY: c_int = 15;

// Links mimalloc's library (through `libmimalloc-sys`) into whatever uses this module, even
// a program that allocates with another allocator (the tests).
extern crate mimalloc as _;

// mimalloc's C API.
extern "C" {
    fn mi_option_set(option: c_int, value: c_long);
    fn mi_option_get(option: c_int) -> c_long;
}

/// Sets mimalloc's purge delay to [`PURGE_DELAY_MS`] unless `MIMALLOC_PURGE_DELAY` is set;
/// returns the delay in effect (milliseconds). Call it first thing in `main`.
pub fn keep_freed_memory() -> i64 {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: `mi_option_set` stores one option value; the index is a valid option.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, c_long::try_from(PURGE_DELAY_MS).unwrap_or(c_long::MAX)) };
    }
    purge_delay_ms()
}

/// mimalloc's purge delay in effect, in milliseconds.
pub fn purge_delay_ms() -> i64 {
    // SAFETY: `mi_option_get` reads one option value; the index is a valid option.
    let ms = unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) };
    #[allow(clippy::useless_conversion)] // `c_long` is `i32` on some targets.
    i64::from(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_memory_is_kept_for_the_delay_unless_the_environment_says_otherwise() {
        // mimalloc's own default is one second (as `purge_delay_ms` reads it before).
        let from_env = std::env::var("MIMALLOC_PURGE_DELAY").ok().and_then(|v| v.parse::<i64>().ok());
        let before = purge_delay_ms();
        if from_env.is_none() {
            assert_eq!(before, 1000, "mimalloc's default purge delay changed; revisit PURGE_DELAY_MS");
        }
        let now = keep_freed_memory();
        assert_eq!(now, purge_delay_ms());
        match from_env {
            None => assert_eq!(now, PURGE_DELAY_MS),
            Some(v) => assert_eq!(now, v),
        }
    }
}
