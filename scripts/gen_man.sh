#!/bin/sh
# Writes the milkit(1) man page to stdout from the binary's own --help texts (the top-level
# one and each subcommand's), so the page lists every subcommand and option the binary has.
# usage: sh scripts/gen_man.sh path/to/milkit > milkit.1   (`make man` refreshes docs/milkit.1)
set -eu
bin=$1
ver=$(sed -nE 's/^#define MK_VERSION "([^"]+)"/\1/p' "$(dirname "$0")/../include/milkit.h")
esc() { sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/^\([.']\)/\\\\\&\1/"; }
cmds=$("$bin" --help | awk '/^commands:/ {f = 1; next} /^$/ {if (f) exit} f {print $1}')
cat <<HDR
.TH MILKIT 1 "" "milkit $ver" "User Commands"
.SH NAME
milkit \\- convert, lint, fix and run Core ML ML Programs on Linux
.SH SYNOPSIS
.B milkit
.I command
[\\fIoptions\\fR]
.SH DESCRIPTION
milkit converts ONNX models to Core ML ML Program packages (.mlpackage), reads and writes
packages, reports and rewrites Core ML hazards, and runs models on a reference CPU interpreter.
.PP
.nf
HDR
"$bin" --help | esc
printf '.fi\n.SH COMMANDS\n'
for c in $cmds; do
    printf '.SS milkit %s\n.nf\n' "$c"
    "$bin" "$c" --help | esc
    printf '.fi\n'
done
cat <<'TAIL'
.SH EXIT STATUS
0 success, 1 findings or mismatch, 2 error (with a one-line message on stderr).
.SH SEE ALSO
The C library: milkit.h, pkg-config module milkit. The Python package: import milkit.
TAIL
