//! Writing the agency CSVs and `truth.csv`, streaming and in shuffled order.
//!
//! The generator produces a person's registrations together; written in that
//! order, the rows of one person would sit next to each other with
//! consecutive record ids, which no real export does and which a linker could
//! exploit. Each agency therefore collects rows in a window of
//! [`SHUFFLE_WINDOW`] rows, shuffles the window, assigns record ids in file
//! order, and writes the rows and their `truth.csv` lines. Memory stays
//! bounded by the window.
//!
//! The care agency's Latin-1 export transliterates characters outside
//! ISO-8859-1 as legacy systems do: the base letter of a decomposable
//! character (`ş` → `s`, `ă` → `a`, `İ` → `I`), a fixed table for letters that
//! do not decompose (`ł` → `l`, `ı` → `i`, `đ` → `d`, `œ` → `oe`), else `?`.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use unicode_normalization::UnicodeNormalization;

use super::SynthError;
use super::agencies::AgencyProfile;

/// Rows per agency shuffled together before writing.
pub(crate) const SHUFFLE_WINDOW: usize = 16_384;

/// A row waiting in the shuffle window.
struct PendingRow {
    person_id: u64,
    cells: Vec<String>,
}

/// One agency's CSV writer and its window.
struct AgencyFile {
    agency: String,
    profile: AgencyProfile,
    path: PathBuf,
    writer: csv::Writer<BufWriter<File>>,
    pending: Vec<PendingRow>,
    written: u64,
}

/// All output files of a run.
pub(crate) struct Outputs {
    agencies: Vec<AgencyFile>,
    truth_path: PathBuf,
    truth: csv::Writer<BufWriter<File>>,
    shuffle: ChaCha8Rng,
}

fn create_writer(path: &Path, delimiter: u8) -> Result<csv::Writer<BufWriter<File>>, SynthError> {
    let file = File::create(path).map_err(|source| SynthError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(csv::WriterBuilder::new()
        .delimiter(delimiter)
        .from_writer(BufWriter::with_capacity(1 << 16, file)))
}

fn csv_error(path: &Path) -> impl Fn(csv::Error) -> SynthError + '_ {
    move |source| SynthError::Csv {
        path: path.to_path_buf(),
        source,
    }
}

impl Outputs {
    /// Creates `DIR/<agency>.csv` for every profile and `DIR/truth.csv`, and
    /// writes their headers. `shuffle_key` seeds the window shuffles.
    ///
    /// # Errors
    /// [`SynthError::Io`] or [`SynthError::Csv`] naming the file.
    pub(crate) fn create(
        dir: &Path,
        profiles: &[AgencyProfile],
        shuffle_key: [u8; 32],
    ) -> Result<Outputs, SynthError> {
        let mut agencies = Vec::with_capacity(profiles.len());
        for profile in profiles {
            let path = dir.join(format!("{}.csv", profile.id));
            let mut writer = create_writer(&path, profile.delimiter)?;
            writer
                .write_record(profile.header())
                .map_err(csv_error(&path))?;
            agencies.push(AgencyFile {
                agency: profile.id.clone(),
                profile: profile.clone(),
                path,
                writer,
                pending: Vec::with_capacity(SHUFFLE_WINDOW),
                written: 0,
            });
        }
        let truth_path = dir.join("truth.csv");
        let mut truth = create_writer(&truth_path, b',')?;
        truth
            .write_record(["agency", "record_id", "person_id"])
            .map_err(csv_error(&truth_path))?;
        Ok(Outputs {
            agencies,
            truth_path,
            truth,
            shuffle: ChaCha8Rng::from_seed(shuffle_key),
        })
    }

    /// Queues one row of agency `agency` (index in the profile list) for
    /// person `person_id`; writes a shuffled window when it is full.
    ///
    /// # Errors
    /// [`SynthError::Csv`] naming the file.
    pub(crate) fn push(
        &mut self,
        agency: usize,
        person_id: u64,
        cells: Vec<String>,
    ) -> Result<(), SynthError> {
        let file = &mut self.agencies[agency];
        file.pending.push(PendingRow { person_id, cells });
        if file.pending.len() >= SHUFFLE_WINDOW {
            flush(file, &mut self.truth, &self.truth_path, &mut self.shuffle)?;
        }
        Ok(())
    }

    /// Writes the remaining windows and flushes every file; returns the
    /// number of records written per agency, in profile order.
    ///
    /// # Errors
    /// [`SynthError::Csv`] or [`SynthError::Io`] naming the file.
    pub(crate) fn finish(mut self) -> Result<Vec<u64>, SynthError> {
        let mut counts = Vec::with_capacity(self.agencies.len());
        for file in &mut self.agencies {
            flush(file, &mut self.truth, &self.truth_path, &mut self.shuffle)?;
            file.writer.flush().map_err(|source| SynthError::Io {
                path: file.path.clone(),
                source,
            })?;
            counts.push(file.written);
        }
        self.truth.flush().map_err(|source| SynthError::Io {
            path: self.truth_path.clone(),
            source,
        })?;
        Ok(counts)
    }
}

fn flush(
    file: &mut AgencyFile,
    truth: &mut csv::Writer<BufWriter<File>>,
    truth_path: &Path,
    shuffle: &mut ChaCha8Rng,
) -> Result<(), SynthError> {
    file.pending.shuffle(shuffle);
    let id_column = file.profile.record_id_column();
    let mut encoded: Vec<Vec<u8>> = Vec::new();
    for mut row in file.pending.drain(..) {
        file.written += 1;
        let record_id = file.profile.record_id(file.written);
        row.cells[id_column].clone_from(&record_id);
        if file.profile.latin1 {
            encoded.clear();
            encoded.extend(row.cells.iter().map(|cell| latin1(cell)));
            file.writer
                .write_record(&encoded)
                .map_err(csv_error(&file.path))?;
        } else {
            file.writer
                .write_record(&row.cells)
                .map_err(csv_error(&file.path))?;
        }
        truth
            .write_record([
                file.agency.as_str(),
                record_id.as_str(),
                row.person_id.to_string().as_str(),
            ])
            .map_err(csv_error(truth_path))?;
    }
    Ok(())
}

/// Encodes text as ISO-8859-1, transliterating what it cannot hold (see the
/// module documentation).
pub(crate) fn latin1(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        if let Ok(byte) = u8::try_from(u32::from(c)) {
            out.push(byte);
            continue;
        }
        let fixed = match c {
            'ł' => Some("l"),
            'Ł' => Some("L"),
            'ı' => Some("i"),
            'đ' => Some("d"),
            'Đ' => Some("D"),
            'œ' => Some("oe"),
            'Œ' => Some("OE"),
            _ => None,
        };
        if let Some(text) = fixed {
            out.extend_from_slice(text.as_bytes());
            continue;
        }
        let base = std::iter::once(c)
            .nfd()
            .next()
            .and_then(|b| u8::try_from(u32::from(b)).ok());
        out.push(base.unwrap_or(b'?'));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Latin-1 keeps what it can hold and transliterates the rest.
    #[test]
    fn latin1_transliterates() {
        assert_eq!(latin1("Zoë Müller"), b"Zo\xeb M\xfcller".to_vec());
        assert_eq!(latin1("Şahin Yılmaz"), b"Sahin Yilmaz".to_vec());
        assert_eq!(latin1("Wrocław Łódź"), b"Wroclaw L\xf3dz".to_vec());
        assert_eq!(latin1("İbrahim"), b"Ibrahim".to_vec());
        assert_eq!(latin1("București"), b"Bucuresti".to_vec());
    }
}
