#!/bin/sh
# Compile Kubernetes' own protobuf definitions into the descriptor set kube-schema decodes with.
#
# Usage: tools/descriptors.sh ROOT > data/k8s-descriptors.pb
#
# ROOT holds checkouts laid out as Go imports them, at the tag matching the Kubernetes minor
# Rampart reports (v0.32.x): ROOT/k8s.io/api, ROOT/k8s.io/apimachinery and
# ROOT/k8s.io/apiextensions-apiserver. Only the generally available group-versions are taken,
# without comments (protoc leaves source info out unless asked): names, numbers and types only.
set -eu
root=$1
cd "$root"
files=$(find k8s.io/api k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1 \
        -path '*/v[0-9]/generated.proto' | grep -v -e '/admission/' -e '/apidiscovery/' | sort)
files="$files k8s.io/apimachinery/pkg/api/resource/generated.proto
k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto
k8s.io/apimachinery/pkg/runtime/generated.proto
k8s.io/apimachinery/pkg/runtime/schema/generated.proto
k8s.io/apimachinery/pkg/util/intstr/generated.proto"
out=$(mktemp)
protoc -I . --include_imports -o "$out" $files 2>/dev/null
cat "$out"
rm -f "$out"
