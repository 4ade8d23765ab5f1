//! Response bodies: `objectMetadata` + stored content, written straight from the stored JSON.
//!
//! Stored objects keep their content as the canonical JSON of the validated request (targets apart, since
//! VEN responses hide targets), so a read needs no deserialization: the response is assembled by splicing.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::objects::ObjectType;
use super::primitives::format_time;

/// An object as stored: metadata, the content JSON (an object, without `targets`) and its targets.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredObject {
    pub id: String,
    pub object_type: ObjectType,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    /// A JSON object holding the content fields, never `targets`.
    pub body: String,
    /// The object's targets as sent (`None` when it has none).
    pub targets: Option<Vec<String>>,
}

/// How an object's targets are shown to the reader.
#[derive(Clone, Copy)]
pub enum TargetView<'a> {
    /// Every target (business logic, and objects whose targets are not hidden).
    All,
    /// Only targets in this set (OpenADR 3.1 Definition, "target hiding" for VEN readers).
    Only(&'a dyn Fn(&str) -> bool),
}

impl StoredObject {
    /// Appends this object's JSON to `out`.
    pub fn write_json(&self, out: &mut String, view: TargetView<'_>) {
        out.push_str("{\"id\":");
        push_json_str(out, &self.id);
        out.push_str(",\"createdDateTime\":\"");
        out.push_str(&format_time(&self.created));
        out.push_str("\",\"modificationDateTime\":\"");
        out.push_str(&format_time(&self.modified));
        out.push_str("\",\"objectType\":\"");
        out.push_str(self.object_type.as_str());
        out.push('"');
        let inner = self.body.trim();
        let inner = inner.strip_prefix('{').and_then(|s| s.strip_suffix('}')).unwrap_or("");
        if !inner.trim().is_empty() {
            out.push(',');
            out.push_str(inner);
        }
        if let Some(targets) = &self.targets {
            out.push_str(",\"targets\":[");
            let mut first = true;
            for t in targets {
                let shown = match view {
                    TargetView::All => true,
                    TargetView::Only(keep) => keep(t),
                };
                if shown {
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    push_json_str(out, t);
                }
            }
            out.push(']');
        }
        out.push('}');
    }

    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(self.body.len() + 160);
        self.write_json(&mut out, TargetView::All);
        out
    }
}

/// Writes a JSON array of objects.
pub fn write_array<'a>(objects: impl IntoIterator<Item = &'a StoredObject>, view: TargetView<'_>) -> String {
    let mut out = String::with_capacity(4096);
    out.push('[');
    for (i, o) in objects.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        o.write_json(&mut out, view);
    }
    out.push(']');
    out
}

fn push_json_str(out: &mut String, s: &str) {
    // serde_json escapes exactly as JSON requires; strings never fail to serialize.
    match serde_json::to_string(s) {
        Ok(q) => out.push_str(&q),
        Err(_) => out.push_str("\"\""),
    }
}

/// Serializes content for storage, removing `targets` (kept in its own column) and any field listed.
pub fn content_json<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    let mut v = serde_json::to_value(value)?;
    if let Some(map) = v.as_object_mut() {
        map.remove("targets");
        map.remove("objectType");
    }
    serde_json::to_string(&v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sample(targets: Option<Vec<String>>) -> StoredObject {
        let t = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        StoredObject {
            id: "abc".into(),
            object_type: ObjectType::Event,
            created: t,
            modified: t,
            body: r#"{"programID":"p","intervals":[]}"#.into(),
            targets,
        }
    }

    #[test]
    fn renders_metadata_then_content() {
        let json = sample(Some(vec!["g1".into(), "secret".into()])).to_json();
        assert_eq!(
            json,
            r#"{"id":"abc","createdDateTime":"2026-01-02T03:04:05Z","modificationDateTime":"2026-01-02T03:04:05Z","objectType":"EVENT","programID":"p","intervals":[],"targets":["g1","secret"]}"#
        );
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["objectType"], "EVENT");
    }

    #[test]
    fn hidden_targets_are_left_out() {
        let o = sample(Some(vec!["g1".into(), "secret".into()]));
        let mut out = String::new();
        o.write_json(&mut out, TargetView::Only(&|t| t == "g1"));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["targets"], serde_json::json!(["g1"]));
    }
}
