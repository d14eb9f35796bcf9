//! Results tables: one row per experiment / method, one column per metric, each cell the
//! values over seeds. Rendered as markdown (`mean ± std`, sample standard deviation with
//! `n - 1`, fixed decimals per metric, `—` for a missing cell) and saved to / loaded from JSON.
//!
//! Ordering is deterministic: rows in the order they were first added; columns in the order
//! declared with [`ResultsTable::declare_metric`], then any undeclared metric in alphabetical
//! order. This is how `docs/results/` tables are written (design brief, "Experiments are data").

use std::collections::BTreeMap;

use crate::error::{Result, invalid};

/// Decimals used for a metric that was never declared.
pub const DEFAULT_DECIMALS: usize = 3;

/// A declared column: metric name and the decimals it is printed with.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricColumn {
    /// Metric name, e.g. `"knn_top1"` or `"rotation_r2"`.
    pub name: String,
    /// Digits after the decimal point in markdown.
    pub decimals: usize,
}

/// One row: a name and, per metric, the values over seeds (in the order added).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultRow {
    /// Experiment or method name, e.g. `"simclr+equimod / mini3die / quick"`.
    pub name: String,
    /// Metric name -> values over seeds.
    pub values: BTreeMap<String, Vec<f64>>,
}

/// A table of results over seeds.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultsTable {
    /// Declared columns, in display order.
    pub columns: Vec<MetricColumn>,
    /// Rows, in display order.
    pub rows: Vec<ResultRow>,
}

impl ResultsTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares a column (or changes its decimals); columns appear in declaration order.
    pub fn declare_metric(&mut self, name: &str, decimals: usize) -> &mut Self {
        match self.columns.iter_mut().find(|c| c.name == name) {
            Some(c) => c.decimals = decimals,
            None => self.columns.push(MetricColumn {
                name: name.to_string(),
                decimals,
            }),
        }
        self
    }

    /// Adds one value (one seed) of `metric` to the row `row`, creating the row if needed.
    /// Errors on an empty `row` or `metric` name or a non-finite `value` (JSON has no NaN).
    pub fn push(&mut self, row: &str, metric: &str, value: f64) -> Result<()> {
        let func = "ResultsTable::push";
        if row.is_empty() {
            return Err(invalid(func, "row", "is empty"));
        }
        if metric.is_empty() {
            return Err(invalid(func, "metric", "is empty"));
        }
        if !value.is_finite() {
            return Err(invalid(
                func,
                "value",
                format!("is {value} for row {row:?}, metric {metric:?}; must be finite"),
            ));
        }
        let index = match self.rows.iter().position(|r| r.name == row) {
            Some(i) => i,
            None => {
                self.rows.push(ResultRow {
                    name: row.to_string(),
                    values: BTreeMap::new(),
                });
                self.rows.len() - 1
            }
        };
        self.rows[index]
            .values
            .entry(metric.to_string())
            .or_default()
            .push(value);
        Ok(())
    }

    /// The values over seeds of one cell, if any.
    pub fn values(&self, row: &str, metric: &str) -> Option<&[f64]> {
        self.rows
            .iter()
            .find(|r| r.name == row)
            .and_then(|r| r.values.get(metric))
            .map(Vec::as_slice)
    }

    /// Every column in display order: declared ones, then the rest alphabetically.
    pub fn column_order(&self) -> Vec<MetricColumn> {
        let mut out = self.columns.clone();
        let mut rest: Vec<&String> = self
            .rows
            .iter()
            .flat_map(|r| r.values.keys())
            .filter(|m| !self.columns.iter().any(|c| &c.name == *m))
            .collect();
        rest.sort();
        rest.dedup();
        out.extend(rest.into_iter().map(|m| MetricColumn {
            name: m.clone(),
            decimals: DEFAULT_DECIMALS,
        }));
        out
    }

    /// The table as GitHub markdown. A cell with several values reads `mean ± std` (sample
    /// std, `n - 1`), one value reads `mean`, none reads `—`. The first header is `name_header`.
    ///
    /// ```
    /// use noether_eval::ResultsTable;
    ///
    /// let mut table = ResultsTable::new();
    /// table.declare_metric("top1", 1);
    /// for v in [70.0, 72.0] {
    ///     table.push("simclr", "top1", v)?;
    /// }
    /// table.push("byol", "r2", 0.5)?;
    /// let md = table.to_markdown("method");
    /// assert!(md.contains("| simclr | 71.0 ± 1.4 | — |"));
    /// assert!(md.contains("| byol | — | 0.500 |"));
    /// # Ok::<(), noether_eval::EvalError>(())
    /// ```
    pub fn to_markdown(&self, name_header: &str) -> String {
        let cols = self.column_order();
        let mut s = format!("| {name_header} |");
        for c in &cols {
            s.push_str(&format!(" {} |", c.name));
        }
        s.push_str("\n|---|");
        for _ in &cols {
            s.push_str("---|");
        }
        s.push('\n');
        for r in &self.rows {
            s.push_str(&format!("| {} |", r.name));
            for c in &cols {
                let cell = match r.values.get(&c.name).map(Vec::as_slice) {
                    None | Some([]) => "—".to_string(),
                    Some(v) => {
                        let (mean, std) = mean_std(v);
                        match std {
                            Some(sd) => format!("{mean:.p$} ± {sd:.p$}", p = c.decimals),
                            None => format!("{mean:.p$}", p = c.decimals),
                        }
                    }
                };
                s.push_str(&format!(" {cell} |"));
            }
            s.push('\n');
        }
        s
    }

    /// Pretty-printed JSON of the whole table (columns, rows, all values over seeds).
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// A table from [`ResultsTable::to_json`]'s output; unknown fields are errors.
    pub fn from_json(text: &str) -> Result<Self> {
        Ok(serde_json::from_str(text)?)
    }
}

/// Mean and sample standard deviation (`n - 1`; `None` for a single value) of non-empty `v`.
pub fn mean_std(v: &[f64]) -> (f64, Option<f64>) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return (mean, None);
    }
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, Some(var.sqrt()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_orders_columns_and_rows_deterministically() {
        let mut t = ResultsTable::new();
        t.declare_metric("top1", 2);
        t.push("b", "zeta", 1.0).unwrap();
        t.push("b", "alpha", 2.0).unwrap();
        t.push("a", "top1", 1.0).unwrap();
        t.push("a", "top1", 2.0).unwrap();
        t.push("a", "top1", 3.0).unwrap();
        let md = t.to_markdown("method");
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines[0], "| method | top1 | alpha | zeta |");
        assert_eq!(lines[1], "|---|---|---|---|");
        assert_eq!(lines[2], "| b | — | 2.000 | 1.000 |");
        assert_eq!(lines[3], "| a | 2.00 ± 1.00 | — | — |");
    }

    #[test]
    fn json_round_trips_and_rejects_bad_input() {
        let mut t = ResultsTable::new();
        t.declare_metric("r2", 3);
        t.push("sie", "r2", 0.71).unwrap();
        t.push("sie", "r2", 0.73).unwrap();
        let back = ResultsTable::from_json(&t.to_json().unwrap()).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.values("sie", "r2"), Some(&[0.71, 0.73][..]));
        assert!(ResultsTable::from_json(r#"{"columns": [], "rows": [], "extra": 1}"#).is_err());
        let e = t.push("sie", "r2", f64::NAN).unwrap_err().to_string();
        assert!(e.contains("`value`"), "{e}");
        assert!(t.push("", "r2", 1.0).is_err());
    }
}
