"""Extracts every IAM policy from Firebreak's templates and audits it.

Fails (exit 1) on any parliament finding, on any allowed "Action": "*" or service-wide "svc:*"
action, on any function that does not use its own role, and when any Firebreak role (of either
template) is allowed an IAM write on a Firebreak role or policy without an explicit Deny of that
write in its own policies or its permissions boundary: no Firebreak role can modify any Firebreak
role, itself included; when any Firebreak role may read a captured memory image; and when a
role may not make a call its code makes (NEEDED, STORE_READS). Intrinsic functions are resolved
to representative values (one account for both templates, so a member role deployed in the
security account is checked against the security account's roles too) so parliament and the
check see real ARNs.

    python infra/check_policies.py infra/template.yaml infra/member-role.yaml
"""

import fnmatch
import json
import re
import sys

from cfnlint.decode import decode
from parliament import analyze_policy_string, iam_definition

ACCOUNT = "111122223333"
PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": ACCOUNT,
    "AWS::StackName": "firebreak",
}
NO_VALUE = object()
# IAM actions that change something (AWS's access levels other than List and Read).
IAM_WRITES = sorted({
    "iam:" + p["privilege"]
    for s in iam_definition
    if s["prefix"] == "iam"
    for p in s["privileges"]
    if p["access_level"] in ("Write", "Permissions management", "Tagging")
})


class Template:
    def __init__(self, path, params=None):
        self.path = path
        self.doc, errors = decode(path)
        if errors:
            sys.exit(f"{path}: {errors}")
        self.resources = self.doc.get("Resources", {})
        self.params = self.doc.get("Parameters", {})
        # Values for parameters without a default (given by the caller: the other template's).
        self.given = params or {}

    def ref(self, name):
        if name in PSEUDO:
            return PSEUDO[name]
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.given:
            return self.given[name]
        if name in self.params:
            default = self.params[name].get("Default")
            # An empty default stands for "not given": a representative value is audited.
            return str(default) if default else "Param" + name
        kind = self.resources.get(name, {}).get("Type", "")
        if kind == "AWS::SNS::Topic":
            return f"arn:aws:sns:us-east-1:{ACCOUNT}:{name}"
        if kind == "AWS::S3::Bucket":
            return name.lower()
        if kind == "AWS::IAM::ManagedPolicy":
            props = self.resources[name].get("Properties", {})
            policy = self.resolve(props.get("ManagedPolicyName", name))
            return f"arn:aws:iam::{ACCOUNT}:policy/{policy}"
        return name

    def getatt(self, name, attr):
        resource = self.resources.get(name, {})
        kind = resource.get("Type", "")
        if kind == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{name.lower()}"
        if kind == "AWS::SQS::Queue":
            return f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}"
        if kind == "AWS::Events::EventBus":
            return f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/{name}"
        if kind == "AWS::IAM::Role":
            role = self.resolve(resource.get("Properties", {}).get("RoleName", name))
            return f"arn:aws:iam::{ACCOUNT}:role/{role}"
        if kind in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            function = self.resolve(resource.get("Properties", {}).get("FunctionName", name))
            return f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{function}"
        if kind == "AWS::KMS::Key":
            return f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{name}"
        return f"{name}.{attr}"

    def resolve(self, node):
        """Resolves Ref, GetAtt, Sub, Join, Split and If (its true branch) to plain values."""
        if isinstance(node, list):
            return [v for v in (self.resolve(n) for n in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, value),) = node.items()
            if key == "Ref":
                return self.ref(value)
            if key == "Fn::GetAtt":
                name, attr = value if isinstance(value, list) else value.split(".", 1)
                return self.getatt(name, attr)
            if key == "Fn::Sub":
                text, local = (value, {}) if isinstance(value, str) else value
                local = {k: self.resolve(v) for k, v in local.items()}

                def sub(m):
                    inner = m.group(1)
                    if inner in local:
                        return str(local[inner])
                    if "." in inner:
                        return self.getatt(*inner.split(".", 1))
                    return str(self.ref(inner))

                return re.sub(r"\$\{([^}!]+)\}", sub, text)
            if key == "Fn::Join":
                sep, parts = value
                return self.resolve(sep).join(str(p) for p in self.resolve(parts))
            if key == "Fn::Split":
                sep, text = value
                return str(self.resolve(text)).split(self.resolve(sep))
            if key == "Fn::If":
                return self.resolve(value[1])
        return {k: v for k, v in ((k, self.resolve(v)) for k, v in node.items()) if v is not NO_VALUE}

    def roles(self):
        """(logical id, ARN, [(policy name, document, grants)] of its own policies and boundary;
        `grants` is false for the boundary, which only limits what the others allow)."""
        for name, resource in self.resources.items():
            if resource.get("Type") != "AWS::IAM::Role":
                continue
            props = resource.get("Properties", {})
            documents = [
                (p["PolicyName"], self.resolve(p["PolicyDocument"]), True)
                for p in props.get("Policies", [])
            ]
            attached = [(props["PermissionsBoundary"], False)] if "PermissionsBoundary" in props else []
            attached += [(ref, True) for ref in props.get("ManagedPolicyArns", [])]
            for ref, grants in attached:
                if isinstance(ref, dict) and "Ref" in ref and ref["Ref"] in self.resources:
                    policy = self.resources[ref["Ref"]]["Properties"]
                    documents.append((ref["Ref"], self.resolve(policy["PolicyDocument"]), grants))
            yield name, self.getatt(name, "Arn"), documents

    def policies(self):
        """Every policy document: (owner, policy name, document or an error string)."""
        for name, resource in self.resources.items():
            kind = resource.get("Type")
            props = resource.get("Properties", {})
            if kind == "AWS::Serverless::Function" and ("Policies" in props or "Role" not in props):
                yield name, None, "every function must use its own role, not SAM policies"
            if kind == "AWS::IAM::Role":
                for policy in props.get("Policies", []):
                    yield name, policy["PolicyName"], self.resolve(policy["PolicyDocument"])
            if kind == "AWS::IAM::ManagedPolicy":
                kind = "boundary" if name in self.boundaries() else "managed"
                yield name, kind, self.resolve(props["PolicyDocument"])

    def boundaries(self):
        """Logical ids of the managed policies used as a role's permissions boundary."""
        return {
            r["Properties"]["PermissionsBoundary"].get("Ref")
            for r in self.resources.values()
            if r.get("Type") == "AWS::IAM::Role"
            and isinstance(r.get("Properties", {}).get("PermissionsBoundary"), dict)
        }


