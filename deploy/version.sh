#!/bin/sh
# Prints the version of otelcol-xdp that the git checkout in $1 (default: the
# current directory) builds; the Makefile's VERSION, and through it the
# binary's --version, the packages and the image labels, come from here.
#
#   on a tag vX.Y.Z, clean tree       X.Y.Z
#   N commits after vX.Y.Z            X.Y.(Z+1)-dev.N+gSHA
#   after a pre-release tag vX.Y.Z-P  X.Y.Z-P.dev.N+gSHA
#   no such tag at all                0.0.0-dev.N+gSHA (N: every commit)
#   tracked files changed             the same as N commits after, with
#                                     N = 0 on the tag, and +gSHA.dirty
#   no git, or not a checkout         0.0.0-dev+unknown
#
# A build between two tags is a pre-release of the NEXT patch version, so
# that it sorts after the tag it follows and before the next release, in
# semver, and in dpkg and rpm once nfpm turns "-dev.N" into "~dev.N": an
# upgrade from 0.3.1 to a later development build is an upgrade to the
# package managers. N orders the development builds of one branch; the build
# metadata (+gSHA) names the commit and never takes part in ordering. A dirty
# tree never looks like a release. Untracked files do not count as changes
# (git describe --dirty ignores them). A shallow clone without tags sees no
# tag: fetch them (git fetch --tags --unshallow) before building a release.
set -eu

dir=${1:-.}
fallback=0.0.0-dev+unknown

if ! command -v git >/dev/null 2>&1 || ! git -C "$dir" rev-parse --verify --quiet HEAD >/dev/null 2>&1; then
	echo "$fallback"
	exit 0
fi

# Only tags that look like versions; --long always gives TAG-N-gSHA.
if desc=$(git -C "$dir" describe --tags --match 'v[0-9]*.[0-9]*.[0-9]*' --long --abbrev=7 --dirty 2>/dev/null); then
	dirty=
	case "$desc" in *-dirty) dirty=.dirty desc=${desc%-dirty} ;; esac
	sha=${desc##*-g}
	rest=${desc%-g*}
	n=${rest##*-}
	version=${rest%-*}
	version=${version#v}
	core=${version%%-*}
	pre=
	[ "$core" = "$version" ] || pre=${version#*-}
	if ! echo "$core" | grep -Eq '^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$'; then
		echo "version.sh: tag v$version is not vMAJOR.MINOR.PATCH[-PRERELEASE]" >&2
		exit 1
	fi
	if [ "$n" = 0 ] && [ -z "$dirty" ]; then
		echo "$version"
	elif [ -n "$pre" ]; then
		echo "$core-$pre.dev.$n+g$sha$dirty"
	else
		patch=${core##*.}
		echo "${core%.*}.$((patch + 1))-dev.$n+g$sha$dirty"
	fi
	exit 0
fi

# No version tag: count every commit, so that development builds still sort.
dirty=
[ -z "$(git -C "$dir" status --porcelain --untracked-files=no)" ] || dirty=.dirty
echo "0.0.0-dev.$(git -C "$dir" rev-list --count HEAD)+g$(git -C "$dir" rev-parse --short=7 HEAD)$dirty"
