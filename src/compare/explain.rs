//! The search for an explanation: the fewest candidates whose count, m1 and m2 sums are exactly a
//! row's difference, and the words that say what they are.

use super::candidates::{Candidate, Choice};
use super::{m2_close, Cause};
use crate::model::Aggregate;
use std::collections::HashMap;
use std::fmt::Write;

/// The fewest candidates whose sum is exactly the difference; "unexplained"
/// when none fits, "not explained (search budget)" when the search gave up first. The last range of crossings (the arrivals) is indexed by
/// its sums, so that a whole window's worth of messages moving on is found as
/// fast as one; the single candidates are tried fewest first, within a budget.
pub(super) fn explain(truth: Option<&Aggregate>, result: Option<&Aggregate>, choices: &[Choice]) -> Explanation {
    let zero = Aggregate::default();
    let (t, r) = (truth.unwrap_or(&zero), result.unwrap_or(&zero));
    let target = Sum { count: r.count - t.count, m1: r.m1_sum - t.m1_sum, m2: r.m2_sum - t.m2_sum };
    let scale = t.m2_sum.abs() + r.m2_sum.abs();
    let mut ones: Vec<&Candidate> = Vec::new();
    let mut ranges: Vec<Vec<&[Candidate]>> = Vec::new();
    for choice in choices {
        match choice {
            Choice::One(c) => ones.push(c),
            Choice::Run(v) => ranges.push((0..=v.len()).map(|k| &v[..k]).collect()),
            Choice::Slice(v) => ranges.push(std::iter::once(&v[..0]).chain((0..v.len()).flat_map(|s| (s + 1..=v.len()).map(move |e| &v[s..e]))).collect()),
        }
    }
    // Takes of the arrivals by the (count, m1) they add, each with the m2 it adds.
    let mut looked_up: HashMap<(i64, i64), Vec<Take>> = HashMap::new();
    for take in ranges.pop().unwrap_or_else(|| vec![&[]]) {
        let sum = Sum::of(take.iter());
        looked_up.entry((sum.count, sum.m1)).or_default().push((take, sum.m2));
    }
    // The other ranges (the messages that left), every take of each, combined.
    let mut enumerated: Vec<Vec<&Candidate>> = vec![Vec::new()];
    for takes in &ranges {
        enumerated = enumerated.iter().flat_map(|before| takes.iter().map(move |take| before.iter().copied().chain(take.iter()).collect())).collect();
    }

    let mut best: Option<Vec<&Candidate>> = None;
    let mut budget = 2_000_000u64;
    for size in 0..=ones.len() {
        if best.as_ref().is_some_and(|b| b.len() <= size) || budget == 0 {
            break;
        }
        for subset in Combinations::new(ones.len(), size) {
            for others in &enumerated {
                budget = budget.saturating_sub(1);
                let chosen = || subset.iter().map(|&i| ones[i]).chain(others.iter().copied());
                let need = target.minus(Sum::of(chosen()));
                let fits = looked_up.get(&(need.count, need.m1)).into_iter().flatten().filter(|(_, m2)| m2_close(*m2, need.m2, scale));
                if let Some((take, _)) = fits.min_by_key(|(take, _)| take.len()) {
                    let total = size + others.len() + take.len();
                    if total > 0 && best.as_ref().is_none_or(|b| total < b.len()) {
                        best = Some(chosen().chain(take.iter()).collect());
                    }
                }
            }
            if budget == 0 {
                break;
            }
        }
    }
    match best {
        Some(chosen) => describe(&chosen),
        None if budget == 0 => Explanation::none(Cause::SearchBudget, "not explained (search budget)"),
        None => Explanation::none(Cause::Unexplained, "unexplained"),
    }
}

type Take<'a> = (&'a [Candidate], f64);

/// What a set of candidates adds to a window.
#[derive(Debug, Clone, Copy)]
struct Sum {
    count: i64,
    m1: i64,
    m2: f64,
}

impl Sum {
    fn of<'a>(candidates: impl Iterator<Item = &'a Candidate>) -> Sum {
        candidates.fold(Sum { count: 0, m1: 0, m2: 0.0 }, |s, c| Sum { count: s.count + c.sign, m1: s.m1 + c.sign * c.m1, m2: s.m2 + c.sign as f64 * c.m2 })
    }

    fn minus(self, o: Sum) -> Sum {
        Sum { count: self.count - o.count, m1: self.m1 - o.m1, m2: self.m2 - o.m2 }
    }
}

/// The `k`-element subsets of `0..n`, as sorted index lists, in lexicographic order.
pub(super) struct Combinations {
    n: usize,
    next: Option<Vec<usize>>,
}

impl Combinations {
    pub(super) fn new(n: usize, k: usize) -> Self {
        Combinations { n, next: (k <= n).then(|| (0..k).collect()) }
    }
}

impl Iterator for Combinations {
    type Item = Vec<usize>;

