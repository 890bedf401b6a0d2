"""Extracts every IAM policy from Firebreak's templates and audits it with parliament.

Fails (exit 1) on any parliament finding, on any "Action": "*" or service-wide "svc:*" action, and
on any function that does not use its own role. Intrinsic functions are resolved to
representative values so parliament sees real ARNs.

    python infra/check_policies.py infra/template.yaml infra/member-role.yaml
"""

import json
import re
import sys

from cfnlint.decode import decode
from parliament import analyze_policy_string

ACCOUNT = "111122223333"
PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": ACCOUNT,
    "AWS::StackName": "firebreak",
}


def resolve(node, template):
    """Resolves Ref, GetAtt, Sub and Join to plain strings."""
    resources = template.get("Resources", {})
    params = template.get("Parameters", {})

    def ref(name):
        if name in PSEUDO:
            return PSEUDO[name]
        if name in params:
            return str(params[name].get("Default") or "Param" + name)
        kind = resources.get(name, {}).get("Type", "")
        if kind == "AWS::SNS::Topic":
            return f"arn:aws:sns:us-east-1:{ACCOUNT}:{name}"
        if kind == "AWS::S3::Bucket":
            return name.lower()
        return name

    def getatt(name, attr):
        kind = resources.get(name, {}).get("Type", "")
        if kind == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{name.lower()}"
        if kind == "AWS::SQS::Queue":
            return f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}"
        if kind == "AWS::Events::EventBus":
            return f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/{name}"
        if kind == "AWS::IAM::Role":
            return f"arn:aws:iam::{ACCOUNT}:role/{name}"
        return f"{name}.{attr}"

    if isinstance(node, list):
        return [resolve(n, template) for n in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        (key, value), = node.items()
        if key == "Ref":
            return ref(value)
        if key == "Fn::GetAtt":
            name, attr = value if isinstance(value, list) else value.split(".", 1)
            return getatt(name, attr)
        if key == "Fn::Sub":
            text = value if isinstance(value, str) else value[0]

            def sub(m):
                inner = m.group(1)
                if "." in inner:
                    return getatt(*inner.split(".", 1))
                return ref(inner)

            return re.sub(r"\$\{([^}!]+)\}", sub, text)
        if key == "Fn::Join":
            sep, parts = value
            return sep.join(resolve(parts, template))
    return {k: resolve(v, template) for k, v in node.items()}


def policies(path):
    template, errors = decode(path)
    if errors:
        sys.exit(f"{path}: {errors}")
    for name, resource in template.get("Resources", {}).items():
        kind = resource.get("Type")
        props = resource.get("Properties", {})
        if kind == "AWS::Serverless::Function" and ("Policies" in props or "Role" not in props):
            yield name, None, "every function must use its own role, not SAM policies"
        if kind != "AWS::IAM::Role":
            continue
        for policy in props.get("Policies", []):
            yield name, policy["PolicyName"], resolve(policy["PolicyDocument"], template)


def main(paths):
    failures = 0
    for path in paths:
        for role, policy_name, document in policies(path):
            where = f"{path}: {role}"
            if isinstance(document, str):
                print(f"FAIL {where}: {document}")
                failures += 1
                continue
            where += f"/{policy_name}"
            actions = [
                a
                for s in document["Statement"]
                for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
            ]
            wild = [a for a in actions if a == "*" or a.endswith(":*")]
            if wild:
                print(f"FAIL {where}: wildcard actions {wild}")
                failures += 1
            findings = analyze_policy_string(json.dumps(document)).findings
            for f in findings:
                print(f"FAIL {where}: {f.issue} {f.detail} {f.location}")
                failures += 1
            if not findings and not wild:
                print(f"ok   {where}: {len(actions)} actions, no findings")
    if failures:
        sys.exit(f"{failures} policy finding(s)")


if __name__ == "__main__":
    main(sys.argv[1:])
