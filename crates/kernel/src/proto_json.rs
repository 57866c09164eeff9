//! Protobuf messages as JSON a person can read, for subject access exports: proto field names,
//! enum value names, `google.protobuf.Timestamp` as RFC 3339 and `Duration` as `"1.5s"`, maps
//! as objects, bytes as hex (or as text when they are UTF-8).
//!
//! It reads the encoded message against a `FileDescriptorSet` (the one `tend-proto` embeds),
//! so any message of the contracts converts without generated serde code. Fields the message
//! does not carry (proto3 defaults) are left out; unknown fields are skipped.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat};
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorSet};
use serde_json::Map;

pub use prost::Message;
pub use serde_json::{Value, json};

/// The messages and enums of a descriptor set, by full name (`.tend.v1.Case`).
#[derive(Debug, Default)]
pub struct Descriptors {
    messages: HashMap<String, DescriptorProto>,
    enums: HashMap<String, EnumDescriptorProto>,
}

impl Descriptors {
    /// Reads an encoded `FileDescriptorSet`.
    pub fn decode(set: &[u8]) -> Result<Self, prost::DecodeError> {
        let set = FileDescriptorSet::decode(set)?;
        let mut descriptors = Self::default();
        for file in set.file {
            let prefix = match file.package() {
                "" => String::new(),
                package => format!(".{package}"),
            };
            for message in &file.message_type {
                descriptors.add_message(&prefix, message);
            }
            for enumeration in &file.enum_type {
                descriptors.enums.insert(format!("{prefix}.{}", enumeration.name()), enumeration.clone());
            }
        }
        Ok(descriptors)
    }

    fn add_message(&mut self, prefix: &str, message: &DescriptorProto) {
        let name = format!("{prefix}.{}", message.name());
        for nested in &message.nested_type {
            self.add_message(&name, nested);
        }
        for enumeration in &message.enum_type {
            self.enums.insert(format!("{name}.{}", enumeration.name()), enumeration.clone());
        }
        self.messages.insert(name, message.clone());
    }

    /// `message` (of type `full_name`, e.g. `tend.v1.Case`) as a JSON object. A type the set
    /// does not know, or bytes that do not decode, give the reason instead.
    pub fn to_json(&self, full_name: &str, message: &impl prost::Message) -> Value {
        let name = format!(".{}", full_name.trim_start_matches('.'));
        self.bytes_to_json(&name, &message.encode_to_vec())
    }

    fn bytes_to_json(&self, type_name: &str, bytes: &[u8]) -> Value {
        match self.decode_message(type_name, bytes) {
            Ok(value) => value,
            Err(problem) => Value::String(format!("<{type_name} not readable: {problem}>")),
        }
    }

    fn decode_message(&self, type_name: &str, bytes: &[u8]) -> Result<Value, String> {
        match type_name {
            ".google.protobuf.Timestamp" => return Ok(timestamp(bytes)),
            ".google.protobuf.Duration" => return Ok(duration(bytes)),
            _ => {}
        }
        let descriptor = self.messages.get(type_name).ok_or_else(|| "unknown type".to_owned())?;
        let is_map_entry = descriptor.options.as_ref().is_some_and(|options| options.map_entry());
        let mut object = Map::new();
        let mut reader = Reader { bytes, at: 0 };
        while !reader.done() {
            let key = reader.varint()?;
            let number = i32::try_from(key >> 3).map_err(|_| "field number out of range")?;
            let wire = Wire::of(key)?;
            let raw = reader.raw(wire)?;
            let Some(field) = descriptor.field.iter().find(|field| field.number() == number) else {
                continue;
            };
            let repeated = field.label() == Label::Repeated && !is_map_entry;
            let values = self.field_values(field, raw)?;
            let name = field.name().to_owned();
            if repeated {
                let entry = object.entry(name).or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(items) = entry {
                    items.extend(values);
                }
            } else if let Some(value) = values.into_iter().last() {
                object.insert(name, value);
            }
        }
        // Map fields arrive as repeated entries {key, value}: show them as an object.
        for field in &descriptor.field {
            let entry_type = self.messages.get(field.type_name());
            let is_map = entry_type.is_some_and(|entry| entry.options.as_ref().is_some_and(|o| o.map_entry()));
            if !is_map {
                continue;
            }
            if let Some(Value::Array(entries)) = object.remove(field.name()) {
                let mut map = Map::new();
                for entry in entries {
                    let key = match entry.get("key") {
                        Some(Value::String(key)) => key.clone(),
                        Some(other) => other.to_string(),
                        None => String::new(),
                    };
                    map.insert(key, entry.get("value").cloned().unwrap_or(Value::Null));
                }
                object.insert(field.name().to_owned(), Value::Object(map));
            }
        }
        Ok(Value::Object(object))
    }

