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
# mnt_opt PID PATH: "ro" or "rw", how PATH is mounted in PID's mount
# namespace (the mount on top, if several).
mnt_opt() { awk -v p="$2" '$5 == p { split($6, o, ","); r = o[1] } END { print r }' "/proc/$1/mountinfo"; }
# as_veille METHOD SIGNATURE ARGS...: a systemd manager call as the veille
# user, answered by polkit; the first line of busctl's answer, spaces as _.
as_veille() {
	runuser -u veille -- busctl call org.freedesktop.systemd1 /org/freedesktop/systemd1 \
		org.freedesktop.systemd1.Manager "$@" 2>&1 | head -n 1 | tr ' ' _
}

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
# veille's sandbox, seen from outside: a mount namespace of its own, no
# capability but CAP_SYS_RAWIO (bit 17), the system read-only except its
# state and sysfs device attributes.
pid=$(prop veille MainPID)
vt "sandbox mntns=$([ "$(readlink /proc/"$pid"/ns/mnt)" != "$(readlink /proc/1/ns/mnt)" ] && echo own || echo system) capeff=$(awk '/^CapEff/ { print $2 }' /proc/"$pid"/status) root=$(mnt_opt "$pid" /) state=$(mnt_opt "$pid" /var/lib/veille) sys=$(mnt_opt "$pid" /sys) sys_devices=$(mnt_opt "$pid" /sys/devices) proc_sys=$(mnt_opt "$pid" /proc/sys)"
# polkit's rule: no transient unit (systemd 252 does not name it), no target.
vt "polkit transient=$(as_veille StartTransientUnit 'ssa(sv)a(sa(sv))' veille-test.mount fail 2 What s /dev/null Where s /veille-test 0) target=$(as_veille StartUnit ss veille-test-none.target fail)"
# The test's disk has no fstab entry yet: veille warned at start that it
# could not mount it again.
vt "mount_warning $(journalctl -b -u veille -o cat | grep -c 'no fstab entry or mount unit for this disk') mounter=$(journalctl -b -u veille -o cat | grep -c 'disks are unmounted and mounted by systemd')"

# 2. A USB disk, hot-plugged by the host through QMP.
vt "hotplug-ready"
wait_for 120 "USB disk labelled MEDIA" 'test -e /dev/disk/by-label/MEDIA'
udevadm settle
dev=$(readlink -f /dev/disk/by-label/MEDIA)
mkdir -p /srv/media
# Its fstab entry, as the owner of a USB disk writes it (nofail: the Pi
# boots without the disk); systemd makes srv-media.mount of it.
echo 'LABEL=MEDIA /srv/media ext4 defaults,noatime,nofail 0 2' >>/etc/fstab
systemctl daemon-reload
systemctl start srv-media.mount || fail "mount $dev (srv-media.mount)"
systemctl start media-user.service || fail "start media-user.service"
disk=$(lsblk -no PKNAME "$dev")
mounted() { journalctl -b -u srv-media.mount -o cat | grep -c "^$1"; }
vt "disk-mounted dev=$dev tran=$(lsblk -dno TRAN "/dev/${disk:-${dev#/dev/}}") media_user=$(prop media-user ActiveState) unit_file=$(prop srv-media.mount FragmentPath)"

# 3. The host publishes veille/<node>/cmd/sleep_disks: veille stops the unit,
# has systemd unmount the disk (srv-media.mount stopped: findmnt here, in
# the system's mount namespace, must agree) and sends START STOP UNIT (the
# host sees it in QEMU's SCSI trace).
wait_for 240 "disks asleep (media-user stopped, /srv/media unmounted)" \
	'! findmnt /srv/media && [ "$(systemctl show -P ActiveState media-user)" != active ]'
vt "disks-asleep mounted=$(findmnt -n -o SOURCE /srv/media || echo no) media_user=$(prop media-user ActiveState) mount_unit=$(prop srv-media.mount ActiveState) unmounted=$(mounted Unmounted)"

# 4. The host publishes wake_disks: systemd mounts it again (the fstab
# entry's unit), the unit started again.
wait_for 240 "disks awake (mounted, media-user active)" \
	'findmnt /srv/media && [ "$(systemctl show -P ActiveState media-user)" = active ]'
vt "disks-awake mounted=$(findmnt -n -o SOURCE /srv/media) media_user=$(prop media-user ActiveState) file=$(cat /srv/media/hello.txt) mount_unit=$(prop srv-media.mount ActiveState) mounts=$(mounted Mounted) options=$(findmnt -n -o OPTIONS /srv/media)"

# 5. Nothing keeps the machine up any more: the schedule window is open, so
# veille puts it to sleep (disks, wake alarm, logind power-off).
systemctl stop veille-test-inhibit.service
vt "inhibitor-released $(systemd-inhibit --list --no-legend | grep -c veille-image-test)"
