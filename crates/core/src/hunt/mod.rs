//! Hunting through CloudTrail log files: everything a principal did, and every session it
//! minted. Pure: the shell hands in each file's bytes and gets back its matching records; the
//! summary judges each record with triage's own rules.
//!
//! [`query`] (what to look for, compiled to byte needles) → [`scan`] (one file's bytes to its
//! hits) → [`summary`] (minted sessions to follow, the timeline, the summary). [`remote`] cuts
//! the files into batches for workers elsewhere and reads their results back.

pub mod query;
pub mod remote;
pub mod scan;
pub mod summary;

pub use query::{Compiled, Query, Who};
pub use scan::{FileScan, Hit, ScanError};
pub use summary::{Hunted, Summary};

/// Sorts hits by time, then event id, and drops a copy of a record seen twice with the same
/// bytes (an organisation trail and an account trail both deliver it; a session's record
/// matches its user and its key). Copies that differ are all kept: see [`conflicts`].
pub fn ordered(mut hits: Vec<Hit>) -> Vec<Hit> {
    hits.sort_by(|a, b| {
        (
            a.time.as_str(),
            a.event_id.as_str(),
            a.raw.as_str(),
            a.principal,
        )
            .cmp(&(
                b.time.as_str(),
                b.event_id.as_str(),
                b.raw.as_str(),
                b.principal,
            ))
    });
    hits.dedup_by(|later, earlier| {
        later.event_id == earlier.event_id && later.time == earlier.time && later.raw == earlier.raw
    });
    hits
}

/// Event ids that occur in differing records: CloudTrail writes one record per event id, so a
/// second version means somebody wrote to the trail's bucket.
pub fn conflicts(ordered: &[Hit]) -> Vec<String> {
    let mut out: Vec<String> = ordered
        .windows(2)
        .filter(|w| !w[0].event_id.is_empty() && w[0].event_id == w[1].event_id)
        .map(|w| w[0].event_id.clone())
        .collect();
    out.dedup();
    out
}

/// What one pass over the files found, gathered file by file in any order.
#[derive(Debug, Default)]
pub struct Pass {
    /// Matching records.
    pub hits: Vec<Hit>,
    /// Files (and why) that could not be read, or held unreadable records.
    pub unreadable: Vec<(String, String)>,
    /// Files gathered.
    pub files: u64,
    /// Records read.
    pub records: u64,
    /// Bytes of JSON.
    pub json_bytes: u64,
}

impl Pass {
    /// Adds another pass over other files (a worker's batch) to this one.
    pub fn merge(&mut self, other: Pass) {
        self.files += other.files;
        self.records += other.records;
        self.json_bytes += other.json_bytes;
        self.hits.extend(other.hits);
        self.unreadable.extend(other.unreadable);
    }

    /// Adds one file's scan (or why it could not be scanned) under its name.
    pub fn add(&mut self, name: &str, result: Result<FileScan, ScanError>) {
        self.files += 1;
        match result {
            Ok(scan) => {
                self.records += scan.records;
                self.json_bytes += scan.json_bytes;
                self.hits.extend(scan.hits);
                if scan.unreadable > 0 {
                    let why = format!(
                        "{} records unreadable (first: {})",
                        scan.unreadable,
                        scan.first_unreadable.unwrap_or_default()
                    );
                    self.unreadable.push((name.to_string(), why));
                }
            }
            Err(e) => self.unreadable.push((name.to_string(), e.to_string())),
        }
    }
}

/// Rounds of minted credentials a hunt follows at most (a key's session's session …); a chain
/// longer than this is reported, not cut silently.
pub const FOLLOW_ROUNDS: usize = 16;

/// A hunt over rounds: the named principals first, then the sessions the last round's records
/// minted, until a round mints none (or after [`FOLLOW_ROUNDS`]). The shell runs each round's
/// query over the files and hands the pass back.
#[derive(Debug)]
pub struct Follow {
    hunted: Vec<Hunted>,
    frontier: usize,
    round: usize,
    follow: bool,
    done: bool,
    first: Pass,
    hits: Vec<Hit>,
    keys: std::collections::HashSet<Who>,
    unfollowed: Vec<Hunted>,
}

impl Follow {
    /// A hunt for `named`; `follow` false hunts them alone.
    pub fn new(named: &[Who], follow: bool) -> Follow {
        Follow {
            hunted: named
                .iter()
                .map(|who| Hunted {
                    who: who.clone(),
                    origin: "named".into(),
                })
                .collect(),
            frontier: 0,
            round: 0,
            follow: follow && !named.is_empty(),
            done: false,
            first: Pass::default(),
            hits: Vec::new(),
            keys: named.iter().cloned().collect(),
            unfollowed: Vec::new(),
        }
    }