    /// The values one occurrence of `field` carries (several for a packed repeated field).
    fn field_values(&self, field: &prost_types::FieldDescriptorProto, raw: Raw<'_>) -> Result<Vec<Value>, String> {
        let kind = field.r#type();
        match raw {
            Raw::Bytes(bytes) => match kind {
                Type::String => Ok(vec![Value::String(String::from_utf8_lossy(bytes).into_owned())]),
                Type::Bytes => Ok(vec![bytes_value(bytes)]),
                Type::Message | Type::Group => Ok(vec![self.bytes_to_json(field.type_name(), bytes)]),
                _ => {
                    // A packed repeated scalar.
                    let mut reader = Reader { bytes, at: 0 };
                    let mut values = Vec::new();
                    while !reader.done() {
                        let raw = match kind {
                            Type::Double | Type::Fixed64 | Type::Sfixed64 => reader.raw(Wire::Fixed64)?,
                            Type::Float | Type::Fixed32 | Type::Sfixed32 => reader.raw(Wire::Fixed32)?,
                            _ => reader.raw(Wire::Varint)?,
                        };
                        values.push(self.scalar(field, raw)?);
                    }
                    Ok(values)
                }
            },
            raw => Ok(vec![self.scalar(field, raw)?]),
        }
    }

    fn scalar(&self, field: &prost_types::FieldDescriptorProto, raw: Raw<'_>) -> Result<Value, String> {
        // Two's-complement reinterpretations of the wire's unsigned value are what the
        // protobuf encoding specifies for these types.
        #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap, clippy::cast_sign_loss)]
        let value = match (field.r#type(), raw) {
            (Type::Bool, Raw::Varint(v)) => Value::Bool(v != 0),
            (Type::Int32, Raw::Varint(v)) => Value::from(v as i32),
            (Type::Int64, Raw::Varint(v)) => Value::from(v as i64),
            (Type::Uint32, Raw::Varint(v)) => Value::from(v as u32),
            (Type::Uint64, Raw::Varint(v)) => Value::from(v),
            (Type::Sint32, Raw::Varint(v)) => Value::from(((v >> 1) as i64) ^ -((v & 1) as i64)),
            (Type::Sint64, Raw::Varint(v)) => Value::from(((v >> 1) as i64) ^ -((v & 1) as i64)),
            (Type::Enum, Raw::Varint(v)) => self.enum_value(field.type_name(), v as i32),
            (Type::Fixed64, Raw::Fixed64(v)) => Value::from(v),
            (Type::Sfixed64, Raw::Fixed64(v)) => Value::from(v as i64),
            (Type::Double, Raw::Fixed64(v)) => float(f64::from_bits(v)),
            (Type::Fixed32, Raw::Fixed32(v)) => Value::from(v),
            (Type::Sfixed32, Raw::Fixed32(v)) => Value::from(v as i32),
            (Type::Float, Raw::Fixed32(v)) => float(f64::from(f32::from_bits(v))),
            (kind, _) => return Err(format!("field {} ({kind:?}) has the wrong wire type", field.name())),
        };
        Ok(value)
    }

    fn enum_value(&self, type_name: &str, number: i32) -> Value {
        self.enums
            .get(type_name)
            .and_then(|enumeration| enumeration.value.iter().find(|value| value.number() == number))
            .map_or_else(|| Value::from(number), |value| Value::String(value.name().to_owned()))
    }
}

fn float(value: f64) -> Value {
    serde_json::Number::from_f64(value).map_or_else(|| Value::String(value.to_string()), Value::Number)
}

fn bytes_value(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(text) => Value::String(text.to_owned()),
        Err(_) => Value::String(format!("hex:{}", hex::encode(bytes))),
    }
}

