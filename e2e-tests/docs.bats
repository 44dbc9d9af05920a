#!/usr/bin/env bats
# The docs: README.md short, every relative link and anchor resolving, docs/architecture.md naming
# only files that exist, figures quoted as BENCHMARKS.md has them (scripts/check-docs, checked
# here on a repository made to break each rule); every flag of every command named somewhere in
# the docs, and the scan example being what scan prints.

load helpers
bats_require_minimum_version 1.5.0

@test "the docs check out: README size, links and anchors, architecture's paths, quoted figures" {
  run "$REPO/scripts/check-docs"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"pages, links, anchors, named paths and quoted figures check out" ]]
}

# A repository with one of each mistake, and the same things done right beside them.
make_broken_docs() {
  local root="$1"
  mkdir -p "$root/docs" "$root/src/sub"
  touch "$root/src/real.rs" "$root/src/sub/inner.rs"
  {
    echo '# Broken'
    echo 'A [missing page](docs/missing.md), an [anchor nowhere](#no-such-heading), a'
    echo '[good anchor](docs/page.md#the-heading-and-more) and a [bad one](docs/page.md#nope).'
    echo 'Code is not a link: `[x](nowhere.md)`, nor a fenced block:'
    echo '```'
    echo '[y](nowhere-either.md)'
    echo '## Not a heading'
    echo '```'
    # Past the size limit by a comment no one reads.
    printf '<!-- %s -->\n' "$(head -c 15000 /dev/zero | tr '\0' x)"
  } >"$root/README.md"
  cat >"$root/docs/page.md" <<'EOF'
# Page

## The `heading` and more!

## Same

## Same

## Same-1

Links to [the second](#same-1), [Same-1](#same-1-1), a [third that is not there](#same-2),
[the top](../README.md#broken), and [a file anchor](../src/real.rs#L1).
EOF
  cat >"$root/docs/architecture.md" <<'EOF'
# Architecture

`src/real.rs` exists, `src/gone.rs` does not; `kubewarden/tracing/log` is no path.

```
src/
  real.rs, sub/         a file and a directory
    inner.rs              a description that runs on
                          Word.rs-looking words in a continuation
    missing.rs            gone
  gone/                 a directory that is not there
```
EOF
  echo 'Idle: 37.5 MiB; loaded 4,751 req/s.' >"$root/BENCHMARKS.md"
  cat >"$root/docs/figures.md" <<'EOF'
# Figures

It idles at 37.5 MiB and answers 4,751 req/s in 99 ms ([BENCHMARKS.md](../BENCHMARKS.md)).

A paragraph without the link may say 12 ms.
EOF
}

@test "check-docs names each broken link and anchor, missing path, misquoted figure, and a long README" {
  make_broken_docs "$BATS_TEST_TMPDIR/repo"
  run "$REPO/scripts/check-docs" "$BATS_TEST_TMPDIR/repo"
  [ "$status" -eq 1 ]
  diff -u - <(printf '%s\n' "$output") <<'EOF'
README.md:1: README.md is 15,287 bytes; keep it under 15,000 and move detail to docs/
README.md:2: link docs/missing.md: docs/missing.md does not exist
README.md:2: link #no-such-heading: no heading in README.md has the id #no-such-heading
README.md:3: link docs/page.md#nope: no heading in docs/page.md has the id #nope
docs/figures.md:3: 99 ms is quoted next to a link to BENCHMARKS.md but BENCHMARKS.md does not say it
docs/page.md:11: link #same-2: no heading in docs/page.md has the id #same-2
docs/page.md:12: link ../src/real.rs#L1: an anchor can only be checked in a Markdown file
docs/architecture.md:3: src/gone.rs is named but does not exist
docs/architecture.md:10: src/sub/missing.rs is named but does not exist
docs/architecture.md:11: src/gone/ is named but does not exist
check-docs: 10 problem(s) in 4 pages
EOF
}

@test "every flag of every command is named in the docs" {
  require_binary
  local missing=()
  for command in run serve cert register unregister manifests scan; do
    while read -r flag; do
      grep -qE -- "${flag}([^a-z0-9-]|\$)" "$REPO/README.md" "$REPO"/docs/*.md ||
        missing+=("$command $flag")
    done < <("$PULLTHROUGH" "$command" --help | grep -oE '^ +(-[a-zA-Z], )?--[a-z0-9-]+' |
      grep -oE -- '--[a-z0-9-]+' | grep -vxE -- '--(help|version)')
  done
  [ "${#missing[@]}" -eq 0 ] || { printf 'not in README.md or docs/: %s\n' "${missing[@]}"; false; }
}

@test "docs/scan.md shows what scan prints for fixtures/scan/cluster-list.json" {
  require_binary
  local shown
  shown="$(python3 - "$REPO/docs/scan.md" <<'PY'
import sys
text = open(sys.argv[1]).read()
prompt = "$ pullthrough scan --mirror registry-mirror.example.com -f fixtures/scan/cluster-list.json\n"
block = text.split(prompt, 1)[1].split("```", 1)[0]
print(block, end="")
PY
)"
  cd "$REPO"
  run --separate-stderr "$PULLTHROUGH" scan --mirror registry-mirror.example.com -f fixtures/scan/cluster-list.json
  [ "$status" -eq 0 ]
  diff -u <(printf '%s\n' "$shown") <(printf '%s\n' "$output")
}
