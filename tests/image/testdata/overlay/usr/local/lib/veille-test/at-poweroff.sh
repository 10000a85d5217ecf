#!/bin/sh
# Image test only (veille-test-poweroff.service ExecStop).
{
	echo "VT: journal-begin"
	journalctl -b -u veille --no-pager -o short-monotonic -n 40 2>&1 | sed 's/^/VT|  /'
	echo "VT: journal-end"
	echo "VT: poweroff wakealarm=$(cat /sys/class/rtc/rtc0/wakealarm) now=$(date +%s)"
} >/dev/console 2>&1