fn timestamp(bytes: &[u8]) -> Value {
    let Ok(time) = prost_types::Timestamp::decode(bytes) else {
        return Value::String("<invalid timestamp>".to_owned());
    };
    let nanos = u32::try_from(time.nanos).unwrap_or(0);
    DateTime::from_timestamp(time.seconds, nanos).map_or_else(
        || Value::String(format!("{}s since 1970", time.seconds)),
        |time| Value::String(time.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
    )
}

fn duration(bytes: &[u8]) -> Value {
    let Ok(duration) = prost_types::Duration::decode(bytes) else {
        return Value::String("<invalid duration>".to_owned());
    };
    if duration.nanos == 0 {
        return Value::String(format!("{}s", duration.seconds));
    }
    // Exact in f64 for any duration a person would read.
    #[allow(clippy::cast_precision_loss)]
    let seconds = duration.seconds as f64 + f64::from(duration.nanos) / 1e9;
    Value::String(format!("{seconds}s"))
}

#[derive(Clone, Copy)]
enum Wire {
    Varint,
    Fixed64,
    Bytes,
    Fixed32,
}

impl Wire {
    fn of(key: u64) -> Result<Self, String> {
        match key & 7 {
            0 => Ok(Wire::Varint),
            1 => Ok(Wire::Fixed64),
            2 => Ok(Wire::Bytes),
            5 => Ok(Wire::Fixed32),
            other => Err(format!("wire type {other} is not supported")),
        }
    }
}

enum Raw<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }

    fn take(&mut self, count: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(count).filter(|end| *end <= self.bytes.len()).ok_or("truncated message")?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0_u64;
        for shift in (0..64).step_by(7) {
            let byte = self.take(1)?[0];
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("varint too long".to_owned())
    }

    fn raw(&mut self, wire: Wire) -> Result<Raw<'a>, String> {
        Ok(match wire {
            Wire::Varint => Raw::Varint(self.varint()?),
            Wire::Fixed64 => {
                let bytes: [u8; 8] = self.take(8)?.try_into().map_err(|_| "truncated fixed64")?;
                Raw::Fixed64(u64::from_le_bytes(bytes))
            }
            Wire::Fixed32 => {
                let bytes: [u8; 4] = self.take(4)?.try_into().map_err(|_| "truncated fixed32")?;
                Raw::Fixed32(u32::from_le_bytes(bytes))
            }
            Wire::Bytes => {
                let length = usize::try_from(self.varint()?).map_err(|_| "length out of range")?;
                Raw::Bytes(self.take(length)?)
            }
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use prost_types::{
        DescriptorProto, EnumValueDescriptorProto, FieldDescriptorProto, FileDescriptorProto, Timestamp,
    };

    /// A message with a string, a repeated string, an enum, a timestamp and an int.
    #[derive(Clone, PartialEq, prost::Message)]
    struct Sample {
        #[prost(string, tag = "1")]
        name: String,
        #[prost(string, repeated, tag = "2")]
        tags: Vec<String>,
        #[prost(int32, tag = "3")]
        kind: i32,
        #[prost(message, optional, tag = "4")]
        at: Option<Timestamp>,
        #[prost(int64, repeated, tag = "5")]
        counts: Vec<i64>,
    }

    fn field(name: &str, number: i32, kind: Type, label: Label, type_name: &str) -> FieldDescriptorProto {
        FieldDescriptorProto {
            name: Some(name.to_owned()),
            number: Some(number),
            r#type: Some(kind as i32),
            label: Some(label as i32),
            type_name: Some(type_name.to_owned()).filter(|name| !name.is_empty()),
            ..Default::default()
        }
    }

    fn descriptors() -> Descriptors {
        let file = FileDescriptorProto {
            package: Some("t".to_owned()),
            message_type: vec![DescriptorProto {
                name: Some("Sample".to_owned()),
                field: vec![
                    field("name", 1, Type::String, Label::Optional, ""),
                    field("tags", 2, Type::String, Label::Repeated, ""),
                    field("kind", 3, Type::Enum, Label::Optional, ".t.Kind"),
                    field("at", 4, Type::Message, Label::Optional, ".google.protobuf.Timestamp"),
                    field("counts", 5, Type::Int64, Label::Repeated, ""),
                ],
                ..Default::default()
            }],
            enum_type: vec![EnumDescriptorProto {
                name: Some("Kind".to_owned()),
                value: vec![EnumValueDescriptorProto {
                    name: Some("KIND_NOTE".to_owned()),
                    number: Some(2),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let set = FileDescriptorSet { file: vec![file] };
        Descriptors::decode(&set.encode_to_vec()).unwrap()
    }

    #[test]
    fn names_enums_times_and_packed_lists_read_as_a_person_would() {
        let sample = Sample {
            name: "Zoë".to_owned(),
            tags: vec!["a".to_owned(), "b".to_owned()],
            kind: 2,
            at: Some(Timestamp { seconds: 1_700_000_000, nanos: 0 }),
            counts: vec![-1, 3],
        };
        let json = descriptors().to_json("t.Sample", &sample);
        assert_eq!(
            json,
            serde_json::json!({
                "name": "Zoë",
                "tags": ["a", "b"],
                "kind": "KIND_NOTE",
                "at": "2023-11-14T22:13:20Z",
                "counts": [-1, 3],
            })
        );
    }

    #[test]
    fn defaults_are_left_out_and_unknown_types_say_so() {
        let json = descriptors().to_json("t.Sample", &Sample::default());
        assert_eq!(json, serde_json::json!({}));
        let unknown = descriptors().to_json("t.Nothing", &Sample::default());
        assert!(unknown.as_str().unwrap().contains("not readable"));
    }
}
