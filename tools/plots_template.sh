#!/usr/bin/env bash
# Build .dvc/plots_offline.html: the page `dvc plots show` writes, with Vega, Vega-Lite and
# Vega-Embed inlined from their npm packages, so the plots draw offline (DVC's own page loads
# them from a CDN). Rebuild with `bash tools/plots_template.sh` (needs npm) after a version bump.
set -euo pipefail
VEGA=5.33.1 VEGA_LITE=5.23.0 VEGA_EMBED=6.29.0
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "vega@$VEGA" "vega-lite@$VEGA_LITE" "vega-embed@$VEGA_EMBED" >/dev/null
for f in *.tgz; do mkdir "${f%.tgz}" && tar xzf "$f" -C "${f%.tgz}"; done
{
  printf '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n{refresh_tag}\n<title>tunesmith: DVC plots</title>\n'
  printf '<!-- vega %s, vega-lite %s, vega-embed %s (BSD-3-Clause), inlined by tools/plots_template.sh -->\n' \
    "$VEGA" "$VEGA_LITE" "$VEGA_EMBED"
  for js in "vega-$VEGA/package/build/vega.min.js" "vega-lite-$VEGA_LITE/package/build/vega-lite.min.js" \
            "vega-embed-$VEGA_EMBED/package/build/vega-embed.min.js"; do
    printf '<script>\n'; sed 's#</script>#<\\/script>#g' "$js"; printf '\n</script>\n'
  done
  printf '<style>body{font-family:sans-serif} table{border-spacing:15px}</style>\n</head>\n<body>\n{plot_divs}\n</body>\n</html>\n'
} > "$root/.dvc/plots_offline.html"
echo "wrote .dvc/plots_offline.html ($(wc -c < "$root/.dvc/plots_offline.html") bytes)"
