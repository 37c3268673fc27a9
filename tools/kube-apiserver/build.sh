#!/usr/bin/env bash
# Builds the kube-apiserver that integration/apiserver_test.go runs, from the
# Go module proxy at the k8s.io/kubernetes version this module's go.mod pins,
# into a cache outside the work tree, and prints its path. Does nothing but
# print the path when the binary is already there. A cold build takes several
# minutes on two cores.
#
# The path is $TLSGEN_KUBE_APISERVER when set, else
# ~/.cache/tlsgen/kube-apiserver-<version>/kube-apiserver: the same rule as
# internal/servers.KubeAPIServerPath, where the test looks.
set -euo pipefail
cd "$(dirname "$0")"

version=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
bin=${TLSGEN_KUBE_APISERVER:-$HOME/.cache/tlsgen/kube-apiserver-$version/kube-apiserver}

if [ -x "$bin" ]; then
	echo "$bin"
	exit 0
fi

dir=$(dirname "$bin")
mkdir -p "$dir"
echo "kube-apiserver: building $version into $bin (several minutes cold)" >&2
start=$(date +%s)
# Built to a temporary name and renamed, so an interrupted build never leaves
# a binary that looks complete. The -X flags give it the version a release
# build reports (--version and /version, which the test checks); CGO is off
# as in Kubernetes's release builds.
major=${version#v}
major=${major%%.*}
minor=${version#v*.}
minor=${minor%%.*}
tmp=$(mktemp "$dir/.kube-apiserver.XXXXXX")
trap 'rm -f "$tmp"' EXIT
CGO_ENABLED=0 go build -trimpath -o "$tmp" \
	-ldflags "-s -w \
		-X k8s.io/component-base/version.gitVersion=$version \
		-X k8s.io/component-base/version.gitMajor=$major \
		-X k8s.io/component-base/version.gitMinor=$minor \
		-X k8s.io/component-base/version.gitTreeState=clean" \
	k8s.io/kubernetes/cmd/kube-apiserver
chmod 0755 "$tmp"
mv "$tmp" "$bin"
trap - EXIT
echo "kube-apiserver: built in $(($(date +%s) - start))s: $("$bin" --version)" >&2
echo "$bin"
