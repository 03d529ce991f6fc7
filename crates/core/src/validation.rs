//! Request validation with Laravel's rules, messages and error shape, because clients
//! written against the hosted API parse those messages.
//!
//! Input first goes through what Laravel's global middleware does to every request:
//! strings are trimmed and empty strings become null. Each field then stops at its first
//! failing rule, and errors keep the order in which fields were checked.

use serde_json::{Map, Value};
use std::str::FromStr;

/// Field name to messages, in the order the fields were validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationErrors {
    entries: Vec<(String, Vec<String>)>,
}

impl ValidationErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn single(field: &str, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(field, message);
        errors
    }

    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        let message = message.into();
        match self.entries.iter_mut().find(|(f, _)| f == field) {
            Some((_, messages)) => messages.push(message),
            None => self.entries.push((field.to_string(), vec![message])),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn has(&self, field: &str) -> bool {
        self.entries.iter().any(|(f, _)| f == field)
    }

    pub fn fields(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.entries.iter().map(|(f, m)| (f.as_str(), m.as_slice()))
    }

    /// Laravel's summary: the first message, then "(and N more error[s])".
    pub fn summary(&self) -> String {
        let mut all = self.entries.iter().flat_map(|(_, m)| m.iter());
        let Some(first) = all.next() else {
            return "The given data was invalid.".to_string();
        };
        match all.count() {
            0 => first.clone(),
            1 => format!("{first} (and 1 more error)"),
            n => format!("{first} (and {n} more errors)"),
        }
    }

    pub fn into_result(self) -> Result<(), ValidationErrors> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

impl std::fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.summary())
    }
}

impl std::error::Error for ValidationErrors {}

/// Request input (JSON body or query string) after trimming and empty-to-null.
#[derive(Debug, Clone, Default)]
pub struct Input {
    fields: Map<String, Value>,
}

impl Input {
    /// A JSON body. Anything but an object carries no fields, as in Laravel.
    pub fn from_json(value: Value) -> Self {
        let fields = match normalize(value) {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        Self { fields }
    }

    /// A query string with PHP's semantics: the last of repeated keys wins and
    /// `key[]=v` builds a list.
    pub fn from_query(query: &str) -> Self {
        let mut fields = Map::new();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let value = Value::String(value.into_owned());
            if let Some(base) = key.strip_suffix("[]") {
                let entry = fields
                    .entry(base.to_string())
                    .or_insert_with(|| Value::Array(Vec::new()));
                match entry {
                    Value::Array(items) => items.push(value),
                    other => *other = Value::Array(vec![value]),
                }
            } else {
                fields.insert(key.into_owned(), value);
            }
        }
        Self::from_json(Value::Object(fields))
    }

    /// The value of a field; `None` when it is missing or null.
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.fields.get(field).filter(|v| !v.is_null())
    }

    pub fn is_present(&self, field: &str) -> bool {
        self.fields.contains_key(field)
    }
}

fn normalize(value: Value) -> Value {
    match value {
        Value::String(s) => {
            let trimmed = s.trim_matches(|c: char| {
                c.is_whitespace() || matches!(c, '\u{feff}' | '\u{200b}' | '\u{200e}')
            });
            if trimmed.is_empty() {
                Value::Null
            } else if trimmed.len() == s.len() {
                Value::String(s)
            } else {
                Value::String(trimmed.to_string())
            }
        }
        Value::Array(items) => Value::Array(items.into_iter().map(normalize).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, normalize(v))).collect())
        }
        other => other,
    }
}

/// "channel_id" -> "channel id", as Laravel names attributes in messages.
pub fn attribute(field: &str) -> String {
    field.replace('_', " ")
}

/// Collects errors while reading typed values out of an `Input`.
pub struct Validator<'a> {
    input: &'a Input,
    errors: ValidationErrors,
}

impl<'a> Validator<'a> {
    pub fn new(input: &'a Input) -> Self {
        Self {
            input,
            errors: ValidationErrors::new(),
        }
    }

