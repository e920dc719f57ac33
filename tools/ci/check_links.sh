#!/usr/bin/env bash
# Every relative link in README.md, docs/*.md, results/README.md and each
# study's results/*/README.md must resolve: the file or folder exists and,
# for a link into a Markdown file with a #fragment, that file has a heading
# with that anchor (GitHub's rule: lower case, punctuation dropped, spaces
# to hyphens). Links inside code blocks and inline code are not links.
# Cheap (well under a second), so .ci/run calls it before the test suite.
# Exit 1 lists every broken link.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 - README.md docs/*.md results/README.md results/*/README.md <<'PY'
import os, re, sys

def anchors(path, cache={}):
    if path not in cache:
        found, seen, fence = set(), {}, False
        for line in open(path, encoding="utf-8"):
            if line.startswith("```"):
                fence = not fence
            m = None if fence else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
            if m:
                slug = re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-")
                n = seen.get(slug, 0)
                seen[slug] = n + 1
                found.add(slug if n == 0 else f"{slug}-{n}")
        cache[path] = found
    return cache[path]

broken = []
for doc in sys.argv[1:]:
    fence = False
    for number, line in enumerate(open(doc, encoding="utf-8"), 1):
        if line.startswith("```"):
            fence = not fence
        if fence:
            continue
        text = re.sub(r"`[^`]*`", "", line)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z]+:", target):
                continue  # http:, https:, mailto:
            path, _, fragment = target.partition("#")
            resolved = os.path.normpath(os.path.join(os.path.dirname(doc), path)) if path else doc
            if not os.path.exists(resolved):
                broken.append(f"{doc}:{number}: {target}: no such file")
            elif fragment and resolved.endswith(".md") and fragment not in anchors(resolved):
                broken.append(f"{doc}:{number}: {target}: no heading with that anchor in {resolved}")
if broken:
    print("[links] broken relative links:", *broken, sep="\n  ")
    sys.exit(1)
print(f"[links] every relative link resolves ({len(sys.argv) - 1} Markdown files)")
PY
