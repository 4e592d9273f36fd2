//! Points in time. Every timestamp sh0 keeps or shows is a [`Timestamp`]: UTC, whole
//! seconds, written as RFC 3339 (`2026-11-29T21:30:00Z`). One fixed form means the store
//! can compare them as text in SQL and in order, and one parser means no two places read a
//! malformed value differently.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, UtcOffset};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    pub fn now() -> Self {
        Self::from(OffsetDateTime::now_utc())
    }

    /// `d` from now (expiry times).
    pub fn after(d: Duration) -> Self {
        Self::from(OffsetDateTime::now_utc() + d)
    }

    /// `at`, in UTC, truncated to the second.
    pub fn from(at: OffsetDateTime) -> Self {
        let at = at.to_offset(UtcOffset::UTC);
        Self(at.replace_nanosecond(0).unwrap_or(at))
    }

    pub fn at(self) -> OffsetDateTime {
        self.0
    }

    /// Reads RFC 3339 (any offset; fractions of a second are dropped).
    pub fn parse(text: &str) -> Result<Self, String> {
        OffsetDateTime::parse(text, &Rfc3339).map(Self::from).map_err(|e| {
            format!(
                "`{}` is not an RFC 3339 time: {e}",
                text.chars().take(40).collect::<String>()
            )
        })
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.format(&Rfc3339).map_err(|_| std::fmt::Error)?)
    }
}

impl std::ops::Add<Duration> for Timestamp {
    type Output = Self;
    fn add(self, d: Duration) -> Self {
        Self::from(self.0 + d)
    }
}

impl std::ops::Sub<Duration> for Timestamp {
    type Output = Self;
    fn sub(self, d: Duration) -> Self {
        Self::from(self.0 - d)
    }
}

impl std::ops::Sub for Timestamp {
    type Output = Duration;
    fn sub(self, other: Self) -> Duration {
        self.0 - other.0
    }
}

impl TryFrom<String> for Timestamp {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Timestamp {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timestamp".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339, UTC, whole seconds."
        })
    }

    fn inline_schema() -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_form_in_order() {
        let t = Timestamp::parse("2026-11-29T22:30:15.75+01:00").unwrap();
        assert_eq!(t.to_string(), "2026-11-29T21:30:15Z");
        assert_eq!(Timestamp::parse(&t.to_string()).unwrap(), t);
        let later = t + Duration::seconds(1);
        assert!(
            later > t && later.to_string() > t.to_string(),
            "text order is time order"
        );
        assert!(Timestamp::parse("yesterday").is_err());
        assert_eq!(serde_json::to_value(t).unwrap(), "2026-11-29T21:30:15Z");
    }
}
