//! Key layouts and value encodings of the store's trees (`docs/STORAGE.md`).
//!
//! Values are small hand-written binary encodings with a leading version byte,
//! big-endian integers and fixed field order, so that a stored value is
//! readable by a newcomer with the document in hand and a damaged value is
//! detected (wrong length, unknown version or term) instead of misread.

use chrono::NaiveDate;

use super::StoreError;
use crate::vocab::{AgeBand, EventType, Region, ResidenceStatus, Role, Sex};

/// Version byte of [`StoredRecord`] values.
const RECORD_VERSION: u8 = 1;
/// Version byte of [`StoredReceipt`] values.
const RECEIPT_VERSION: u8 = 1;

/// The key of a record: agency code (u16 big-endian) ‖ 32-byte record ref.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordKey {
    /// The agency's code (`agencies` tree).
    pub agency: u16,
    /// The record ref.
    pub record_ref: [u8; 32],
}

impl RecordKey {
    /// The 34-byte key.
    pub fn to_bytes(self) -> [u8; 34] {
        let mut key = [0u8; 34];
        key[..2].copy_from_slice(&self.agency.to_be_bytes());
        key[2..].copy_from_slice(&self.record_ref);
        key
    }

    /// Parses a 34-byte key.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] when the length is wrong.
    pub fn from_bytes(bytes: &[u8]) -> Result<RecordKey, StoreError> {
        if bytes.len() != 34 {
            return Err(corrupt("records", "record key is not 34 bytes"));
        }
        let mut record_ref = [0u8; 32];
        record_ref.copy_from_slice(&bytes[2..]);
        Ok(RecordKey {
            agency: u16::from_be_bytes([bytes[0], bytes[1]]),
            record_ref,
        })
    }
}

/// A stored registration. Tokens are already re-keyed with the server's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Global ingest sequence number (1, 2, ...): the record's age. A
    /// correction keeps the sequence number of the record it replaces.
    pub seq: u64,
    /// (rule id, server-re-keyed 32-byte token).
    pub tokens: Vec<(u16, [u8; 32])>,
    /// The 1024-bit Bloom encoding, when sent.
    pub bloom: Option<[u8; 128]>,
    /// Event date.
    pub event_date: NaiveDate,
    /// Event type.
    pub event_type: EventType,
    /// Role.
    pub role: Role,
    /// Age band at the event.
    pub age_band: AgeBand,
    /// Sex.
    pub sex: Sex,
    /// Region.
    pub region: Region,
    /// Residence status.
    pub residence_status: ResidenceStatus,
}

/// Days since 1970-01-01 of a date.
pub fn date_to_days(date: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or(NaiveDate::MIN);
    (date - epoch).num_days() as i32
}

/// The date `days` after 1970-01-01.
pub fn days_to_date(days: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(1970, 1, 1)?.checked_add_signed(chrono::Duration::days(days.into()))
}

fn corrupt(tree: &'static str, message: &str) -> StoreError {
    StoreError::Corrupt {
        tree,
        message: message.to_string(),
    }
}

/// A cursor over a stored value that reports truncation as corruption.
struct Cursor<'a> {
    bytes: &'a [u8],
    tree: &'static str,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        if self.bytes.len() < n {
            return Err(corrupt(self.tree, "value is truncated"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, StoreError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, StoreError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, StoreError> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_be_bytes(a))
    }
    fn u64(&mut self) -> Result<u64, StoreError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }
    fn array32(&mut self) -> Result<[u8; 32], StoreError> {
        let mut a = [0u8; 32];
        a.copy_from_slice(self.take(32)?);
        Ok(a)
    }
    fn term<T>(&mut self, from_code: fn(u8) -> Option<T>) -> Result<T, StoreError> {
        from_code(self.u8()?).ok_or_else(|| corrupt(self.tree, "unknown vocabulary code"))
    }
    fn finish(&self) -> Result<(), StoreError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(corrupt(self.tree, "trailing bytes"))
        }
    }
}

impl StoredRecord {
    /// The value bytes: version 1, seq u64, event day i32, six vocabulary
    /// codes, token count u8 and (rule u16, token 32) each, Bloom flag u8 and
    /// 128 bytes when set.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(24 + self.tokens.len() * 34 + 129);
        out.push(RECORD_VERSION);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&date_to_days(self.event_date).to_be_bytes());
        out.extend_from_slice(&[
            self.event_type.code(),
            self.role.code(),
            self.age_band.code(),
            self.sex.code(),
            self.region.code(),
            self.residence_status.code(),
        ]);
        out.push(self.tokens.len() as u8);
        for (rule, token) in &self.tokens {
            out.extend_from_slice(&rule.to_be_bytes());
            out.extend_from_slice(token);
        }
        match &self.bloom {
            Some(bloom) => {
                out.push(1);
                out.extend_from_slice(bloom);
            }
            None => out.push(0),
        }
        out
    }

    /// Decodes a value written by [`StoredRecord::encode`].
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] on any malformation.
    pub fn decode(bytes: &[u8]) -> Result<StoredRecord, StoreError> {
        let mut c = Cursor {
            bytes,
            tree: "records",
        };
        if c.u8()? != RECORD_VERSION {
            return Err(corrupt("records", "unknown record version"));
        }
        let seq = c.u64()?;
        let days = c.u32()? as i32;
        let event_date = days_to_date(days).ok_or_else(|| corrupt("records", "bad event day"))?;
        let event_type = c.term(EventType::from_code)?;
        let role = c.term(Role::from_code)?;
        let age_band = c.term(AgeBand::from_code)?;
        let sex = c.term(Sex::from_code)?;
        let region = c.term(Region::from_code)?;
        let residence_status = c.term(ResidenceStatus::from_code)?;
        let count = c.u8()?;
        let mut tokens = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let rule = c.u16()?;
            tokens.push((rule, c.array32()?));
        }
        let bloom = match c.u8()? {
            0 => None,
            1 => {
                let mut bloom = [0u8; 128];
                bloom.copy_from_slice(c.take(128)?);
                Some(bloom)
            }
            _ => return Err(corrupt("records", "bad Bloom flag")),
        };
        c.finish()?;
        Ok(StoredRecord {
            seq,
            tokens,
            bloom,
            event_date,
            event_type,
            role,
            age_band,
            sex,
            region,
            residence_status,
        })
    }
}

