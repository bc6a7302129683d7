# Sourced by the benchmark scripts (needs $root and $work set).
# build_bantin REV OUT: builds bantin into the file OUT from commit REV
# (through git archive, so the working tree is not touched), or from the
# working tree when REV is empty.
build_bantin() {
  if [ -z "$1" ]; then
    (cd "$root" && go build -o "$2" ./cmd/bantin)
    return
  fi
  local src
  src=$(mktemp -d "$work/src.XXXXXX")
  git -C "$root" archive "$1" | tar -x -C "$src"
  (cd "$src" && go build -o "$2" ./cmd/bantin)
  rm -rf "$src"
}
