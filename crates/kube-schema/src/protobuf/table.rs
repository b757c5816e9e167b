//! Kubernetes' protobuf messages as a table in our own format (`data/k8s-messages.txt`, whose
//! header gives the syntax): one line per field with its wire facts (name, number, type, repeated
//! or map) and how Go's `encoding/json` writes it. At first use the table becomes the
//! `prost_reflect::DescriptorPool` the decoder reads the wire with (one
//! `FileDescriptorProto` per protobuf package, built here) and a map of the Go facts by field.
//!
//! The parser is written by hand because the format is ours: no `.proto` or descriptor tool
//! holds the wire facts and the Go JSON facts together, and the syntax is whitespace-separated
//! words, line by line.

use std::collections::{BTreeSet, HashMap, HashSet};

use prost_reflect::DescriptorPool;
use prost_reflect::prost_types::field_descriptor_proto::{Label, Type};
use prost_reflect::prost_types::{
    DescriptorProto, FieldDescriptorProto, FileDescriptorProto, FileDescriptorSet, MessageOptions,
};

/// The table the decoder uses: every generally available built-in kind of Kubernetes 1.32.
pub(crate) const KUBERNETES: &str = include_str!("../../data/k8s-messages.txt");

/// Kubernetes' messages, ready to decode with.
pub(crate) struct Messages {
    pub(crate) pool: DescriptorPool,
    /// By field full name (`k8s.io.api.core.v1.Secret.type`); a field without any flag is absent.
    go: HashMap<String, GoField>,
}

/// How Go's `encoding/json` writes one field, where that is not the default (the protobuf name,
/// a zero scalar left out, an absent field left out).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct GoField {
    /// The JSON name, where it is not the protobuf name (`json=`).
    pub(crate) json_name: Option<String>,
    /// A zero scalar is written too (`zero`: a pointer, or no `omitempty`).
    pub(crate) keeps_zero: bool,
    /// Absent, the field is written as `null` (`null`: slice, map or pointer without `omitempty`).
    pub(crate) null_when_absent: bool,
    /// An embedded struct whose fields are written as the enclosing object's own (`inline`: Go's
    /// `json:",inline"`, e.g. `Volume.VolumeSource`).
    pub(crate) inline: bool,
}

const NO_FLAGS: &GoField = &GoField { json_name: None, keeps_zero: false, null_when_absent: false, inline: false };

impl Messages {
    /// Reads a table; the error names the line and what is wrong with it.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let packages = statements(text)?;
        let mut aliases = HashMap::new();
        let mut known = HashSet::new();
        for package in &packages {
            if aliases.insert(package.alias, package.name).is_some() {
                return Err(format!("line {}: alias {:?} is taken", package.line, package.alias));
            }
            known.extend(package.messages.iter().map(|m| format!("{}.{}", package.name, m.name)));
        }
        let resolver = Resolver { aliases, known };
        let mut go = HashMap::new();
        let mut files = Vec::new();
        for package in &packages {
            let mut imports = BTreeSet::new();
            let mut message_type = Vec::new();
            for message in &package.messages {
                let full_name = format!("{}.{}", package.name, message.name);
                let mut descriptor = DescriptorProto { name: Some(message.name.to_string()), ..Default::default() };
                for field in &message.fields {
                    let at = |e: String| format!("line {}: {e}", field.line);
                    let proto =
                        resolver.field(package.name, &full_name, field, &mut descriptor, &mut imports).map_err(at)?;
                    descriptor.field.push(proto);
                    if field.go != *NO_FLAGS {
                        go.insert(format!("{full_name}.{}", field.name), field.go.clone());
                    }
                }
                message_type.push(descriptor);
            }
            files.push(FileDescriptorProto {
                name: Some(file_name(package.name)),
                package: Some(package.name.to_string()),
                dependency: imports.into_iter().map(file_name).collect(),
                message_type,
                ..Default::default()
            });
        }
        let pool = DescriptorPool::from_file_descriptor_set(FileDescriptorSet { file: files })
            .map_err(|e| format!("the messages do not make a valid descriptor pool: {e}"))?;
        Ok(Messages { pool, go })
    }

    /// The Go facts of a field, by its full name.
    pub(crate) fn go_field(&self, full_name: &str) -> &GoField {
        self.go.get(full_name).unwrap_or(NO_FLAGS)
    }
}

