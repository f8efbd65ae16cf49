#!/usr/bin/env bash
# Builds the static worker binary (gnu target, crt-static) and the FROM
# scratch image: with docker where an engine runs, with buildah otherwise.
#   scraper/build-image.sh [IMAGE]     (default localhost/trawl-scraper:dev)
#   scraper/build-image.sh --binary-only
# Prints the path of the binary and the image reference on its last lines.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
binary_only=false
if [[ ${1:-} == --binary-only ]]; then binary_only=true; shift; fi
image=${1:-localhost/trawl-scraper:dev}
target=x86_64-unknown-linux-gnu
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/trawl/target}"

# --target keeps the static flag away from build scripts and proc macros.
RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --profile image --locked -p trawl-scraper --bin trawl-scraper --target "$target"
bin="$CARGO_TARGET_DIR/$target/image/trawl-scraper"
if ldd "$bin" 2>&1 | grep -q '=>'; then
  echo "build-image: $bin is dynamically linked; refusing to put it in a FROM scratch image" >&2
  exit 1
fi
if $binary_only; then
  echo "binary $bin"
  exit 0
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$bin" "$ctx/trawl-scraper"
cp -r "$root/scraper/rules" "$ctx/rules"
cp "$root/scraper/Dockerfile" "$ctx/Dockerfile"

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  docker build -q -t "$image" "$ctx" >/dev/null
elif command -v buildah >/dev/null 2>&1; then
  buildah --storage-driver vfs build --quiet --layers=false -t "$image" "$ctx" >/dev/null
else
  echo "build-image: neither a docker engine nor buildah is available (apt-get install buildah)" >&2
  exit 1
fi
echo "binary $bin"
echo "image $image"