    fn next(&mut self) -> Option<Vec<usize>> {
        let current = self.next.take()?;
        let k = current.len();
        // The rightmost index that can still move right; everything after it restarts just behind it.
        if let Some(i) = (0..k).rev().find(|&i| current[i] < self.n - k + i) {
            let mut following = current.clone();
            following[i] += 1;
            for j in i + 1..k {
                following[j] = following[j - 1] + 1;
            }
            self.next = Some(following);
        }
        Some(current)
    }
}

/// Why a row differs: its causes, in words, and how many of its events a crash lost or doubled.
pub(super) struct Explanation {
    pub causes: Vec<Cause>,
    pub why: String,
    pub lost: u64,
    pub doubled: u64,
    pub overtaken: u64,
}

impl Explanation {
    fn none(cause: Cause, why: &str) -> Explanation {
        Explanation { causes: vec![cause], why: why.into(), lost: 0, doubled: 0, overtaken: 0 }
    }

    pub(super) fn explains(&self) -> bool {
        self.causes[0].explains()
    }
}

fn describe(chosen: &[&Candidate]) -> Explanation {
    let mut parts = Vec::new();
    let mut causes = Vec::new();
    // A crossing into the window before, its timer late, says so apart from one into a later window.
    let early = |c: &Candidate| c.cause == Cause::Boundary && c.ms < 0;
    for cause in Cause::ALL {
        for (sign, before) in [(1, false), (-1, false), (1, true), (-1, true)] {
            let group: Vec<&&Candidate> = chosen.iter().filter(|c| c.cause == cause && c.sign == sign && early(c) == before).collect();
            if group.is_empty() {
                continue;
            }
            if !causes.contains(&cause) {
                causes.push(cause);
            }
            let n = group.len();
            let s = if n == 1 { "" } else { "s" };
            let m1 = m1_list(&group);
            let max_ms = group.iter().map(|c| c.ms).max().unwrap_or(0);
            let after_ms = -group.iter().map(|c| c.ms).min().unwrap_or(0);
            parts.push(match (cause, sign) {
                (Cause::Boundary, 1) if before => format!("{n} event{s} sent up to {after_ms} ms after this window's end counted here, timer late (m1={m1})"),
                (Cause::Boundary, _) if before => format!("{n} event{s} sent in the first {after_ms} ms counted in the window before, timer late (m1={m1})"),
                (Cause::Duplicate, _) => format!("{n} duplicate{s} counted (m1={m1})"),
                (Cause::Late, _) => format!("{n} late event{s} dropped (m1={m1}, {} s late)", (max_ms as f64 / 1000.0).round()),
                (Cause::OutOfOrder, _) => format!("{n} out-of-order event{s} dropped (m1={m1}, sent {:.1} s after its time)", max_ms as f64 / 1000.0),
                (Cause::Overtaken, _) => format!("{n} on-time event{s} dropped as late, the watermark gone on without their partition (m1={m1})"),
                (Cause::Boundary, -1) => format!("{n} event{s} sent in the last {max_ms} ms counted in a later window (m1={m1})"),
                (Cause::Boundary, _) => format!("{n} event{s} sent in the {max_ms} ms before this window counted here (m1={m1})"),
                (Cause::EndInclusive, 1) => format!("{n} event{s} at this window's very end counted in it (m1={m1})"),
                (Cause::EndInclusive, _) => format!("{n} event{s} at the previous window's very end counted there (m1={m1})"),
                (Cause::LostInCrash, _) => format!("{n} event{s} sent {} lost in the crash (m1={m1})", around_the_kill(&group)),
                (Cause::CountedTwice, _) => format!("{n} event{s} sent {} counted twice after the restart (m1={m1})", around_the_kill(&group)),
                (Cause::NeverClosed | Cause::Unexplained | Cause::SearchBudget | Cause::UnknownId, _) => {
                    unreachable!("every candidate is a fault or a crossing")
                }
            });
        }
    }
    let of = |cause| chosen.iter().filter(|c| c.cause == cause).count() as u64;
    Explanation { causes, why: parts.join("; "), lost: of(Cause::LostInCrash), doubled: of(Cause::CountedTwice), overtaken: of(Cause::Overtaken) }
}

/// When a crash's events were sent, from their `ms` before the kill: "up to 2.5 s before the kill", "… after", or both.
fn around_the_kill(group: &[&&Candidate]) -> String {
    let before = group.iter().map(|c| c.ms).max().unwrap_or(0) as f64 / 1000.0;
    let after = -(group.iter().map(|c| c.ms).min().unwrap_or(0) as f64) / 1000.0;
    match (before > 0.0, after > 0.0) {
        (true, true) => format!("from {before:.1} s before the kill to {after:.1} s after it"),
        (false, true) => format!("up to {after:.1} s after the kill"),
        _ => format!("up to {before:.1} s before the kill"),
    }
}

fn m1_list(group: &[&&Candidate]) -> String {
    let mut s = String::new();
    for (i, c) in group.iter().enumerate() {
        if i == 6 {
            s.push_str("+…");
            break;
        }
        let _ = write!(s, "{}{}", if i > 0 { "+" } else { "" }, c.m1);
    }
    s
}
