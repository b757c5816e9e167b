#!/usr/bin/env python3
"""Extract, from Kubernetes' Go API types, the facts kube-schema keeps as data.

Usage: go_facts.py ROOT > src/facts.rs && rustfmt --edition 2024 src/facts.rs

ROOT is laid out as for tools/descriptors.sh: ROOT/k8s.io/api, ROOT/k8s.io/apimachinery and
ROOT/k8s.io/apiextensions-apiserver, at the tag matching the Kubernetes minor Rampart reports
(v0.32.x). Only generally available group-versions (v1, v2, ...) are read. The tables:

* ZERO_SIGNIFICANT: per protobuf message, the scalar fields whose zero value Go's JSON encoder
  still writes (pointers, and fields without `omitempty`). The protobuf decoder needs it: the
  wire carries every non-pointer scalar, so a zero there is "unset" unless listed here.
* NULL_WHEN_ABSENT: per protobuf message, the slice, map and pointer fields without
  `omitempty` (by protobuf name): absent from the wire, Go's JSON encoder writes them as `null`.
* JSON_NAMES: per protobuf message, the fields whose JSON name is not their protobuf name
  (`$ref`, `x-kubernetes-*` of JSONSchemaProps).
* FIELD_EXTENSIONS: per OpenAPI schema, the `x-kubernetes-*` extensions of each field (patch
  strategy and merge key from the struct tags; list type, list map keys and map type from the
  `+listType`, `+listMapKey`, `+mapType` markers), plus `+structType=atomic` on a type.
"""
import glob
import os
import re
import sys

BUILTIN = {"string", "bool", "int", "int8", "int16", "int32", "int64", "uint", "uint8",
           "uint16", "uint32", "uint64", "float32", "float64", "byte"}
TYPE_DECL = re.compile(r"^type (\w+) (\S+)")
FIELD = re.compile(r"^\s+(\w+)\s+(\S+)\s+`([^`]*)`")
GA = re.compile(r"^v\d+$")


def packages(root):
    found = {}
    for path in sorted(glob.glob(os.path.join(root, "k8s.io", "api", "*", "*", "types.go"))):
        group, version = path.split(os.sep)[-3:-1]
        if GA.match(version):
            found[(f"k8s.io.api.{group}.{version}", f"io.k8s.api.{group}.{version}")] = [path]
    meta = os.path.join(root, "k8s.io", "apimachinery", "pkg", "apis", "meta", "v1", "types.go")
    found[("k8s.io.apimachinery.pkg.apis.meta.v1", "io.k8s.apimachinery.pkg.apis.meta.v1")] = [meta]
    ext = os.path.join(root, "k8s.io", "apiextensions-apiserver", "pkg", "apis", "apiextensions", "v1")
    found[("k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1",
           "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1")] = [
        os.path.join(ext, "types.go"), os.path.join(ext, "types_jsonschema.go")]
    return found


def parse(path, aliases):
    structs = {}
    lines = open(path).read().split("\n")
    comments = []
    i = 0
    while i < len(lines):
        line = lines[i]
        decl = TYPE_DECL.match(line)
        if decl and decl.group(2) != "struct":
            aliases[decl.group(1)] = decl.group(2)
        if decl and decl.group(2) == "struct":
            atomic = any("+structType=atomic" in c for c in comments)
            fields = []
            field_comments = []
            i += 1
            while not lines[i].startswith("}"):
                stripped = lines[i].strip()
                if stripped.startswith("//"):
                    field_comments.append(stripped)
                else:
                    m = FIELD.match(lines[i])
                    if m:
                        fields.append((m.group(1), m.group(2), m.group(3), field_comments))
                    field_comments = []
                i += 1
            structs[decl.group(1)] = (atomic, fields)
        comments = comments + [line.strip()] if line.strip().startswith("//") else []
        i += 1
    return structs


def is_scalar(go_type, aliases):
    if go_type == "[]byte":
        return True
    name = go_type
    for _ in range(5):
        if name.startswith("[]") or name.startswith("map["):
            return False
        name = name.split(".")[-1]
        if name in BUILTIN:
            return True
        if name not in aliases:
            return False
        name = aliases[name]
    return False


def marker(comments, key):
    values = []
    for c in comments:
        m = re.match(r"//\s*\+" + re.escape(key) + r"=(\S+)", c)
        if m:
            values.append(m.group(1))
    return values


def rust_str(s):
    return '"' + s + '"'