fn file_name(package: &str) -> String {
    format!("{package}.proto")
}

struct Package<'a> {
    line: usize,
    name: &'a str,
    alias: &'a str,
    messages: Vec<Message<'a>>,
}

struct Message<'a> {
    name: &'a str,
    fields: Vec<Field<'a>>,
}

struct Field<'a> {
    line: usize,
    name: &'a str,
    number: i32,
    ty: &'a str,
    go: GoField,
}

/// The table's statements, grouped; types are resolved once every message is known.
fn statements(text: &str) -> Result<Vec<Package<'_>>, String> {
    let mut packages: Vec<Package<'_>> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = |e: &str| format!("line {number}: {e}");
        match words.as_slice() {
            [] => {}
            [first, ..] if first.starts_with('#') => {}
            _ if line.starts_with(char::is_whitespace) => {
                let message = packages
                    .last_mut()
                    .and_then(|p| p.messages.last_mut())
                    .ok_or_else(|| at("a field outside a message"))?;
                message.fields.push(field(number, &words).map_err(|e| at(&e))?);
            }
            ["package", name, "as", alias] => {
                packages.push(Package { line: number, name, alias, messages: Vec::new() });
            }
            ["message", name] => {
                let package = packages.last_mut().ok_or_else(|| at("a message outside a package"))?;
                package.messages.push(Message { name, fields: Vec::new() });
            }
            _ => return Err(at("expected `package <name> as <alias>`, `message <Name>` or an indented field")),
        }
    }
    Ok(packages)
}

fn field<'a>(line: usize, words: &[&'a str]) -> Result<Field<'a>, String> {
    let [name, number, ty, flags @ ..] = words else {
        return Err("a field is `<name> <number> <type> [zero] [null] [inline] [json=<name>]`".into());
    };
    let number = number.parse().map_err(|_| format!("field number {number:?} is not a number"))?;
    let mut go = GoField::default();
    for flag in flags {
        match *flag {
            "zero" => go.keeps_zero = true,
            "null" => go.null_when_absent = true,
            "inline" => go.inline = true,
            _ => match flag.strip_prefix("json=") {
                Some(json) if !json.is_empty() => go.json_name = Some(json.to_string()),
                _ => return Err(format!("unknown flag {flag:?} (zero, null, inline, json=<name>)")),
            },
        }
    }
    if go.inline && (ty.starts_with("[]") || ty.starts_with("map[") || scalar(ty).is_some()) {
        return Err(format!("only a message field can be inline, not {ty:?}"));
    }
    Ok(Field { line, name, number, ty, go })
}

/// Turns the table's type names into descriptor types, and records the packages they import.
struct Resolver<'a> {
    aliases: HashMap<&'a str, &'a str>,
    /// Full names of every message in the table.
    known: HashSet<String>,
}

