#!/usr/bin/env bash
# Installs what internal/sops's tests hold the package to: the age CLI from
# Debian, and the sops CLI v3.13.3 built from source into ~/.cache/tlsgen/bin
# (about 5 minutes and 1 GB of module downloads cold; nothing when it is
# there). The tests find sops at $TLSGEN_SOPS, then ~/.cache/tlsgen/bin/sops,
# then PATH, and fail, naming this script, when it is missing.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if ! command -v age >/dev/null || ! command -v age-keygen >/dev/null; then
	apt-get install -y -qq --no-install-recommends age ||
		{ apt-get update -qq && apt-get install -y -qq --no-install-recommends age; }
fi
age --version

version=3.13.3
bin="$HOME/.cache/tlsgen/bin"
if [ "$("$bin/sops" --version --disable-version-check 2>/dev/null)" != "sops $version" ]; then
	GOBIN="$bin" go install "github.com/getsops/sops/v3/cmd/sops@v$version"
fi
"$bin/sops" --version --disable-version-check