def main():
    aliases = {"UID": "string"}
    parsed = {}
    for key, paths in packages(sys.argv[1]).items():
        parsed[key] = {}
        for path in paths:
            parsed[key].update(parse(path, aliases))
    zero, exts, atomic_types, renames, nulls = [], [], [], [], []
    for (proto_pkg, schema_pkg), structs in sorted(parsed.items()):
        for name in sorted(structs):
            atomic, fields = structs[name]
            if atomic:
                atomic_types.append(f"{schema_pkg}.{name}")
            keep, null = [], []
            for _field, go_type, tag, comments in fields:
                pm = re.search(r'protobuf:"([^"]*)"', tag)
                jm = re.search(r'json:"([^"]*)"', tag)
                if not pm or not jm:
                    continue
                parts = jm.group(1).split(",")
                json_name = parts[0]
                proto_name = re.search(r"name=([^,]*)", pm.group(1)).group(1)
                if proto_name != json_name and json_name != "-":
                    renames.append((f"{proto_pkg}.{name}", proto_name, json_name))
                pointer = go_type.startswith("*")
                omitempty = "omitempty" in parts[1:]
                if is_scalar(go_type.lstrip("*"), aliases) and (pointer or not omitempty):
                    keep.append(proto_name)
                if not omitempty and (pointer or go_type.startswith("[]") or go_type.startswith("map[")):
                    null.append(proto_name)
                strategy = re.search(r'patchStrategy:"([^"]*)"', tag)
                merge_key = re.search(r'patchMergeKey:"([^"]*)"', tag)
                list_type = marker(comments, "listType")
                map_keys = marker(comments, "listMapKey")
                map_type = marker(comments, "mapType")
                if strategy or merge_key or list_type or map_type:
                    exts.append((f"{schema_pkg}.{name}", json_name,
                                 strategy.group(1) if strategy else None,
                                 merge_key.group(1) if merge_key else None,
                                 list_type[0] if list_type else None, map_keys,
                                 map_type[0] if map_type else None))
            if keep:
                zero.append((f"{proto_pkg}.{name}", keep))
            if null:
                nulls.append((f"{proto_pkg}.{name}", null))

    def opt(v):
        return f"Some({rust_str(v)})" if v else "None"

    out = ["// @generated by tools/go_facts.py from k8s.io/api and k8s.io/apimachinery v0.32.4.",
           "// Facts about Kubernetes' Go API types; regenerate rather than edit.", "",
           "use crate::openapi::FieldExtensions;", "",
           "/// Scalar fields (by protobuf name) whose zero value Go's JSON encoder writes (pointers,",
           "/// no `omitempty`), by protobuf message, sorted.",
           "pub(crate) static ZERO_SIGNIFICANT: &[(&str, &[&str])] = &["]
    for msg, fields in sorted(zero):
        out.append(f"    ({rust_str(msg)}, &[{', '.join(rust_str(f) for f in fields)}]),")
    out += ["];", "", "/// Slice, map and pointer fields (by protobuf name) without `omitempty`, which Go's JSON",
            "/// encoder writes as `null` when absent, by protobuf message, sorted.",
            "pub(crate) static NULL_WHEN_ABSENT: &[(&str, &[&str])] = &["]
    for msg, fields in sorted(nulls):
        out.append(f"    ({rust_str(msg)}, &[{', '.join(rust_str(f) for f in fields)}]),")
    out += ["];", "", "/// Fields whose JSON name differs from their protobuf name: (message, protobuf, JSON), sorted.",
            "pub(crate) static JSON_NAMES: &[(&str, &str, &str)] = &["]
    out += [f"    ({rust_str(m)}, {rust_str(p)}, {rust_str(j)})," for m, p, j in sorted(renames)]
    out += ["];", "", "/// Types marked `+structType=atomic`, by OpenAPI schema name, sorted.",
            "pub(crate) static ATOMIC_STRUCTS: &[&str] = &["]
    out += [f"    {rust_str(t)}," for t in sorted(atomic_types)]
    out += ["];", "", "/// `x-kubernetes-*` extensions of fields, by OpenAPI schema name then field, sorted.",
            "pub(crate) static FIELD_EXTENSIONS: &[FieldExtensions] = &["]
    for schema, field, strategy, merge_key, list_type, map_keys, map_type in sorted(exts, key=lambda e: (e[0], e[1])):
        keys = ", ".join(rust_str(k) for k in map_keys)
        out.append(f"    FieldExtensions {{ schema: {rust_str(schema)}, field: {rust_str(field)}, "
                   f"patch_strategy: {opt(strategy)}, patch_merge_key: {opt(merge_key)}, "
                   f"list_type: {opt(list_type)}, list_map_keys: &[{keys}], map_type: {opt(map_type)} }},")
    out.append("];")
    print("\n".join(out))


if __name__ == "__main__":
    main()
