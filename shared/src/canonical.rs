//! Canonical JSON: object keys sorted, no whitespace, so the same value
//! always has the same bytes whatever serde_json features are enabled.
//!
//! Two ways in: `to_vec` writes a `serde_json::Value`; `to_vec_of` writes any
//! `Serialize` type straight to bytes, with no `Value` tree built first (the
//! writer seals every event this way). `to_vec_of` refuses what it would not
//! write exactly as `to_vec(&serde_json::to_value(x)?)` does (floats, map
//! keys other than strings, integers past 64 bits); callers then take the
//! `Value` path.

use serde::ser::{self, Serialize};
use serde_json::Value;
use std::borrow::Cow;
use std::ops::Range;

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

/// The canonical bytes of `value`: the same bytes as `to_vec` of its
/// `serde_json::Value`, or an error for what this writer leaves to that path
/// (see the module's note).
pub fn to_vec_of<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(256);
    value.serialize(Writer { out: &mut out })?;
    Ok(out)
}

fn unsupported(what: &str) -> serde_json::Error {
    ser::Error::custom(format!(
        "the canonical writer leaves {what} to the serde_json::Value path"
    ))
}

/// Writes one value's canonical bytes at the end of `out`.
struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl Writer<'_> {
    fn integer(self, v: impl itoa::Integer) -> Result<(), serde_json::Error> {
        self.out
            .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
        Ok(())
    }
}

/// An array being written.
struct Array<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Array<'a> {
    fn open(out: &'a mut Vec<u8>) -> Array<'a> {
        out.push(b'[');
        Array { out, first: true }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), serde_json::Error> {
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
        value.serialize(Writer {
            out: &mut *self.out,
        })
    }

    fn close(self) -> &'a mut Vec<u8> {
        self.out.push(b']');
        self.out
    }
}

/// An object being written: entries go out in the order given, each
/// remembered by key and byte range; `close` puts them in key order if they
/// were not (of equal keys the last wins, as in a `Value` map).
struct Object<'a> {
    out: &'a mut Vec<u8>,
    /// Where the first entry starts (just after `{`).
    start: usize,
    entries: Vec<(Cow<'static, str>, Range<usize>)>,
    /// A key from `serialize_key`, waiting for its value.
    pending: Option<String>,
}

impl<'a> Object<'a> {
    fn open(out: &'a mut Vec<u8>) -> Object<'a> {
        out.push(b'{');
        let start = out.len();
        Object {
            out,
            start,
            entries: Vec::with_capacity(8),
            pending: None,
        }
    }

    fn entry<T: Serialize + ?Sized>(
        &mut self,
        key: Cow<'static, str>,
        value: &T,
    ) -> Result<(), serde_json::Error> {
        if !self.entries.is_empty() {
            self.out.push(b',');
        }
        let from = self.out.len();
        write_string(&key, self.out);
        self.out.push(b':');
        value.serialize(Writer {
            out: &mut *self.out,
        })?;
        self.entries.push((key, from..self.out.len()));
        Ok(())
    }

    fn close(self) -> &'a mut Vec<u8> {
        let Object {
            out,
            start,
            mut entries,
            ..
        } = self;
        if !entries.windows(2).all(|w| w[0].0 < w[1].0) {
            let written = out.split_off(start);
            // Stable, so of equal keys the one written last stays last.
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let mut first = true;
            for (i, (key, range)) in entries.iter().enumerate() {
                if entries.get(i + 1).is_some_and(|(next, _)| next == key) {
                    continue;
                }
                if !std::mem::take(&mut first) {
                    out.push(b',');
                }
                out.extend_from_slice(&written[range.start - start..range.end - start]);
            }
        }
        out.push(b'}');
        out
    }
}

/// `{"variant":` already written; the content, then `}`.
struct Variant<Inner>(Inner);

/// Opens `{"variant":` for an enum variant's content.
fn open_variant<'a>(out: &'a mut Vec<u8>, variant: &str) -> &'a mut Vec<u8> {
    out.push(b'{');
    write_string(variant, out);
    out.push(b':');
    out
}

/// Integers up to 64 bits, written as their digits (as serde_json writes them).
macro_rules! integers {
    ($($method:ident($ty:ty)),* $(,)?) => {
        $(fn $method(self, v: $ty) -> Result<(), serde_json::Error> {
            self.integer(v)
        })*
    };
}

