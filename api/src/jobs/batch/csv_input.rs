//! Streaming reader for batch input files: size limit, byte-order mark, delimiter sniffing,
//! header checks, and rows decoded one at a time with row-level errors.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::{BatchError, Limits, RowError};

/// A known input column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Column {
    /// `campaign`
    Campaign,
    /// `segment`
    Segment,
    /// `placement`
    Placement,
    /// `variants`
    Variants,
    /// `brand`
    Brand,
    /// `product`
    Product,
    /// `landing_url`
    LandingUrl,
    /// `description`
    Description,
    /// `offer`
    Offer,
    /// `call_to_action`
    CallToAction,
    /// `tone`
    Tone,
    /// `allow_claims`
    AllowClaims,
    /// `persona`
    Persona,
    /// `language`
    Language,
    /// `brand_colors`
    BrandColors,
    /// `banned_words`
    BannedWords,
    /// `required_phrases`
    RequiredPhrases,
    /// `disclaimer`
    Disclaimer,
    /// `product_image`
    ProductImage,
}

impl Column {
    /// Every column, in documentation order.
    pub const ALL: [Column; 19] = [
        Column::Campaign,
        Column::Segment,
        Column::Placement,
        Column::Variants,
        Column::Brand,
        Column::Product,
        Column::LandingUrl,
        Column::Description,
        Column::Offer,
        Column::CallToAction,
        Column::Tone,
        Column::AllowClaims,
        Column::Persona,
        Column::Language,
        Column::BrandColors,
        Column::BannedWords,
        Column::RequiredPhrases,
        Column::Disclaimer,
        Column::ProductImage,
    ];

    /// Columns every file must have.
    pub const REQUIRED: [Column; 3] = [Column::Campaign, Column::Segment, Column::Placement];