def as_list(value):
    return value if isinstance(value, list) else [value]


def statements(document):
    return as_list(document.get("Statement", []))


def matches(patterns, value):
    """IAM's matching: `*` any run of characters, `?` one; actions case-insensitively."""
    return any(fnmatch.fnmatchcase(value.lower(), p.lower()) for p in as_list(patterns))


def firebreak_arns(templates):
    arns = set()
    for t in templates:
        for _, arn, _ in t.roles():
            arns.add(arn)
        for name, resource in t.resources.items():
            if resource.get("Type") == "AWS::IAM::ManagedPolicy":
                arns.add(t.ref(name))
    return sorted(arns)


def quarantine_arns(templates):
    """The quarantine roles: passing one to EC2 gives an instance a deny-all role, and changes
    no Firebreak role or policy."""
    return {arn for t in templates for name, arn, _ in t.roles() if name == "QuarantineRole"}


def passes_to_ec2_only(statement):
    condition = statement.get("Condition", {}).get("StringEquals", {})
    return as_list(condition.get("iam:PassedToService", [])) == ["ec2.amazonaws.com"]


def self_modification(templates):
    """Every (role, IAM write, Firebreak ARN) that a role is allowed and no explicit Deny stops."""
    protected = firebreak_arns(templates)
    quarantine = quarantine_arns(templates)
    gaps = []
    for t in templates:
        for role, _, documents in t.roles():
            own = [s for _, d, _ in documents for s in statements(d)]
            denies = [s for s in own if s.get("Effect") == "Deny" and "Condition" not in s]
            for _, document, grants in documents:
                if not grants:
                    continue
                for s in statements(document):
                    if s.get("Effect") != "Allow" or "Action" not in s:
                        continue
                    writes = [a for a in IAM_WRITES if matches(s["Action"], a)]
                    targets = [arn for arn in protected if matches(s.get("Resource", []), arn)]
                    for arn in targets:
                        undenied = [
                            action
                            for action in writes
                            if not (
                                action == "iam:PassRole"
                                and arn in quarantine
                                and passes_to_ec2_only(s)
                            )
                            and not any(
                                matches(d.get("Action", []), action)
                                and matches(d.get("Resource", []), arn)
                                for d in denies
                            )
                        ]
                        if undenied:
                            gaps.append(f"{t.path}: {role} may {undenied} on {arn} ({s.get('Sid')})")
    return protected, gaps


