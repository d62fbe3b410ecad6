//! The parser never panics: not on random bytes, not on any cut of any corpus line, not
//! on corpus lines with bytes flipped. (A cargo-fuzz target in `fuzz/` does the same with
//! coverage guidance; this test runs everywhere, deterministically.)

mod support;

use support::{corpus_file, corpus_names, parse, Collect};
use tot_backend_strace::{parse_reader, StraceParser};

/// xorshift64*: deterministic pseudo-random bytes without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Bytes that matter to the grammar, so random input reaches deep into it.
const ALPHABET: &[u8] = b"0123456789 ()[]{}<>\"\\,.=|-+?:/*x_ONabcdeEfgiklmnoprstuvyz\n\t\x00\xff";

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..3000 {
        let len = rng.below(300);
        let input: Vec<u8> = (0..len)
            .map(|_| {
                if round % 3 == 0 {
                    rng.next() as u8
                } else {
                    ALPHABET[rng.below(ALPHABET.len())]
                }
            })
            .collect();
        let (summary, sink) = parse(&input);
        assert!(summary.errors as usize <= sink.diagnostics.len());
    }
}

#[test]
fn every_cut_of_every_corpus_line_is_survived() {
    for name in corpus_names() {
        let data = corpus_file(&name);
        for line in data.split(|b| *b == b'\n').take(400) {
            for cut in 0..=line.len() {
                let mut parser = StraceParser::new();
                let mut sink = Collect::default();
                parser.parse_unterminated_line(&line[..cut], 1, &mut sink);
                parser.finish(&mut sink);
            }
        }
    }
}

#[test]
fn corpus_with_flipped_bytes_is_survived() {
    let mut rng = Rng(42);
    for name in corpus_names() {
        let mut data = corpus_file(&name);
        data.truncate(40_000);
        for _ in 0..20 {
            let mut mutated = data.clone();
            for _ in 0..1 + rng.below(50) {
                if mutated.is_empty() {
                    break;
                }
                let at = rng.below(mutated.len());
                mutated[at] = ALPHABET[rng.below(ALPHABET.len())];
            }
            let (_, sink) = parse(&mutated);
            let mut streamed = Collect::default();
            parse_reader(&mutated[..], &mut streamed).expect("memory reads");
            assert_eq!(streamed.events, sink.events, "{name}");
        }
    }
}
