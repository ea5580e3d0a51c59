"""docs/deploy.md lists every S3 operation the S3 store makes, with a policy that allows them.

The operations are read from the source (every boto3 client method, paginator
and pre-signed method it uses), so a new call cannot go undocumented.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parents[2]
STORE = ROOT / "src" / "pond" / "storage" / "s3.py"
DEPLOY = ROOT / "docs" / "deploy.md"
_CLIENTS = {"_client", "_probe", "client"}  # the names the store gives its boto3 clients


def operations_in_source() -> set[str]:
    """The S3 API names of the client methods, paginators and pre-signed methods used."""
    mapping = boto3.client(
        "s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    ).meta.method_to_api_mapping
    used: set[str] = set()
    for node in ast.walk(ast.parse(STORE.read_text())):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner = node.func.value
        name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
        if name not in _CLIENTS:
            continue
        method = node.func.attr
        if method in ("get_paginator", "generate_presigned_url"):
            first = node.args[0]
            assert isinstance(first, ast.Constant), ast.unparse(node)
            method = str(first.value)
        used.add(mapping[method])
    return used


def section() -> str:
    text = DEPLOY.read_text()
    start = text.index("## S3 operations and permissions")
    return text[start : text.index("\n## ", start + 1)]


def documented() -> tuple[set[str], set[str]]:
    """The operations and the IAM permissions in the section's table."""
    operations: set[str] = set()
    permissions: set[str] = set()
    for line in section().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            operations.update(re.findall(r"`([A-Za-z0-9]+)`", cells[0]))
            permissions.update(re.findall(r"`(s3:[A-Za-z]+)`", cells[2]))
    return operations, permissions


def policy_actions() -> set[str]:
    [block] = re.findall(r"```json\n(.*?)```", section(), re.DOTALL)
    policy = json.loads(block)
    return {action for statement in policy["Statement"] for action in statement["Action"]}


def test_every_s3_operation_pond_makes_is_documented() -> None:
    used = operations_in_source()
    assert {"PutObject", "UploadPartCopy", "HeadBucket", "GetObject"} <= used
    operations, _ = documented()
    assert used == operations


def test_the_policy_allows_every_documented_permission_and_no_more() -> None:
    _, permissions = documented()
    assert policy_actions() == permissions
