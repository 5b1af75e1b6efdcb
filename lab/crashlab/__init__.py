"""crashlab: the VM lab of crashkit.kdump.

Builds Debian guest disk images from Debian's archive (mmdebstrap + GRUB), starts QEMU VMs
from copy-on-write overlays of them, watches their serial consoles for kernel events and
feeds Molecule / benchmarks / the demo with ssh endpoints. Standard library only; run it as
``PYTHONPATH=lab python3 -m crashlab --help`` from the repository root.
"""

RELEASES = ("bookworm", "trixie")