    /// The next round's query within `scope` (its principals replaced by this round's), or
    /// `None` when the hunt is over.
    pub fn next_query(&self, scope: &Query) -> Option<Compiled> {
        if self.done {
            return None;
        }
        Some(Compiled::new(Query {
            principals: self.hunted[self.frontier..]
                .iter()
                .map(|h| h.who.clone())
                .collect(),
            ..scope.clone()
        }))
    }

    /// Takes the round's pass: its hits, and the credentials they minted for the next round.
    /// Files unreadable in any round are kept (once each).
    pub fn absorb(&mut self, mut pass: Pass) {
        for hit in &mut pass.hits {
            hit.principal += self.frontier;
        }
        let next = self.hunted.len();
        if self.follow {
            for hit in &pass.hits {
                if let Some(m) = summary::minted(hit, &self.hunted[hit.principal].who)
                    && self.keys.insert(m.who.clone())
                {
                    if self.round + 1 < FOLLOW_ROUNDS {
                        self.hunted.push(m);
                    } else {
                        self.unfollowed.push(m);
                    }
                }
            }
        }
        self.hits.append(&mut pass.hits);
        if self.round == 0 {
            self.first = pass;
        } else {
            for (name, why) in pass.unreadable {
                if !self.first.unreadable.iter().any(|(n, _)| *n == name) {
                    self.first.unreadable.push((name, why));
                }
            }
        }
        self.round += 1;
        if self.hunted.len() == next {
            self.done = true;
        }
        self.frontier = next;
    }

    /// Credentials minted in the last round allowed, not hunted: the chain is longer than
    /// [`FOLLOW_ROUNDS`].
    pub fn unfollowed(&self) -> &[Hunted] {
        &self.unfollowed
    }

    /// The principals hunted, named first.
    pub fn hunted(&self) -> &[Hunted] {
        &self.hunted
    }

    /// Every round's hits, ordered and without duplicates, and the first round's pass (every
    /// file read once: its counts; the files unreadable in any round).
    pub fn finish(self) -> (Vec<Hunted>, Vec<Hit>, Pass) {
        (self.hunted, ordered(self.hits), self.first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(id: &str, time: &str, raw: &str, principal: usize) -> Hit {
        Hit {
            time: time.into(),
            event_id: id.into(),
            principal,
            raw: raw.into(),
        }
    }

    fn assume(id: &str, minted: &str) -> String {
        format!(
            r#"{{"eventID":"{id}","eventName":"AssumeRole","responseElements":{{"credentials":{{"accessKeyId":"{minted}"}}}}}}"#
        )
    }

    #[test]
    fn a_chain_is_followed_round_by_round_and_each_key_hunted_once() {
        let named = [Who::AccessKey("AKIAFIRST0000000001".into())];
        let mut f = Follow::new(&named, true);
        let scope = Query::default();
        assert!(f.next_query(&scope).is_some());
        let mut pass = Pass::default();
        let raw = assume("a", "ASIASECOND000000001");
        pass.hits.push(hit("a", "2026-11-03T00:00:00Z", &raw, 0));
        f.absorb(pass);
        let q = f.next_query(&scope).unwrap();
        assert_eq!(
            q.query().principals,
            [Who::AccessKey("ASIASECOND000000001".into())]
        );
        // The second key mints the first one again (a forged loop): not hunted twice.
        let mut pass = Pass::default();
        let again = assume("b", "ASIASECOND000000001");
        pass.hits.push(hit("b", "2026-11-03T00:01:00Z", &again, 0));
        pass.unreadable
            .push(("late.json.gz".into(), "cut short".into()));
        f.absorb(pass);
        assert!(f.next_query(&scope).is_none());
        assert!(f.unfollowed().is_empty());
        let (hunted, hits, first) = f.finish();
        assert_eq!(hunted.len(), 2);
        assert_eq!(
            hits[1].principal, 1,
            "the second round's hit is the minted key's"
        );
        assert_eq!(
            first.unreadable.len(),
            1,
            "a file unreadable in a later round is kept"
        );
    }

    #[test]
    fn copies_are_merged_only_when_equal_and_differing_ones_are_conflicts() {
        let t = "2026-11-03T00:00:00Z";
        let hits = ordered(vec![
            hit("x", t, "{\"a\":1}", 0),
            hit("x", t, "{\"a\":1}", 0),
            hit("y", t, "{\"CreateAccessKey\":1}", 0),
            hit("y", t, "{\"GetCallerIdentity\":1}", 0),
        ]);
        assert_eq!(hits.len(), 3);
        assert_eq!(conflicts(&hits), ["y"]);
    }
}
