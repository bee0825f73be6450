#!/bin/sh
# otelcol-xdp package: before its files go. One script for both formats:
#   deb prerm   remove, upgrade NEW-VERSION, deconfigure, failed-upgrade
#   rpm %preun  0 when the package is erased, 1 or more on an upgrade
#
# On removal, stop the service (where systemd runs) and disable it (also
# without a running systemd: that only removes the unit's symlinks), so that
# nothing of it stays outside what the package manager keeps by policy. On
# an upgrade the service keeps running: postinstall (deb) or the old
# package's postremove (rpm) restarts it with the new files.
set -e

unit=otelcol-xdp.service

case "$1" in
remove | 0) ;;
*) exit 0 ;;
esac

command -v systemctl >/dev/null 2>&1 || exit 0
systemd_running() { [ -d /run/systemd/system ]; }
run() {
	systemctl "$@" || echo "otelcol-xdp: \`systemctl $*\` failed; removing the package regardless" >&2
}

if systemd_running; then
	run stop "$unit"
fi
run disable "$unit"
exit 0
