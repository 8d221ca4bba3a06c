#!/usr/bin/env bash
# Checks a zsift .deb without installing it: extracted with dpkg-deb into a temporary
# root, its binary runs on the demo log (summary, score), reports its version and commit,
# its man page renders with man, and bash loads its completion script.
# Usage: packaging/test-deb.sh PACKAGE.deb
set -euo pipefail
deb="$1"
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
dpkg-deb -x "$deb" "$root"
fail() { echo "test-deb: $*" >&2; exit 1; }

for f in usr/bin/zsift usr/share/man/man1/zsift.1.gz \
  usr/share/bash-completion/completions/zsift usr/share/zsh/vendor-completions/_zsift \
  usr/share/fish/vendor_completions.d/zsift.fish usr/share/doc/zsift/copyright \
  usr/share/doc/zsift/README.md; do
  [ -e "$root/$f" ] || fail "missing $f"
done
grep -q "MIT License" "$root/usr/share/doc/zsift/copyright" || fail "no licence in copyright"

zsift="$root/usr/bin/zsift"
version="$("$zsift" --version)"
[[ "$version" =~ ^zsift\ [0-9]+\.[0-9]+\.[0-9]+\ \(commit\ [0-9a-f]{7,}\)$ ]] \
  || fail "--version printed: $version"
pkg_version="$(dpkg-deb -f "$deb" Version)"
[ "${pkg_version%-*}" = "$(echo "$version" | cut -d' ' -f2)" ] \
  || fail "package version $pkg_version differs from the binary's"

"$zsift" summary --demo | grep -q "^rows *3361" || fail "summary of the demo log"
flagged="$("$zsift" score --demo --format jsonl | wc -l)"
[ "$flagged" -gt 0 ] || fail "score flagged nothing on the demo log"

page="$(MANWIDTH=100 man -l "$root/usr/share/man/man1/zsift.1.gz" 2>/dev/null)"
for section in NAME SYNOPSIS OPTIONS SUBCOMMANDS EXAMPLES FILES; do
  grep -q "^$section" <<<"$page" || fail "man page has no $section section"
done
grep -q "zsift fit --save" <<<"$page" || fail "man page examples"

bash -c "source '$root/usr/share/bash-completion/completions/zsift' && complete -p zsift" \
  | grep -q "_zsift zsift" || fail "bash does not load the completion script"
# The completion offers the subcommands, and the values of --by.
words="$(bash -c "source '$root/usr/share/bash-completion/completions/zsift'
COMP_WORDS=(zsift sc); COMP_CWORD=1; COMP_LINE='zsift sc'; COMP_POINT=8
_zsift zsift sc zsift; printf '%s\n' \"\${COMPREPLY[@]}\"")"
grep -qx "score" <<<"$words" || fail "completion of 'zsift sc': $words"
words="$(bash -c "source '$root/usr/share/bash-completion/completions/zsift'
COMP_WORDS=(zsift hosts --by ''); COMP_CWORD=3; COMP_LINE='zsift hosts --by '; COMP_POINT=17
_zsift zsift '' --by; printf '%s\n' \"\${COMPREPLY[@]}\"")"
grep -qx "pair" <<<"$words" || fail "completion of --by: $words"

echo "test-deb: $(basename "$deb") ok ($version)"
