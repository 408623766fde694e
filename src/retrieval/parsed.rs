//! Retrieved documents, parsed once and shared. Every hit used to be read from the index's
//! doc store and its stored JSON parsed again, on every request; the same runbooks, rules
//! and techniques come back request after request.
//!
//! A document is cached under its segment and its number in it: a tantivy segment never
//! changes once written (a deletion only marks a document dead), so an entry can never
//! be stale. The cache is emptied when the reader moves to a new generation (a reload after
//! a write here, a case closed on another replica, an import by the CLI), so that documents
//! of segments merged away aren't held, and when it reaches [`CAPACITY`], so that what it
//! holds stays bounded whatever the corpus.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tantivy::DocId;
use tantivy::index::SegmentId;

use crate::corpus::Document;

/// The most documents held: a few hundred requests' worth of distinct hits. Cases are a
/// few hundred bytes to a few KB parsed, ATT&CK techniques tens of KB at most.
const CAPACITY: usize = 4096;

#[derive(Default)]
pub(super) struct ParsedDocs {
    inner: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    generation: Option<u64>,
    docs: HashMap<(SegmentId, DocId), Arc<Document>>,
}

impl ParsedDocs {
    /// The document at `(segment, doc)` of a searcher of `generation`, parsed by `load` when
    /// it isn't held. A searcher older than the held generation reads without caching.
    pub(super) fn get_or_load<E>(
        &self,
        generation: u64,
        segment: SegmentId,
        doc: DocId,
        load: impl FnOnce() -> Result<Document, E>,
    ) -> Result<Arc<Document>, E> {
        let key = (segment, doc);
        if let Ok(held) = self.inner.lock()
            && held.generation == Some(generation)
            && let Some(d) = held.docs.get(&key)
        {
            return Ok(Arc::clone(d));
        }
        // Parsed outside the lock: two requests missing the same document at once parse it
        // twice, and neither waits for the other.
        let parsed = Arc::new(load()?);
        if let Ok(mut held) = self.inner.lock() {
            if held.generation.is_none_or(|g| g < generation) {
                held.generation = Some(generation);
                held.docs.clear();
            }
            if held.generation == Some(generation) {
                if held.docs.len() >= CAPACITY {
                    held.docs.clear();
                }
                held.docs.insert(key, Arc::clone(&parsed));
            }
        }
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::DocKind;

    fn doc(title: &str) -> Document {
        Document {
            kind: DocKind::Runbook,
            id: "rb".into(),
            title: title.into(),
            text: String::new(),
            techniques: vec![],
            actions: vec![],
            severity: None,
            disposition: None,
            keywords: String::new(),
        }
    }

    #[test]
    fn a_document_is_parsed_once_per_generation_and_an_older_searcher_never_caches() {
        let cache = ParsedDocs::default();
        let segment = SegmentId::generate_random();
        let ok = |t: &str| -> Result<Document, ()> { Ok(doc(t)) };
        assert_eq!(cache.get_or_load(1, segment, 0, || ok("first")).unwrap().title, "first");
        assert_eq!(cache.get_or_load(1, segment, 0, || ok("parsed again")).unwrap().title, "first");
        // A reload empties it.
        assert_eq!(cache.get_or_load(2, segment, 0, || ok("after reload")).unwrap().title, "after reload");
        // A request still on the old searcher parses for itself and leaves the cache alone.
        assert_eq!(cache.get_or_load(1, segment, 0, || ok("old searcher")).unwrap().title, "old searcher");
        assert_eq!(cache.get_or_load(2, segment, 0, || ok("parsed again")).unwrap().title, "after reload");
        assert!(cache.get_or_load(2, segment, 1, || Err(())).is_err());
    }

    #[test]
    fn it_never_holds_more_than_its_capacity() {
        let cache = ParsedDocs::default();
        let segment = SegmentId::generate_random();
        for n in 0..(CAPACITY as u32 + 10) {
            cache.get_or_load(1, segment, n, || -> Result<Document, ()> { Ok(doc("d")) }).unwrap();
        }
        assert!(cache.inner.lock().unwrap().docs.len() <= CAPACITY);
    }
}
