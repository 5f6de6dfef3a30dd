#!/usr/bin/env bash
# weights/download.sh [NAME] — fetch a Hugging Face CLIP or SigLIP checkpoint for reco.
#
#   NAME: clip-vit-base-patch32 (default) | clip-vit-base-patch16 | clip-vit-large-patch14
#         (the openai/ models on the Hugging Face Hub), siglip-base-patch16-224 | siglip-so400m-patch14-384
#         (the google/ models), or any "owner/repo" in the HF CLIP or SigLIP layout.
#   Files: config.json first; its model_type says the family (SPEC §8):
#          CLIP   model.safetensors, vocab.json, merges.txt
#          SigLIP model.safetensors, spiece.model, tokenizer_config.json, special_tokens_map.json,
#                 preprocessor_config.json
#          → weights/<repo name>/
#   Env:   HF_ENDPOINT (default https://huggingface.co), HF_TOKEN (optional), REVISION (default main)
#
# If a repository has no model.safetensors (only pytorch_model.bin), the .bin is fetched and
# converted with tools/convert_to_safetensors.py (needs the tools venv: see tools/README.md).
set -euo pipefail
name="${1:-clip-vit-base-patch32}"
case "$name" in
  */*)      repo="$name" ;;
  siglip*)  repo="google/$name" ;;
  *)        repo="openai/$name" ;;
esac
here="$(cd "$(dirname "$0")" && pwd)"
dest="$here/$(basename "$repo")"
endpoint="${HF_ENDPOINT:-https://huggingface.co}"
rev="${REVISION:-main}"
auth=()
[ -n "${HF_TOKEN:-}" ] && auth=(-H "Authorization: Bearer $HF_TOKEN")

fetch() {  # fetch FILE → $dest/FILE (atomically); returns curl's status
  local f="$1" tmp="$dest/.$1.part"
  echo "  $repo/$f"
  if curl -fL --retry 3 --progress-bar "${auth[@]}" -o "$tmp" "$endpoint/$repo/resolve/$rev/$f"; then
    mv "$tmp" "$dest/$f"
  else
    local rc=$?
    rm -f "$tmp"
    return $rc
  fi
}

mkdir -p "$dest"
echo "downloading $repo ($rev) into $dest"
fetch config.json || { echo "error: could not download config.json from $endpoint/$repo" >&2; exit 1; }
if grep -Eq '"model_type"[[:space:]]*:[[:space:]]*"siglip"' "$dest/config.json"; then
  echo "SigLIP checkpoint (model_type siglip)"
  fetch spiece.model || { echo "error: could not download spiece.model from $endpoint/$repo" >&2; exit 1; }
  for f in tokenizer_config.json special_tokens_map.json preprocessor_config.json; do
    fetch "$f" || echo "warning: no $f in $repo (reco uses SiglipTokenizer's / SiglipImageProcessor's defaults)" >&2
  done
else
  for f in vocab.json merges.txt; do
    fetch "$f" || { echo "error: could not download $f from $endpoint/$repo" >&2; exit 1; }
  done
fi
if ! fetch model.safetensors; then
  echo "no model.safetensors in $repo@$rev; trying pytorch_model.bin + conversion" >&2
  fetch pytorch_model.bin || { echo "error: neither model.safetensors nor pytorch_model.bin could be downloaded" >&2; exit 1; }
  py="$here/../tools/.venv/bin/python"
  [ -x "$py" ] || { echo "error: converting needs the tools venv (python + torch): see tools/README.md" >&2; exit 1; }
  "$py" "$here/../tools/convert_to_safetensors.py" "$dest/pytorch_model.bin" "$dest/model.safetensors"
  rm -f "$dest/pytorch_model.bin"
fi

# verify that reco can parse what arrived
reco="$here/../reco"
if [ -x "$reco" ]; then
  "$reco" info "$dest" | tail -n 3
  "$reco" tokenize --model "$dest" "a photo of a cat" | cut -d' ' -f1-8
else
  echo "(build reco with 'make' to verify the files)"
fi
echo "done: $dest  (use --model $dest, or nothing for the default clip-vit-base-patch32)"
