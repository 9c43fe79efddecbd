"""Checks infra/deploy.py runs before it deploys: can the tasks reach the AWS APIs from the
chosen subnets, and does the fleet have room for the tasks. Pure functions over the JSON that
``aws ec2 describe-route-tables`` / ``describe-vpc-endpoints`` print, so tests feed them
moto's answers. Only the Python standard library.

Facts they rest on (Amazon ECS Developer Guide):
* awsvpc tasks on the EC2 launch type get an ENI without a public IP ("Amazon ECS task
  networking options for EC2": "the task's elastic network interface isn't given a public IP
  address"; AssignPublicIp is for Fargate only), so from a public subnet they reach nothing
  unless the route goes through a NAT, or VPC endpoints serve every API they call.
* Fargate tasks in a public subnet need AssignPublicIp ENABLED to pull the image.
* The interface endpoints a task needs: ecr.api, ecr.dkr (image), the S3 gateway (image layers
  and the log bucket), logs (awslogs driver), rds (the shipper), sts (with SHIPPER_ROLE_ARNS);
  container instances also need ecs, ecs-agent and ecs-telemetry ("Amazon ECS interface VPC
  endpoints (AWS PrivateLink)").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

EC2_CAPACITIES = ("EC2_SPOT_FLEET", "EC2_SPOT_ASG")  # tasks on container instances
TASK_ENDPOINTS = ("ecr.api", "ecr.dkr", "s3", "logs", "rds")
AGENT_ENDPOINTS = ("ecs", "ecs-agent", "ecs-telemetry")
# awsvpc tasks per instance: an instance's first ENI is its own. Two is what the smallest
# types the fleet may pick (t3.small/medium: 3 ENIs) leave; larger ones leave more.
TASKS_PER_INSTANCE = 2


def route_table_for(subnet: str, tables: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The subnet's explicit route table, or the VPC's main one (VPC User Guide)."""
    main = None
    for table in tables:
        for assoc in table.get("Associations", []):
            if assoc.get("SubnetId") == subnet:
                return table
            if assoc.get("Main"):
                main = table
    return main


def default_route(table: Mapping[str, Any] | None) -> str:
    """'nat', 'igw', 'other' (transit gateway, firewall or NAT instance) or 'none'."""
    for route in (table or {}).get("Routes", []):
        if route.get("DestinationCidrBlock") != "0.0.0.0/0" or route.get("State") == "blackhole":
            continue
        if route.get("NatGatewayId"):
            return "nat"
        if str(route.get("GatewayId", "")).startswith("igw-"):
            return "igw"
        return "other"
    return "none"


def missing_endpoints(endpoints: Sequence[Mapping[str, Any]], region: str,
                      ec2_capacity: bool, needs_sts: bool) -> list[str]:
    wanted = [*TASK_ENDPOINTS, *(("sts",) if needs_sts else ()),
              *(AGENT_ENDPOINTS if ec2_capacity else ())]
    present = {str(e.get("ServiceName", "")) for e in endpoints
               if e.get("State", "available") == "available"}
    return [name for name in wanted if f"com.amazonaws.{region}.{name}" not in present]


def network_problems(*, capacity: str, assign_public_ip: bool, subnets: Sequence[str],
                     tables: Sequence[Mapping[str, Any]], endpoints: Sequence[Mapping[str, Any]],
                     region: str, needs_sts: bool) -> list[str]:
    ec2 = capacity in EC2_CAPACITIES
    missing = missing_endpoints(endpoints, region, ec2, needs_sts)
    problems = []
    for subnet in subnets:
        route = default_route(route_table_for(subnet, tables))
        if route in ("nat", "other") or not missing:
            continue
        if route == "igw" and not ec2 and assign_public_ip:
            continue
        if route == "igw" and ec2:
            why = ("is public (its default route is an internet gateway) and has no NAT: with "
                   f"{capacity} a task's network interface never gets a public IP, so the "
                   "task cannot reach ECR, S3 or RDS and every run fails")
        elif route == "igw":
            why = ("is public but shipper.AssignPublicIp is DISABLED: a Fargate task there "
                   "cannot pull its image")
        else:
            why = "has no default route (no NAT gateway, no internet gateway)"
        problems.append(
            f"subnet {subnet} {why}. Ways out: (1) use private subnets whose route table sends "
            f"0.0.0.0/0 to a NAT gateway, or (2) add VPC endpoints for {', '.join(missing)}"
            + ("" if ec2 else "; or set shipper.AssignPublicIp to ENABLED")
            + ("; or choose CapacityChoice FARGATE_SPOT with shipper.AssignPublicIp ENABLED"
               if ec2 and route == "igw" else ""))
    return problems


def task_count_problem(capacity: str, task_count: int, fleet_capacity: int,
                       asg_max_size: int = 1) -> str | None:
    """EC2_SPOT_FLEET keeps FleetTargetCapacity instances; EC2_SPOT_ASG may grow to
    AsgMaxSize. Either way each awsvpc task needs an ENI of its own on them."""
    if capacity not in EC2_CAPACITIES:
        return None
    name, instances = (("FleetTargetCapacity", fleet_capacity) if capacity == "EC2_SPOT_FLEET"
                       else ("AsgMaxSize", asg_max_size))
    if task_count <= instances * TASKS_PER_INSTANCE:
        return None
    return (f"shipper.TaskCount {task_count} needs more network interfaces than "
            f"cluster.{name} {instances} instance(s) may have (awsvpc: one "
            f"ENI per task, about {TASKS_PER_INSTANCE} tasks on small instances); raise "
            f"{name} or lower TaskCount")
