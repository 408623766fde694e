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
                for_each_scalar(v, &join(prefix, k), f);
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

/// `prefix.key`, or `prefix["key"]` when the key has characters the dotted form can't carry.
pub fn join(prefix: &str, key: &str) -> String {
    let plain = !key.is_empty() && !key.contains(['.', '[', ']', '"', '\'', ' ', '#']);
    match (prefix.is_empty(), plain) {
        (true, true) => key.to_string(),
        (false, true) => format!("{prefix}.{key}"),
        (_, false) => format!("{prefix}[\"{key}\"]"),
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

    #[test]
    fn every_scalar_path_resolves_back_to_its_value() {
        let v = json!({"fields": {"output_fields": {"proc.cmdline": "bash -i", "k8s ns": "prod", "a": [{"b.c": 1}]}}});
        let mut seen = 0;
        for_each_scalar(&v, "", &mut |path, text| {
            seen += 1;
            assert_eq!(text_of(resolve(&v, path).unwrap_or(&Value::Null)), text, "{path}");
        });
        assert_eq!(seen, 3);
    }
}
