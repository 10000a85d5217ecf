#!/usr/bin/env bash
# ext4put.sh [--keep PATH]... FS TREE: writes the directories, files and
# symlinks of TREE into the ext4 filesystem FS (a file, or "IMG?offset=N" for
# a partition inside an image) with debugfs, without mounting anything.
#  - a directory that exists is left as it is (its mode is the system's);
#    a missing one is created root-owned with TREE's mode
#  - a file or symlink replaces what is there, root-owned with TREE's mode,
#    except a --keep PATH that exists already (a conffile someone edited)
#  - every file written is read back and compared
set -euo pipefail
keep=()
while [ "${1:-}" = --keep ]; do keep+=("$2"); shift 2; done
fs=${1:?usage: ext4put.sh [--keep PATH]... FS TREE}
tree=${2:?usage: ext4put.sh [--keep PATH]... FS TREE}
die() { printf 'ext4put: %s\n' "$*" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Entries as "type mode path", parents before children.
(cd "$tree" && find . -mindepth 1 -printf '%y %m /%P\n' | LC_ALL=C sort -k3) >"$work/entries"
if awk '{ if (NF != 3 || $3 ~ /["\\]/) bad = 1 } END { exit !bad }' "$work/entries"; then
	die "paths with blanks, quotes or backslashes are not supported"
fi
if grep -vqE '^[dfl] ' "$work/entries"; then
	die "$(grep -vE '^[dfl] ' "$work/entries" | head -n1): only directories, regular files and symlinks"
fi

# debugfs FS CMDFILE OUT: one session; its stderr must be only the banner
# (and the errors the caller expects, filtered by it).
run_debugfs() {
	debugfs "$@" >"$work/out" 2>"$work/err" || die "debugfs failed: $(cat "$work/err")"
}

# 1. What is there already.
awk '{ print "stat " $3 }' "$work/entries" >"$work/probe"
run_debugfs -f "$work/probe" "$fs"
awk '
	/^debugfs: stat / { path = $3; next }
	/^Inode: [0-9]+ +Type: / && path != "" { print path, $4; path = "" }' "$work/out" >"$work/existing"
declare -A have
while read -r p t; do have[$p]=$t; done <"$work/existing"
declare -A kept
for k in "${keep[@]}"; do kept[$k]=1; done

# 2. The writes.
: >"$work/cmds"
: >"$work/written"
while read -r type mode path; do
	t=${have[$path]:-}
	case $type in
	d)
		if [ -z "$t" ]; then
			printf 'mkdir %s\nsif %s mode 040%s\nsif %s uid 0\nsif %s gid 0\n' "$path" "$path" "$mode" "$path" "$path" >>"$work/cmds"
		elif [ "$t" != directory ]; then
			die "$path is a $t in the filesystem, a directory in $tree"
		fi
		;;
	f | l)
		[ "$t" = directory ] && die "$path is a directory in the filesystem, a file in $tree"
		if [ -n "$t" ] && [ -n "${kept[$path]:-}" ]; then
			printf 'ext4put: keeping %s (already there)\n' "$path" >&2
			continue
		fi
		[ -z "$t" ] || printf 'rm %s\n' "$path" >>"$work/cmds"
		if [ "$type" = f ]; then
			printf 'write %s %s\nsif %s mode 0100%s\n' "$tree$path" "$path" "$path" "$mode" >>"$work/cmds"
			echo "$path" >>"$work/written"
		else
			printf 'symlink %s %s\n' "$path" "$(readlink "$tree$path")" >>"$work/cmds"
		fi
		printf 'sif %s uid 0\nsif %s gid 0\n' "$path" "$path" >>"$work/cmds"
		;;
	esac
done <"$work/entries"
run_debugfs -w -f "$work/cmds" "$fs"
if grep -v -e '^debugfs [0-9]' -e '^$' "$work/err" >&2; then
	die "debugfs reported errors while writing (above)"
fi

# 3. Read back what was written.
mkdir "$work/back"
awk -v d="$work/back" '{ printf "dump %s %s/%d\n", $0, d, NR }' "$work/written" >"$work/dump"
run_debugfs -f "$work/dump" "$fs"
n=0
while read -r path; do
	n=$((n + 1))
	cmp -s "$tree$path" "$work/back/$n" || die "$path reads back different from what was written"
done <"$work/written"
printf 'ext4put: %d files written and read back\n' "$n" >&2
