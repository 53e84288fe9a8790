//! Report columns: `device_id`, `TIME`, the original measures in the original order, then any other field in
//! first-seen order. Cells are the JSON values as text; a missing field is an empty cell.

use std::collections::HashSet;

use serde_json::Value;

use super::Row;

#[derive(Debug, Clone)]
pub struct Columns {
    names: Vec<String>,
    /// The same names, for a membership test per field of every row.
    known: HashSet<String>,
}

impl Default for Columns {
    fn default() -> Self {
        let fixed: Vec<&str> = ["device_id", "TIME"].into_iter().chain(reaqtions_lambda::MEASURES).collect();
        Columns::with(&fixed)
    }
}

impl Columns {
    /// Columns fixed up front (first-seen fields still follow).
    pub(crate) fn with(names: &[&str]) -> Self {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        Columns { known: names.iter().cloned().collect(), names }
    }

    /// Adds the row's fields that are not columns yet, in the row's order.
    pub(crate) fn observe(&mut self, row: &Row) {
        for key in row.keys() {
            if !self.known.contains(key) {
                self.known.insert(key.clone());
                self.names.push(key.clone());
            }
        }
    }

    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }

    /// The row's cells in column order.
    pub(crate) fn cells(&self, row: &Row) -> Vec<String> {
        self.names.iter().map(|n| row.get(n).map(cell).unwrap_or_default()).collect()
    }
}

/// A JSON value as one cell: strings bare, `null` empty, containers as compact JSON.
pub(crate) fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_columns_first_then_first_seen() {
        let mut c = Columns::default();
        let row: Row =
            serde_json::from_str(r#"{"zeta":1,"TIME":"t","seq":3,"NO2":2.5,"nested":{"a":[1]},"gone":null}"#).unwrap();
        c.observe(&row);
        c.observe(&serde_json::from_str(r#"{"alpha":true,"zeta":2}"#).unwrap());
        let names = c.names();
        assert_eq!(&names[..3], ["device_id", "TIME", "USER_INPUT"]);
        assert_eq!(names[13], "RH");
        assert_eq!(&names[14..], ["zeta", "seq", "nested", "gone", "alpha"]);
        let cells = c.cells(&row);
        assert_eq!(cells[0], "", "missing device_id is empty");
        assert_eq!(cells[1], "t");
        assert_eq!(cells[3], "2.5");
        assert_eq!(cells[16], r#"{"a":[1]}"#);
        assert_eq!(cells[17], "");
    }
}
