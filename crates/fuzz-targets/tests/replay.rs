//! Replays every fuzzer input committed under `fuzz/`: the corpora the fuzzers grew
//! (`fuzz/corpus/<target>/`) and every crash reproducer (`fuzz/artifacts/<target>/`), through the
//! same target functions, so a fixed crash stays fixed and `cargo test` covers what fuzzing found.

use std::path::Path;

#[test]
fn every_committed_fuzz_input_is_answered_without_a_panic() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    for (name, target) in fuzz_targets::TARGETS {
        let mut corpus = 0;
        for kind in ["corpus", "artifacts"] {
            let Ok(entries) = std::fs::read_dir(fuzz.join(kind).join(name)) else { continue };
            for entry in entries.flatten() {
                let input = std::fs::read(entry.path()).unwrap();
                target(&input);
                corpus += usize::from(kind == "corpus");
            }
        }
        assert!(corpus > 0, "fuzz/corpus/{name} has no input: run the fuzzer (docs/CONTRIBUTING.md)");
    }
}
