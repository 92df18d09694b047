//! [`encode_file`]: the body of `veilink encode` — stream a CSV of any size
//! through a [`RecordReader`], write the JSON lines that would be sent and the
//! local-only refs file, and count what happened.
//!
//! Worker threads take turns reading a batch of raw lines, encode it and
//! format its JSON lines and refs rows ([`super::parallel`]); the calling
//! thread writes them in input order. Memory is bounded by
//! the batches in flight (two per thread) times the longest line. Outputs are
//! written to `NAME.partial` beside the target and renamed only when the whole
//! input succeeded, so a failed run leaves existing files as they were ("bad
//! input changes nothing").

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use super::EncodeError;
use super::csv_input::{LineEncoder, RecordReader};
use super::encoder::Encoder;
use super::parallel::{self, LineOutcome, RawLine};
use super::rules::RULES;
use super::secret::hex;

/// What to do with a data line that cannot be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Stop at the first bad line; write nothing.
    Fail,
    /// Skip the line, count it by reason, go on. Faults that would damage every
    /// later line (wrong text encoding, I/O) still stop the run.
    Skip,
}

/// Progress of a running encode, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Input bytes consumed.
    pub bytes_read: u64,
    /// Input size in bytes (0 if unknown).
    pub bytes_total: u64,
    /// Data lines read so far.
    pub records_read: u64,
}

/// What an encode run did (printed by the CLI on stderr).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncodeSummary {
    /// Data lines read.
    pub records_read: u64,
    /// Records encoded and written.
    pub records_encoded: u64,
    /// Lines skipped under [`OnError::Skip`], by reason ([`LineError::reason`](super::LineError::reason)).
    pub skipped: BTreeMap<String, u64>,
    /// Tokens written, by rule id (every rule listed, zeros included).
    pub tokens_per_rule: BTreeMap<u16, u64>,
    /// Records with a Bloom encoding.
    pub bloom_encodings: u64,
    /// National ids present but failing their check (dropped, not hashed).
    pub invalid_national_ids: u64,
    /// Dates of birth that were not dates, encoded as missing
    /// (`invalid = "missing"` in the schema).
    pub unreadable_birth_dates: u64,
}

impl fmt::Display for EncodeSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "records read:           {}", self.records_read)?;
        writeln!(f, "records encoded:        {}", self.records_encoded)?;
        let skipped: u64 = self.skipped.values().sum();
        writeln!(f, "records skipped:        {skipped}")?;
        for (reason, count) in &self.skipped {
            writeln!(f, "  {reason}: {count}")?;
        }
        writeln!(f, "invalid national ids:   {}", self.invalid_national_ids)?;
        writeln!(f, "unreadable birth dates: {}", self.unreadable_birth_dates)?;
        writeln!(f, "bloom encodings:        {}", self.bloom_encodings)?;
        writeln!(f, "tokens per rule:")?;
        for rule in RULES {
            let count = self.tokens_per_rule.get(&rule.id.0).copied().unwrap_or(0);
            writeln!(f, "  {:>2} {:<26} {count}", rule.id.0, rule.name)?;
        }
        Ok(())
    }
}

/// Encodes a whole CSV file: writes one JSON line per encoded record to
/// `output` (`docs/ENCODING.md`, "Output") and, if asked, a CSV
/// `local_id,record_ref` (hex) to `refs_out` — that file stays with the agency.
/// Both are created with mode 0600 on Unix and replace existing files only on
/// success; records appear in input order. As many threads as the machine
/// has cores (at most 8) read (in turn) and encode batches of 512 lines; at
/// most two batches per thread are in flight, so memory stays bounded.
/// `progress` is called after every batch written.
///
/// # Errors
/// Header and schema-column errors before any line is read; the first
/// [`LineError`](super::LineError) under [`OnError::Fail`] (or a non-skippable one under
/// [`OnError::Skip`]); I/O errors on any file. On error no output file is
/// created or changed.
pub fn encode_file(
    encoder: &Encoder,
    input: &Path,
    output: &Path,
    refs_out: Option<&Path>,
    on_error: OnError,
    progress: Option<&mut dyn FnMut(Progress)>,
) -> Result<EncodeSummary, EncodeError> {
    let bytes_total = std::fs::metadata(input).map(|m| m.len()).unwrap_or(0);
    let reader = RecordReader::open(encoder, input)?;
    let out = PartialFile::create(output)?;
    let refs = refs_out.map(PartialFile::create).transpose()?;
    let threads = parallel::default_threads();
    let summary = {
        let mut sink = OrderedSink {
            json: BufWriter::with_capacity(1 << 18, &out.file),
            refs: refs
                .as_ref()
                .map(|r| BufWriter::with_capacity(1 << 16, &r.file)),
            output,
            refs_out: refs_out.unwrap_or(output),
            summary: EncodeSummary {
                tokens_per_rule: RULES.iter().map(|r| (r.id.0, 0)).collect(),
                ..EncodeSummary::default()
            },
        };
        sink.write_refs(b"local_id,record_ref\n")?;
        let work = BatchWork {
            on_error,
            refs: refs.is_some(),
        };
        encode_batches(reader, &work, &mut sink, threads, bytes_total, progress)?;
        sink.finish()?;
        sink.summary
    };
    out.commit()?;
    if let Some(refs) = refs {
        refs.commit()?;
    }
    Ok(summary)
}

