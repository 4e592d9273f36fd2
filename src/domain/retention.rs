//! Which backups a retention policy keeps: the newest `last`, and the newest of each of
//! the most recent `daily` days, `weekly` ISO weeks and `monthly` months (UTC) — the
//! grandfather-father-son rule of the best backup tools. Pure, so it is tested alone.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

use super::Timestamp;

/// The period a time falls in (a day, an ISO week, a month), as a comparable key.
type Period = fn(&time::OffsetDateTime) -> (i32, u32);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Retention {
    /// Keep this many most recent backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<u32>,
    /// Keep the newest backup of each of this many most recent days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_daily: Option<u32>,
    /// Keep the newest backup of each of this many most recent weeks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_weekly: Option<u32>,
    /// Keep the newest backup of each of this many most recent months.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_monthly: Option<u32>,
}

impl Retention {
    pub fn is_empty(&self) -> bool {
        self.keep_last.is_none()
            && self.keep_daily.is_none()
            && self.keep_weekly.is_none()
            && self.keep_monthly.is_none()
    }

    /// The indices of `times` (newest first) to keep. With no rule at all, everything is
    /// kept; the newest is always kept.
    pub fn keep(&self, times: &[Timestamp]) -> HashSet<usize> {
        if self.is_empty() {
            return (0..times.len()).collect();
        }
        let mut kept: HashSet<usize> = (0..times.len().min(self.keep_last.unwrap_or(0) as usize)).collect();
        if !times.is_empty() {
            kept.insert(0);
        }
        let buckets: [(Option<u32>, Period); 3] = [
            (self.keep_daily, |t| (t.year(), t.ordinal() as u32)),
            (self.keep_weekly, |t| {
                let (y, w, _) = t.to_iso_week_date();
                (y, w as u32)
            }),
            (self.keep_monthly, |t| (t.year(), t.month() as u32)),
        ];
        for (count, bucket) in buckets {
            let Some(count) = count else { continue };
            let mut seen = HashSet::new();
            for (i, t) in times.iter().enumerate() {
                if seen.len() >= count as usize {
                    break;
                }
                if seen.insert(bucket(&t.at())) {
                    kept.insert(i);
                }
            }
        }
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(day: i64, hour: i64) -> Timestamp {
        let base = time::macros::datetime!(2026-01-05 00:00 UTC); // a Monday
        Timestamp::from(base + time::Duration::days(day) + time::Duration::hours(hour))
    }

    #[test]
    fn keeps_the_newest_of_each_period() {
        // Two backups a day for 40 days, newest first.
        let mut times: Vec<Timestamp> = (0..40).flat_map(|d| [at(d, 3), at(d, 15)]).collect();
        times.reverse();
        let r = Retention {
            keep_last: Some(3),
            keep_daily: Some(7),
            keep_weekly: Some(4),
            keep_monthly: Some(2),
        };
        let kept = r.keep(&times);
        // Last 3, plus the newest of 7 days (4 new ones beyond the last 3, which cover 2
        // days), 4 weeks, 2 months — overlapping.
        assert!(kept.contains(&0) && kept.contains(&1) && kept.contains(&2));
        let days: HashSet<_> = kept.iter().map(|&i| times[i].at().date()).collect();
        assert!(days.len() >= 7);
        assert!(kept.len() < times.len() / 4, "{}", kept.len());
        assert_eq!(Retention::default().keep(&times).len(), times.len());
        assert_eq!(
            Retention {
                keep_last: Some(0),
                ..Default::default()
            }
            .keep(&times),
            HashSet::from([0])
        );
    }
}
