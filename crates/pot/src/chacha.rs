//! Counter-based random numbers for initialisation, data order and challenges.
//!
//! The stream is the ChaCha20 block function of RFC 8439 (20 rounds, 32-bit block counter,
//! 96-bit nonce), written out here so that the exact bytes are fixed by this file and by the
//! RFC, never by a crate's version or the platform RNG. A stream is named by a 32-byte key
//! (sha256 of a domain string and the seed, see [`derive_key`]) and a 64-bit stream id placed in
//! the first eight bytes of the nonce (little endian, the last four bytes zero). Word `i` of block
//! `c` depends only on (key, stream, c), so any position can be recomputed without replaying
//! the ones before it.

use sha2::{Digest, Sha256};

/// Domain separation for the key of a ChaCha20 stream: `sha256("matrixai-pot/v1/" || domain || 0x00 || seed)`.
pub fn derive_key(domain: &str, seed: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"matrixai-pot/v1/");
    hasher.update(domain.as_bytes());
    hasher.update([0u8]);
    hasher.update(seed);
    hasher.finalize().into()
}

fn quarter_round(state: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    state[a] = state[a].wrapping_add(state[b]);
    state[d] = (state[d] ^ state[a]).rotate_left(16);
    state[c] = state[c].wrapping_add(state[d]);
    state[b] = (state[b] ^ state[c]).rotate_left(12);
    state[a] = state[a].wrapping_add(state[b]);
    state[d] = (state[d] ^ state[a]).rotate_left(8);
    state[c] = state[c].wrapping_add(state[d]);
    state[b] = (state[b] ^ state[c]).rotate_left(7);
}

/// The ChaCha20 block function (RFC 8439 section 2.3): 16 output words.
pub fn chacha20_block(key: &[u8; 32], counter: u32, nonce: &[u8; 12]) -> [u32; 16] {
    let mut initial = [0u32; 16];
    initial[0] = 0x6170_7865;
    initial[1] = 0x3320_646e;
    initial[2] = 0x7962_2d32;
    initial[3] = 0x6b20_6574;
    for (word, bytes) in initial[4..12].iter_mut().zip(key.chunks_exact(4)) {
        *word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    initial[12] = counter;
    for (word, bytes) in initial[13..16].iter_mut().zip(nonce.chunks_exact(4)) {
        *word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    let mut state = initial;
    for _ in 0..10 {
        quarter_round(&mut state, 0, 4, 8, 12);
        quarter_round(&mut state, 1, 5, 9, 13);
        quarter_round(&mut state, 2, 6, 10, 14);
        quarter_round(&mut state, 3, 7, 11, 15);
        quarter_round(&mut state, 0, 5, 10, 15);
        quarter_round(&mut state, 1, 6, 11, 12);
        quarter_round(&mut state, 2, 7, 8, 13);
        quarter_round(&mut state, 3, 4, 9, 14);
    }
    for (word, start) in state.iter_mut().zip(initial) {
        *word = word.wrapping_add(start);
    }
    state
}

/// A ChaCha20 keystream read as little-endian u32 words, block counter from 0.
pub struct CounterRng {
    key: [u8; 32],
    nonce: [u8; 12],
    counter: u32,
    block: [u32; 16],
    next_word: usize,
}

impl CounterRng {
    pub fn new(key: [u8; 32], stream: u64) -> Self {
        let mut nonce = [0u8; 12];
        nonce[..8].copy_from_slice(&stream.to_le_bytes());
        Self {
            key,
            nonce,
            counter: 0,
            block: [0; 16],
            next_word: 16,
        }
    }

    /// Stream for `domain` keyed by a u64 seed (little endian).
    pub fn for_seed(domain: &str, seed: u64, stream: u64) -> Self {
        Self::new(derive_key(domain, &seed.to_le_bytes()), stream)
    }

    pub fn next_u32(&mut self) -> u32 {
        if self.next_word == 16 {
            self.block = chacha20_block(&self.key, self.counter, &self.nonce);
            // 2^32 blocks (256 GiB) per stream is far beyond any training run.
            self.counter = self.counter.wrapping_add(1);
            self.next_word = 0;
        }
        let word = self.block[self.next_word];
        self.next_word += 1;
        word
    }

    /// Uniform in [0, 1) with 24 random bits: `(u >> 8) * 2^-24`, exact in f32.
    pub fn next_unit_f32(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0)
    }

    /// Uniform integer in `0..bound` by rejection (no modulo bias); `bound` must be in 1..=2^32.
    pub fn next_below(&mut self, bound: u64) -> u64 {
        debug_assert!((1..=1 << 32).contains(&bound));
        let range = 1u64 << 32;
        let accept_below = range - range % bound;
        loop {
            let candidate = u64::from(self.next_u32());
            if candidate < accept_below {
                return candidate % bound;
            }
        }
    }

    /// Fisher-Yates shuffle, from the last position down, with [`Self::next_below`].
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.next_below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8439 section 2.3.2 test vector.
    #[test]
    fn block_function_matches_rfc8439() {
        let key: [u8; 32] = core::array::from_fn(|i| i as u8);
        let nonce = [0, 0, 0, 0x09, 0, 0, 0, 0x4a, 0, 0, 0, 0];
        let block = chacha20_block(&key, 1, &nonce);
        let expected = [
            0xe4e7f110, 0x15593bd1, 0x1fdd0f50, 0xc47120a3, 0xc7f4d1c7, 0x0368c033, 0x9aaa2204,
            0x4e6cd4c3, 0x466482d2, 0x09aa9f07, 0x05d7c214, 0xa2028bd9, 0xd19c12b5, 0xb94e16de,
            0xe883d0cb, 0x4e3c50a2,
        ];
        assert_eq!(block, expected);
    }

    #[test]
    fn streams_are_independent_and_repeatable() {
        let mut a = CounterRng::for_seed("test", 7, 0);
        let mut b = CounterRng::for_seed("test", 7, 0);
        let mut other_stream = CounterRng::for_seed("test", 7, 1);
        let first: Vec<u32> = (0..40).map(|_| a.next_u32()).collect();
        let again: Vec<u32> = (0..40).map(|_| b.next_u32()).collect();
        let other: Vec<u32> = (0..40).map(|_| other_stream.next_u32()).collect();
        assert_eq!(first, again);
        assert_ne!(first, other);
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let mut rng = CounterRng::for_seed("test", 1, 0);
        let mut items: Vec<usize> = (0..1000).collect();
        rng.shuffle(&mut items);
        assert_ne!(items, (0..1000).collect::<Vec<_>>());
        items.sort_unstable();
        assert_eq!(items, (0..1000).collect::<Vec<_>>());
    }
}
