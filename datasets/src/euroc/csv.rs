//! Line-oriented reading of the ASL `data.csv` files, with file and line in every error.

use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::error::{DatasetError, Result};

/// Calls `row(line_number, fields)` for every data row of a csv file: lines that
/// are empty or start with `#` (the header) are skipped; fields are split at
/// commas and trimmed. `min_fields` rows shorter than this are an error.
pub fn for_each_row(
    path: &Path,
    min_fields: usize,
    mut row: impl FnMut(usize, &[&str]) -> Result<()>,
) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|e| DatasetError::io(path, e))?;
    let reader = BufReader::new(file);
    for (i, line) in reader.lines().enumerate() {
        let number = i + 1;
        let line = line.map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => {
                DatasetError::malformed(path, number, "the line is not valid UTF-8 text")
            }
            _ => DatasetError::io(path, e),
        })?;
        let text = line.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = text.split(',').map(str::trim).collect();
        if fields.len() < min_fields {
            return Err(DatasetError::malformed(
                path,
                number,
                format!(
                    "expected {min_fields} comma-separated fields, found {}",
                    fields.len()
                ),
            ));
        }
        row(number, &fields)?;
    }
    Ok(())
}

/// Parses a nanosecond timestamp field: a non-negative integer (the Unix epoch in
/// EuRoC and TUM-VI), so differences of two timestamps cannot overflow.
pub fn parse_t_ns(path: &Path, line: usize, field: &str) -> Result<i64> {
    match field.parse::<i64>() {
        Ok(t) if t >= 0 => Ok(t),
        Ok(_) => Err(DatasetError::malformed(
            path,
            line,
            format!("timestamp `{field}` is negative; nanoseconds since the epoch expected"),
        )),
        Err(_) => Err(DatasetError::malformed(
            path,
            line,
            format!("timestamp `{field}` is not an integer number of nanoseconds"),
        )),
    }
}

/// Parses a finite number field; `what` names the column in the error.
pub fn parse_value(path: &Path, line: usize, field: &str, what: &str) -> Result<f64> {
    match field.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(DatasetError::malformed(
            path,
            line,
            format!("{what} is `{field}`; NaN and infinite values are not allowed"),
        )),
        Err(_) => Err(DatasetError::malformed(
            path,
            line,
            format!("{what} `{field}` is not a number"),
        )),
    }
}

/// Checks that timestamps strictly increase; `previous` holds the last one and its line.
pub fn check_increasing(
    path: &Path,
    line: usize,
    t_ns: i64,
    previous: &mut Option<(i64, usize)>,
) -> Result<()> {
    if let Some((prev, prev_line)) = *previous
        && t_ns <= prev
    {
        return Err(DatasetError::malformed(
            path,
            line,
            format!(
                "timestamp {t_ns} is not after {prev} on line {prev_line}; timestamps must increase"
            ),
        ));
    }
    *previous = Some((t_ns, line));
    Ok(())
}