    pub fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.add(field, message);
    }

    pub fn has_error(&self, field: &str) -> bool {
        self.errors.has(field)
    }

    pub fn finish(self) -> Result<(), ValidationErrors> {
        self.errors.into_result()
    }

    pub fn into_errors(self) -> ValidationErrors {
        self.errors
    }

    fn required(&mut self, field: &str) -> Option<&'a Value> {
        let value = self.input.get(field);
        if value.is_none() {
            self.fail(
                field,
                format!("The {} field is required.", attribute(field)),
            );
        }
        value
    }

    /// `required|integer|min:min|max:max`
    pub fn required_integer(
        &mut self,
        field: &str,
        min: Option<i64>,
        max: Option<i64>,
    ) -> Option<i64> {
        let value = self.required(field)?;
        self.integer(field, value, min, max)
    }

    /// `nullable|integer|min:min|max:max`
    pub fn optional_integer(
        &mut self,
        field: &str,
        min: Option<i64>,
        max: Option<i64>,
    ) -> Option<i64> {
        let value = self.input.get(field)?;
        self.integer(field, value, min, max)
    }

    fn integer(
        &mut self,
        field: &str,
        value: &Value,
        min: Option<i64>,
        max: Option<i64>,
    ) -> Option<i64> {
        let Some(n) = as_integer(value) else {
            self.fail(
                field,
                format!("The {} field must be an integer.", attribute(field)),
            );
            return None;
        };
        if let Some(min) = min.filter(|&min| n < min) {
            self.fail(
                field,
                format!("The {} field must be at least {min}.", attribute(field)),
            );
            return None;
        }
        if let Some(max) = max.filter(|&max| n > max) {
            self.fail(
                field,
                format!(
                    "The {} field must not be greater than {max}.",
                    attribute(field)
                ),
            );
            return None;
        }
        Some(n)
    }

    /// `required|string|max:max_chars`
    pub fn required_string(&mut self, field: &str, max_chars: usize) -> Option<String> {
        let value = self.required(field)?;
        self.string(field, value, max_chars)
    }

    /// `nullable|string|max:max_chars`
    pub fn optional_string(&mut self, field: &str, max_chars: usize) -> Option<String> {
        let value = self.input.get(field)?;
        self.string(field, value, max_chars)
    }

    fn string(&mut self, field: &str, value: &Value, max_chars: usize) -> Option<String> {
        let Value::String(s) = value else {
            self.fail(
                field,
                format!("The {} field must be a string.", attribute(field)),
            );
            return None;
        };
        // PostgreSQL cannot store NUL in text, and no client means to send it.
        if s.contains('\0') {
            self.fail(
                field,
                format!(
                    "The {} field must not contain NUL characters.",
                    attribute(field)
                ),
            );
            return None;
        }
        if s.chars().count() > max_chars {
            self.fail(
                field,
                format!(
                    "The {} field must not be greater than {max_chars} characters.",
                    attribute(field)
                ),
            );
            return None;
        }
        Some(s.clone())
    }

    /// `nullable|in:...` over a type's string forms.
    pub fn optional_enum<T: FromStr>(&mut self, field: &str) -> Option<T> {
        let value = self.input.get(field)?;
        match value.as_str().map(str::parse::<T>) {
            Some(Ok(parsed)) => Some(parsed),
            _ => {
                self.fail(
                    field,
                    format!("The selected {} is invalid.", attribute(field)),
                );
                None
            }
        }
    }
}

impl<'a> Validator<'a> {
    /// `required|in:...` over a type's string forms.
    pub fn required_enum<T: FromStr>(&mut self, field: &str) -> Option<T> {
        self.required(field)?;
        self.optional_enum(field)
    }

    /// `nullable|boolean`: true/false, 1/0, "1"/"0", "true"/"false".
    pub fn optional_bool(&mut self, field: &str) -> Option<bool> {
        let value = self.input.get(field)?;
        let parsed = match value {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => match n.as_i64() {
                Some(1) => Some(true),
                Some(0) => Some(false),
                _ => None,
            },
            Value::String(s) => match s.as_str() {
                "1" | "true" => Some(true),
                "0" | "false" => Some(false),
                _ => None,
            },
            _ => None,
        };
        if parsed.is_none() {
            self.fail(
                field,
                format!("The {} field must be true or false.", attribute(field)),
            );
        }
        parsed
    }

    /// `nullable|date`, as RFC 3339 (`2023-11-07T05:31:56Z`), kept to whole seconds.
    pub fn optional_datetime(&mut self, field: &str) -> Option<chrono::DateTime<chrono::Utc>> {
        use chrono::SubsecRound;
        let value = self.input.get(field)?;
        let parsed = value
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&chrono::Utc).trunc_subsecs(0));
        if parsed.is_none() {
            self.fail(
                field,
                format!("The {} field must be a valid date.", attribute(field)),
            );
        }
        parsed
    }

    /// `nullable|array`: a JSON array or object.
    pub fn optional_json_container(&mut self, field: &str) -> Option<Value> {
        let value = self.input.get(field)?;
        if value.is_array() || value.is_object() {
            Some(value.clone())
        } else {
            self.fail(
                field,
                format!("The {} field must be an array.", attribute(field)),
            );
            None
        }
    }

    /// `nullable|email|max:255`
    pub fn optional_email(&mut self, field: &str) -> Option<String> {
        let email = self.optional_string(field, 255)?;
        let plausible = match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            }
            None => false,
        };
        if !plausible {
            self.fail(
                field,
                format!(
                    "The {} field must be a valid email address.",
                    attribute(field)
                ),
            );
            return None;
        }
        Some(email)
    }

    /// `nullable|url|max:max_chars` (http and https only).
    pub fn optional_url(&mut self, field: &str, max_chars: usize) -> Option<String> {
        let url = self.optional_string(field, max_chars)?;
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        let plausible = rest.is_some_and(|r| {
            !r.is_empty()
                && !r.starts_with('/')
                && !url.chars().any(|c| c.is_whitespace() || c.is_control())
        });
        if !plausible {
            self.fail(
                field,
                format!("The {} field must be a valid URL.", attribute(field)),
            );
            return None;
        }
        Some(url)
    }

    /// Whether the field was sent at all (even as null).
    pub fn is_present(&self, field: &str) -> bool {
        self.input.is_present(field)
    }
}

