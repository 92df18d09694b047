//! One encoded registration and its JSON-lines wire form: exactly what would
//! leave the agency (`docs/ENCODING.md`, "Output"), so it can be written to a
//! file and inspected before anything is sent.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{Datelike, NaiveDate};

use super::bloom::Bloom;
use super::rules::RuleId;
use super::secret::push_hex;
use crate::vocab::{AgeBand, EventType, Region, ResidenceStatus, Role, Sex};

/// One match token: which rule, and the 32-byte keyed hash of its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MatchToken {
    /// The rule that produced it ([`super::RULES`]).
    pub rule: RuleId,
    /// BLAKE3-keyed hash of the rule's canonical byte string under the rule key.
    pub hash: [u8; 32],
}

/// One encoded registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedRecord {
    /// The agency's own record id: stays on the agency side (the refs-out file)
    /// so linkage results can be joined back; never sent, never in the JSON.
    pub local_id: String,
    /// Keyed pseudonym of (agency, local id): what the service knows the record by.
    pub record_ref: [u8; 32],
    /// Match tokens, sorted by (rule, hash).
    pub tokens: Vec<MatchToken>,
    /// The keyed Bloom encoding, when the encoder makes one and a name or date
    /// of birth is present.
    pub bloom: Option<Bloom>,
    /// Date of the registered event.
    pub event_date: NaiveDate,
    /// What happened.
    pub event_type: EventType,
    /// Victim or suspect.
    pub role: Role,
    /// Age band at the event, computed here from the date of birth.
    pub age_band: AgeBand,
    /// Registered sex.
    pub sex: Sex,
    /// Region of residence.
    pub region: Region,
    /// Residence-status category.
    pub residence_status: ResidenceStatus,
    /// True when a national id failed its check and was dropped: counted in the
    /// summary, never sent.
    pub national_id_invalid: bool,
    /// True when the date-of-birth cell was not a date and the schema says
    /// `invalid = "missing"`: encoded without it, counted in the summary,
    /// never sent.
    pub date_of_birth_unreadable: bool,
}

impl EncodedRecord {
    /// Appends the record's JSON line (with the final `\n`) to `out`. Keys in
    /// fixed order, no spaces; hex is lower case; the Bloom encoding is standard
    /// padded base64 (RFC 4648 §4) or `null`. `local_id` is not written.
    pub fn write_json_line(&self, out: &mut String) {
        out.push_str("{\"record_ref\":\"");
        push_hex(out, &self.record_ref);
        out.push_str("\",\"tokens\":[");
        for (i, token) in self.tokens.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            // Writing to a String cannot fail.
            let _ = write!(out, "{{\"rule\":{}", token.rule.0);
            out.push_str(",\"hash\":\"");
            push_hex(out, &token.hash);
            out.push_str("\"}");
        }
        out.push_str("],\"bloom\":");
        match &self.bloom {
            Some(bloom) => {
                out.push('"');
                BASE64.encode_string(bloom.0, out);
                out.push('"');
            }
            None => out.push_str("null"),
        }
        let mut date = String::with_capacity(10);
        let _ = write!(
            date,
            "{:04}-{:02}-{:02}",
            self.event_date.year(),
            self.event_date.month(),
            self.event_date.day()
        );
        out.push_str(",\"event\":");
        push_object(
            out,
            &[
                ("date", &date),
                ("type", self.event_type.as_str()),
                ("role", self.role.as_str()),
            ],
        );
        out.push_str(",\"attributes\":");
        push_object(
            out,
            &[
                ("age_band", self.age_band.as_str()),
                ("sex", self.sex.as_str()),
                ("region", self.region.as_str()),
                ("residence_status", self.residence_status.as_str()),
            ],
        );
        out.push_str("}\n");
    }
}

/// Appends a flat JSON object of string values that need no escaping
/// (vocabulary terms and ISO dates).
fn push_object(out: &mut String, pairs: &[(&str, &str)]) {
    out.push('{');
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        out.push_str(key);
        out.push_str("\":\"");
        out.push_str(value);
        out.push('"');
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON line is valid JSON with exactly the documented keys, and the
    /// local id is not in it.
    #[test]
    fn json_line_shape() {
        let record = EncodedRecord {
            local_id: "CASE-0001".into(),
            record_ref: [0x11; 32],
            tokens: vec![MatchToken {
                rule: RuleId(2),
                hash: [0xab; 32],
            }],
            bloom: None,
            event_date: NaiveDate::from_ymd_opt(2020, 1, 31).unwrap(),
            event_type: EventType::Assault,
            role: Role::Victim,
            age_band: AgeBand::Age23To29,
            sex: Sex::Female,
            region: Region::ZuidHolland,
            residence_status: ResidenceStatus::Unknown,
            national_id_invalid: false,
            date_of_birth_unreadable: false,
        };
        let mut line = String::new();
        record.write_json_line(&mut line);
        assert!(
            line.ends_with("}\n") && !line.contains("CASE-0001"),
            "{line}"
        );
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        let expected = serde_json::json!({
            "record_ref": "11".repeat(32),
            "tokens": [{"rule": 2, "hash": "ab".repeat(32)}],
            "bloom": null,
            "event": {"date": "2020-01-31", "type": "assault", "role": "victim"},
            "attributes": {"age_band": "23-29", "sex": "female", "region": "NL-ZH",
                           "residence_status": "unknown"}
        });
        assert_eq!(value, expected);
    }
}
