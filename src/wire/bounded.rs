//! Reading JSON from a server without letting it choose how much memory we use. A parsed
//! `serde_json::Value` can take ten times its text (16 MiB of `[{},{},...]` becomes hundreds
//! of MiB of maps), so server JSON is never parsed into a tree here: values we only pass on
//! are kept as their text ([`JsonText`]), arrays keep a bounded number of items
//! ([`Bounded`]), and a value's kind is told without building it ([`kind`]).

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

/// Any JSON value as text: a string's content, anything else as its JSON text exactly as
/// the server wrote it (key order kept). Costs the value's text, never a tree.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JsonText(pub String);

impl<'de> Deserialize<'de> for JsonText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<JsonText, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        JsonText::from_raw(&raw).map_err(de::Error::custom)
    }
}

impl JsonText {
    /// Like `deserialize`, but `null` is `None` (where null means something of its own).
    pub fn deserialize_keeping_null<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<JsonText>, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        if raw.get() == "null" {
            return Ok(None);
        }
        JsonText::from_raw(&raw)
            .map(Some)
            .map_err(de::Error::custom)
    }

    fn from_raw(raw: &RawValue) -> Result<JsonText, serde_json::Error> {
        let text = raw.get();
        if text.starts_with('"') {
            serde_json::from_str::<String>(text).map(JsonText)
        } else {
            Ok(JsonText(text.to_string()))
        }
    }
}

/// At most `N` items of a JSON array; the rest are skipped (read, never stored) and counted.
#[derive(Clone, Debug, PartialEq)]
pub struct Bounded<T, const N: usize> {
    /// The first `N` items.
    pub items: Vec<T>,
    /// How many more the array had.
    pub dropped: usize,
}

impl<T, const N: usize> Default for Bounded<T, N> {
    fn default() -> Self {
        Bounded {
            items: Vec::new(),
            dropped: 0,
        }
    }
}

impl<'de, T: Deserialize<'de>, const N: usize> Deserialize<'de> for Bounded<T, N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Items<T, const N: usize>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const N: usize> Visitor<'de> for Items<T, N> {
            type Value = Bounded<T, N>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list")
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Bounded::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Bounded::default();
                while out.items.len() < N {
                    match seq.next_element()? {
                        Some(item) => out.items.push(item),
                        None => return Ok(out),
                    }
                }
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    out.dropped += 1;
                }
                Ok(out)
            }
        }
        d.deserialize_any(Items(PhantomData))
    }
}

/// The text of a message `content`: a string (borrowed from the input when it has no
/// escapes, so a big delta is not copied), or the `text` of each part of a list of
/// `{"type":"text","text":...}` parts (other parts skipped), concatenated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContentText<'a>(pub Option<Cow<'a, str>>);