/// Laravel's `integer` rule: JSON integers, integral floats and strings of an optional
/// sign and digits, all within 64 bits.
fn as_integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => {
            let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse::<i64>().ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn summary_counts_the_other_messages() {
        let mut e = ValidationErrors::new();
        e.add("channel_id", "The channel id field is required.");
        assert_eq!(e.summary(), "The channel id field is required.");
        e.add("address", "The address field is required.");
        assert_eq!(
            e.summary(),
            "The channel id field is required. (and 1 more error)"
        );
        e.add("first_name", "x");
        assert_eq!(
            e.summary(),
            "The channel id field is required. (and 2 more errors)"
        );
    }

    #[test]
    fn strings_are_trimmed_and_empty_means_missing() {
        let input = Input::from_json(json!({"a": "  x  ", "b": "   ", "c": null}));
        assert_eq!(input.get("a"), Some(&json!("x")));
        assert_eq!(input.get("b"), None);
        assert_eq!(input.get("c"), None);
        let mut v = Validator::new(&input);
        assert_eq!(v.required_string("b", 10), None);
        assert_eq!(
            v.into_errors().fields().next().unwrap().1,
            ["The b field is required."]
        );
    }

    #[test]
    fn integer_rule_follows_laravel() {
        let input = Input::from_json(json!({
            "a": 5, "b": "7", "c": 2.0, "d": 2.5, "e": "x", "f": true,
            "g": 1180591620717411303424.0_f64, "h": 0, "i": 101, "j": "-3"
        }));
        let mut v = Validator::new(&input);
        assert_eq!(v.required_integer("a", Some(1), None), Some(5));
        assert_eq!(v.required_integer("b", Some(1), None), Some(7));
        assert_eq!(v.required_integer("c", Some(1), None), Some(2));
        assert_eq!(v.required_integer("d", Some(1), None), None);
        assert_eq!(v.required_integer("e", Some(1), None), None);
        assert_eq!(v.required_integer("f", Some(1), None), None);
        assert_eq!(v.required_integer("g", Some(1), None), None);
        assert_eq!(v.required_integer("h", Some(1), None), None);
        assert_eq!(v.required_integer("i", Some(1), Some(100)), None);
        assert_eq!(v.optional_integer("j", None, None), Some(-3));
        let errors = v.into_errors();
        let got: Vec<_> = errors
            .fields()
            .map(|(f, m)| (f.to_string(), m[0].clone()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "d".to_string(),
                    "The d field must be an integer.".to_string()
                ),
                ("e".into(), "The e field must be an integer.".into()),
                ("f".into(), "The f field must be an integer.".into()),
                ("g".into(), "The g field must be an integer.".into()),
                ("h".into(), "The h field must be at least 1.".into()),
                (
                    "i".into(),
                    "The i field must not be greater than 100.".into()
                ),
            ]
        );
    }

    #[test]
    fn string_rule_counts_characters_not_bytes() {
        let input = Input::from_json(json!({"a": "ğğğ", "b": 5, "c": "a\u{0}b"}));
        let mut v = Validator::new(&input);
        assert_eq!(v.required_string("a", 3).as_deref(), Some("ğğğ"));
        assert_eq!(v.required_string("a", 2), None);
        assert_eq!(v.required_string("b", 2), None);
        assert_eq!(v.required_string("c", 9), None);
        let errors = v.into_errors();
        let msgs: Vec<String> = errors.fields().flat_map(|(_, m)| m.to_vec()).collect();
        assert_eq!(
            msgs,
            [
                "The a field must not be greater than 2 characters.",
                "The b field must be a string.",
                "The c field must not contain NUL characters."
            ]
        );
    }

    #[test]
    fn query_strings_follow_php() {
        let input =
            Input::from_query("per_page=5&per_page=6&search%5B%5D=a&search[]=b&x=+&y=%C4%B0");
        assert_eq!(input.get("per_page"), Some(&json!("6")));
        assert_eq!(input.get("search"), Some(&json!(["a", "b"])));
        assert_eq!(input.get("x"), None);
        assert_eq!(input.get("y"), Some(&json!("İ")));
    }
}
