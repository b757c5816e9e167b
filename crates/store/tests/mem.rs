//! The conformance suite against the in-memory reference backend.

mod conformance;

use store::MemStore;

async fn open(watch_capacity: usize) -> conformance::Harness {
    conformance::Harness::new(MemStore::with_watch_capacity(watch_capacity), ())
}

conformance::suite!(open);
