#!/bin/sh
# Print a fingerprint of everything crashkit.kdump.setup and crashkit.kdump.dump_server may
# touch on a Debian host.
# Used to prove that a --check run changed nothing.
set -eu
for f in /etc/default/grub /etc/default/grub.d/* /boot/grub/grub.cfg /etc/default/kdump-tools \
         /etc/sysctl.d/* /proc/cmdline /sys/kernel/kexec_crash_size \
         /etc/passwd /etc/group /root/.ssh/* /var/lib/kdumprecv/.ssh/authorized_keys \
         /usr/local/libexec/crashkit-dump-receiver /usr/local/libexec/crashkit-ingest \
         /usr/local/libexec/crashkit-evidence /usr/local/lib/crashkit /etc/crashkit /var/lib/crashkit \
         /srv/crash /srv/crash-store /var/crash; do
  if [ -d "$f" ]; then
    printf '%s directory %s\n' "$f" "$(stat -c '%a %U:%G' "$f")"
  elif [ -e "$f" ]; then
    printf '%s %s\n' "$f" "$(sha256sum < "$f" | cut -d' ' -f1)"
  else
    printf '%s absent\n' "$f"
  fi
done
dpkg-query -W -f '${Package} ${Version} ${Status}\n' | sort | sha256sum | sed 's/^/dpkg /'
# Enabled units are symlinks under /etc/systemd/system (systemctl itself may not answer yet
# right after boot).
find /etc/systemd/system -type l -printf '%p -> %l\n' | sort | sha256sum | sed 's/^/units /'
