#!/bin/sh
# A mail delivery agent for the fetchmail tests: stores the message read on
# standard input, unchanged, as the next numbered file (0000.eml, 0001.eml,
# ...) in the directory given as the only argument. fetchmail delivers one
# message at a time, so counting the files gives the order of retrieval.
set -eu
dir="$1"
n=$(find "$dir" -maxdepth 1 -name '*.eml' | wc -l)
cat > "$dir/$(printf %04d "$n").tmp"
mv "$dir/$(printf %04d "$n").tmp" "$dir/$(printf %04d "$n").eml"
