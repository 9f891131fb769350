//! A small reader for the YAML subset that calibration files use, with line numbers.
//!
//! EuRoC's `sensor.yaml` files begin with OpenCV's `%YAML:1.0` directive, which
//! strict YAML 1.2 parsers reject; Kalibr's `camchain.yaml` (TUM-VI) uses block
//! sequences of flow lists. This reader accepts exactly what those files use:
//! `key: scalar`, `key: [flow, list]` (possibly spanning lines), nested mappings by
//! indentation, block sequences (`- item`), `#` comments, `%` directives, `---`, and
//! tags such as `!!opencv-matrix` (ignored). Every node remembers its 1-based line
//! so that a missing or malformed field can be reported as `file:line`.

use std::path::{Path, PathBuf};

use crate::error::{DatasetError, Result};

/// A parsed YAML node and the line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// 1-based line of the node's first character.
    pub line: usize,
    /// The value.
    pub value: Value,
}

/// A YAML value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A plain or quoted scalar, kept as text.
    Scalar(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order.
    Map(Vec<(String, Node)>),
}

/// A parsed document and the file it came from, for error messages.
#[derive(Debug, Clone)]
pub struct Document {
    path: PathBuf,
    root: Node,
}

struct Line<'a> {
    number: usize,
    indent: usize,
    text: &'a str,
}

impl Document {
    /// Reads and parses a file.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| DatasetError::io(path, e))?;
        Self::parse(path, &text)
    }

    /// Parses text; `path` is used in error messages only.
    pub fn parse(path: impl AsRef<Path>, text: &str) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let mut lines = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let without_comment = strip_comment(raw);
            let trimmed = without_comment.trim_end();
            let content = trimmed.trim_start();
            if content.is_empty() || content.starts_with('%') || content == "---" {
                continue;
            }
            if raw.contains('\t') && raw.trim_start().len() < raw.len() {
                let lead = &raw[..raw.len() - raw.trim_start().len()];
                if lead.contains('\t') {
                    return Err(DatasetError::malformed(
                        &path,
                        i + 1,
                        "tab used for indentation; YAML needs spaces",
                    ));
                }
            }
            lines.push(Line {
                number: i + 1,
                indent: trimmed.len() - content.len(),
                text: content,
            });
        }
        let mut parser = Parser {
            path: &path,
            lines: &lines,
            pos: 0,
            depth: 0,
        };
        let root = if lines.is_empty() {
            Node {
                line: 1,
                value: Value::Map(Vec::new()),
            }
        } else {
            let indent = lines[0].indent;
            let node = parser.block(indent)?;
            if let Some(extra) = lines.get(parser.pos) {
                return Err(DatasetError::malformed(
                    &path,
                    extra.number,
                    format!("unexpected indentation of `{}`", extra.text),
                ));
            }
            node
        };
        Ok(Self { path, root })
    }

    /// The file this document came from.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The root node.
    #[must_use]
    pub fn root(&self) -> &Node {
        &self.root
    }

    /// A field of the root mapping; an error naming the file if it is missing.
    pub fn field(&self, key: &str) -> Result<&Node> {
        self.field_of(&self.root, key)
    }

    /// A field of a mapping node; an error naming the file and line if missing.
    pub fn field_of<'a>(&self, node: &'a Node, key: &str) -> Result<&'a Node> {
        self.get_of(node, key)?.ok_or_else(|| {
            DatasetError::malformed(
                &self.path,
                node.line,
                format!("missing field `{key}` in the mapping that starts here"),
            )
        })
    }

    /// A field of a mapping node if present; an error if the node is no mapping.
    pub fn get_of<'a>(&self, node: &'a Node, key: &str) -> Result<Option<&'a Node>> {
        match &node.value {
            Value::Map(entries) => Ok(entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)),
            _ => Err(DatasetError::malformed(
                &self.path,
                node.line,
                format!("expected a mapping holding `{key}`"),
            )),
        }
    }

    /// A scalar as text.
    pub fn str<'a>(&self, node: &'a Node, what: &str) -> Result<&'a str> {
        match &node.value {
            Value::Scalar(s) => Ok(s),
            _ => Err(DatasetError::malformed(
                &self.path,
                node.line,
                format!("`{what}` must be a single value"),
            )),
        }
    }

    /// A finite number.
    pub fn f64(&self, node: &Node, what: &str) -> Result<f64> {
        let s = self.str(node, what)?;
        parse_finite(s).ok_or_else(|| {
            DatasetError::malformed(
                &self.path,
                node.line,
                format!("`{what}` must be a finite number, found `{s}`"),
            )
        })
    }

    /// A list of finite numbers; nested lists (Kalibr's matrices) are flattened in
    /// row-major order. With `len = Some(n)`, exactly `n` numbers are required.
    pub fn f64_list(&self, node: &Node, what: &str, len: Option<usize>) -> Result<Vec<f64>> {
        let mut out = Vec::new();
        self.flatten_numbers(node, what, &mut out)?;
        if let Some(n) = len
            && out.len() != n
        {
            return Err(DatasetError::malformed(
                &self.path,
                node.line,
                format!("`{what}` must hold {n} numbers, found {}", out.len()),
            ));
        }
        Ok(out)
    }

    fn flatten_numbers(&self, node: &Node, what: &str, out: &mut Vec<f64>) -> Result<()> {
        match &node.value {
            Value::Seq(items) => {
                for item in items {
                    self.flatten_numbers(item, what, out)?;
                }
                Ok(())
            }
            Value::Scalar(_) => {
                out.push(self.f64(node, what)?);
                Ok(())
            }
            Value::Map(_) => Err(DatasetError::malformed(
                &self.path,
                node.line,
                format!("`{what}` must be a list of numbers"),
            )),
        }
    }
}

