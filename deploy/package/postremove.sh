#!/bin/sh
# otelcol-xdp package: after its files are gone. One script for both formats:
#   deb postrm   remove, purge, upgrade NEW-VERSION, disappear, abort-*, ...
#   rpm %postun  0 after an erase; 1 or more after an upgrade, run by the
#                old package once the new one's files are in place
#
# After removal systemd forgets the unit (daemon-reload); dpkg deletes the
# configuration itself on purge, and the service leaves no other state
# (DynamicUser=yes, no state or cache directories). After an rpm upgrade,
# restart the service with the new binary and unit if it runs.
set -e

unit=otelcol-xdp.service

case "$1" in
remove | purge | 0) action=reload ;;
[1-9] | [1-9][0-9]*) action=restart ;;
*) exit 0 ;;
esac

command -v systemctl >/dev/null 2>&1 || exit 0
[ -d /run/systemd/system ] || exit 0
run() {
	systemctl "$@" || echo "otelcol-xdp: \`systemctl $*\` failed" >&2
}

run daemon-reload
if [ "$action" = restart ]; then
	run try-restart "$unit"
fi
exit 0
