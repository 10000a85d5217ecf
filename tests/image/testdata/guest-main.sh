#!/bin/sh
# Guest side of TestImageBoot (tests/image), installed as
# /usr/local/lib/veille-test/guest.sh by the test, never in a release image.
# Every observation goes to the serial console as a "VT: " line; the host
# side acts on some of them (hot-plug, MQTT commands) and asserts on them.
set -u
vt() { echo "VT: $*" >/dev/console; }
fail() {
	vt "FAIL $*"
	{
		systemctl status --no-pager -n 0 veille media-user
		journalctl -b --no-pager -o short-monotonic -n 60 -u veille
	} 2>&1 | sed 's/^/VT|  /' >/dev/console
	vt "END"
	exit 1
}
# wait_for SECONDS WHAT SHELL-CONDITION
wait_for() {
	n=0
	until sh -c "$3" >/dev/null 2>&1; do
		n=$((n + 1))
		[ "$n" -lt "$1" ] || fail "timeout after $1 s: $2"
		sleep 1
	done
}
prop() { systemctl show -P "$2" "$1"; }

# veille-test-inhibit.service holds a logind block inhibitor from before
# veille starts, so the schedule window open at boot cannot sleep the
# system during the disk steps (veille honours it: checks.inhibitors).
# 1. veille under systemd: Type=notify, so "active" means READY=1 was sent.
wait_for 300 "veille.service active" '[ "$(systemctl show -P ActiveState veille)" = active ]'
vt "veille ActiveState=$(prop veille ActiveState) SubState=$(prop veille SubState) StatusText=$(prop veille StatusText)"
vt "user $(id veille)"
vt "units firstboot=$(prop veille-firstboot Result) bootconfig=$(prop veille-bootconfig Result) import=$(prop veille-import-config Result)"
vt "facts hostname=$(hostname) root_mib=$(df -B1M --output=size / | tail -n 1 | tr -d ' ') config_sha256=$(sha256sum </etc/veille/veille.toml | cut -d' ' -f1) config_mode=$(stat -c %U:%G:%a /etc/veille/veille.toml) imported=$(test -f /boot/firmware/veille.toml.imported && echo yes || echo no) host_keys=$(ls /etc/ssh/ssh_host_*_key 2>/dev/null | wc -l) machine_id=$(cat /etc/machine-id)"
vt "exposure $(systemd-analyze security veille.service 2>/dev/null | tail -n 1)"
vt "wakealarm_perm $(stat -L -c %G:%a /sys/class/rtc/rtc0/wakealarm)"
vt "usbport_perm $(stat -L -c %G:%a /sys/bus/usb/devices/usb*/*-0:1.0/usb*-port*/disable 2>/dev/null | sort -u | tr '\n' ' ')"
vt "unit_warnings $(journalctl -b -q -o cat _PID=1 UNIT=veille.service -p warning | tr '\n' '|')"

# 2. A USB disk, hot-plugged by the host through QMP.
vt "hotplug-ready"
wait_for 120 "USB disk labelled MEDIA" 'test -e /dev/disk/by-label/MEDIA'
udevadm settle
dev=$(readlink -f /dev/disk/by-label/MEDIA)
mkdir -p /srv/media
mount /dev/disk/by-label/MEDIA /srv/media || fail "mount $dev"
systemctl start media-user.service || fail "start media-user.service"
disk=$(lsblk -no PKNAME "$dev")
vt "disk-mounted dev=$dev tran=$(lsblk -dno TRAN "/dev/${disk:-${dev#/dev/}}") media_user=$(prop media-user ActiveState)"

# 3. The host publishes veille/<node>/cmd/sleep_disks: veille stops the unit,
# unmounts (in the system's mount namespace: findmnt here must agree) and
# sends START STOP UNIT (the host sees it in QEMU's SCSI trace).
wait_for 240 "disks asleep (media-user stopped, /srv/media unmounted)" \
	'! findmnt /srv/media && [ "$(systemctl show -P ActiveState media-user)" != active ]'
vt "disks-asleep mounted=$(findmnt -n -o SOURCE /srv/media || echo no) media_user=$(prop media-user ActiveState)"

# 4. The host publishes wake_disks: mounted again, the unit started again.
wait_for 240 "disks awake (mounted, media-user active)" \
	'findmnt /srv/media && [ "$(systemctl show -P ActiveState media-user)" = active ]'
vt "disks-awake mounted=$(findmnt -n -o SOURCE /srv/media) media_user=$(prop media-user ActiveState) file=$(cat /srv/media/hello.txt)"

# 5. Nothing keeps the machine up any more: the schedule window is open, so
# veille puts it to sleep (disks, wake alarm, logind power-off).
systemctl stop veille-test-inhibit.service
vt "inhibitor-released $(systemd-inhibit --list --no-legend | grep -c veille-image-test)"
