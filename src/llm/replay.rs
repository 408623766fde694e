//! Replays recorded engine answers, keyed by a hash of the request, so an LLM run can be
//! re-scored offline.
