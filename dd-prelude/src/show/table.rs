use std::fmt;

use polars::prelude::{AnyValue, DataFrame};

use super::{Html, emit, escape_html};

/// A titled results table; shows as an HTML table in a notebook, as text elsewhere.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let df = polars::df!("method" => ["DM"], "accuracy" => [0.81]).unwrap();
/// let t = Table::new("Results", df);
/// assert!(t.to_html().contains("<td>DM</td>"));
/// ```
#[derive(Clone)]
pub struct Table {
    title: String,
    frame: DataFrame,
}

impl Table {
    /// A table of `frame` under `title`.
    pub fn new(title: impl Into<String>, frame: DataFrame) -> Self {
        Table {
            title: title.into(),
            frame,
        }
    }

    /// The underlying DataFrame.
    pub fn frame(&self) -> &DataFrame {
        &self.frame
    }

    /// The table as an HTML fragment.
    pub fn to_html(&self) -> String {
        frame_html(&self.title, &self.frame)
    }

    /// HTML with the text fallback.
    pub fn to_html_output(&self) -> Html {
        Html::new(self.to_html(), self.to_string())
    }

    /// Shows the table in a notebook cell (HTML with a text fallback).
    pub fn evcxr_display(&self) {
        emit(self.to_html_output().evcxr_content());
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.title.is_empty() {
            writeln!(f, "{}", self.title)?;
        }
        write!(f, "{}", self.frame)
    }
}

impl fmt::Debug for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Makes a polars DataFrame show as an HTML table when it ends a notebook cell.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let df = polars::df!("a" => [1, 2]).unwrap();
/// assert!(df.to_html().starts_with("<table"));
/// ```
pub trait FrameDisplay {
    /// The frame as an HTML table.
    fn to_html(&self) -> String;
    /// Shows the frame in a notebook cell (HTML with a text fallback).
    fn evcxr_display(&self);
}

impl FrameDisplay for DataFrame {
    fn to_html(&self) -> String {
        frame_html("", self)
    }

    fn evcxr_display(&self) {
        emit(Html::new(frame_html("", self), self.to_string()).evcxr_content());
    }
}

fn cell(v: &AnyValue) -> String {
    match v {
        AnyValue::Null => String::new(),
        AnyValue::Float64(x) => format_float(*x),
        AnyValue::Float32(x) => format_float(*x as f64),
        AnyValue::String(s) => (*s).to_string(),
        AnyValue::StringOwned(s) => s.to_string(),
        other => other.to_string(),
    }
}

fn format_float(x: f64) -> String {
    if x == 0.0 || (x.abs() >= 0.01 && x.abs() < 1e6) {
        let s = format!("{x:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    } else {
        format!("{x:.3e}")
    }
}

fn frame_html(title: &str, df: &DataFrame) -> String {
    let mut html = String::from("<table class=\"dd-table\" style=\"border-collapse:collapse\">");
    if !title.is_empty() {
        html.push_str(&format!(
            "<caption style=\"font-weight:bold;text-align:left\">{}</caption>",
            escape_html(title)
        ));
    }
    html.push_str("<thead><tr>");
    for name in df.get_column_names() {
        html.push_str(&format!(
            "<th style=\"border-bottom:1px solid #888;padding:2px 8px\">{}</th>",
            escape_html(name)
        ));
    }
    html.push_str("</tr></thead><tbody>");
    let columns = df.columns();
    for row in 0..df.height() {
        html.push_str("<tr>");
        for col in columns {
            let v = col.get(row).map(|v| cell(&v)).unwrap_or_default();
            html.push_str(&format!("<td>{}</td>", escape_html(&v)));
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody></table>");
    html
}
