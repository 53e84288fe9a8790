//! Report rows written out (the report's writer; `crate::output` prints everything else): CSV (csv crate; loads
//! unchanged with `pandas.read_csv`), a JSON array, NDJSON, a table for people, or an HTML page of charts
//! (`html`). Rows stream out; CSV, whose header needs every column, spills rows to a temporary file first so memory
//! stays flat, and the table shows the first rows only.

use std::fs::File;
use std::io::{BufRead as _, BufReader, BufWriter, Seek as _, Write};

use anyhow::{Context as _, Result};
use clap::ValueEnum;
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use super::Row;
use super::columns::Columns;
use super::html::{self, Context, Page};

/// Rows a table shows before pointing to a machine format.
pub(crate) const TABLE_ROWS: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Csv,
    Json,
    Ndjson,
    Table,
    /// One self-contained page of charts and a summary (`report::html`).
    Html,
}

/// Where report rows come from: the objects read by this process, or Athena over the lake tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum Engine {
    #[default]
    Scan,
    Athena,
}

pub struct RowWriter<'w> {
    format: Format,
    out: &'w mut dyn Write,
    columns: Columns,
    spill: Option<BufWriter<File>>,
    table: Vec<Row>,
    page: Option<Box<Page>>,
    context: Context,
    rows: u64,
}

impl<'w> RowWriter<'w> {
    pub fn new(format: Format, columns: Columns, out: &'w mut dyn Write) -> Result<Self> {
        let spill = match format {
            Format::Csv => Some(BufWriter::new(tempfile::tempfile().context("cannot create a temporary file")?)),
            _ => None,
        };
        let page = (format == Format::Html).then(Box::default);
        Ok(RowWriter { format, out, columns, spill, table: Vec::new(), page, context: Context::default(), rows: 0 })
    }

    /// What an HTML page says about its source, window and failed records.
    pub(crate) fn with_context(mut self, context: Context) -> Self {
        self.context = context;
        self
    }

    pub(crate) fn write(&mut self, row: Row) -> Result<()> {
        let line = if self.format == Format::Csv { serde_json::to_vec(&row)? } else { Vec::new() };
        self.write_line(row, &line)
    }

    /// Writes a row parsed from `line` (one JSON object): CSV spills the line as it is, without serializing the
    /// row again.
    pub fn write_line(&mut self, row: Row, line: &[u8]) -> Result<()> {
        self.rows += 1;
        match self.format {
            Format::Csv => {
                self.columns.observe(&row);
                let spill = self.spill.as_mut().expect("csv spills");
                spill.write_all(line.trim_ascii())?;
                spill.write_all(b"\n")?;
            }
            Format::Ndjson => {
                serde_json::to_writer(&mut *self.out, &row)?;
                self.out.write_all(b"\n")?;
            }
            Format::Json => {
                self.out.write_all(if self.rows == 1 { b"[\n" } else { b",\n" })?;
                serde_json::to_writer(&mut *self.out, &row)?;
            }
            Format::Html => self.page.as_mut().expect("html gathers a page").add(&row),
            Format::Table => {
                if self.table.len() < TABLE_ROWS {
                    self.columns.observe(&row);
                    self.table.push(row);
                }
            }
        }
        Ok(())
    }

    /// Writes what is held back and returns the number of rows.
    pub fn finish(mut self) -> Result<u64> {
        match self.format {
            Format::Csv => {
                let mut file = self.spill.take().expect("csv spills").into_inner().map_err(|e| e.into_error())?;
                file.rewind()?;
                let mut csv = csv::Writer::from_writer(&mut *self.out);
                csv.write_record(self.columns.names())?;
                for line in BufReader::new(file).lines() {
                    let row: Row = serde_json::from_str(&line?)?;
                    csv.write_record(self.columns.cells(&row))?;
                }
                csv.flush()?;
            }
            Format::Json => self.out.write_all(if self.rows == 0 { b"[]\n" } else { b"\n]\n" })?,
            Format::Ndjson => {}
            Format::Html => {
                html::write(self.page.as_ref().expect("html gathers a page"), &self.context, &mut *self.out)?
            }
            Format::Table => {
                let mut table = Table::new();
                table.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
                table.set_header(self.columns.names());
                for row in &self.table {
                    table.add_row(self.columns.cells(row));
                }
                writeln!(self.out, "{table}")?;
                // A note for people, apart from the results: stdout (or the file) holds rows only.
                if let Some(note) = hidden_rows_note(self.rows, self.table.len()) {
                    crate::say!("{note}");
                }
            }
        }
        self.out.flush()?;
        Ok(self.rows)
    }
}

/// What a table of `shown` rows out of `rows` leaves out, and how to see it all; `None` when it shows them all.
fn hidden_rows_note(rows: u64, shown: usize) -> Option<String> {
    let hidden = rows.saturating_sub(shown as u64);
    (hidden > 0).then(|| format!("… {hidden} more rows not shown (use --format csv, json or ndjson for all)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<Row> {
        [
            r#"{"device_id":"aq-0001","TIME":"t1","NO2":1.5,"note":"a, \"quoted\"\nline"}"#,
            r#"{"TIME":"t2","extra":[1,2]}"#,
        ]
        .iter()
        .map(|r| serde_json::from_str(r).unwrap())
        .collect()
    }

    fn render(format: Format) -> String {
        let mut out = Vec::new();
        let mut w = RowWriter::new(format, Columns::default(), &mut out).unwrap();
        for r in rows() {
            w.write(r).unwrap();
        }
        assert_eq!(w.finish().unwrap(), 2);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_long_table_holds_rows_only_and_notes_the_rest_apart() {
        let mut out = Vec::new();
        let mut w = RowWriter::new(Format::Table, Columns::default(), &mut out).unwrap();
        let row = &rows()[0];
        for _ in 0..TABLE_ROWS + 45 {
            w.write(row.clone()).unwrap();
        }
        assert_eq!(w.finish().unwrap(), TABLE_ROWS as u64 + 45);
        let table = String::from_utf8(out).unwrap();
        assert_eq!(table.matches("aq-0001").count(), TABLE_ROWS, "the first rows, in the table");
        assert!(!table.contains("not shown"), "the note is not a result: {table}");
        assert_eq!(
            hidden_rows_note(TABLE_ROWS as u64 + 45, TABLE_ROWS).as_deref(),
            Some("… 45 more rows not shown (use --format csv, json or ndjson for all)")
        );
    }

    #[test]
    fn csv_has_all_columns_and_escapes() {
        let csv = render(Format::Csv);
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
        assert_eq!(header.len(), 2 + 12 + 2);
        assert_eq!(&header[14..], ["note", "extra"]);
        let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(&records[0][14], "a, \"quoted\"\nline");
        assert_eq!(&records[1][0], "");
        assert_eq!(&records[1][15], "[1,2]");
    }

    #[test]
    fn json_ndjson_and_table() {
        let json: Vec<Row> = serde_json::from_str(&render(Format::Json)).unwrap();
        assert_eq!(json, rows());
        assert_eq!(render(Format::Ndjson).lines().count(), 2);
        let table = render(Format::Table);
        assert!(table.contains("aq-0001") && table.contains("device_id"));
        assert_eq!(hidden_rows_note(2, 2), None);
        let mut out = Vec::new();
        RowWriter::new(Format::Json, Columns::default(), &mut out).unwrap().finish().unwrap();
        assert_eq!(out, b"[]\n");
    }
}
