#!/bin/sh
# Guest side of TestImageInject (tests/image), installed as
# /usr/local/lib/veille-test/guest.sh by the test, never in a release image.
set -u
vt() { echo "VT: $*" >/dev/console; }
fail() {
	vt "FAIL $*"
	journalctl -b --no-pager -n 60 -u veille-inject-setup -u veille-omv-install -u veille 2>&1 | sed 's/^/VT|  /' >/dev/console
	vt "END"
	exit 1
}
wait_for() {
	n=0
	until sh -c "$3" >/dev/null 2>&1; do
		n=$((n + 1))
		[ "$n" -lt "$1" ] || fail "timeout after $1 s: $2"
		sleep 1
	done
}
prop() { systemctl show -P "$2" "$1"; }

wait_for 300 "veille.service active" '[ "$(systemctl show -P ActiveState veille)" = active ]'
wait_for 300 "OpenMediaVault layer done" 'test -f /var/lib/veille-image/omv.done'
vt "inject veille_version=$(dpkg-query -W -f '${Version}:${db:Status-Abbrev}' veille | tr -d ' ') setup=$(prop veille-inject-setup Result) deb_left=$(test -e /var/cache/veille/veille.deb && echo yes || echo no)"
vt "inject config_sha256=$(sha256sum </etc/veille/veille.toml | cut -d' ' -f1) config_mode=$(stat -c %U:%G:%a /etc/veille/veille.toml) imported=$(test -f /boot/firmware/veille.toml.imported && echo yes || echo no)"
vt "inject omv=$(dpkg-query -W -f '${Version}:${db:Status-Abbrev}' openmediavault | tr -d ' ') populated=$(cat /var/lib/omv-dummy/populated 2>/dev/null || echo no) veille=$(prop veille ActiveState)"
# The example drop-ins of the package: each gives a veille that starts.
for d in strict less-strict; do
	mkdir -p /etc/systemd/system/veille.service.d
	cp "/usr/share/doc/veille/examples/$d.conf" /etc/systemd/system/veille.service.d/ || fail "no examples/$d.conf"
	systemctl daemon-reload
	systemctl restart veille || fail "veille does not start with the $d drop-in"
	vt "dropin $d active=$(prop veille ActiveState) user=$(ps -o user= -p "$(prop veille MainPID)") exposure=$(systemd-analyze security veille.service 2>/dev/null | tail -n 1 | grep -Eo '[0-9]+\.[0-9]+ [A-Z]+' | tr ' ' _)"
	rm -r /etc/systemd/system/veille.service.d
	systemctl daemon-reload
	systemctl restart veille || fail "veille does not start again without the $d drop-in"
done

# The package's life under a running systemd: upgrade (the edited conffile
# stays, the service restarts), remove (stopped, masked, config kept), purge
# (config, state and enablement gone).
pid0=$(prop veille MainPID)
sha0=$(sha256sum </etc/veille/veille.toml | cut -d' ' -f1)
DEBIAN_FRONTEND=noninteractive dpkg -i /root/veille-upgrade.deb >/dev/null 2>&1 || fail "dpkg -i veille-upgrade.deb"
wait_for 120 "veille active after the upgrade" '[ "$(systemctl show -P ActiveState veille)" = active ]'
vt "upgrade version=$(dpkg-query -W -f '${Version}' veille) restarted=$([ "$(prop veille MainPID)" != "$pid0" ] && echo yes || echo no) conffile_kept=$([ "$(sha256sum </etc/veille/veille.toml | cut -d' ' -f1)" = "$sha0" ] && echo yes || echo no) enabled=$(systemctl is-enabled veille)"
dpkg -r veille >/dev/null 2>&1 || fail "dpkg -r veille"
vt "remove active=$(prop veille ActiveState) enabled=$(systemctl is-enabled veille 2>/dev/null) config=$(test -f /etc/veille/veille.toml && echo kept || echo gone) state=$(test -d /var/lib/veille && echo kept || echo gone)"
dpkg -P veille >/dev/null 2>&1 || fail "dpkg -P veille"
vt "purge config=$(test -e /etc/veille && echo left || echo gone) state=$(test -e /var/lib/veille && echo left || echo gone) links=$(ls /etc/systemd/system/*.wants/veille.service /etc/systemd/system/veille.service 2>/dev/null | wc -l) statoverride=$(dpkg-statoverride --list /etc/veille/veille.toml >/dev/null && echo left || echo gone)"
vt "inject-done"
systemctl poweroff
