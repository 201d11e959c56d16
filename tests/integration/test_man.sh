#!/usr/bin/env bash
# The man pages (packaging/man): each renders without a single warning, and
# each documents what its program really has: every subcommand and every
# option the built program's --help lists, every exit status it names, every
# setting of daemon/conf.c's table (keygate.conf(5)), the version, and the
# sections FILES and EXAMPLES. cmake --install puts them in share/man/manN.
set -u
: "${KG_BUILD:?KG_BUILD must name the build dir}"
: "${KG_SOURCE:?KG_SOURCE must name the source dir}"
KG_PY=${KG_PY:-/usr/bin/python3}
MAN=$KG_SOURCE/packaging/man
T=$(mktemp -d "${TMPDIR:-/tmp}/keygate-man.XXXXXX")
trap 'rm -rf "$T"' EXIT
passed=0
failed=0

ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }

# Render FILE as plain text into OUT; warnings into OUT.warn.
if command -v man >/dev/null 2>&1; then
	render() {
		LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings=w -E UTF-8 -l "$1" >"$2" 2>"$2.warn"
	}
elif command -v groff >/dev/null 2>&1; then
	echo "note: man is not installed; rendering with groff -ww" >&2
	render() {
		LC_ALL=C.UTF-8 groff -ww -man -Tutf8 -P-cbou -rLL=80n "$1" >"$2" 2>"$2.warn"
	}
else
	echo "skipped: neither man (man-db) nor groff is installed"
	exit 0
fi

pages="keygated.8 keygate-admin.1 keygate.1 keygate.conf.5"
for p in $pages; do
	if ! render "$MAN/$p" "$T/$p.txt"; then
		bad "$p: does not render: $(head -c 400 "$T/$p.txt.warn")"
	elif [ -s "$T/$p.txt.warn" ]; then
		bad "$p: warnings: $(head -c 400 "$T/$p.txt.warn")"
	elif [ "$(wc -l <"$T/$p.txt")" -lt 40 ]; then
		bad "$p: renders only $(wc -l <"$T/$p.txt") lines"
	else
		ok
	fi
done

# What each program says about itself (its --help), and conf.c's settings.
"$KG_BUILD/daemon/keygated" --help >"$T/keygated.help" 2>&1
"$KG_BUILD/client/keygate-admin" --help >"$T/keygate-admin.help" 2>&1
"$KG_BUILD/client/keygate" --help >"$T/keygate.help" 2>&1
version=$("$KG_BUILD/daemon/keygated" --version | awk '{print $2}')

# Compare one page with one program's --help; prints one line per thing
# missing from the page, and the counts checked on the last line.
"$KG_PY" - "$T" "$KG_SOURCE/daemon/conf.c" "$version" >"$T/report" <<'EOF'
import re, sys

tmp, conf_c, version = sys.argv[1:]

def text(name):
    with open(f"{tmp}/{name}", encoding="utf-8") as f:
        return f.read()

def flat(s):
    return " ".join(s.split())

def section(page, title):
    m = re.search(r"^" + re.escape(title) + r"\n(.*?)(?=^\S|\Z)", page, re.M | re.S)
    return m.group(1) if m else ""

missing, checked = [], 0

def need(page_name, what, found):
    global checked
    checked += 1
    if not found:
        missing.append(f"{page_name}: does not mention {what}")

def commands(prog, helptext):
    if prog == "keygated":
        return sorted(set(re.findall(r"keygated ([a-z][a-z-]*)", helptext)))
    if prog == "keygate":
        return sorted(set(re.findall(r"keygate \[options\] ([a-z][a-z-]*)", helptext)))
    out = []
    for line in helptext.splitlines():
        m = re.match(r"^  ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?(?: |$)", line)
        if m:
            out.append(" ".join(w for w in m.groups() if w))
    return out

def exit_codes(helptext):
    codes = set()
    for line in helptext.splitlines():
        if re.search(r"exit", line) or re.match(r"^\s+\d+ ", line):
            codes.update(re.findall(r"(?<![\w-])(\d+) [a-z]", line))
    return sorted(codes, key=int)

for prog, page in (("keygated", "keygated.8"), ("keygate-admin", "keygate-admin.1"),
                   ("keygate", "keygate.1")):
    helptext = text(f"{prog}.help")
    rendered = text(f"{page}.txt")
    body = flat(rendered)
    cmds = commands(prog, helptext)
    if len(cmds) < 3:
        missing.append(f"{prog} --help: found only {cmds} as commands")
    for c in cmds:
        need(page, f"the command '{c}'", re.search(r"(?<![\w-])" + re.escape(c) + r"(?![\w-])", body))
    for o in sorted(set(re.findall(r"--[a-z][a-z0-9-]*[a-z0-9]", helptext))):
        need(page, f"the option '{o}'", re.search(re.escape(o) + r"(?![\w-])", body))
    status = section(rendered, "EXIT STATUS")
    need(page, "an EXIT STATUS section", status.strip())
    for code in exit_codes(helptext):
        need(page, f"exit status {code} in EXIT STATUS",
             re.search(r"^\s+" + code + r"(\s|$)", status, re.M))

settings = re.findall(r'^\s*\{ "([a-z_]+)", (?:STR|U32|U64|CONF_)', open(conf_c).read(), re.M)
if len(settings) < 10:
    missing.append(f"daemon/conf.c: found only {len(settings)} settings")
conf = section(text("keygate.conf.5.txt"), "SETTINGS")
for s in settings:
    need("keygate.conf.5", f"the setting '{s}' in SETTINGS",
         re.search(r"^\s+" + s + r" = ", conf, re.M))

for page in ("keygated.8", "keygate-admin.1", "keygate.1", "keygate.conf.5"):
    rendered = text(f"{page}.txt")
    for title in ("NAME", "SYNOPSIS", "DESCRIPTION", "FILES", "EXAMPLES", "SEE ALSO"):
        need(page, f"a {title} section", section(rendered, title).strip())
    need(page, f"version {version} in its header/footer", f"keygate {version}" in rendered)

for m in missing:
    print(m)
print(f"checked {checked}")
EOF
if [ ! -s "$T/report" ]; then
	bad "the page/--help comparison did not run"
else
	while IFS= read -r line; do
		case $line in
		"checked "*) echo "$line things in the man pages" ;;
		*) bad "$line" ;;
		esac
	done <"$T/report"
	if grep -q '^checked [1-9][0-9]' "$T/report"; then ok; else bad "too few things checked"; fi
fi

# cmake --install puts every page in share/man/manN of the prefix.
if cmake --install "$KG_BUILD" --prefix "$T/inst" >"$T/install.log" 2>&1; then
	for p in $pages; do
		sec=${p##*.}
		if cmp -s "$MAN/$p" "$T/inst/share/man/man$sec/$p"; then
			ok
		else
			bad "cmake --install did not put $p into share/man/man$sec"
		fi
	done
else
	bad "cmake --install failed: $(tail -n 5 "$T/install.log")"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
