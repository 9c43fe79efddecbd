"""``python -m bench.shipper_run [shipper args]``: the real CLI, then this process's peak RSS.

Runs ``shipper.cli.main`` unchanged and, just before exiting, prints one JSON line
``{"bench_vmhwm_kib": N}`` read from ``/proc/self/status`` (VmHWM: the high-water mark of this
process alone; ``ru_maxrss`` of a child would include what it inherited across fork/exec).
"""

from __future__ import annotations

import json
import sys


def vm_hwm_kib() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def main() -> int:
    from shipper.cli import main as shipper_main

    code = shipper_main(sys.argv[1:])
    sys.stdout.flush()
    print(json.dumps({"bench_vmhwm_kib": vm_hwm_kib()}), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