impl<'a> Resolver<'a> {
    /// The descriptor of a field of `message`; a map field adds its entry message to `descriptor`.
    fn field(
        &self,
        package: &'a str,
        message: &str,
        field: &Field<'a>,
        descriptor: &mut DescriptorProto,
        imports: &mut BTreeSet<&'a str>,
    ) -> Result<FieldDescriptorProto, String> {
        let proto =
            |name: &str, number: i32, label: Label, (ty, type_name): (Type, Option<String>)| FieldDescriptorProto {
                name: Some(name.to_string()),
                number: Some(number),
                label: Some(label.into()),
                r#type: Some(ty.into()),
                type_name,
                ..Default::default()
            };
        if let Some(map) = field.ty.strip_prefix("map[") {
            let (key, value) = map.split_once(']').ok_or_else(|| format!("map type {:?} has no `]`", field.ty))?;
            let key = scalar(key).ok_or_else(|| format!("map key {key:?} is not a scalar"))?;
            let value = self.single(package, value, imports)?;
            let mut letters = field.name.chars();
            let first = letters.next().map(|c| c.to_ascii_uppercase()).unwrap_or_default();
            let name = format!("{first}{}Entry", letters.as_str());
            descriptor.nested_type.push(DescriptorProto {
                name: Some(name.clone()),
                field: vec![proto("key", 1, Label::Optional, (key, None)), proto("value", 2, Label::Optional, value)],
                options: Some(MessageOptions { map_entry: Some(true), ..Default::default() }),
                ..Default::default()
            });
            let entry = (Type::Message, Some(format!(".{message}.{name}")));
            return Ok(proto(field.name, field.number, Label::Repeated, entry));
        }
        let (label, ty) = match field.ty.strip_prefix("[]") {
            Some(item) => (Label::Repeated, item),
            None => (Label::Optional, field.ty),
        };
        Ok(proto(field.name, field.number, label, self.single(package, ty, imports)?))
    }

    /// A scalar or message type (not repeated, not a map).
    fn single(
        &self,
        package: &'a str,
        ty: &str,
        imports: &mut BTreeSet<&'a str>,
    ) -> Result<(Type, Option<String>), String> {
        if let Some(scalar) = scalar(ty) {
            return Ok((scalar, None));
        }
        let (owner, name) = match ty.rsplit_once('.') {
            Some((alias, name)) => (
                *self.aliases.get(alias).ok_or_else(|| format!("no package has the alias {alias:?} (in {ty:?})"))?,
                name,
            ),
            None => (package, ty),
        };
        let full_name = format!("{owner}.{name}");
        if !self.known.contains(&full_name) {
            return Err(format!("type {ty:?} is neither a scalar nor a message of the table"));
        }
        if owner != package {
            imports.insert(owner);
        }
        Ok((Type::Message, Some(format!(".{full_name}"))))
    }
}