/// Parses a finite f64 (rejects `nan`, `inf`).
#[must_use]
pub fn parse_finite(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Removes a `#` comment that is not inside quotes.
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut prev_is_space = true;
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' && prev_is_space => return &line[..i],
            None => {}
        }
        prev_is_space = c.is_whitespace() || c == '[' || c == ',';
    }
    line
}

struct Parser<'p, 'l> {
    path: &'p Path,
    lines: &'l [Line<'l>],
    pos: usize,
    depth: usize,
}

/// Deepest nesting accepted (calibration files nest 2-3 levels), so that no
/// input can exhaust the stack.
const MAX_DEPTH: usize = 32;

impl Parser<'_, '_> {
    fn err(&self, line: usize, message: impl Into<String>) -> DatasetError {
        DatasetError::malformed(self.path, line, message)
    }

    /// Parses the block (mapping or sequence) whose lines are at `indent`.
    fn block(&mut self, indent: usize) -> Result<Node> {
        let first = &self.lines[self.pos];
        if self.depth >= MAX_DEPTH {
            return Err(self.err(
                first.number,
                format!("nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        self.depth += 1;
        let node = if first.text.starts_with("- ") || first.text == "-" {
            self.sequence(indent)
        } else {
            self.mapping(indent)
        };
        self.depth -= 1;
        node
    }

    fn sequence(&mut self, indent: usize) -> Result<Node> {
        let start = self.lines[self.pos].number;
        let mut items = Vec::new();
        while let Some(line) = self.lines.get(self.pos) {
            if line.indent != indent || !(line.text.starts_with("- ") || line.text == "-") {
                break;
            }
            let rest = line.text[1..].trim_start();
            let number = line.number;
            self.pos += 1;
            if rest.is_empty() {
                // `-` alone: a nested block if more indented lines follow, else null.
                let nested = self
                    .lines
                    .get(self.pos)
                    .is_some_and(|next| next.indent > indent);
                items.push(if nested {
                    self.nested_or_empty(indent, number)?
                } else {
                    Node {
                        line: number,
                        value: Value::Scalar(String::new()),
                    }
                });
            } else if rest.contains(": ") || rest.ends_with(':') {
                return Err(self.err(number, "mappings inside sequences are not supported here"));
            } else {
                items.push(self.inline_value(rest, number)?);
            }
        }
        Ok(Node {
            line: start,
            value: Value::Seq(items),
        })
    }

    fn mapping(&mut self, indent: usize) -> Result<Node> {
        let start = self.lines[self.pos].number;
        let mut entries: Vec<(String, Node)> = Vec::new();
        while let Some(line) = self.lines.get(self.pos) {
            if line.indent < indent {
                break;
            }
            if line.indent > indent {
                return Err(self.err(
                    line.number,
                    format!("unexpected indentation of `{}`", line.text),
                ));
            }
            let number = line.number;
            let Some((key, rest)) = split_key(line.text) else {
                return Err(self.err(
                    number,
                    format!("expected `key: value`, found `{}`", line.text),
                ));
            };
            if entries.iter().any(|(k, _)| k == key) {
                return Err(self.err(number, format!("duplicate key `{key}`")));
            }
            self.pos += 1;
            let rest = strip_tag(rest);
            let node = if rest.is_empty() {
                self.nested_or_empty(indent, number)?
            } else {
                self.inline_value(rest, number)?
            };
            entries.push((key.to_string(), node));
        }
        Ok(Node {
            line: start,
            value: Value::Map(entries),
        })
    }

    /// The value of `key:` with nothing after the colon: a nested block (more
    /// indented, or a sequence at the same indentation) or an empty scalar.
    /// The node's line is the key's line, where a user looks for the value.
    fn nested_or_empty(&mut self, indent: usize, number: usize) -> Result<Node> {
        let mut node = match self.lines.get(self.pos) {
            Some(next) if next.indent > indent => {
                let child_indent = next.indent;
                self.block(child_indent)?
            }
            Some(next) if next.indent == indent && next.text.starts_with("- ") => {
                self.sequence(indent)?
            }
            _ => Node {
                line: number,
                value: Value::Scalar(String::new()),
            },
        };
        node.line = number;
        Ok(node)
    }

    /// A scalar or a flow sequence starting on this line (which may continue on the
    /// following, more indented, lines until the brackets balance).
    fn inline_value(&mut self, rest: &str, number: usize) -> Result<Node> {
        if !rest.starts_with('[') {
            if rest.starts_with('{') {
                return Err(self.err(number, "flow mappings `{...}` are not supported here"));
            }
            return Ok(Node {
                line: number,
                value: Value::Scalar(unquote(rest).to_string()),
            });
        }
        let mut text = rest.to_string();
        while bracket_depth(&text) > 0 {
            let Some(next) = self.lines.get(self.pos) else {
                return Err(self.err(number, "unclosed `[`"));
            };
            text.push(' ');
            text.push_str(next.text);
            self.pos += 1;
        }
        let mut chars = text.char_indices().peekable();
        let node = parse_flow(&text, &mut chars, number, 0).map_err(|m| self.err(number, m))?;
        if let Some((i, _)) = chars.find(|(_, c)| !c.is_whitespace()) {
            return Err(self.err(
                number,
                format!("unexpected text after `]`: `{}`", &text[i..]),
            ));
        }
        Ok(node)
    }
}

fn bracket_depth(text: &str) -> i32 {
    text.chars().fold(0, |d, c| match c {
        '[' => d + 1,
        ']' => d - 1,
        _ => d,
    })
}

fn split_key(text: &str) -> Option<(&str, &str)> {
    let colon = text
        .find(": ")
        .or_else(|| text.ends_with(':').then(|| text.len() - 1))?;
    let key = unquote(text[..colon].trim());
    (!key.is_empty()).then(|| (key, text[colon + 1..].trim()))
}

fn strip_tag(rest: &str) -> &str {
    if rest.starts_with("!!") || rest.starts_with('!') {
        rest.split_once(char::is_whitespace)
            .map_or("", |(_, r)| r.trim_start())
    } else {
        rest
    }
}

fn unquote(s: &str) -> &str {
    let s = s.trim();
    if s.len() >= 2
        && ((s.starts_with('"') && s.ends_with('"')) || (s.starts_with('\'') && s.ends_with('\'')))
    {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

type Chars<'a> = std::iter::Peekable<std::str::CharIndices<'a>>;

fn parse_flow(
    text: &str,
    chars: &mut Chars<'_>,
    line: usize,
    depth: usize,
) -> Result<Node, String> {
    if depth >= MAX_DEPTH {
        return Err(format!("lists nested deeper than {MAX_DEPTH} levels"));
    }
    // The caller guarantees the next non-space character is `[`.
    while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
    if chars.next().map(|(_, c)| c) != Some('[') {
        return Err("expected `[`".into());
    }
    let mut items = Vec::new();
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        match chars.peek().map(|&(_, c)| c) {
            None => return Err("unclosed `[`".into()),
            Some(']') => {
                chars.next();
                return Ok(Node {
                    line,
                    value: Value::Seq(items),
                });
            }
            Some('[') => items.push(parse_flow(text, chars, line, depth + 1)?),
            Some(',') => return Err("empty list item".into()),
            Some(_) => {
                let Some(&(begin, _)) = chars.peek() else {
                    return Err("unclosed `[`".into());
                };
                let mut end = begin;
                while let Some(&(i, c)) = chars.peek() {
                    if c == ',' || c == ']' {
                        break;
                    }
                    end = i + c.len_utf8();
                    chars.next();
                }
                items.push(Node {
                    line,
                    value: Value::Scalar(unquote(&text[begin..end]).into()),
                });
            }
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        match chars.peek().map(|&(_, c)| c) {
            Some(',') => {
                chars.next();
            }
            Some(']') => {}
            _ => return Err("expected `,` or `]` in a list".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EUROC_CAM: &str = "%YAML:1.0
# General sensor definitions.
sensor_type: camera
comment: VI-Sensor cam0 (MT9M034)

# Sensor extrinsics wrt. the body-frame.
T_BS:
  cols: 4
  rows: 4
  data: [0.0148655429818, -0.999880929698, 0.00414029679422, -0.0216401454975,
         0.999557249008, 0.0149672133247, 0.025715529948, -0.064676986768,
        -0.0257744366974, 0.00375618835797, 0.999660727178, 0.00981073058949,
         0.0, 0.0, 0.0, 1.0]

# Camera specific definitions.
rate_hz: 20
resolution: [752, 480]
intrinsics: [458.654, 457.296, 367.215, 248.375] #fu, fv, cu, cv
";

    #[test]
    fn reads_euroc_sensor_yaml_with_opencv_directive() -> Result<()> {
        let doc = Document::parse("cam0/sensor.yaml", EUROC_CAM)?;
        let t = doc.field("T_BS")?;
        assert_eq!(t.line, 7);
        let data = doc.f64_list(doc.field_of(t, "data")?, "T_BS.data", Some(16))?;
        assert_eq!(data[3], -0.0216401454975);
        assert_eq!(data[15], 1.0);
        assert_eq!(doc.f64(doc.field("rate_hz")?, "rate_hz")?, 20.0);
        let intr = doc.f64_list(doc.field("intrinsics")?, "intrinsics", Some(4))?;
        assert_eq!(intr, vec![458.654, 457.296, 367.215, 248.375]);
        assert_eq!(
            doc.str(doc.field("comment")?, "comment")?,
            "VI-Sensor cam0 (MT9M034)"
        );
        Ok(())
    }

    #[test]
    fn reads_kalibr_block_sequences() -> Result<()> {
        let text = "cam0:\n  T_cam_imu:\n  - [1, 0, 0, 0.1]\n  - [0, 1, 0, 0.2]\n  - [0, 0, 1, 0.3]\n  - [0, 0, 0, 1]\n  distortion_model: equidistant\ncam1:\n  intrinsics: [1, 2, 3, 4]\n";
        let doc = Document::parse("camchain.yaml", text)?;
        let cam0 = doc.field("cam0")?;
        let t = doc.f64_list(doc.field_of(cam0, "T_cam_imu")?, "T_cam_imu", Some(16))?;
        assert_eq!(t[3], 0.1);
        assert_eq!(t[11], 0.3);
        assert_eq!(
            doc.str(doc.field_of(cam0, "distortion_model")?, "m")?,
            "equidistant"
        );
        assert_eq!(doc.field("cam1")?.line, 8);
        Ok(())
    }

    #[test]
    fn missing_field_names_file_and_line() -> Result<()> {
        let doc = Document::parse("x/sensor.yaml", "a: 1\nT_BS:\n  cols: 4\n")?;
        let err = doc
            .field_of(doc.field("T_BS")?, "data")
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("x/sensor.yaml:2: missing field `data` in the mapping that starts here")
        );
        Ok(())
    }

    #[test]
    fn malformed_text_is_an_error_with_a_line() {
        let deep = format!("a: {}1{}\n", "[".repeat(100_000), "]".repeat(100_000));
        for (text, line) in [
            ("a: [1, 2\n", 1),
            ("a: 1\n  b: 2\n", 2),
            ("a: 1\na: 2\n", 2),
            ("a: [1,, 2]\n", 1),
            ("a: 1\njust words\n", 2),
            (deep.as_str(), 1),
        ] {
            let err = Document::parse("f.yaml", text).err();
            let loc = err.as_ref().and_then(|e| e.location()).and_then(|l| l.line);
            assert_eq!(loc, Some(line), "{text:?}: {err:?}");
        }
    }

    #[test]
    fn a_dash_alone_is_a_null_item_not_a_nested_list() -> Result<()> {
        let doc = Document::parse("f.yaml", "a:\n- x\n-\n- y\n")?;
        let Value::Seq(items) = &doc.field("a")?.value else {
            panic!("not a list");
        };
        let texts: Vec<_> = items
            .iter()
            .map(|n| doc.str(n, "item").unwrap_or("?"))
            .collect();
        assert_eq!(texts, ["x", "", "y"]);
        Ok(())
    }

    #[test]
    fn numbers_must_be_finite() -> Result<()> {
        let doc = Document::parse("f.yaml", "a: nan\nb: [1, inf]\nc: 1e3\n")?;
        assert!(doc.f64(doc.field("a")?, "a").is_err());
        assert!(doc.f64_list(doc.field("b")?, "b", None).is_err());
        assert_eq!(doc.f64(doc.field("c")?, "c")?, 1000.0);
        Ok(())
    }
}
