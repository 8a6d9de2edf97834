//! `POST /v1/embeddings`, as vLLM, SGLang and llama.cpp answer it: `data` items with an
//! `index` and an `embedding` (a list of numbers, or base64 of little-endian f32 when the
//! server encodes it), `model`, `usage`.

use crate::errors;
use crate::types::{Error, Usage};
use crate::wire::base64;
use crate::wire::completion::WireUsage;
use serde::Deserialize;
use serde_json::json;

/// The request body for one batch.
pub fn body(inputs: &[String], model: &str, dimensions: Option<u32>) -> Vec<u8> {
    let mut body = json!({"model": model, "input": inputs, "encoding_format": "float"});
    if let Some(d) = dimensions {
        body["dimensions"] = d.into();
    }
    body.to_string().into_bytes()
}

#[derive(Deserialize)]
struct Answer {
    data: Option<Vec<Item>>,
    model: Option<String>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct Item {
    index: Option<usize>,
    embedding: Option<Vector>,
}

/// A vector as numbers, or as base64 text (read by hand: `untagged` would first buffer the
/// numbers as a tree).
enum Vector {
    Floats(Vec<f32>),
    Base64(String),
}

impl<'de> Deserialize<'de> for Vector {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Vector, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Vector;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of numbers or base64 text")
            }
            fn visit_str<E>(self, v: &str) -> Result<Vector, E> {
                Ok(Vector::Base64(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Vector, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
                while let Some(x) = seq.next_element::<f32>()? {
                    out.push(x);
                }
                Ok(Vector::Floats(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// One batch's answer: `expected` vectors in input order, the model, usage.
#[derive(Debug)]
pub struct Batch {
    pub vectors: Vec<Vec<f32>>,
    pub model: Option<String>,
    pub usage: Option<Usage>,
}

/// Reads one batch's answer, checking that it holds one vector per input.
pub fn parse(body: &[u8], expected: usize, backend: &str) -> Result<Batch, Error> {
    let malformed = |why: String| Error {
        body: Some(errors::kept_body(body)),
        ..Error::malformed(format!(
            "the embeddings from `{backend}` are not an OpenAI embeddings answer ({why})"
        ))
    };
    let answer: Answer = serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
    let data = answer
        .data
        .ok_or_else(|| malformed("no `data` list".into()))?;
    if data.len() != expected {
        return Err(malformed(format!(
            "{} vectors for {expected} inputs",
            data.len()
        )));
    }
    let mut slots: Vec<Option<Vec<f32>>> = vec![None; expected];
    for (position, item) in data.into_iter().enumerate() {
        let index = item.index.unwrap_or(position);
        let vector = match item.embedding {
            Some(Vector::Floats(v)) => v,
            Some(Vector::Base64(text)) => {
                let bytes = base64::decode(&text)
                    .filter(|b| b.len() % 4 == 0)
                    .ok_or_else(|| {
                        malformed("an embedding is neither numbers nor base64 f32".into())
                    })?;
                bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect()
            }
            None => return Err(malformed(format!("item {position} has no embedding"))),
        };
        match slots.get_mut(index) {
            Some(slot @ None) => *slot = Some(vector),
            _ => {
                return Err(malformed(format!(
                    "index {index} is out of range or repeated"
                )));
            }
        }
    }
    Ok(Batch {
        vectors: slots.into_iter().flatten().collect(),
        model: answer.model,
        usage: answer.usage.map(WireUsage::into_usage),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_come_back_in_input_order_from_numbers_or_base64() {
        let mut b64 = String::new();
        let floats: Vec<u8> = [0.5f32, -1.0]
            .iter()
            .flat_map(|f| f.to_le_bytes())
            .collect();
        base64::encode_into(&floats, &mut b64);
        let answer = format!(
            r#"{{"object":"list","data":[{{"index":1,"embedding":"{b64}"}},{{"index":0,"embedding":[1,2]}}],"model":"e","usage":{{"prompt_tokens":4,"total_tokens":4}}}}"#
        );
        let batch = parse(answer.as_bytes(), 2, "b").unwrap();
        assert_eq!(batch.vectors, vec![vec![1.0, 2.0], vec![0.5, -1.0]]);
        assert_eq!(batch.usage.unwrap().prompt_tokens, 4);
        for bad in [
            r#"{"data":[{"index":0,"embedding":[1]}]}"#,
            r#"{"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[2]}]}"#,
            r#"{"data":[{"index":0,"embedding":"%%"},{"index":1,"embedding":[1]}]}"#,
        ] {
            let e = parse(bad.as_bytes(), 2, "b").unwrap_err();
            assert_eq!(e.code, crate::types::ErrorCode::MalformedResponse, "{bad}");
        }
    }
}
