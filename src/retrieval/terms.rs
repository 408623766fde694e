//! Where each term of the index is, looked up once and shared. A search asks for a few
//! hundred terms in several fields (is it there at all, in how many documents, where are
//! its postings), each a walk of the segment's term dictionary, and alerts of the same
//! kind ask for the same words request after request.
//!
//! A term's entry holds what each segment's dictionary says of it. Segments never change
//! once written, so an entry cannot go stale within a generation of the reader; the cache
//! is emptied when the reader moves to a new one (as [`super::parsed`] is) and when it
//! reaches [`CAPACITY`] terms.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tantivy::postings::TermInfo;
use tantivy::{Searcher, Term};

/// The most terms held: the vocabulary of some thousands of distinct alerts. An entry is
/// the term and a few dozen bytes per segment.
const CAPACITY: usize = 65_536;

/// A term's dictionary entry in each segment of a searcher, in segment order.
pub(super) type Entries = Arc<[Option<TermInfo>]>;

#[derive(Default)]
pub(super) struct TermInfos {
    inner: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    generation: Option<u64>,
    /// Keyed by alert words, so hashed with a per-process random seed.
    terms: HashMap<Term, Entries, foldhash::fast::RandomState>,
}

impl TermInfos {
    /// `term`'s entries in the segments of `searcher`, looked up when they aren't held. A
    /// searcher older than the held generation reads without caching.
    pub(super) fn get(&self, searcher: &Searcher, term: &Term) -> tantivy::Result<Entries> {
        let generation = searcher.generation().generation_id();
        if let Ok(held) = self.inner.lock()
            && held.generation == Some(generation)
            && let Some(e) = held.terms.get(term)
        {
            return Ok(Arc::clone(e));
        }
        let mut entries = Vec::with_capacity(searcher.segment_readers().len());
        for segment in searcher.segment_readers() {
            entries.push(segment.inverted_index(term.field())?.get_term_info(term)?);
        }
        let entries: Entries = entries.into();
        if let Ok(mut held) = self.inner.lock() {
            if held.generation.is_none_or(|g| g < generation) {
                held.generation = Some(generation);
                held.terms.clear();
            }
            if held.generation == Some(generation) {
                if held.terms.len() >= CAPACITY {
                    held.terms.clear();
                }
                held.terms.insert(term.clone(), Arc::clone(&entries));
            }
        }
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::schema::{STRING, Schema};
    use tantivy::{Index, doc};

    #[test]
    fn entries_follow_the_readers_generation_and_stay_bounded() {
        let mut schema = Schema::builder();
        let f = schema.add_text_field("f", STRING);
        let index = Index::create_in_ram(schema.build());
        let mut writer = index.writer_with_num_threads(1, 15_000_000).unwrap();
        writer.add_document(doc!(f => "a")).unwrap();
        writer.commit().unwrap();
        let reader = index.reader().unwrap();
        let cache = TermInfos::default();
        let a = Term::from_field_text(f, "a");
        let df = |s: &Searcher| cache.get(s, &a).unwrap().iter().flatten().map(|t| t.doc_freq).sum::<u32>();
        let first = reader.searcher();
        assert_eq!(df(&first), 1);
        // A second segment with the term: the next generation sees both.
        writer.add_document(doc!(f => "a")).unwrap();
        writer.commit().unwrap();
        reader.reload().unwrap();
        let second = reader.searcher();
        assert_eq!(df(&second), 2);
        assert_eq!(cache.get(&second, &a).unwrap().len(), 2);
        // A request still on the old searcher reads its own segments.
        assert_eq!(df(&first), 1);
        assert_eq!(df(&second), 2);
        for n in 0..(CAPACITY + 10) {
            cache.get(&second, &Term::from_field_text(f, &n.to_string())).unwrap();
        }
        assert!(cache.inner.lock().unwrap().terms.len() <= CAPACITY);
    }
}