impl ContentText<'_> {
    /// The text, owned.
    pub fn into_string(self) -> Option<String> {
        self.0.map(Cow::into_owned)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for ContentText<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ContentText<'a>, D::Error> {
        struct Content<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for Content<'a> {
            type Value = ContentText<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a list of content parts")
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(ContentText(None))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(ContentText(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(ContentText(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(ContentText(Some(Cow::Owned(v))))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(ContentText(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(ContentText(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(ContentText(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(ContentText(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut text = String::new();
                while let Some(part) = seq.next_element::<PartText>()? {
                    text.push_str(&part.0);
                }
                Ok(ContentText(Some(Cow::Owned(text))))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let part = PartText::from_map(map)?;
                Ok(ContentText(Some(Cow::Owned(part.0))))
            }
        }
        d.deserialize_any(Content(PhantomData))
    }
}

/// The text of one content part: a string, or a part object's `text` field.
struct PartText(String);

impl PartText {
    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<PartText, A::Error> {
        let mut text = String::new();
        while let Some(key) = map.next_key::<KeyName>()? {
            if key.0 {
                text = map.next_value::<Option<String>>()?.unwrap_or_default();
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(PartText(text))
    }
}

impl<'de> Deserialize<'de> for PartText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<PartText, D::Error> {
        struct Part;
        impl<'de> Visitor<'de> for Part {
            type Value = PartText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a content part")
            }
            fn visit_str<E>(self, v: &str) -> Result<PartText, E> {
                Ok(PartText(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<PartText, A::Error> {
                PartText::from_map(map)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PartText, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(PartText(String::new()))
            }
            fn visit_unit<E>(self) -> Result<PartText, E> {
                Ok(PartText(String::new()))
            }
            fn visit_bool<E>(self, _: bool) -> Result<PartText, E> {
                Ok(PartText(String::new()))
            }
            fn visit_i64<E>(self, _: i64) -> Result<PartText, E> {
                Ok(PartText(String::new()))
            }
            fn visit_u64<E>(self, _: u64) -> Result<PartText, E> {
                Ok(PartText(String::new()))
            }
            fn visit_f64<E>(self, _: f64) -> Result<PartText, E> {
                Ok(PartText(String::new()))
            }
        }
        d.deserialize_any(Part)
    }
}

/// A map key: `true` when it is `text`.
struct KeyName(bool);

impl<'de> Deserialize<'de> for KeyName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<KeyName, D::Error> {
        struct Key;
        impl<'de> Visitor<'de> for Key {
            type Value = KeyName;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E>(self, v: &str) -> Result<KeyName, E> {
                Ok(KeyName(v == "text"))
            }
        }
        d.deserialize_str(Key)
    }
}

/// The kind of a JSON value, told without building it (a string's content is kept: JSON
/// inside a string is a common double encoding).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `{...}`
    Object,
    /// `[...]`
    Array,
    /// A string, with its content.
    String(String),
    /// A number.
    Number,
    /// `true` / `false`.
    Boolean,
    /// `null`.
    Null,
}

impl Kind {
    /// The JSON Schema name of the kind.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Object => "object",
            Kind::Array => "array",
            Kind::String(_) => "string",
            Kind::Number => "number",
            Kind::Boolean => "boolean",
            Kind::Null => "null",
        }
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Kind, D::Error> {
        struct K;
        impl<'de> Visitor<'de> for K {
            type Value = Kind;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Kind, E> {
                Ok(Kind::Null)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Kind, E> {
                Ok(Kind::Boolean)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Kind, E> {
                Ok(Kind::Number)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Kind, E> {
                Ok(Kind::Number)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Kind, E> {
                Ok(Kind::Number)
            }
            fn visit_str<E>(self, v: &str) -> Result<Kind, E> {
                Ok(Kind::String(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Kind, E> {
                Ok(Kind::String(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Kind, A::Error> {
                while seq.next_element::<Checked>()?.is_some() {}
                Ok(Kind::Array)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Kind, A::Error> {
                while map.next_entry::<IgnoredAny, Checked>()?.is_some() {}
                Ok(Kind::Object)
            }
        }
        d.deserialize_any(K)
    }
}

/// Any JSON value, read without building it but checked as a `serde_json::Value` parse
/// checks it: `IgnoredAny` skips numbers unread, so `{"a": 9e999}` would pass here and fail
/// in the caller's parser (a number out of range).
struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Checked, D::Error> {
        struct C;
        impl<'de> Visitor<'de> for C {
            type Value = Checked;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Checked, E> {
                Ok(Checked)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
                Ok(Checked)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
                Ok(Checked)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
                Ok(Checked)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
                Ok(Checked)
            }
            fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
                Ok(Checked)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
                while seq.next_element::<Checked>()?.is_some() {}
                Ok(Checked)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
                while map.next_entry::<IgnoredAny, Checked>()?.is_some() {}
                Ok(Checked)
            }
        }
        d.deserialize_any(C)
    }
}

/// The kind of the one JSON value in `text` (surrounding whitespace allowed).
pub fn kind(text: &str) -> Result<Kind, serde_json::Error> {
    serde_json::from_str(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_kept_as_text_and_arrays_bounded() {
        let t: JsonText = serde_json::from_str(r#" {"b":1, "a":[2]} "#).unwrap();
        assert_eq!(t.0, r#"{"b":1, "a":[2]}"#);
        let t: JsonText = serde_json::from_str(r#""a\nb""#).unwrap();
        assert_eq!(t.0, "a\nb");
        let b: Bounded<u8, 2> = serde_json::from_str("[1,2,3,{},[]]").unwrap();
        assert_eq!((b.items, b.dropped), (vec![1, 2], 3));
        let b: Bounded<u8, 2> = serde_json::from_str("null").unwrap();
        assert!(b.items.is_empty());
    }

    #[test]
    fn content_text_joins_parts_without_a_tree() {
        let c: ContentText =
            serde_json::from_str(r#"[{"type":"text","text":"a"},"b",{"type":"image_url","image_url":{"url":"x"}},{"text":"c"}]"#)
                .unwrap();
        assert_eq!(c.0.as_deref(), Some("abc"));
        let c: ContentText = serde_json::from_str("null").unwrap();
        assert_eq!(c.0, None);
        let c: ContentText = serde_json::from_str(r#""plain""#).unwrap();
        assert!(matches!(c.0, Some(Cow::Borrowed("plain"))));
        let c: ContentText = serde_json::from_str(r#""a\nb""#).unwrap();
        assert_eq!(c.0.as_deref(), Some("a\nb"));
    }

    #[test]
    fn kinds_are_told_without_building_values() {
        assert_eq!(kind(" {\"a\": [1, {}]} ").unwrap(), Kind::Object);
        assert_eq!(kind("[[],[]]").unwrap(), Kind::Array);
        assert_eq!(kind(r#""{}""#).unwrap(), Kind::String("{}".into()));
        assert_eq!(kind("null").unwrap(), Kind::Null);
        assert!(kind("{").is_err());
        assert!(kind("{} {}").is_err());
    }

    /// Found by the `tool_args` fuzz target: `{"":9.9E999999999}` was told an object, and
    /// passed on as tool-call arguments no `serde_json::Value` parse accepts.
    #[test]
    fn out_of_range_numbers_are_not_valid_json_here_either() {
        for text in [r#"{"":9.9E999999999}"#, r#"{"a":[1e400]}"#, "[-1e309]"] {
            assert!(kind(text).is_err(), "{text}");
            assert!(serde_json::from_str::<serde_json::Value>(text).is_err());
        }
        assert_eq!(
            kind(r#"{"a":[1e308, -0.0, 18446744073709551615]}"#).unwrap(),
            Kind::Object
        );
    }
}
