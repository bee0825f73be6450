#!/bin/sh
# otelcol-xdp package: after its files are in place. One script for both
# formats, which call it differently:
#   deb postinst  configure [most-recently-configured-version]  (no version:
#                 a first installation), abort-upgrade, abort-remove, ...
#   rpm %post     1 on an installation, 2 or more on an upgrade
#
# A first installation enables the service and, where systemd runs, starts
# it: Debian's convention, and what the OpenTelemetry Collector's own
# packages do. The default configuration counts on lo only and listens on
# 127.0.0.1, so starting it before anyone edits it exposes nothing.
# An upgrade leaves enabling to the administrator (a disabled service stays
# disabled) and restarts the service only if it runs: deb here, rpm in the
# old package's %postun, as each format's conventions have it. Removal
# disables the service, so a reinstallation after `dpkg -r`, which dpkg
# calls with the version whose configuration it kept, counts as an upgrade
# and leaves it disabled too.
# Without a running systemd (a container, a chroot, an image being built)
# the unit is enabled for the next boot and nothing is started; without
# systemctl, nothing is done. The service never fails the installation: a
# systemctl failure is reported and the package is installed regardless.
set -e

unit=otelcol-xdp.service

case "$1" in
configure) if [ -z "$2" ]; then action=install; else action=upgrade-deb; fi ;;
1) action=install ;;
[2-9] | [1-9][0-9]*) action=upgrade-rpm ;;
*) exit 0 ;;
esac

command -v systemctl >/dev/null 2>&1 || exit 0
systemd_running() { [ -d /run/systemd/system ]; }
run() {
	systemctl "$@" || echo "otelcol-xdp: \`systemctl $*\` failed; the package is installed regardless" >&2
}

case "$action" in
install)
	if systemd_running; then
		run daemon-reload
		run enable --now "$unit"
	else
		run enable "$unit"
	fi
	;;
upgrade-deb)
	if systemd_running; then
		run daemon-reload
		run try-restart "$unit"
	fi
	;;
upgrade-rpm)
	if systemd_running; then
		run daemon-reload
	fi
	;;
esac
exit 0