def denied_by(deny, action, resource):
    """Whether an unconditional Deny statement stops `action` on every resource `resource` names."""
    if "Condition" in deny or not matches(deny.get("Action", []), action):
        return False
    if "NotResource" in deny:
        return not matches(deny["NotResource"], resource)
    return matches(deny.get("Resource", []), resource)


def cancelled_grants(templates):
    """Every (role, action, resource) its own policy allows and its boundary's explicit Deny
    cancels: a grant that can never work, found only when the call fails on AWS."""
    gaps = []
    for t in templates:
        for role, _, documents in t.roles():
            boundary = [s for _, d, grants in documents if not grants for s in statements(d)]
            denies = [s for s in boundary if s.get("Effect") == "Deny"]
            for _, document, grants in documents:
                if not grants:
                    continue
                for s in statements(document):
                    if s.get("Effect") != "Allow" or "Action" not in s:
                        continue
                    for action in as_list(s["Action"]):
                        for resource in as_list(s.get("Resource", [])):
                            if any(denied_by(d, action, resource) for d in denies):
                                gaps.append(f"{t.path}: {role} is allowed {action} on {resource} "
                                            f"({s.get('Sid')}) but its boundary denies it")
    return gaps


MEMORY_READS = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectAttributes",
                "s3:GetObjectVersionAttributes"]


def memory_readers(templates):
    """Every (role, read) that may fetch a captured memory image from the evidence bucket: none
    may, whichever role an attacker holds (an explicit Deny in its own policies or boundary)."""
    image = templates[0].getatt("EvidenceBucket", "Arn") + (
        "/incidents/FB-0123456789abcdef/memory/0123456789abcdef.lime")
    gaps = []
    for t in templates:
        for role, _, documents in t.roles():
            every = [s for _, d, _ in documents for s in statements(d)]
            denies = [s for s in every if s.get("Effect") == "Deny"]
            for _, document, grants in documents:
                if not grants:
                    continue
                for s in statements(document):
                    if s.get("Effect") != "Allow":
                        continue
                    if "NotResource" in s:
                        if matches(s["NotResource"], image):
                            continue
                    elif not matches(s.get("Resource", []), image):
                        continue
                    for action in MEMORY_READS:
                        granted = (
                            not matches(s["NotAction"], action)
                            if "NotAction" in s
                            else matches(s.get("Action", []), action)
                        )
                        if granted and not any(denied_by(d, action, image) for d in denies):
                            gaps.append(f"{t.path}: {role} may {action} a memory image "
                                        f"({s.get('Sid')})")
    return image, gaps


# The evidence store reads a key as first written: ListObjectVersions, then GetObject of that
# version. S3 authorises them as s3:ListBucketVersions and s3:GetObjectVersion, not as the
# s3:ListBucket and s3:GetObject a role may hold alone (the emulator checks neither).
STORE_READS = [("s3:ListBucket", "s3:ListBucketVersions"), ("s3:GetObject", "s3:GetObjectVersion")]


def unversioned_reads(templates):
    """Every role allowed to list or read the evidence bucket's incidents or clock
    without the versioned form of the same read in the same statement."""
    bucket = templates[0].getatt("EvidenceBucket", "Arn")
    read = [bucket] + [f"{bucket}/{prefix}/*" for prefix in ("incidents", "clock")]
    gaps = []
    for t in templates:
        for role, _, documents in t.roles():
            for _, document, grants in documents:
                if not grants:
                    continue
                for s in statements(document):
                    if s.get("Effect") != "Allow" or "Action" not in s:
                        continue
                    resources = [r for r in as_list(s.get("Resource", [])) if r in read]
                    for plain, versioned in STORE_READS:
                        if resources and matches(s["Action"], plain) and not matches(
                            s["Action"], versioned
                        ):
                            gaps.append(f"{t.path}: {role} may {plain} but not {versioned} on "
                                        f"{resources} ({s.get('Sid')})")
    return gaps


