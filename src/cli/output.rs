//! Printing rows of data as a terminal table, JSON lines or CSV.
//!
//! Every command that prints data takes `--format table|json|csv`
//! (`DESIGN.md`, "CLI contract"): json is one object per line, csv has a
//! header line.

use std::io::{self, Write};

/// The output formats of the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for a person to read.
    #[default]
    Table,
    /// One JSON object per line.
    Json,
    /// Comma-separated values with a header line.
    Csv,
}

/// A table of string cells with named columns.
#[derive(Debug, Clone, Default)]
pub struct Rows {
    /// Column names (also the JSON keys).
    pub columns: Vec<String>,
    /// The rows, each as long as `columns`.
    pub rows: Vec<Vec<String>>,
}

impl Rows {
    /// An empty table with these columns.
    pub fn new(columns: &[&str]) -> Rows {
        Rows {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row (cells in column order).
    pub fn push(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Writes the table in `format`.
    ///
    /// # Errors
    /// I/O errors of `out`.
    pub fn write(&self, format: Format, out: &mut dyn Write) -> io::Result<()> {
        match format {
            Format::Table => self.write_table(out),
            Format::Json => {
                for row in &self.rows {
                    let object: serde_json::Map<String, serde_json::Value> = self
                        .columns
                        .iter()
                        .zip(row)
                        .map(|(k, v)| (k.clone(), json_value(v)))
                        .collect();
                    writeln!(out, "{}", serde_json::Value::Object(object))?;
                }
                Ok(())
            }
            Format::Csv => {
                let mut writer = csv::Writer::from_writer(out);
                writer
                    .write_record(&self.columns)
                    .map_err(io::Error::other)?;
                for row in &self.rows {
                    writer.write_record(row).map_err(io::Error::other)?;
                }
                writer.flush()
            }
        }
    }

    fn write_table(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut widths: Vec<usize> = self.columns.iter().map(|c| c.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: &[String], out: &mut dyn Write| -> io::Result<()> {
            let text: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            writeln!(out, "{}", text.join("  ").trim_end())
        };
        line(&self.columns, out)?;
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        writeln!(out, "{}", rule.join("  "))?;
        for row in &self.rows {
            line(row, out)?;
        }
        Ok(())
    }
}

/// Numbers and booleans become JSON numbers and booleans; the rest strings.
fn json_value(cell: &str) -> serde_json::Value {
    if let Ok(n) = cell.parse::<i64>() {
        return n.into();
    }
    if let Ok(x) = cell.parse::<f64>()
        && x.is_finite()
        && cell.contains('.')
    {
        return x.into();
    }
    match cell {
        "true" => true.into(),
        "false" => false.into(),
        _ => cell.into(),
    }
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The three formats carry the same cells.
    #[test]
    fn formats() {
        let mut rows = Rows::new(&["principal", "records"]);
        rows.push(vec!["police".into(), "12".into()]);
        let mut out = Vec::new();
        rows.write(Format::Json, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"principal\":\"police\",\"records\":12}\n"
        );
        let mut out = Vec::new();
        rows.write(Format::Csv, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "principal,records\npolice,12\n"
        );
        let mut out = Vec::new();
        rows.write(Format::Table, &mut out).unwrap();
        assert!(
            String::from_utf8(out)
                .unwrap()
                .starts_with("principal  records\n")
        );
    }
}
