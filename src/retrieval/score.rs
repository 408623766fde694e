//! Scoring a disjunction of weighted terms one term at a time: each term's postings are
//! read once, straight through, into one score per document, and the best documents of
//! each kind are kept at the end. The scores are tantivy's own (its BM25 weight of the
//! term, boosted, summed over the terms in clause order, as its buffered union sums them);
//! what this leaves out is a boxed weight, a scorer and an explanation per clause, built
//! and moved around for every search, which for a few hundred clauses cost more than
//! reading the postings (`docs/benchmarks.md`).

use std::sync::Arc;

use tantivy::fieldnorm::FieldNormReader;
use tantivy::index::{InvertedIndexReader, SegmentReader};
use tantivy::postings::Postings;
use tantivy::postings::SegmentPostings;
use tantivy::query::{Bm25StatisticsProvider, Bm25Weight, BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocAddress, DocId, DocSet, Searcher, TERMINATED, Term};

use super::Partition;

/// One clause: a term in its field and the weight its score is multiplied by.
#[derive(Debug, Clone)]
pub(super) struct Clause {
    pub term: Term,
    pub boost: f32,
}

/// Scored documents, best first.
pub(super) type ScoredDocs = Vec<(f32, DocAddress)>;

/// Per kind that `wanted` names (`(kind_code, n)`), the best `n` documents that match some
/// clause, best first; an equal score stays behind the earlier document, as with tantivy's
/// `TopDocs`. Documents of other kinds are scored but not kept.
pub(super) fn best_by_kind(searcher: &Searcher, stats: &Partition, clauses: &[Clause], wanted: &[(u64, usize)]) -> tantivy::Result<Vec<ScoredDocs>> {
    let mut postings = 0;
    for c in clauses {
        postings += stats.doc_freq(&c.term)?;
    }
    if postings > PRUNE_ABOVE {
        return best_by_kind_pruned(searcher, stats, clauses, wanted);
    }
    let weights = weights(stats, clauses)?;
    let mut best: Vec<ScoredDocs> = wanted.iter().map(|&(_, n)| Vec::with_capacity(n + 1)).collect();
    for (ord, segment) in searcher.segment_readers().iter().enumerate() {
        let (scores, matched) = segment_scores(Readers::new(stats, segment, ord), clauses, &weights)?;
        let kinds = segment.fast_fields().u64("kind_code")?;
        let alive = segment.alive_bitset();
        // Below the lowest score that could still enter some kind's list, a document's
        // kind is not even read.
        let mut floor = entry_floor(&best, wanted);
        for doc in matched {
            let score = scores[doc as usize];
            if score <= floor || alive.is_some_and(|a| !a.is_alive(doc)) {
                continue;
            }
            let Some(slot) = kinds.first(doc).and_then(|code| wanted.iter().position(|&(c, _)| c == code)) else { continue };
            let (list, n) = (&mut best[slot], wanted[slot].1);
            if list.len() < n || list.last().is_some_and(|&(worst, _)| score > worst) {
                let at = list.partition_point(|&(s, _)| s >= score);
                list.insert(at, (score, DocAddress::new(ord as u32, doc)));
                list.truncate(n);
                floor = entry_floor(&best, wanted);
            }
        }
    }
    Ok(best)
}

/// Above this many postings in all (the clauses' document frequencies summed), a search
/// goes through tantivy's own scorers, whose block-max pruning skips most of them once the
/// lists are full: at 100 000 prior cases a recommendation's case search reads 40 000 to
/// 100 000 postings, and pruned it costs about a third less. The shipped corpus' searches
/// read at most some thousands, where setting up the pruning costs more than it saves.
const PRUNE_ABOVE: u64 = 16_384;

/// [`best_by_kind`] through tantivy's query of the same clauses, with the same scores.
pub(super) fn best_by_kind_pruned(searcher: &Searcher, stats: &Partition, clauses: &[Clause], wanted: &[(u64, usize)]) -> tantivy::Result<Vec<ScoredDocs>> {
    let weight = tantivy_query(clauses).weight(tantivy::query::EnableScoring::enabled_from_statistics_provider(stats, searcher))?;
    let mut best: Vec<ScoredDocs> = wanted.iter().map(|&(_, n)| Vec::with_capacity(n + 1)).collect();
    for (ord, segment) in searcher.segment_readers().iter().enumerate() {
        let kinds = segment.fast_fields().u64("kind_code")?;
        let alive = segment.alive_bitset();
        let mut floor = entry_floor(&best, wanted);
        weight.for_each_pruning(floor, segment, &mut |doc, score| {
            if alive.is_none_or(|a| a.is_alive(doc))
                && let Some(slot) = kinds.first(doc).and_then(|code| wanted.iter().position(|&(c, _)| c == code))
            {
                let (list, n) = (&mut best[slot], wanted[slot].1);
                if list.len() < n || list.last().is_some_and(|&(worst, _)| score > worst) {
                    let at = list.partition_point(|&(s, _)| s >= score);
                    list.insert(at, (score, DocAddress::new(ord as u32, doc)));
                    list.truncate(n);
                }
                floor = entry_floor(&best, wanted);
            }
            floor
        })?;
    }
    Ok(best)
}

/// The clauses as tantivy's disjunction of boosted term queries.
pub(super) fn tantivy_query(clauses: &[Clause]) -> BooleanQuery {
    BooleanQuery::new(
        clauses
            .iter()
            .map(|c| {
                let term = TermQuery::new(c.term.clone(), IndexRecordOption::WithFreqs);
                (Occur::Should, Box::new(BoostQuery::new(Box::new(term), c.boost)) as Box<dyn Query>)
            })
            .collect(),
    )
}

