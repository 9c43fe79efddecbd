"""``python -m shipper.simulator serve``: a demo RDS log API and S3 for trying the shipper by hand.

Why: running the container image against something real-looking before touching an AWS
account. It starts a world of mixed engines whose clock runs ``--speed`` times faster than real
time, the simulated RDS endpoint, and a moto S3 with a bucket, then prints the environment
variables to hand to ``docker run --network host`` (or the CLI).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Sequence

from shipper.simulator.faults import Faults
from shipper.simulator.server import SimulatorServer
from shipper.simulator.world import World

DEMO_ENGINES = ("postgres", "mysql", "aurora-mysql", "aurora-postgresql", "sqlserver-se",
                "oracle-ee", "mariadb")


def build_world(instances: int, seed: int, bytes_per_hour: float) -> World:
    world = World(seed=seed)
    for i in range(instances):
        engine = DEMO_ENGINES[i % len(DEMO_ENGINES)]
        cluster = f"cluster-{i}" if engine.startswith("aurora") else None
        world.add_instance(f"demo-{engine}-{i}", engine, tags={"env": "demo"}, cluster=cluster,
                           bytes_per_hour=bytes_per_hour)
    world.advance(3 * 3600 + 600)
    return world


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shipper.simulator")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run a demo RDS log API and S3")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (0.0.0.0 for docker)")
    serve.add_argument("--port", type=int, default=0, help="RDS API port (0: any free port)")
    serve.add_argument("--s3-port", type=int, default=0, help="S3 port (0: any free port)")
    serve.add_argument("--instances", type=int, default=3)
    serve.add_argument("--seed", type=int, default=0)
    serve.add_argument("--bucket", default="rds-logs-demo")
    serve.add_argument("--bytes-per-hour", type=float, default=5_000_000)
    serve.add_argument("--speed", type=float, default=60.0,
                       help="simulated seconds per real second")
    serve.add_argument("--realistic", action="store_true",
                       help="real throttle limits and latency")
    serve.add_argument("--duration", type=float, default=0.0,
                       help="stop after this many real seconds (0: until Ctrl-C)")
    args = parser.parse_args(argv)

    from shipper.simulator.s3server import LocalS3

    world = build_world(args.instances, args.seed, args.bytes_per_hour)
    faults = Faults.realistic(args.seed) if args.realistic else Faults(seed=args.seed)
    s3 = LocalS3(host=args.host, port=args.s3_port).start()
    s3.create_bucket(args.bucket)
    server = SimulatorServer(world, faults, host=args.host, port=args.port).start()
    env = {
        **server.env(), **s3.env(), "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": world.region,
        "SHIPPER_BUCKET": args.bucket,
    }
    for key, value in env.items():
        print(f"export {key}={value}")
    print("# docker run --network host " + " ".join(f"-e {k}" for k in env) + " <image>",
          flush=True)
    stop = threading.Event()
    started = time.monotonic()
    try:
        while not stop.wait(1.0):
            world.advance(args.speed)
            if args.duration and time.monotonic() - started >= args.duration:
                break
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        s3.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
