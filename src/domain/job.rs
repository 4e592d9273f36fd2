//! Background work: jobs (one run of something, by someone, with a log) and the cron
//! specifications schedules are made of.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// `queued` and `running` are active; the others are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

text_enum!(JobStatus);

impl JobStatus {
    pub fn is_active(self) -> bool {
        matches!(self, Self::Queued | Self::Running)
    }
}

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum JobKind {
    /// One run of a schedule: a tool call as the schedule's owner.
    ScheduleRun,
    /// One deployment of an app: build or pull, start, health check, swap.
    Deploy,
    /// One ACME order of a certificate for a host name.
    CertificateOrder,
    /// One backup of a database: dump, store, verify by restoring.
    Backup,
}

text_enum!(JobKind);

/// Who started a job, as the audit log names callers (`user:…/…`, `key:…`, `system:…`),
/// and the user it acts for, if any (whose jobs a user sees).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Initiator {
    pub principal: String,
    pub user: Option<crate::domain::UserId>,
}

impl Initiator {
    /// sh0 itself, doing `task` (maintenance it owes no user).
    pub fn system(task: &str) -> Self {
        Self {
            principal: format!("system:{task}"),
            user: None,
        }
    }
}

/// A cron expression with its time zone, checked when it is made: five fields (minute
/// hour day-of-month month day-of-week) or six with seconds first; names (`MON`, `JAN`)
/// and `L`, `W`, `#` as croner reads them; the zone is an IANA name (`Europe/Paris`).
#[derive(Debug, Clone)]
pub struct CronSpec {
    cron: croner::Cron,
    zone: chrono_tz::Tz,
}

impl CronSpec {
    pub fn parse(expression: &str, zone: &str) -> Result<Self, String> {
        let cron = croner::Cron::from_str(expression.trim())
            .map_err(|e| format!("cron: `{}` is not a cron expression: {e}", expression.trim()))?;
        let zone =
            chrono_tz::Tz::from_str(zone).map_err(|_| format!("timezone: `{zone}` is not an IANA time zone name"))?;
        Ok(Self { cron, zone })
    }

    /// The first time strictly after `after` that the expression names, in UTC.
    pub fn next_after(&self, after: time::OffsetDateTime) -> Option<time::OffsetDateTime> {
        use chrono::TimeZone;
        let start = self.zone.timestamp_opt(after.unix_timestamp(), 0).single()?;
        let next = self.cron.find_next_occurrence(&start, false).ok()?;
        time::OffsetDateTime::from_unix_timestamp(next.timestamp()).ok()
    }

    /// In words, for people reading a schedule.
    pub fn describe(&self) -> String {
        self.cron.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_specs_follow_their_zone() {
        let at = time::macros::datetime!(2026-03-28 22:30 UTC);
        // 03:00 in Paris on the night the clocks go forward is 01:00 UTC.
        let s = CronSpec::parse("0 3 * * *", "Europe/Paris").unwrap();
        assert_eq!(s.next_after(at), Some(time::macros::datetime!(2026-03-29 01:00 UTC)));
        let every2s = CronSpec::parse("*/2 * * * * *", "UTC").unwrap();
        assert_eq!(
            every2s.next_after(at),
            Some(time::macros::datetime!(2026-03-28 22:30:02 UTC))
        );
        assert!(CronSpec::parse("61 * * * *", "UTC").is_err());
        assert!(CronSpec::parse("* * * * *", "Mars/Olympus").is_err());
        assert!(CronSpec::parse("every day", "UTC").is_err());
    }
}