impl<'a> ser::Serializer for Writer<'a> {
    type Ok = ();
    type Error = serde_json::Error;
    type SerializeSeq = Array<'a>;
    type SerializeTuple = Array<'a>;
    type SerializeTupleStruct = Array<'a>;
    type SerializeTupleVariant = Variant<Array<'a>>;
    type SerializeMap = Object<'a>;
    type SerializeStruct = Object<'a>;
    type SerializeStructVariant = Variant<Object<'a>>;

    fn serialize_bool(self, v: bool) -> Result<(), serde_json::Error> {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    integers! {
        serialize_i8(i8), serialize_i16(i16), serialize_i32(i32), serialize_i64(i64),
        serialize_u8(u8), serialize_u16(u16), serialize_u32(u32), serialize_u64(u64),
    }
    fn serialize_i128(self, v: i128) -> Result<(), serde_json::Error> {
        self.integer(i64::try_from(v).map_err(|_| unsupported("a 128-bit integer"))?)
    }
    fn serialize_u128(self, v: u128) -> Result<(), serde_json::Error> {
        self.integer(u64::try_from(v).map_err(|_| unsupported("a 128-bit integer"))?)
    }
    fn serialize_f32(self, _: f32) -> Result<(), serde_json::Error> {
        Err(unsupported("a float"))
    }
    fn serialize_f64(self, _: f64) -> Result<(), serde_json::Error> {
        Err(unsupported("a float"))
    }
    fn serialize_char(self, v: char) -> Result<(), serde_json::Error> {
        write_string(v.encode_utf8(&mut [0; 4]), self.out);
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), serde_json::Error> {
        write_string(v, self.out);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), serde_json::Error> {
        let mut array = Array::open(self.out);
        for b in v {
            array.element(b)?;
        }
        array.close();
        Ok(())
    }
    fn serialize_none(self) -> Result<(), serde_json::Error> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), serde_json::Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), serde_json::Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), serde_json::Error> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), serde_json::Error> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), serde_json::Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), serde_json::Error> {
        let out = open_variant(self.out, variant);
        value.serialize(Writer { out: &mut *out })?;
        out.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Array<'a>, serde_json::Error> {
        Ok(Array::open(self.out))
    }
    fn serialize_tuple(self, _: usize) -> Result<Array<'a>, serde_json::Error> {
        Ok(Array::open(self.out))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Array<'a>, serde_json::Error> {
        Ok(Array::open(self.out))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Variant<Array<'a>>, serde_json::Error> {
        Ok(Variant(Array::open(open_variant(self.out, variant))))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Object<'a>, serde_json::Error> {
        Ok(Object::open(self.out))
    }
    fn serialize_struct(
        self,
        name: &'static str,
        _: usize,
    ) -> Result<Object<'a>, serde_json::Error> {
        // serde_json's own tokens (a `RawValue`, an arbitrary-precision
        // number) are structs only by name; the Value path unwraps them.
        if name.starts_with("$serde_json::private::") {
            return Err(unsupported(name));
        }
        Ok(Object::open(self.out))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Variant<Object<'a>>, serde_json::Error> {
        Ok(Variant(Object::open(open_variant(self.out, variant))))
    }
}

/// The three ways serde writes an array, all `Array::element`.
macro_rules! array_serializer {
    ($($serde_trait:ident :: $method:ident),*) => {$(
        impl ser::$serde_trait for Array<'_> {
            type Ok = ();
            type Error = serde_json::Error;
            fn $method<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Self::Error> {
                self.element(v)
            }
            fn end(self) -> Result<(), Self::Error> {
                self.close();
                Ok(())
            }
        }
    )*};
}

array_serializer!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field
);

impl ser::SerializeTupleVariant for Variant<Array<'_>> {
    type Ok = ();
    type Error = serde_json::Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Self::Error> {
        self.0.element(v)
    }
    fn end(self) -> Result<(), Self::Error> {
        self.0.close().push(b'}');
        Ok(())
    }
}