/// The scalar types go-to-protobuf gives Kubernetes' Go fields.
fn scalar(ty: &str) -> Option<Type> {
    Some(match ty {
        "string" => Type::String,
        "bool" => Type::Bool,
        "int32" => Type::Int32,
        "int64" => Type::Int64,
        "double" => Type::Double,
        "bytes" => Type::Bytes,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use prost_reflect::{Cardinality, Kind};

    use super::*;

    /// Every message the table names (fields' types, map values) is in the pool it builds, every
    /// message of the table is there, and every field with Go facts is a field of the pool.
    #[test]
    fn the_kubernetes_table_resolves_every_message_it_references() {
        let messages = Messages::parse(KUBERNETES).unwrap();
        let pool = &messages.pool;
        let declared = KUBERNETES.lines().filter(|l| l.starts_with("message ")).count();
        assert_eq!(pool.all_messages().filter(|m| !m.is_map_entry()).count(), declared);
        assert!(declared > 500, "every generally available kind: {declared} messages");
        let mut references = 0;
        for message in pool.all_messages() {
            for field in message.fields() {
                let target = match field.kind() {
                    Kind::Message(m) if m.is_map_entry() => m.map_entry_value_field().kind(),
                    kind => kind,
                };
                if let Kind::Message(target) = target {
                    assert!(pool.get_message_by_name(target.full_name()).is_some(), "{}", field.full_name());
                    references += 1;
                }
            }
        }
        assert!(references > 900, "{references}");
        for name in messages.go.keys() {
            let (message, field) = name.rsplit_once('.').unwrap();
            let message = pool.get_message_by_name(message).unwrap_or_else(|| panic!("{name}"));
            assert!(message.get_field_by_name(field).is_some(), "{name}");
        }
    }

    const SMALL: &str = "\
# a comment
package example.meta.v1 as meta

message Meta
  name 1 string
  message 2 string zero json=msg

package example.v1 as example

message Widget
  metadata 1 meta.Meta
  sizes 3 []int64 null
  labels 2 map[string]string
  parts 4 map[string]Part
  ratio 5 double

message Part
  count 1 int32 zero
";

    #[test]
    fn a_small_table_builds_its_messages_in_declaration_order() {
        let messages = Messages::parse(SMALL).unwrap();
        let widget = messages.pool.get_message_by_name("example.v1.Widget").unwrap();
        let declared: Vec<_> = widget.descriptor_proto().field.iter().map(|f| (f.name(), f.number())).collect();
        assert_eq!(declared, [("metadata", 1), ("sizes", 3), ("labels", 2), ("parts", 4), ("ratio", 5)]);
        let field = |name| widget.get_field_by_name(name).unwrap();
        assert!(matches!(field("metadata").kind(), Kind::Message(m) if m.full_name() == "example.meta.v1.Meta"));
        assert_eq!(field("sizes").cardinality(), Cardinality::Repeated);
        assert!(field("sizes").is_list() && field("labels").is_map() && field("parts").is_map());
        let Kind::Message(entry) = field("parts").kind() else { panic!("a map field is a message") };
        assert_eq!(entry.full_name(), "example.v1.Widget.PartsEntry");
        assert!(matches!(entry.map_entry_value_field().kind(), Kind::Message(m) if m.full_name() == "example.v1.Part"));
        assert_eq!(field("ratio").kind(), Kind::Double);
        assert_eq!(
            messages.go_field("example.meta.v1.Meta.message"),
            &GoField { json_name: Some("msg".into()), keeps_zero: true, null_when_absent: false, inline: false }
        );
        assert!(messages.go_field("example.v1.Widget.sizes").null_when_absent);
        assert_eq!(messages.go_field("example.v1.Widget.labels"), NO_FLAGS);
        let file = messages.pool.get_file_by_name("example.v1.proto").unwrap();
        assert_eq!(file.file_descriptor_proto().dependency, ["example.meta.v1.proto"]);
    }

    #[test]
    fn mistakes_are_refused_with_their_line() {
        let refused = |text: &str| Messages::parse(text).err().unwrap_or_else(|| panic!("accepted:\n{text}"));
        let dangling = SMALL.replace("meta.Meta", "meta.Metta");
        assert_eq!(refused(&dangling), "line 11: type \"meta.Metta\" is neither a scalar nor a message of the table");
        let no_alias = SMALL.replace("meta.Meta", "core.Meta");
        assert_eq!(refused(&no_alias), "line 11: no package has the alias \"core\" (in \"core.Meta\")");
        let no_such_local = SMALL.replace("]Part", "]Parts");
        assert_eq!(refused(&no_such_local), "line 14: type \"Parts\" is neither a scalar nor a message of the table");
        for (from, to, error) in [
            ("null", "nul", "line 12: unknown flag \"nul\" (zero, null, inline, json=<name>)"),
            ("[]int64 null", "[]int64 inline", "line 12: only a message field can be inline, not \"[]int64\""),
            (" 5 double", " five double", "line 15: field number \"five\" is not a number"),
            ("map[string]string", "map[Part]string", "line 13: map key \"Part\" is not a scalar"),
        ] {
            assert_eq!(refused(&SMALL.replace(from, to)), error);
        }
        assert_eq!(refused(&SMALL.replace("as example", "as meta")), "line 8: alias \"meta\" is taken");
        assert!(refused("message Orphan\n").starts_with("line 1: a message outside a package"));
        assert!(refused("package a as a\n  name 1 string\n").starts_with("line 2: a field outside a message"));
        assert!(refused("package a as a\nmessage M\n  name 1\n").starts_with("line 3: a field is `<name>"));
        assert!(refused("packages a as a\n").starts_with("line 1: expected `package"));
        let twice = SMALL.replace("ratio 5", "ratio 1");
        assert!(refused(&twice).starts_with("the messages do not make a valid descriptor pool"), "{}", refused(&twice));
    }
}
