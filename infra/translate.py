"""The SAM template as CloudFormation, transformed offline by SAM's own translator.

    translate.py TEMPLATE [--code-bucket BUCKET] [--plain]

Prints the transformed template as JSON (with --plain, a template without SAM's transform, as
JSON: its short-form tags in their long form). With --code-bucket, each function's code is
s3://BUCKET/<LogicalId>.zip (the deployment test uploads a zip there); without it, a placeholder
location, for linting. `make check-infra` lints the output, which catches what only appears once
Globals are merged into each function (a circular dependency through an environment variable).
Needs a region and credentials in the environment, though it makes no call.
"""

import argparse
import json
import sys

from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    """The template names no AWS managed policy by name, so nothing needs looking up."""

    def load(self):
        return {}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("template")
    parser.add_argument("--code-bucket", default="firebreak-code")
    parser.add_argument("--plain", action="store_true")
    args = parser.parse_args()
    with open(args.template, encoding="utf-8") as f:
        template = yaml_parse(f.read())
    if args.plain:
        json.dump(template, sys.stdout, indent=1, sort_keys=True)
        print()
        return
    for name, resource in template.get("Resources", {}).items():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = f"s3://{args.code_bucket}/{name}.zip"
    try:
        out = transform(template, {}, NoManagedPolicies())
    except InvalidDocumentException as e:
        for cause in e.causes:
            print(f"{args.template}: {cause.message}", file=sys.stderr)
        sys.exit(1)
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