/// The lowest score that can still enter some list: the lowest of the lists' worst
/// scores once each is full, and no floor before.
fn entry_floor(best: &[ScoredDocs], wanted: &[(u64, usize)]) -> f32 {
    let mut floor = f32::MAX;
    for (list, &(_, n)) in best.iter().zip(wanted) {
        match list.last() {
            Some(&(worst, _)) if list.len() >= n => floor = floor.min(worst),
            _ => return f32::MIN,
        }
    }
    floor
}

/// `candidates` with the scores of the clauses `extra` added, the best `n` of them, best
/// first (an equal score behind the earlier document). Each clause's postings are read
/// only at the candidates (skipping blocks on the way), not through.
pub(super) fn rescore(searcher: &Searcher, stats: &Partition, extra: &[Clause], mut candidates: ScoredDocs, n: usize) -> tantivy::Result<ScoredDocs> {
    let weights = weights(stats, extra)?;
    candidates.sort_by_key(|&(_, address)| address);
    let mut start = 0;
    while start < candidates.len() {
        let ord = candidates[start].1.segment_ord;
        let end = start + candidates[start..].iter().take_while(|(_, a)| a.segment_ord == ord).count();
        let mut readers = Readers::new(stats, searcher.segment_reader(ord), ord as usize);
        for (clause, weight) in extra.iter().zip(&weights) {
            let Some((mut postings, norms)) = readers.postings(&clause.term)? else { continue };
            for (score, address) in &mut candidates[start..end] {
                if postings.doc() < address.doc_id {
                    postings.seek(address.doc_id);
                }
                if postings.doc() == address.doc_id {
                    *score += weight.score(norms.fieldnorm_id(address.doc_id), postings.term_freq());
                }
            }
        }
        start = end;
    }
    candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    candidates.truncate(n);
    Ok(candidates)
}

/// Each clause's BM25 weight over `stats`, boosted: what tantivy's `TermQuery` inside a
/// `BoostQuery` scores with, without the explanation it builds beside it.
fn weights(stats: &Partition, clauses: &[Clause]) -> tantivy::Result<Vec<Bm25Weight>> {
    let docs = stats.total_num_docs()?;
    let mut average_norms: Vec<(Field, f32)> = Vec::new();
    clauses
        .iter()
        .map(|c| {
            let field = c.term.field();
            let average = match average_norms.iter().find(|(f, _)| *f == field) {
                Some(&(_, a)) => a,
                None => {
                    let a = stats.total_num_tokens(field)? as f32 / docs as f32;
                    average_norms.push((field, a));
                    a
                }
            };
            Ok(Bm25Weight::for_one_term_without_explain(stats.doc_freq(&c.term)?, docs, average).boost_by(c.boost))
        })
        .collect()
}

/// Every document of the segment that some clause matches, in document order, and the
/// scores by document (zero where none matched).
fn segment_scores(mut readers: Readers, clauses: &[Clause], weights: &[Bm25Weight]) -> tantivy::Result<(Vec<f32>, Vec<DocId>)> {
    let mut scores = vec![0f32; readers.segment.max_doc() as usize];
    let mut matched: Vec<DocId> = Vec::new();
    for (clause, weight) in clauses.iter().zip(weights) {
        let Some((mut postings, norms)) = readers.postings(&clause.term)? else { continue };
        let mut doc = postings.doc();
        while doc != TERMINATED {
            let score = &mut scores[doc as usize];
            if *score == 0.0 {
                matched.push(doc);
            }
            *score += weight.score(norms.fieldnorm_id(doc), postings.term_freq());
            doc = postings.advance();
        }
    }
    if matched.len() > scores.len() / 32 {
        // Most of a large segment matched: reading the scores in order is cheaper than
        // sorting that many documents. A BM25 score is above zero wherever a term matched.
        matched = (0..scores.len() as DocId).filter(|&d| scores[d as usize] > 0.0).collect();
    } else {
        matched.sort_unstable();
        // A document whose first score added up to nothing would be listed twice.
        matched.dedup();
    }
    Ok((scores, matched))
}

/// A segment's inverted index and field norms by field, each looked up once per search.
struct Readers<'a> {
    stats: &'a Partition<'a>,
    segment: &'a SegmentReader,
    /// The segment's place among the searcher's.
    ord: usize,
    fields: Vec<(Field, Arc<InvertedIndexReader>, FieldNormReader)>,
}

impl<'a> Readers<'a> {
    fn new(stats: &'a Partition<'a>, segment: &'a SegmentReader, ord: usize) -> Readers<'a> {
        Readers { stats, segment, ord, fields: Vec::new() }
    }

    /// The term's postings with frequencies (a field indexed without them reads 1), and its
    /// field's norms; `None` when the segment does not have the term.
    fn postings(&mut self, term: &Term) -> tantivy::Result<Option<(SegmentPostings, &FieldNormReader)>> {
        let Some(info) = self.stats.term_info(term, self.ord)? else { return Ok(None) };
        let field = term.field();
        let at = match self.fields.iter().position(|(f, _, _)| *f == field) {
            Some(at) => at,
            None => {
                let inverted = self.segment.inverted_index(field)?;
                let norms = self.segment.fieldnorms_readers().get_field(field)?.unwrap_or_else(|| FieldNormReader::constant(self.segment.max_doc(), 1));
                self.fields.push((field, inverted, norms));
                self.fields.len() - 1
            }
        };
        let (_, inverted, norms) = &self.fields[at];
        Ok(Some((inverted.read_postings_from_terminfo(&info, IndexRecordOption::WithFreqs)?, norms)))
    }
}
