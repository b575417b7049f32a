#!/usr/bin/env bash
# Render an XLSX report the way a reader sees it: to PDF with headless LibreOffice, then one
# PNG per page with pdftoppm, so a person (or a review) can look at the pages, not only parse
# the file.
#
#   scripts/render_report.sh REPORT.xlsx OUTDIR
#
# Writes OUTDIR/<name>.pdf and OUTDIR/<name>-<page>.png (60 dpi; RESOLUTION=100 for more).
# Needs soffice (Debian: libreoffice-calc) and pdftoppm (poppler-utils):
#   apt-get install -y --no-install-recommends libreoffice-calc poppler-utils
# With fonts-crosextra-carlito installed, Calibri (the report's font) is drawn with the same
# metrics as in Excel; without it LibreOffice falls back to a wider font and text looks tighter.
# Exit status: 0 rendered, 2 usage or a missing tool, 1 the conversion failed.
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 REPORT.xlsx OUTDIR" >&2
    exit 2
fi
xlsx=$1
outdir=$2
for tool in soffice pdftoppm; do
    if ! command -v "$tool" >/dev/null; then
        echo "$0: $tool not found (apt-get install libreoffice-calc poppler-utils)" >&2
        exit 2
    fi
done
if [[ ! -f $xlsx ]]; then
    echo "$0: $xlsx: no such file" >&2
    exit 2
fi
if command -v fc-match >/dev/null && ! fc-match Calibri | grep -qi carlito; then
    echo "$0: note: no Calibri-compatible font (fonts-crosextra-carlito); widths will look tighter" >&2
fi

mkdir -p "$outdir"
name=$(basename "${xlsx%.*}")
# A private profile: works as any user, beside a running LibreOffice, and leaves no state.
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
log="$outdir/$name.soffice.log"
if ! soffice --headless --norestore "-env:UserInstallation=file://$profile" \
    --convert-to pdf --outdir "$outdir" "$xlsx" >"$log" 2>&1; then
    echo "$0: LibreOffice failed to convert $xlsx (see $log)" >&2
    exit 1
fi
pdf="$outdir/$name.pdf"
if [[ ! -s $pdf ]]; then
    echo "$0: LibreOffice wrote no PDF for $xlsx (see $log)" >&2
    exit 1
fi
rm -f "$outdir/$name"-*.png
pdftoppm -png -r "${RESOLUTION:-60}" "$pdf" "$outdir/$name"
pages=$(find "$outdir" -maxdepth 1 -name "$name-*.png" | wc -l)
echo "$pdf: $pages pages as $outdir/$name-*.png"
