"""Read the CloudFormation templates and evaluate their intrinsic functions offline.

Templates are parsed with cfn-lint's CloudFormation-aware YAML loader (``!Ref``, ``!Sub``,
``!GetAtt`` ... become ``{"Ref": ...}``, ``{"Fn::Sub": ...}`` ...). ``render()`` then resolves
parameters, conditions and the functions these templates use, for a given set of parameter
values, so a test can look at e.g. the task role exactly as CloudFormation would create it.
Resources that are not created (false ``Condition``) are left out; ``AWS::NoValue`` removes
the property or list item. A ``Ref``/``GetAtt`` of a resource becomes a readable placeholder
unless the caller supplies a value.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
TEMPLATES = ("ecr.yaml", "cluster.yaml", "shipper.yaml")

ACCOUNT = "123456789012"
REGION = "eu-west-1"
PARTITION = "aws"

_NO_VALUE = object()
_SUB_VAR = re.compile(r"\$\{([^}!][^}]*)\}")


def _plain(node: Any) -> Any:
    """cfn-lint's node classes (dict_node, str_node...) to plain dict/list/str."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    return node


def load(name: str) -> dict[str, Any]:
    path = INFRA / name
    data = cfn_yaml.load(str(path))
    return _plain(data)  # type: ignore[no-any-return]


def parameter_defaults(template: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: spec["Default"]
        for name, spec in template.get("Parameters", {}).items()
        if "Default" in spec
    }


@dataclass
class Rendered:
    template: dict[str, Any]
    params: dict[str, Any]
    conditions: dict[str, bool]
    resources: dict[str, dict[str, Any]]
    outputs: dict[str, Any]

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == resource_type}

    def props(self, logical_id: str) -> dict[str, Any]:
        return self.resources[logical_id].get("Properties", {})  # type: ignore[no-any-return]


@dataclass
class _Resolver:
    template: dict[str, Any]
    params: dict[str, Any]
    refs: dict[str, Any] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)
    conditions: dict[str, bool] = field(default_factory=dict)

    def pseudo(self, name: str) -> Any:
        return {
            "AWS::AccountId": ACCOUNT,
            "AWS::Region": REGION,
            "AWS::Partition": PARTITION,
            "AWS::StackName": "teststack",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": _NO_VALUE,
        }[name]

    def ref(self, name: str) -> Any:
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in self.params:
            value = self.params[name]
            ptype = self.template["Parameters"][name]["Type"]
            is_list = ptype == "CommaDelimitedList" or ptype.startswith("List<")
            if is_list and isinstance(value, str):
                return [v.strip() for v in value.split(",")] if value else [""]
            return value
        if name in self.refs:
            return self.refs[name]
        if name in self.template.get("Resources", {}):
            return f"<{name}>"
        raise KeyError(f"Ref to unknown name {name!r}")

    def getatt(self, logical: str, attr: str) -> Any:
        key = f"{logical}.{attr}"
        if key in self.attrs:
            return self.attrs[key]
        if logical not in self.template.get("Resources", {}):
            raise KeyError(f"GetAtt of unknown resource {logical!r}")
        return f"<{key}>"

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            self.conditions[name] = bool(self.resolve(self.template["Conditions"][name]))
        return self.conditions[name]

    def sub(self, text: str, variables: Mapping[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                value = variables[name]
            elif "." in name and not name.startswith("AWS::"):
                logical, attr = name.split(".", 1)
                value = self.getatt(logical, attr)
            else:
                value = self.ref(name)
            if isinstance(value, list):
                raise ValueError(f"${{{name}}} is a list inside Fn::Sub")
            return str(value)

        return _SUB_VAR.sub(replace, text).replace("${!", "${")

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            out = [self.resolve(v) for v in node]
            return [v for v in out if v is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                logical, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.getatt(logical, attr)
            if key == "Fn::Sub":
                if isinstance(arg, list):
                    text, raw_vars = arg
                    variables = {k: self.resolve(v) for k, v in raw_vars.items()}
                else:
                    text, variables = arg, {}
                return self.sub(text, variables)
            if key == "Fn::If":
                name, yes, no = arg
                return self.resolve(yes if self.condition(name) else no)
            if key == "Fn::Equals":
                a, b = (self.resolve(v) for v in arg)
                return str(a) == str(b)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(v) for v in arg)
            if key == "Fn::Or":
                return any(self.resolve(v) for v in arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Join":
                sep, items = arg
                return sep.join(str(v) for v in self.resolve(items))
            if key == "Fn::Split":
                sep, text = arg
                return str(self.resolve(text)).split(sep)
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Base64":
                return self.resolve(arg)  # keep it readable for the tests
            if key == "Fn::Contains":
                items, value = (self.resolve(v) for v in arg)
                return value in items
            if key.startswith("Fn::"):
                raise NotImplementedError(key)
        out = {}
        for k, v in node.items():
            value = self.resolve(v)
            if value is not _NO_VALUE:
                out[k] = value
        return out


def render(
    name_or_template: str | dict[str, Any],
    params: Mapping[str, Any] | None = None,
    *,
    refs: Mapping[str, Any] | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> Rendered:
    template = (
        load(name_or_template) if isinstance(name_or_template, str)
        else copy.deepcopy(name_or_template)
    )
    values = {**parameter_defaults(template), **(params or {})}
    missing = [p for p in template.get("Parameters", {}) if p not in values]
    if missing:
        raise KeyError(f"no value for parameters {missing}")
    resolver = _Resolver(template, values, dict(refs or {}), dict(attrs or {}))
    for name in template.get("Conditions", {}):
        resolver.condition(name)
    resources: dict[str, dict[str, Any]] = {}
    for logical, spec in template.get("Resources", {}).items():
        if "Condition" in spec and not resolver.condition(spec["Condition"]):
            continue
        resources[logical] = resolver.resolve(spec)
    outputs = {
        name: resolver.resolve(spec["Value"])
        for name, spec in template.get("Outputs", {}).items()
        if "Condition" not in spec or resolver.condition(spec["Condition"])
    }
    return Rendered(template, values, dict(resolver.conditions), resources, outputs)


def policy_statements(document: Any) -> list[dict[str, Any]]:
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    return [statements] if isinstance(statements, dict) else list(statements)


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def iter_policies(rendered: Rendered) -> list[tuple[str, str, dict[str, Any]]]:
    """Every policy document in a rendered template: (logical id, kind, document).

    kind is ``identity`` (role inline/managed policies), ``trust`` (role trust policies) or
    ``resource`` (bucket, queue, repository, key and topic policies)."""
    found: list[tuple[str, str, dict[str, Any]]] = []
    for logical, res in rendered.resources.items():
        props = res.get("Properties", {})
        rtype = res["Type"]
        if rtype == "AWS::IAM::Role":
            found.append((logical, "trust", props["AssumeRolePolicyDocument"]))
            for policy in props.get("Policies", []):
                found.append((logical, "identity", policy["PolicyDocument"]))
        elif rtype in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            found.append((logical, "identity", props["PolicyDocument"]))
        elif rtype in ("AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy",
                       "AWS::SNS::TopicPolicy"):
            found.append((logical, "resource", props["PolicyDocument"]))
        elif rtype == "AWS::ECR::Repository" and "RepositoryPolicyText" in props:
            found.append((logical, "resource", props["RepositoryPolicyText"]))
        elif rtype == "AWS::KMS::Key":
            found.append((logical, "resource", props["KeyPolicy"]))
    return found


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)