impl ser::SerializeMap for Object<'_> {
    type Ok = ();
    type Error = serde_json::Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Self::Error> {
        self.pending = Some(key.serialize(KeyWriter)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Self::Error> {
        let key = self
            .pending
            .take()
            .ok_or_else(|| unsupported("a map value without its key"))?;
        self.entry(Cow::Owned(key), v)
    }
    fn end(self) -> Result<(), Self::Error> {
        if self.pending.is_some() {
            return Err(unsupported("a map key without its value"));
        }
        self.close();
        Ok(())
    }
}

impl ser::SerializeStruct for Object<'_> {
    type Ok = ();
    type Error = serde_json::Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), Self::Error> {
        self.entry(Cow::Borrowed(key), v)
    }
    fn end(self) -> Result<(), Self::Error> {
        self.close();
        Ok(())
    }
}

impl ser::SerializeStructVariant for Variant<Object<'_>> {
    type Ok = ();
    type Error = serde_json::Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), Self::Error> {
        self.0.entry(Cow::Borrowed(key), v)
    }
    fn end(self) -> Result<(), Self::Error> {
        self.0.close().push(b'}');
        Ok(())
    }
}

/// A map key: strings (and what serializes as one: chars, unit variants,
/// newtypes of those) are taken; anything else is left to the `Value` path.
struct KeyWriter;

macro_rules! refuse_keys {
    ($($method:ident($($arg:ty),*);)*) => {
        $(fn $method(self, $(_: $arg),*) -> Result<String, serde_json::Error> {
            Err(unsupported("a map key that is not a string"))
        })*
    };
}

impl ser::Serializer for KeyWriter {
    type Ok = String;
    type Error = serde_json::Error;
    type SerializeSeq = ser::Impossible<String, serde_json::Error>;
    type SerializeTuple = ser::Impossible<String, serde_json::Error>;
    type SerializeTupleStruct = ser::Impossible<String, serde_json::Error>;
    type SerializeTupleVariant = ser::Impossible<String, serde_json::Error>;
    type SerializeMap = ser::Impossible<String, serde_json::Error>;
    type SerializeStruct = ser::Impossible<String, serde_json::Error>;
    type SerializeStructVariant = ser::Impossible<String, serde_json::Error>;

