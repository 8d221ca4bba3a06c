#!/usr/bin/env bash
# Builds zsift_<version>_<arch>.deb: the release binary (no test features), its man page
# and completion scripts (made by the binary from its own command-line definitions), the
# licence and the README. Installs cargo-deb beside the build if it is missing. Prints
# the package's path on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${CARGO_TARGET_DIR:-}" ]; then
  export CARGO_TARGET_DIR="${HOME:-/root}/.cache/zsift/target"
fi
mkdir -p "$CARGO_TARGET_DIR"

if ! command -v cargo-deb >/dev/null 2>&1; then
  tools="$CARGO_TARGET_DIR/tools"
  if [ ! -x "$tools/bin/cargo-deb" ]; then
    cargo install cargo-deb --locked --version 3.8.0 --root "$tools" >&2
  fi
  export PATH="$tools/bin:$PATH"
fi

cargo build --release >&2
bin="$CARGO_TARGET_DIR/release/zsift"
gen=packaging/generated
rm -rf "$gen"
mkdir -p "$gen"
"$bin" man | gzip -9n > "$gen/zsift.1.gz"
"$bin" completions bash > "$gen/zsift.bash"
"$bin" completions zsh > "$gen/_zsift"
"$bin" completions fish > "$gen/zsift.fish"

out="$CARGO_TARGET_DIR/debian"
mkdir -p "$out"
cargo deb --no-build --output "$out" >&2
ls -t "$out"/zsift_*.deb | head -n 1