/// Lines per batch handed to an encoding thread.
const BATCH_LINES: usize = 512;

/// What the encoding threads need besides the line encoder.
struct BatchWork {
    /// Skip or stop on a bad line.
    on_error: OnError,
    /// Whether to write refs rows.
    refs: bool,
}

/// One batch encoded and formatted by an encoding thread: the output bytes
/// and counts of its lines, so the ordered writer only copies bytes.
struct EncodedBatch {
    /// JSON lines of the encoded records, in input order.
    json: String,
    /// `local_id,record_ref` CSV rows of the encoded records.
    refs: Vec<u8>,
    /// Records encoded, tokens per rule …
    counts: BatchCounts,
    /// Lines read, skipped by reason, and the line error that ends the run.
    lines: LineOutcome,
}

/// Counts of one batch (merged into [`EncodeSummary`] in input order).
#[derive(Default)]
struct BatchCounts {
    records_encoded: u64,
    /// Indexed by rule id (ids are 1..=RULES.len()).
    tokens_per_rule: [u64; RULES.len() + 1],
    bloom_encodings: u64,
    invalid_national_ids: u64,
    unreadable_birth_dates: u64,
}

impl BatchWork {
    /// Encodes and formats one batch of raw lines.
    fn run(&self, lines: &LineEncoder<'_>, batch: &[RawLine]) -> EncodedBatch {
        let mut done = EncodedBatch {
            json: String::with_capacity(batch.len() * 1536),
            refs: Vec::new(),
            counts: BatchCounts::default(),
            lines: LineOutcome::default(),
        };
        // One CSV writer per batch (it quotes an id holding a delimiter, a
        // quote or a line break); its bytes are taken at the end.
        let mut refs = self
            .refs
            .then(|| csv::Writer::from_writer(Vec::with_capacity(batch.len() * 80)));
        let counts = &mut done.counts;
        let json = &mut done.json;
        done.lines = parallel::encode_lines(lines, batch, self.on_error, |record| {
            record.write_json_line(json);
            if let Some(refs) = refs.as_mut() {
                // Writing into a Vec cannot fail.
                let _ = refs.write_record([record.local_id.as_str(), &hex(&record.record_ref)]);
            }
            counts.records_encoded += 1;
            counts.bloom_encodings += u64::from(record.bloom.is_some());
            counts.invalid_national_ids += u64::from(record.national_id_invalid);
            counts.unreadable_birth_dates += u64::from(record.date_of_birth_unreadable);
            for token in &record.tokens {
                if let Some(count) = counts.tokens_per_rule.get_mut(usize::from(token.rule.0)) {
                    *count += 1;
                }
            }
        });
        if let Some(refs) = refs {
            done.refs = match refs.into_inner() {
                Ok(bytes) => bytes,
                // Only a failed flush fails here, and writing into a Vec does not.
                Err(error) => error.into_inner().get_ref().clone(),
            };
        }
        done
    }
}

