//! Canonical JSON: object keys sorted, no whitespace, so the same value
//! always has the same bytes whatever serde_json features are enabled.

use serde_json::Value;

/// The canonical bytes of a JSON value.
pub fn to_vec(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(k, out);
                out.push(b':');
                if let Some(v) = map.get(k) {
                    write(v, out);
                }
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(v, out);
            }
            out.push(b']');
        }
        // serde_json's escaping and number formatting are deterministic; reuse them.
        // Writing into a Vec cannot fail.
        Value::String(s) => write_string(s, out),
        other => {
            let _ = serde_json::to_writer(&mut *out, other);
        }
    }
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    let _ = serde_json::to_writer(&mut *out, s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_sorted_at_every_depth() {
        let v = json!({"b": 1, "a": {"z": true, "m": [1, {"y": null, "x": "é"}]}});
        assert_eq!(
            String::from_utf8(to_vec(&v)).unwrap_or_default(),
            r#"{"a":{"m":[1,{"x":"é","y":null}],"z":true},"b":1}"#
        );
    }
}
