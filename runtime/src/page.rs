//! Keyset paging: a [`Cursor`] marks the last entry of a page, and the next page starts after
//! it, so page k costs what page 1 costs (O(log N + page) per bucket), and an entry that stays
//! in place for the whole walk is seen exactly once, whatever is inserted or deleted meanwhile.
//!
//! Entries are ordered as Redis orders a sorted set: by score, then by pk bytes. For a sorted
//! index the score is the field's value; for a model's live pks (`Repo::page`) it is the expiry
//! (the same for every instance of a model without TTL, so pks come in pk order); for a lookup
//! index only the pk counts.

use std::fmt;
use std::str::FromStr;

use futures_util::Stream;

use crate::error::{Error, Result};

/// Where the next page starts: after the entry (score, pk). Its text form (`Display`,
/// `FromStr`) can travel through an API and come back.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    pub(crate) score: f64,
    pub(crate) pk: String,
}

impl Cursor {
    /// The pk of the last entry of the page.
    pub fn pk(&self) -> &str {
        &self.pk
    }

    /// The score as Redis reads it (`inf` for an instance without expiry).
    pub(crate) fn score_arg(&self) -> String {
        score_text(self.score)
    }
}

/// A score as text Redis parses back to the same double.
pub(crate) fn score_text(score: f64) -> String {
    if score.is_infinite() {
        return if score > 0.0 { "+inf" } else { "-inf" }.to_string();
    }
    format!("{score:e}")
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", score_text(self.score), self.pk)
    }
}

impl FromStr for Cursor {
    type Err = Error;

    fn from_str(text: &str) -> Result<Cursor> {
        let bad = || Error::Config(format!("{text:?} is not a page cursor"));
        let (score, pk) = text.split_once(':').ok_or_else(bad)?;
        let score = match score {
            "+inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            s => s.parse().map_err(|_| bad())?,
        };
        Ok(Cursor {
            score,
            pk: pk.to_string(),
        })
    }
}

/// One page of a keyset walk.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The entries, in order.
    pub items: Vec<T>,
    /// Where the next page starts; `None` when this page is the last.
    pub next: Option<Cursor>,
}

/// Walks pages (`fetch(after, limit)` gives one page of items and the next cursor) as a stream
/// of items, `batch` at a time; stops after the last page or at the first error.
pub(crate) fn walk<T, F, Fut>(
    batch: usize,
    fetch: F,
) -> impl Stream<Item = Result<T>> + Send + 'static
where
    T: Send + 'static,
    F: Fn(Option<Cursor>, usize) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(Vec<T>, Option<Cursor>)>> + Send,
{
    struct State<T, F> {
        fetch: F,
        after: Option<Cursor>,
        ready: std::collections::VecDeque<T>,
        done: bool,
    }
    let state = State {
        fetch,
        after: None,
        ready: std::collections::VecDeque::new(),
        done: false,
    };
    futures_util::stream::unfold(state, move |mut state| async move {
        loop {
            if let Some(item) = state.ready.pop_front() {
                return Some((Ok(item), state));
            }
            if state.done {
                return None;
            }
            match (state.fetch)(state.after.take(), batch.max(1)).await {
                Ok((items, next)) => {
                    state.done = next.is_none();
                    state.after = next;
                    state.ready.extend(items);
                }
                Err(e) => {
                    state.done = true;
                    return Some((Err(e), state));
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_survive_their_text_form() {
        for (score, pk) in [
            (1.5, "a"),
            (-0.1, "a:b:c"),
            (1e300, "ü"),
            (5e-324, ""),
            (f64::INFINITY, "x"),
            (f64::NEG_INFINITY, "y"),
            (1_700_000_000_123.0, "sess"),
        ] {
            let c = Cursor {
                score,
                pk: pk.into(),
            };
            assert_eq!(c.to_string().parse::<Cursor>().unwrap(), c);
        }
        assert!("nocolon".parse::<Cursor>().is_err());
        assert!("x1:pk".parse::<Cursor>().is_err());
    }
}