/// The value of a `records` row (key: the record's seq, u64 BE): its
/// agency code ‖ ref (34 bytes, [`RecordKey::to_bytes`]) then
/// [`StoredRecord::encode`].
pub fn encode_record_row(key: RecordKey, record: &StoredRecord) -> Vec<u8> {
    let mut out = key.to_bytes().to_vec();
    out.extend_from_slice(&record.encode());
    out
}

/// Decodes a `records` row written by [`encode_record_row`].
///
/// # Errors
/// [`StoreError::Corrupt`] on any malformation.
pub fn decode_record_row(bytes: &[u8]) -> Result<(RecordKey, StoredRecord), StoreError> {
    let key = record_row_key(bytes)?;
    Ok((key, StoredRecord::decode(&bytes[34..])?))
}

/// The record key at the start of a `records` row, without decoding the
/// record.
///
/// # Errors
/// [`StoreError::Corrupt`] when the row is shorter than 34 bytes.
pub fn record_row_key(bytes: &[u8]) -> Result<RecordKey, StoreError> {
    RecordKey::from_bytes(bytes.get(..34).unwrap_or(bytes))
}

/// A stored batch receipt (tree `batches`, key agency code ‖ batch id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReceipt {
    /// Records accepted.
    pub accepted: u32,
    /// Of those, corrections of existing refs.
    pub corrected: u32,
    /// BLAKE3 digest of the canonical batch encoding.
    pub digest: [u8; 32],
    /// Index of the receipt's transparency-log entry.
    pub audit_index: u64,
    /// Commit time, milliseconds since the Unix epoch.
    pub committed_at_ms: i64,
}

impl StoredReceipt {
    /// The value bytes: version 1, accepted u32, corrected u32, digest 32,
    /// audit index u64, commit time i64 (ms).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(57);
        out.push(RECEIPT_VERSION);
        out.extend_from_slice(&self.accepted.to_be_bytes());
        out.extend_from_slice(&self.corrected.to_be_bytes());
        out.extend_from_slice(&self.digest);
        out.extend_from_slice(&self.audit_index.to_be_bytes());
        out.extend_from_slice(&self.committed_at_ms.to_be_bytes());
        out
    }

    /// Decodes a value written by [`StoredReceipt::encode`].
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] on any malformation.
    pub fn decode(bytes: &[u8]) -> Result<StoredReceipt, StoreError> {
        let mut c = Cursor {
            bytes,
            tree: "batches",
        };
        if c.u8()? != RECEIPT_VERSION {
            return Err(corrupt("batches", "unknown receipt version"));
        }
        let receipt = StoredReceipt {
            accepted: c.u32()?,
            corrected: c.u32()?,
            digest: c.array32()?,
            audit_index: c.u64()?,
            committed_at_ms: c.u64()? as i64,
        };
        c.finish()?;
        Ok(receipt)
    }
}

/// Key of a batch receipt: agency code ‖ batch id (34 bytes), so two agencies
/// never collide on a batch id.
pub fn batch_key(agency: u16, batch_id: &[u8; 32]) -> [u8; 34] {
    RecordKey {
        agency,
        record_ref: *batch_id,
    }
    .to_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StoredRecord {
        StoredRecord {
            seq: 42,
            tokens: vec![(1, [7; 32]), (6, [8; 32])],
            bloom: Some([0xa5; 128]),
            event_date: NaiveDate::from_ymd_opt(2016, 2, 29).unwrap(),
            event_type: EventType::TraffickingLabour,
            role: Role::Victim,
            age_band: AgeBand::Age18To22,
            sex: Sex::Female,
            region: Region::Utrecht,
            residence_status: ResidenceStatus::Asylum,
        }
    }

    /// Records and receipts round-trip; any truncation or extra byte is damage.
    #[test]
    fn values_round_trip_and_damage_is_detected() {
        let record = sample();
        let bytes = record.encode();
        assert_eq!(StoredRecord::decode(&bytes).unwrap(), record);
        for cut in 0..bytes.len() {
            assert!(StoredRecord::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(StoredRecord::decode(&longer).is_err());
        let no_bloom = StoredRecord {
            bloom: None,
            ..sample()
        };
        assert_eq!(StoredRecord::decode(&no_bloom.encode()).unwrap(), no_bloom);

        let receipt = StoredReceipt {
            accepted: 10,
            corrected: 2,
            digest: [3; 32],
            audit_index: 99,
            committed_at_ms: 1_700_000_000_000,
        };
        assert_eq!(StoredReceipt::decode(&receipt.encode()).unwrap(), receipt);
        let key = RecordKey {
            agency: 3,
            record_ref: [9; 32],
        };
        assert_eq!(RecordKey::from_bytes(&key.to_bytes()).unwrap(), key);
    }
}
