//! The small JSON path dialect of evidence refs: `fields.CommandLine`, `entities.hosts[0]`,
//! `fields["Event Data"].x`. Keys that contain dots are reached with the bracket form.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

fn parse(path: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    let mut chars = path.trim().trim_start_matches('$').chars().peekable();
    let mut key = String::new();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                if !key.is_empty() {
                    steps.push(Step::Key(std::mem::take(&mut key)));
                }
            }
            '[' => {
                if !key.is_empty() {
                    steps.push(Step::Key(std::mem::take(&mut key)));
                }
                let mut inner = String::new();
                let quote = matches!(chars.peek(), Some('"') | Some('\''));
                if quote {
                    let q = chars.next()?;
                    for c in chars.by_ref() {
                        if c == q {
                            break;
                        }
                        inner.push(c);
                    }
                    if chars.next()? != ']' {
                        return None;
                    }
                    steps.push(Step::Key(inner));
                } else {
                    for c in chars.by_ref() {
                        if c == ']' {
                            break;
                        }
                        inner.push(c);
                    }
                    steps.push(Step::Index(inner.trim().parse().ok()?));
                }
            }
            c => key.push(c),
        }
    }
    if !key.is_empty() {
        steps.push(Step::Key(key));
    }
    (!steps.is_empty()).then_some(steps)
}

/// The value at `path` in `root`. A dotted key that exists as-is (`"Event.Data"`) is found
/// even without brackets.
pub fn resolve<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    if let Some(v) = root.as_object().and_then(|o| o.get(path)) {
        return Some(v);
    }
    let steps = parse(path)?;
    let mut current = root;
    for step in steps {
        current = match (step, current) {
            (Step::Key(k), Value::Object(o)) => o.get(&k)?,
            (Step::Index(i), Value::Array(a)) => a.get(i)?,
            _ => return None,
        };
    }
    Some(current)
}

/// Renders a value as the text a quote is checked against: strings as they are, other
/// scalars as JSON, containers as their scalars joined by newlines.
pub fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(_) | Value::Number(_) => value.to_string(),
        _ => {
            let mut out = String::new();
            for_each_scalar(value, "", &mut |_, t| {
                out.push_str(t);
                out.push('\n');
            });
            out
        }
    }
}

/// Calls `f(path, text)` for every scalar below `value`, depth first, in document order.
pub fn for_each_scalar(value: &Value, prefix: &str, f: &mut dyn FnMut(&str, &str)) {
    match value {
        Value::Object(o) => {
            for (k, v) in o {
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                for_each_scalar(v, &path, f);
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                for_each_scalar(v, &format!("{prefix}[{i}]"), f);
            }
        }
        Value::String(s) => f(prefix, s),
        Value::Number(n) => f(prefix, &n.to_string()),
        Value::Bool(b) => f(prefix, if *b { "true" } else { "false" }),
        Value::Null => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resolves_keys_indexes_and_brackets() {
        let v = json!({"a": {"b c": [1, {"d": "x"}]}, "e.f": 2});
        assert_eq!(resolve(&v, "a[\"b c\"][1].d"), Some(&json!("x")));
        assert_eq!(resolve(&v, "e.f"), Some(&json!(2)));
        assert_eq!(resolve(&v, "a.missing"), None);
        assert_eq!(resolve(&v, "a[\"b c\"][9]"), None);
    }
}
