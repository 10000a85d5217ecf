#!/bin/sh
# version.sh: the Debian version of this tree, from `git describe`.
#   v1.2.3                  -> 1.2.3
#   v1.2.3-4-gabc1234       -> 1.2.3+4.gabc1234      (after 1.2.3, before 1.2.4)
#   v1.3.0-rc1              -> 1.3.0~rc1             (before 1.3.0)
#   v1.2.3-4-gabc1234-dirty -> 1.2.3+4.gabc1234+dirty
#   no tag: abc1234          -> 0~git57.gabc1234      (57 = commits, so it grows)
# A Debian upstream version must start with a digit and use only
# [A-Za-z0-9.+~]; anything else becomes a dot.
set -eu
desc=${1:-$(git describe --tags --always --dirty 2>/dev/null || echo unknown)}
v=${desc#v}
# Without a tag, describe prints an abbreviated commit (which may start with
# a digit): hex only, no dots.
if printf '%s\n' "${v%-dirty}" | grep -Eqx '[0-9a-f]{7,40}|unknown' || ! printf '%s\n' "$v" | grep -Eq '^[0-9]'; then
	count=$(git rev-list --count HEAD 2>/dev/null || echo 0)
	v="0~git$count.g$v"
fi
printf '%s\n' "$v" | sed -E \
	-e 's/-dirty$/+dirty/' \
	-e 's/-([0-9]+)-g([0-9a-f]+)/+\1.g\2/' \
	-e 's/^([0-9][0-9.]*)-((rc|alpha|beta|pre)[0-9.]*)/\1~\2/' \
	-e 's/[^A-Za-z0-9.+~]/./g'