/// Reads, encodes and formats batches on `threads` threads
/// ([`parallel::for_each_batch`]) and writes them in input order.
fn encode_batches<R: Read + Send, W: Write>(
    mut reader: RecordReader<'_, R>,
    work: &BatchWork,
    sink: &mut OrderedSink<'_, W>,
    threads: usize,
    bytes_total: u64,
    mut progress: Option<&mut dyn FnMut(Progress)>,
) -> Result<(), EncodeError> {
    let run = |lines: &LineEncoder<'_>, batch: &[RawLine]| work.run(lines, batch);
    let in_flight = 2 * threads;
    parallel::for_each_batch(
        &mut reader,
        BATCH_LINES,
        threads,
        in_flight,
        &run,
        |batch, bytes_read| {
            sink.accept(batch)?;
            if let Some(report) = progress.as_mut() {
                report(Progress {
                    bytes_read,
                    bytes_total,
                    records_read: sink.summary.records_read,
                });
            }
            Ok(ControlFlow::Continue(()))
        },
    )
}

/// Writes encoded batches in input order and counts what happened.
struct OrderedSink<'p, W: Write> {
    /// JSON lines.
    json: W,
    /// `local_id,record_ref` rows.
    refs: Option<W>,
    /// The JSON output path, for errors.
    output: &'p Path,
    /// The refs output path, for errors.
    refs_out: &'p Path,
    /// Counts so far.
    summary: EncodeSummary,
}

impl<W: Write> OrderedSink<'_, W> {
    /// Writes the next encoded batch and counts it. Returns the batch's fatal
    /// line error, if any.
    fn accept(&mut self, batch: EncodedBatch) -> Result<(), EncodeError> {
        if let Some(error) = batch.lines.fatal {
            return Err(error.into());
        }
        self.json
            .write_all(batch.json.as_bytes())
            .map_err(|source| output_error(self.output, source))?;
        self.write_refs(&batch.refs)?;
        let (summary, counts) = (&mut self.summary, batch.counts);
        summary.records_read += batch.lines.read;
        summary.records_encoded += counts.records_encoded;
        summary.bloom_encodings += counts.bloom_encodings;
        summary.invalid_national_ids += counts.invalid_national_ids;
        summary.unreadable_birth_dates += counts.unreadable_birth_dates;
        for (reason, count) in batch.lines.skipped {
            *summary.skipped.entry(reason).or_default() += count;
        }
        for rule in RULES {
            *summary.tokens_per_rule.entry(rule.id.0).or_default() +=
                counts.tokens_per_rule[usize::from(rule.id.0)];
        }
        Ok(())
    }

    fn write_refs(&mut self, rows: &[u8]) -> Result<(), EncodeError> {
        match self.refs.as_mut() {
            Some(refs) => refs
                .write_all(rows)
                .map_err(|source| output_error(self.refs_out, source)),
            None => Ok(()),
        }
    }

    /// Flushes both outputs.
    fn finish(&mut self) -> Result<(), EncodeError> {
        self.json
            .flush()
            .map_err(|source| output_error(self.output, source))?;
        match self.refs.as_mut() {
            Some(refs) => refs
                .flush()
                .map_err(|source| output_error(self.refs_out, source)),
            None => Ok(()),
        }
    }
}

fn output_error(path: &Path, source: std::io::Error) -> EncodeError {
    EncodeError::OutputIo {
        path: path.to_path_buf(),
        source,
    }
}

/// An output written beside its target and renamed into place on success;
/// removed if dropped before [`PartialFile::commit`].
struct PartialFile {
    /// The open temporary file.
    file: File,
    /// `NAME.partial` beside the target.
    partial: PathBuf,
    /// The target path.
    target: PathBuf,
    /// Set once renamed, so drop leaves it alone.
    committed: bool,
}

impl PartialFile {
    fn create(target: &Path) -> Result<PartialFile, EncodeError> {
        let mut name = target.file_name().unwrap_or_default().to_os_string();
        name.push(".partial");
        let partial = target.with_file_name(name);
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options
            .open(&partial)
            .map_err(|source| EncodeError::OutputIo {
                path: target.to_path_buf(),
                source,
            })?;
        Ok(PartialFile {
            file,
            partial,
            target: target.to_path_buf(),
            committed: false,
        })
    }

    fn commit(mut self) -> Result<(), EncodeError> {
        let io = |source| EncodeError::OutputIo {
            path: self.target.clone(),
            source,
        };
        self.file.sync_all().map_err(io)?;
        std::fs::rename(&self.partial, &self.target).map_err(io)?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: a leftover .partial file holds no more than the output would.
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}