# Calls the emulator cannot hold to IAM (it evaluates none) whose action is not the API's own
# name, or which come before the call a statement is named for: each must be allowed its role,
# or the step fails only on AWS. (role, action, a resource it is called on, the request's
# condition keys: an Allow counts only if each of its conditions holds for them.)
BUCKET = "arn:aws:s3:::evidencebucket"
INCIDENT = "incidents/FB-0123456789abcdef/"
SOURCE = f"{INCIDENT}events/0f8fad5b-d9cb-469f-a165-70867728950e.json"
# The forensic account and its key (the parameters), and what handing a snapshot over needs.
FORENSIC = "999988887777"
FORENSIC_KEY = f"arn:aws:kms:us-east-1:{FORENSIC}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SNAPSHOT = "arn:aws:ec2:us-east-1::snapshot/snap-0123456789abcdef0"
FORENSIC_CALLS = [
    ("ec2:ModifySnapshotAttribute", SNAPSHOT,
     {"ec2:Add/userId": FORENSIC, "aws:ResourceTag/incident-response": "quarantine:FB-0123456789abcdef",
      "ec2:Add/group": "true"}),
    ("ec2:CopySnapshot", SNAPSHOT, {}),
    ("ec2:CreateTags", SNAPSHOT, {}),
    ("kms:CreateGrant", FORENSIC_KEY,
     {"kms:ViaService": "ec2.us-east-1.amazonaws.com", "kms:GrantIsForAWSResource": "true"}),
    ("kms:GenerateDataKeyWithoutPlaintext", FORENSIC_KEY, {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}),
    ("kms:Decrypt", f"arn:aws:kms:us-east-1:{ACCOUNT}:key/ebs", {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}),
    ("kms:ReEncryptFrom", f"arn:aws:kms:us-east-1:{ACCOUNT}:key/ebs", {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}),
]
NEEDED = [
    ("ContainRole", "iam:ListRolePolicies", f"arn:aws:iam::{ACCOUNT}:role/app", {}),
    ("ContainRole", "lambda:GetPolicy", f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:app", {}),
    ("ContainRole", "sso:ListAccountsForProvisionedPermissionSet",
     "arn:aws:sso:::permissionSet/ssoins-1/ps-1", {}),
    ("MemberRole", "iam:ListRolePolicies", f"arn:aws:iam::{ACCOUNT}:role/app", {}),
    ("MemberRole", "lambda:GetPolicy", f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:app", {}),
    ("MemberRole", "sso:ListAccountsForProvisionedPermissionSet",
     "arn:aws:sso:::permissionSet/ssoins-1/ps-1", {}),
    ("DrillRole", "s3:PutObject", f"{BUCKET}/clock/watch/2026-12-07T03/FB-0123456789abcdef", {}),
    # A memory image adopted from the listing of its key.
    ("PreserveRole", "s3:ListBucketVersions", BUCKET,
     {"s3:prefix": f"{INCIDENT}memory/0011223344556677.lime"}),
    # The clock's index, read by listing.
    ("ClockRole", "s3:ListBucket", BUCKET, {"s3:prefix": "clock/watch/2026-12-07T03/"}),
    # The forensic hand-over's record.
    ("PreserveRole", "s3:PutObject", f"{BUCKET}/{INCIDENT}forensic/snap-0123456789abcdef0.json", {}),
    ("PreserveRole", "s3:PutObject", f"{BUCKET}/{INCIDENT}snapshots/snap-0123456789abcdef0.json", {}),
    ("PreserveRole", "s3:ListBucket", BUCKET, {"s3:prefix": f"{INCIDENT}forensic/snap-0123456789abcdef0.json"}),
] + [
    (role, action, resource, context)
    for role in ("PreserveRole", "MemberPreserveRole")
    for action, resource, context in FORENSIC_CALLS
] + [
    # Every stage reads the source event as first written, and lists a claim to learn its age.
    call
    for role in ("TriageRole", "ContainRole", "PreserveRole", "PageRole")
    for call in [
        (role, "s3:ListBucketVersions", BUCKET, {"s3:prefix": SOURCE}),
        (role, "s3:GetObjectVersion", f"{BUCKET}/{SOURCE}", {}),
        (role, "s3:ListBucket", BUCKET, {"s3:prefix": f"{INCIDENT}steps/contain.json"}),
    ]
]


def conditions_hold(statement, context):
    """Whether every condition of `statement` holds for the request's `context` (StringLike,
    StringEquals, Bool and Null on the keys given (for Null, the context gives "true" for a key the
    request lacks); any other operator or key is taken not to hold)."""
    for operator, keys in statement.get("Condition", {}).items():
        for key, wanted in keys.items():
            value = context.get(key)
            if value is None:
                return False
            if operator == "StringLike" and not any(
                fnmatch.fnmatchcase(value, w) for w in as_list(wanted)
            ):
                return False
            if operator == "StringEquals" and value not in as_list(wanted):
                return False
            if operator == "Bool" and value != str(wanted).lower():
                return False
            if operator == "Null" and value != str(wanted).lower():
                return False
            if operator not in ("StringLike", "StringEquals", "Bool", "Null"):
                return False
    return True


def missing_calls(templates):
    """Every NEEDED call its role's own policies do not allow (or explicitly deny)."""
    gaps = []
    roles = {name: documents for t in templates for name, _, documents in t.roles()}
    for role, action, resource, context in NEEDED:
        documents = roles.get(role, [])
        every = [s for _, d, _ in documents for s in statements(d)]
        allowed = any(
            s.get("Effect") == "Allow"
            and matches(s.get("Action", []), action)
            and matches(s.get("Resource", []), resource)
            and conditions_hold(s, context)
            for _, d, grants in documents
            if grants
            for s in statements(d)
        )
        denied = any(s.get("Effect") == "Deny" and denied_by(s, action, resource) for s in every)
        if not allowed or denied:
            where = f" (s3:prefix {context['s3:prefix']})" if "s3:prefix" in context else ""
            gaps.append(f"{role} may not {action} on {resource}{where}")
    return gaps


def main(paths):
    # Parameters whose value must be an ARN: a representative one.
    home = Template(paths[0], {
        "TrailLogKeyArn": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "ForensicAccountId": FORENSIC,
        "ForensicKmsKeyArn": FORENSIC_KEY,
    })
    # The member template is given the home stack's outputs, as a deployer would give them.
    home_roles = {name: arn for name, arn, _ in home.roles()}
    given = {
        "ContainRoleArn": home_roles.get("ContainRole", "ContainRole"),
        "PreserveRoleArn": home_roles.get("PreserveRole", "PreserveRole"),
        # The stack's FirebreakRoleArns output: its functions' roles, not the quarantine role.
        "FirebreakRoleArns": ",".join(a for n, a in home_roles.items() if n != "QuarantineRole"),
        "IntakeBusArn": f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/firebreak-intake",
        "ForensicAccountId": FORENSIC,
        "ForensicKmsKeyArn": FORENSIC_KEY,
    }
    templates = [home] + [Template(p, given) for p in paths[1:]]
    failures = 0
    for t in templates:
        for owner, policy_name, document in t.policies():
            where = f"{t.path}: {owner}"
            if isinstance(document, str):
                print(f"FAIL {where}: {document}")
                failures += 1
                continue
            where += f"/{policy_name}"
            allowed = [
                a
                for s in statements(document)
                if s.get("Effect") == "Allow"
                for a in as_list(s.get("Action", []))
            ]
            # A boundary grants nothing (it caps the role's own policies), so it may allow "*".
            wild = [a for a in allowed if a == "*" or a.endswith(":*")]
            if policy_name == "boundary":
                wild = []
            if wild:
                print(f"FAIL {where}: wildcard actions allowed {wild}")
                failures += 1
            findings = analyze_policy_string(json.dumps(document)).findings
            for f in findings:
                print(f"FAIL {where}: {f.issue} {f.detail} {f.location}")
                failures += 1
            if not findings and not wild:
                print(f"ok   {where}: {len(statements(document))} statements, no findings")
    for gap in cancelled_grants(templates):
        print(f"FAIL cancelled: {gap}")
        failures += 1
    missing = missing_calls(templates)
    for gap in missing:
        print(f"FAIL calls: {gap}")
    failures += len(missing)
    if not missing:
        print(f"ok   the {len(NEEDED)} calls the emulator cannot hold to IAM are allowed their roles")
    unversioned = unversioned_reads(templates)
    for gap in unversioned:
        print(f"FAIL versions: {gap}")
    failures += len(unversioned)
    if not unversioned:
        print("ok   every role that reads evidence may read it as first written (its versions)")
    image, readers = memory_readers(templates)
    for gap in readers:
        print(f"FAIL memory: {gap}")
    failures += len(readers)
    if not readers:
        print(f"ok   no Firebreak role can read a memory image ({image})")
    protected, gaps = self_modification(templates)
    for gap in gaps:
        print(f"FAIL no explicit Deny: {gap}")
    failures += len(gaps)
    if not gaps:
        roles = sum(1 for t in templates for _ in t.roles())
        print(
            f"ok   no Firebreak role can modify a Firebreak role or policy: {roles} roles, "
            f"{len(IAM_WRITES)} IAM write actions, {len(protected)} protected ARNs"
        )
    if failures:
        sys.exit(f"{failures} policy finding(s)")


if __name__ == "__main__":
    main(sys.argv[1:])
