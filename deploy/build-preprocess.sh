#!/usr/bin/env bash
# Assembles the preprocess Lambda's source folder, which template.yaml's PreprocessFunction
# CodeUri points at (default: build/preprocess/ in the repository). `sam build` then installs
# requirements.txt into it for Lambda's python3.11 on Linux, whatever machine runs this.
#
# Only the code and libraries preprocess imports: teachbox, lambda_preprocess, Pillow, boto3.
# Not torch: it would make the zip gigabytes over Lambda's 250 MB limit, and preprocess never
# imports it.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/build/preprocess}"

rm -rf "$out"
mkdir -p "$out"
cp -R "$root/teachbox" "$root/lambda_preprocess" "$out/"
find "$out" -name __pycache__ -prune -exec rm -rf {} +
# boto3 is pinned here, not taken from the runtime: conditional PUTs (If-None-Match) need 1.35.
cat > "$out/requirements.txt" <<'REQUIREMENTS'
pillow>=11
boto3>=1.35
REQUIREMENTS
echo "preprocess source ready in $out"