    fn serialize_str(self, v: &str) -> Result<String, serde_json::Error> {
        Ok(v.to_owned())
    }
    fn serialize_char(self, v: char) -> Result<String, serde_json::Error> {
        Ok(v.to_string())
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<String, serde_json::Error> {
        Ok(variant.to_owned())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<String, serde_json::Error> {
        value.serialize(self)
    }
    refuse_keys! {
        serialize_bool(bool);
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_u8(u8);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_f32(f32);
        serialize_f64(f64);
        serialize_bytes(&[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(&'static str);
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<String, serde_json::Error> {
        Err(unsupported("a map key that is not a string"))
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<String, serde_json::Error> {
        Err(unsupported("a map key that is not a string"))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, serde_json::Error> {
        Err(unsupported("a map key that is not a string"))
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, serde_json::Error> {
        Err(unsupported("a map key that is not a string"))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, serde_json::Error> {
        Err(unsupported("a map key that is not a string"))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, serde_json::Error> {
        Err(unsupported("a map key that is not a string"))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, serde_json::Error> {
        Err(unsupported("a map key that is not a string"))
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, serde_json::Error> {
        Err(unsupported("a map key that is not a string"))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, serde_json::Error> {
        Err(unsupported("a map key that is not a string"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Serialize;
    use serde_json::json;
    use std::collections::{BTreeMap, HashMap};

    /// Through a `Value`, as `to_vec_of` must match.
    fn through_value<T: Serialize>(x: &T) -> Vec<u8> {
        to_vec(&serde_json::to_value(x).expect("to_value"))
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            ".{0,12}".prop_map(Value::String),
            "[\\\\\"\\x00-\\x1f\\u{7f}-\\u{10ffff}]{0,4}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                proptest::collection::btree_map(".{0,6}", inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn writing_straight_gives_the_bytes_a_value_gives(v in json_value()) {
            prop_assert_eq!(to_vec_of(&v).expect("no floats"), to_vec(&v));
        }

        #[test]
        fn maps_in_any_order_come_out_sorted(entries in proptest::collection::vec((".{0,5}", any::<u32>()), 0..12)) {
            // A Vec of pairs as a map: keys unsorted and repeated (the last wins).
            struct Pairs(Vec<(String, u32)>);
            impl Serialize for Pairs {
                fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
                }
            }
            let pairs = Pairs(entries);
            prop_assert_eq!(to_vec_of(&pairs).expect("string keys"), through_value(&pairs));
        }
    }

    #[test]
    fn serde_shapes_match_the_value_path() {
        #[derive(Serialize)]
        #[serde(tag = "type", rename_all = "snake_case")]
        enum Inner {
            Plain,
            Fields { zeta: u8, alpha: Option<String> },
        }
        #[derive(Serialize)]
        enum Outer {
            Unit,
            New(i32),
            Tuple(u8, char),
            Struct { b: bool, a: () },
        }
        #[derive(Serialize)]
        struct Extra {
            middle: &'static str,
            aardvark: u16,
        }
        #[derive(Serialize)]
        struct Unit;
        #[derive(Serialize, PartialEq, Eq, Hash)]
        struct Newtype(String);
        #[derive(Serialize)]
        struct Shapes {
            zulu: Vec<Inner>,
            #[serde(flatten)]
            extra: Extra,
            outer: [Outer; 4],
            #[serde(with = "bytes")]
            raw: Vec<u8>,
            unit: Unit,
            newtype: Newtype,
            tuple: (i8, u128, i128),
            chars: BTreeMap<char, u8>,
            named: HashMap<Newtype, Option<bool>>,
            variants: BTreeMap<Key, ()>,
            #[serde(skip_serializing_if = "Option::is_none")]
            skipped: Option<u8>,
            escapes: &'static str,
        }
        #[derive(Serialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
        enum Key {
            B,
            A,
        }
        mod bytes {
            pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(v)
            }
        }
        let shapes = Shapes {
            zulu: vec![
                Inner::Plain,
                Inner::Fields {
                    zeta: 9,
                    alpha: Some("a".into()),
                },
                Inner::Fields {
                    zeta: 0,
                    alpha: None,
                },
            ],
            extra: Extra {
                middle: "m",
                aardvark: 7,
            },
            outer: [
                Outer::Unit,
                Outer::New(-3),
                Outer::Tuple(1, 'é'),
                Outer::Struct { b: true, a: () },
            ],
            raw: vec![0, 255, 17],
            unit: Unit,
            newtype: Newtype("n".into()),
            tuple: (-8, u128::from(u64::MAX), i128::from(i64::MIN)),
            chars: [('z', 1), ('a', 2), ('\u{1F0A1}', 3)].into_iter().collect(),
            named: [
                (Newtype("k2".into()), None),
                (Newtype("k1".into()), Some(false)),
            ]
            .into_iter()
            .collect(),
            variants: [(Key::B, ()), (Key::A, ())].into_iter().collect(),
            skipped: None,
            escapes: "quote \" slash \\ tab \t nul \u{0} del \u{7f} \u{2028}",
        };
        assert_eq!(
            String::from_utf8(to_vec_of(&shapes).expect("every shape here is handled")),
            String::from_utf8(through_value(&shapes))
        );
    }

    #[test]
    fn what_it_would_not_write_as_a_value_does_is_refused() {
        assert!(to_vec_of(&1.5f64).is_err());
        assert!(to_vec_of(&vec![1.0f32]).is_err());
        assert!(to_vec_of(&u128::MAX).is_err());
        assert!(to_vec_of(&i128::MIN).is_err());
        assert!(to_vec_of(&BTreeMap::from([(1u8, "one")])).is_err());
        assert!(to_vec_of(&BTreeMap::from([(true, "yes")])).is_err());
        assert!(to_vec_of(&json!({"a": [1, 2.5]})).is_err());
        // How serde_json's `RawValue` serializes itself (its `raw_value`
        // feature is on wherever axum is, not in this crate's tests).
        struct Raw;
        impl Serialize for Raw {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeStruct;
                let mut st = s.serialize_struct("$serde_json::private::RawValue", 1)?;
                st.serialize_field("$serde_json::private::RawValue", "{\"b\":1}")?;
                st.end()
            }
        }
        assert!(to_vec_of(&Raw).is_err());
    }

    #[test]
    fn keys_are_sorted_at_every_depth() {
        let v = json!({"b": 1, "a": {"z": true, "m": [1, {"y": null, "x": "é"}]}});
        assert_eq!(
            String::from_utf8(to_vec(&v)).unwrap_or_default(),
            r#"{"a":{"m":[1,{"x":"é","y":null}],"z":true},"b":1}"#
        );
    }
}
