//! The push parser's result does not depend on how the input is cut, nor on
//! parsing the edges array apart on a second thread (`parse_parallel`).
//!
//! Input layout: byte 0 says how many chunk-size bytes follow (1..=8); each
//! chunk-size byte `b` gives a chunk of `b + 1` bytes (cycled, so 1-byte chunks
//! and splits inside numbers, strings, escapes and UTF-8 sequences all occur);
//! the rest is the snapshot text.
#![no_main]

use heapsnap::{Parser, parse_bytes, parse_parallel};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let k = (first as usize % 8 + 1).min(rest.len());
    let (sizes, text) = rest.split_at(k);
    if sizes.is_empty() {
        return;
    }
    let whole = parse_bytes(text);

    let mut parser = Parser::with_size_hint(text.len() as u64);
    let mut at = 0;
    let mut i = 0;
    let mut fed = Ok(());
    while at < text.len() {
        let end = (at + sizes[i % sizes.len()] as usize + 1).min(text.len());
        fed = parser.feed(&text[at..end]);
        if fed.is_err() {
            break;
        }
        at = end;
        i += 1;
    }
    let chunked = match fed {
        Ok(()) => parser.finish(),
        Err(e) => {
            // The parser is spent: finish repeats the error.
            assert_eq!(parser.finish().err(), Some(e.clone()));
            Err(e)
        }
    };
    match (&whole, &chunked) {
        (Ok(a), Ok(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}")),
        (Err(a), Err(b)) => assert_eq!(a, b),
        _ => panic!(
            "whole: {:?}, in chunks of {sizes:?}: {:?}",
            whole.as_ref().err(),
            chunked.as_ref().err()
        ),
    }
    let parallel = parse_parallel(text, sizes[0] as usize + 1, &|_| {}, &|_| {});
    match (&whole, &parallel) {
        (Ok(a), Ok(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}")),
        (Err(a), Err(b)) => assert_eq!(a, b),
        _ => panic!(
            "whole: {:?}, in parallel: {:?}",
            whole.as_ref().err(),
            parallel.as_ref().err()
        ),
    }
});