    /// The header name.
    pub fn name(self) -> &'static str {
        match self {
            Column::Campaign => "campaign",
            Column::Segment => "segment",
            Column::Placement => "placement",
            Column::Variants => "variants",
            Column::Brand => "brand",
            Column::Product => "product",
            Column::LandingUrl => "landing_url",
            Column::Description => "description",
            Column::Offer => "offer",
            Column::CallToAction => "call_to_action",
            Column::Tone => "tone",
            Column::AllowClaims => "allow_claims",
            Column::Persona => "persona",
            Column::Language => "language",
            Column::BrandColors => "brand_colors",
            Column::BannedWords => "banned_words",
            Column::RequiredPhrases => "required_phrases",
            Column::Disclaimer => "disclaimer",
            Column::ProductImage => "product_image",
        }
    }

    /// The column with this header name (case and surrounding spaces ignored).
    pub fn from_header(name: &str) -> Option<Column> {
        let name = name.trim().to_ascii_lowercase();
        Column::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// One data row whose cells decoded as UTF-8 and match the header.
#[derive(Clone, Debug)]
pub struct RawRow {
    /// Spreadsheet row number (the header is row 1).
    pub row: u64,
    cells: Vec<(Column, String)>,
}

impl RawRow {
    /// A row from `(column, value)` pairs.
    pub fn new(row: u64, cells: Vec<(Column, String)>) -> Self {
        RawRow { row, cells }
    }

    /// The trimmed value of `column`; empty when the column is absent or blank.
    pub fn get(&self, column: Column) -> &str {
        self.cells
            .iter()
            .find(|(c, _)| *c == column)
            .map(|(_, v)| v.trim())
            .unwrap_or("")
    }

    /// The value of `column`, or `None` when blank or absent.
    pub fn optional(&self, column: Column) -> Option<String> {
        Some(self.get(column))
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }
}

/// Size of the read buffer; the header line is sniffed from its first fill.
const BUFFER: usize = 64 * 1024;

/// An open input file, read one row at a time.
pub struct BatchReader {
    reader: csv::Reader<BufReader<File>>,
    columns: Vec<Column>,
    record: csv::ByteRecord,
    rows_read: u64,
    max_rows: u64,
    /// Spreadsheet row number of the record read last.
    row: u64,
}

impl BatchReader {
    /// Opens `path`: checks its size against the limit, skips a UTF-8 byte-order mark, picks
    /// the delimiter from the header line and checks the header's columns.
    pub fn open(path: &Path, limits: Limits) -> Result<Self, BatchError> {
        let size = std::fs::metadata(path)
            .map_err(|e| BatchError::io(path, e))?
            .len();
        if size > limits.max_bytes {
            return Err(BatchError::TooLarge {
                size,
                limit: limits.max_bytes,
            });
        }
        let file = File::open(path).map_err(|e| BatchError::io(path, e))?;
        let mut buffered = BufReader::with_capacity(BUFFER, file);
        let head = buffered.fill_buf().map_err(|e| BatchError::io(path, e))?;
        let bom = head.starts_with(b"\xEF\xBB\xBF");
        let delimiter = sniff_delimiter(if bom { &head[3..] } else { head });
        if bom {
            buffered.consume(3);
        }
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(buffered);
        let mut header = csv::ByteRecord::new();
        let found = reader
            .read_byte_record(&mut header)
            .map_err(|e| BatchError::Csv(e.to_string()))?;
        if !found {
            return Err(BatchError::Header("the file is empty".into()));
        }
        let columns = parse_header(&header)?;
        Ok(BatchReader {
            reader,
            columns,
            record: csv::ByteRecord::new(),
            rows_read: 0,
            max_rows: limits.max_rows,
            row: 1,
        })
    }

    /// The columns of the header, in file order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The next data row: `None` at the end, `Some(Err(..))` for a row that cannot be used.
    /// Fails as a whole when the row limit is passed or the file cannot be read.
    pub fn next_row(&mut self) -> Result<Option<Result<RawRow, RowError>>, BatchError> {
        loop {
            let found = self
                .reader
                .read_byte_record(&mut self.record)
                .map_err(|e| BatchError::Csv(e.to_string()))?;
            if !found {
                return Ok(None);
            }
            self.row += 1;
            // A line holding only spaces is not a row.
            if self.record.len() == 1 && self.record[0].iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            self.rows_read += 1;
            if self.rows_read > self.max_rows {
                return Err(BatchError::TooManyRows {
                    limit: self.max_rows,
                });
            }
            return Ok(Some(self.decode()));
        }
    }

    fn decode(&self) -> Result<RawRow, RowError> {
        let row = self.row;
        if self.record.len() != self.columns.len() {
            let multi_line = self.record.iter().any(|field| field.contains(&b'\n'));
            let hint = if multi_line && self.record.len() < self.columns.len() {
                " (a quoted field is never closed, so it took in the lines after it)"
            } else {
                ""
            };
            return Err(RowError::new(
                row,
                None,
                format!(
                    "has {} fields; the header has {}{hint}",
                    self.record.len(),
                    self.columns.len()
                ),
            ));
        }
        let mut cells = Vec::with_capacity(self.columns.len());
        for (column, bytes) in self.columns.iter().zip(self.record.iter()) {
            match std::str::from_utf8(bytes) {
                Ok(text) => cells.push((*column, text.to_string())),
                Err(error) => {
                    return Err(RowError::new(
                        row,
                        Some(column.name()),
                        format!("not valid UTF-8 (bad byte at offset {} of the cell); save the file as UTF-8", error.valid_up_to()),
                    ))
                }
            }
        }
        Ok(RawRow::new(row, cells))
    }
}

/// `;` when the header line has more semicolons than commas outside quotes, else `,`.
fn sniff_delimiter(head: &[u8]) -> u8 {
    let (mut commas, mut semicolons, mut quoted) = (0usize, 0usize, false);
    for &byte in head {
        match byte {
            b'"' => quoted = !quoted,
            b'\n' | b'\r' if !quoted => break,
            b',' if !quoted => commas += 1,
            b';' if !quoted => semicolons += 1,
            _ => {}
        }
    }
    if semicolons > commas {
        b';'
    } else {
        b','
    }
}

fn parse_header(header: &csv::ByteRecord) -> Result<Vec<Column>, BatchError> {
    let mut columns = Vec::with_capacity(header.len());
    let mut unknown = Vec::new();
    for field in header.iter() {
        let name = std::str::from_utf8(field).map_err(|_| {
            BatchError::Header("the header line is not valid UTF-8; save the file as UTF-8".into())
        })?;
        match Column::from_header(name) {
            Some(column) if columns.contains(&column) => {
                return Err(BatchError::Header(format!(
                    "column {} appears twice",
                    column.name()
                )))
            }
            Some(column) => columns.push(column),
            None => unknown.push(format!("{:?}", name.trim())),
        }
    }
    if !unknown.is_empty() {
        return Err(BatchError::Header(format!(
            "unknown columns {}; the columns are {}",
            unknown.join(", "),
            Column::ALL.map(Column::name).join(", ")
        )));
    }
    let missing: Vec<&str> = Column::REQUIRED
        .into_iter()
        .filter(|c| !columns.contains(c))
        .map(Column::name)
        .collect();
    if !missing.is_empty() {
        return Err(BatchError::Header(format!(
            "missing required columns: {}",
            missing.join(", ")
        )));
    }
    Ok(columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(bytes: &[u8]) -> (tempfile::TempDir, Result<BatchReader, BatchError>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.csv");
        std::fs::write(&path, bytes).unwrap();
        let reader = BatchReader::open(&path, Limits::default());
        (dir, reader)
    }

    fn rows(reader: &mut BatchReader) -> Vec<Result<RawRow, RowError>> {
        let mut out = Vec::new();
        while let Some(row) = reader.next_row().unwrap() {
            out.push(row);
        }
        out
    }

    #[test]
    fn semicolons_bom_and_quoted_newlines() {
        let (_dir, reader) = open("\u{feff}Campaign;segment;PLACEMENT;persona\nSpring;Runners;meta_feed;\"likes\nhills; \"\"trails\"\"\"\n".as_bytes());
        let mut reader = reader.unwrap();
        assert_eq!(
            reader.columns(),
            &[
                Column::Campaign,
                Column::Segment,
                Column::Placement,
                Column::Persona
            ]
        );
        let rows = rows(&mut reader);
        let row = rows[0].as_ref().unwrap();
        assert_eq!(row.row, 2);
        assert_eq!(row.get(Column::Campaign), "Spring");
        assert_eq!(row.get(Column::Persona), "likes\nhills; \"trails\"");
    }

    #[test]
    fn invalid_utf8_is_a_row_error_and_later_rows_go_on() {
        let (_dir, reader) =
            open(b"campaign,segment,placement\nA,B\xff\xfe,meta_feed\nC,D,meta_feed\n");
        let rows = rows(&mut reader.unwrap());
        let error = rows[0].as_ref().unwrap_err();
        assert_eq!((error.row, error.column.as_deref()), (2, Some("segment")));
        assert_eq!(rows[1].as_ref().unwrap().get(Column::Campaign), "C");
    }

    #[test]
    fn missing_and_unknown_columns_are_named() {
        let (_dir, reader) = open(b"campaign,placement\nA,meta_feed\n");
        let error = reader.err().unwrap().to_string();
        assert!(
            error.contains("missing required columns: segment"),
            "{error}"
        );
        let (_dir, reader) = open(b"campaign,segment,placement,colour\n");
        let error = reader.err().unwrap().to_string();
        assert!(error.contains("unknown columns \"colour\""), "{error}");
    }

    #[test]
    fn unterminated_quote_is_reported_on_its_row() {
        let (_dir, reader) =
            open(b"campaign,segment,placement\nA,B,meta_feed\n\"C,D,meta_feed\nE,F,meta_feed\n");
        let rows = rows(&mut reader.unwrap());
        assert!(rows[0].is_ok());
        let error = rows[1].as_ref().unwrap_err();
        assert_eq!(error.row, 3);
        assert!(error.message.contains("never closed"), "{error}");
    }

    #[test]
    fn limits_are_enforced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.csv");
        std::fs::write(&path, "campaign,segment,placement\nA,B,C\nA,B,C\nA,B,C\n").unwrap();
        let small = Limits {
            max_bytes: 10,
            max_rows: 100,
        };
        assert!(matches!(
            BatchReader::open(&path, small),
            Err(BatchError::TooLarge { .. })
        ));
        let few = Limits {
            max_bytes: 1000,
            max_rows: 2,
        };
        let mut reader = BatchReader::open(&path, few).unwrap();
        assert!(reader.next_row().unwrap().is_some());
        assert!(reader.next_row().unwrap().is_some());
        assert!(matches!(
            reader.next_row(),
            Err(BatchError::TooManyRows { limit: 2 })
        ));
    }
}
